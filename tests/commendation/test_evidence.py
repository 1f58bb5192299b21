"""Evidence files: accepted by content (PDF, DOCX, JPG, PNG), hostile uploads refused (wrong type by content,
oversize, zip bomb, damaged DOCX), stored once by content, and a nomination whose required file is missing is not
forwarded (sent upward, approved, decided)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.commendation.conftest import PDF_BYTES, PERSON_AWARD, PNG_BYTES, docx_bytes, require_evidence
from tests.nominations.conftest import DEC_20, World
from thidua.models.evidence import EvidenceRejected, sniff
from thidua.models.nominations import InvalidNominationInput, NotPermitted, RulesRefused
from thidua.services.commendation import decisions, evidence

LIMIT = 10 * 1024 * 1024


def zip_bomb(expanded_mb: int = 30) -> bytes:
    """A ZIP with the parts of a DOCX whose document.xml is megabytes of zeros (compresses ~1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (expanded_mb * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, name, kind",
    [
        (PDF_BYTES, "bao-cao.pdf", "pdf"),
        (PNG_BYTES, "anh.png", "png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 32, "anh.JPG", "jpg"),
        (docx_bytes(), "bao-cao.docx", "docx"),
        (PDF_BYTES, "khong-co-duoi", "pdf"),
    ],
)
def test_accepted_kinds_are_recognised_by_content(data: bytes, name: str, kind: str) -> None:
    assert sniff(data, name, LIMIT).kind == kind


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"MZ\x90\x00" + b"\0" * 100, "bao-cao.pdf", "không phải loại được nhận theo nội dung"),  # a program named .pdf
        (b"<html><script>alert(1)</script></html>", "anh.png", "không phải loại được nhận"),
        (PNG_BYTES, "bao-cao.pdf", "mang đuôi '.pdf' nhưng nội dung là ảnh PNG"),
        (b"%PDF-" + b"0" * (LIMIT + 1), "lon.pdf", "vượt giới hạn 10 MB"),
        (b"", "rong.pdf", "rỗng"),
        (b"PK\x03\x04" + b"\0" * 200, "hong.docx", "tệp ZIP hỏng"),
    ],
)
def test_hostile_or_wrong_uploads_are_refused_with_the_reason(data: bytes, name: str, message: str) -> None:
    with pytest.raises(EvidenceRejected, match=message):
        sniff(data, name, LIMIT)


def test_a_zip_bomb_dressed_as_docx_is_refused() -> None:
    bomb = zip_bomb()
    assert len(bomb) < 100_000  # tiny on the wire
    with pytest.raises(EvidenceRejected, match="zip bomb"):
        sniff(bomb, "bao-cao.docx", LIMIT)


def test_a_zip_without_word_parts_is_not_a_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("virus.exe", b"MZ")
    with pytest.raises(EvidenceRejected, match="thiếu word/document.xml"):
        sniff(buffer.getvalue(), "bao-cao.docx", LIMIT)


def test_attached_files_are_stored_once_by_content_and_audited(world: World, data_dir: Path) -> None:
    (nomination_id,) = world.propose("BDH.D1.1", world.proposal(PERSON_AWARD, "BDH.D1.1", person="Nguyễn Văn An"))
    actor = world.actor("BDH.D1.1")
    first = evidence.attach(
        world.engine,
        nomination_id,
        actor,
        item_code="bao-cao-thanh-tich",
        file_name="C:\\Users\\a\\Báo cáo.pdf",
        data=PDF_BYTES,
        now=datetime(2023, 11, 10, 10),
    )
    second = evidence.attach(
        world.engine,
        nomination_id,
        actor,
        item_code="bien-ban-hoi-dong",
        file_name="bien-ban.pdf",
        data=PDF_BYTES,
        now=datetime(2023, 11, 10, 10),
    )
    digest = hashlib.sha256(PDF_BYTES).hexdigest()
    stored = data_dir / "evidence" / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == PDF_BYTES
    assert [p for p in (data_dir / "evidence").rglob("*") if p.is_file()] == [stored]  # one copy for two rows
    assert first.file_name == "Báo cáo.pdf" and second.item_code == "bien-ban-hoi-dong"
    _, path, name, media = evidence.open_evidence(world.engine, first.id)
    assert (path, name, media) == (stored, "Báo cáo.pdf", "application/pdf")
    checklist = evidence.checklist_for(world.engine, nomination_id)
    assert [(c["item"], c["required"], len(c["files"])) for c in checklist] == [
        ("bao-cao-thanh-tich", False, 1),
        ("bien-ban-hoi-dong", False, 1),
    ]
    with pytest.raises(InvalidNominationInput, match="không có trong danh mục hồ sơ minh chứng"):
        evidence.attach(
            world.engine,
            nomination_id,
            actor,
            item_code="xac-nhan-sang-kien",
            file_name="x.pdf",
            data=PDF_BYTES,
            now=datetime(2023, 11, 10, 10),
        )
    with pytest.raises(NotPermitted):  # the district does not hold it yet
        evidence.attach(
            world.engine,
            nomination_id,
            world.actor("BDH.D1"),
            item_code="bao-cao-thanh-tich",
            file_name="x.pdf",
            data=PDF_BYTES,
            now=datetime(2023, 11, 10, 10),
        )
    counts = world.counts()
    with pytest.raises(EvidenceRejected):
        evidence.attach(
            world.engine,
            nomination_id,
            actor,
            item_code="bao-cao-thanh-tich",
            file_name="bom.docx",
            data=zip_bomb(),
            now=datetime(2023, 11, 10, 10),
        )
    assert world.counts() == counts and len(evidence.list_evidence(world.engine, nomination_id)) == 2


def test_a_required_file_missing_blocks_forwarding_and_deciding(world: World, tmp_path: Path) -> None:
    require_evidence(world, tmp_path)
    (nomination_id,) = world.propose("BDH.D1.1", world.proposal(PERSON_AWARD, "BDH.D1.1", person="Nguyễn Văn An"))
    with pytest.raises(RulesRefused, match="Thiếu tệp minh chứng bắt buộc: Báo cáo thành tích") as refused:
        world.send("BDH.D1.1", "05/TTr", datetime(2023, 11, 10, 11))
    assert refused.value.rules() == {"minh-chung:bao-cao-thanh-tich"}
    assert world.view(nomination_id).status == "proposed"
    attached = evidence.attach(
        world.engine,
        nomination_id,
        world.actor("BDH.D1.1"),
        item_code="bao-cao-thanh-tich",
        file_name="bao-cao.docx",
        data=docx_bytes(),
        now=datetime(2023, 11, 10, 11),
    )
    world.send("BDH.D1.1", "05/TTr", datetime(2023, 11, 10, 12))
    assert world.view(nomination_id).status == "under_review"
    # the district reviews; if the file is taken off meanwhile it may not approve it upward
    with pytest.raises(NotPermitted):  # only while the file is with the unit that attached it
        evidence.remove(world.engine, attached.id, world.actor("BDH.D1.1"), now=datetime(2023, 11, 11))
    world.approve("BDH.D1", [nomination_id], datetime(2023, 11, 15, 9))
    world.send("BDH.D1", "40/TTr", datetime(2023, 11, 16, 9))
    issued = decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình"),
        nomination_ids=[nomination_id],
        now=DEC_20,
    )
    assert issued.symbol == "1/QĐ-LĐLĐ"


def test_deciding_without_the_required_file_is_refused_and_takes_no_number(world: World, tmp_path: Path) -> None:
    from tests.commendation.conftest import person_at_province

    nomination_id = person_at_province(world)  # forwarded while the file was optional
    require_evidence(world, tmp_path)  # the office makes it required before the council decides
    with pytest.raises(RulesRefused, match="Thiếu tệp minh chứng"):
        decisions.issue_decision(
            world.engine,
            world.campaign_id,
            world.actor("BDH"),
            decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình"),
            nomination_ids=[nomination_id],
            now=DEC_20,
        )
    from thidua.services.commendation.numbers import register

    assert register(world.engine, world.units["BDH"], 2023) == []
