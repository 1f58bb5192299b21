"""What people receive and read: the e-mails of every step, the consolidated list and the award register
(XLSX), and the `thidua nominations` commands (including their refusals: exit code 1, no traceback)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from thidua.models.outbox import OutboxMessage
from thidua.notifications.render import get_renderer
from tests.conftest import CONFIG
from tests.nominations.conftest import DEC_02, World
from thidua.cli import nominations as cli
from thidua.cli.main import app
from thidua.services import nominations as nom


def walk_every_action(world: World) -> dict[str, int]:
    """One nomination per ending: decided and awarded, returned and resubmitted, rejected, withdrawn."""
    awarded, returned, rejected, withdrawn = world.propose(
        "BDH.D1.1",
        world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Nguyễn Văn An"),
        world.proposal("cdcs-vung-manh", "BDH.D1.1"),
        world.proposal("giay-khen-cap-tren", "BDH.D1.1", person="Lê Thị Bé"),
        world.proposal("bang-khen-tld-chuyen-de", "BDH.D1.1", person="Trần Văn Cả"),
        send="05/TTr-CĐCS",
    )
    (waiting,) = world.propose("BDH.D1.2", world.proposal("cdcs-vung-manh", "BDH.D1.2"), send="02/TTr-CĐCS")
    nom.withdraw(world.engine, world.campaign_id, withdrawn, world.actor("BDH.D1.1"), comment="Để năm sau", now=DEC_02)
    nom.reject(
        world.engine, world.campaign_id, [rejected], world.actor("BDH.D1"), comment="Chưa đủ tiêu chuẩn", now=DEC_02
    )
    nom.return_for_revision(
        world.engine, world.campaign_id, [returned], world.actor("BDH.D1"), comment="Thiếu biên bản", now=DEC_02
    )
    nom.resubmit(
        world.engine,
        world.campaign_id,
        returned,
        world.actor("BDH.D1.1"),
        comment="Đã bổ sung",
        rating=world.rating,
        now=datetime(2023, 12, 3, 9),
    )
    world.decide("BDH.D1", [returned], "31/QĐ-LĐLĐ", date(2023, 12, 3), now=datetime(2023, 12, 3, 10))
    world.approve("BDH.D1", [awarded], DEC_02)
    world.send("BDH.D1", "40/TTr-LĐLĐ", DEC_02)
    world.decide("BDH", [awarded])
    nom.mark_awarded(
        world.engine,
        world.campaign_id,
        [awarded],
        world.actor("BDH"),
        awarded_on=date(2023, 12, 28),
        now=datetime(2023, 12, 28, 9),
    )
    nom.remind_overdue_reviewers(world.engine, world.campaign_id, now=datetime(2024, 1, 20, 9))
    return {"awarded": awarded, "returned": returned, "rejected": rejected, "withdrawn": withdrawn, "waiting": waiting}


def test_every_mail_renders_in_vietnamese_with_its_link(world: World) -> None:
    ids = walk_every_action(world)
    with Session(world.engine) as session:
        mails = list(
            session.execute(select(OutboxMessage).where(OutboxMessage.template == "nomination_step")).scalars()
        )  # type: ignore[arg-type]
    subjects = {}
    for mail in mails:
        rendered = get_renderer().render(mail.template, mail.context)
        assert rendered.subject and "Kính gửi" in rendered.text and mail.context["link"] in rendered.html
        subjects[(mail.context.get("nomination_id"), mail.context.get("action"), mail.context["audience"])] = (
            rendered.subject
        )
    assert subjects[(ids["rejected"], "reject", "proposer")] == (
        "Đề nghị khen thưởng không được chấp nhận: Giấy khen của công đoàn cấp trên trực tiếp cơ sở – Lê Thị Bé"
    )
    assert (
        subjects[(ids["withdrawn"], "withdraw", "proposer")]
        == f"Đề nghị khen thưởng #{ids['withdrawn']} (Trần Văn Cả): Đã rút"
    )
    assert subjects[(ids["awarded"], "award", "proposer")].startswith(
        "Đã trao tặng: Bằng khen của Liên đoàn Lao động tỉnh"
    )
    assert subjects[(ids["returned"], "resubmit", "proposer")].endswith("Đang xét tại LĐLĐ huyện Thử Nghiệm 1")
    assert (
        subjects[(None, None, "overdue")] == "Quá hạn xét: 1 đề nghị khen thưởng (hạn 20/11/2023)"
    )  # still at the district
    # A second run of the reviewer reminder on the same day queues nothing new.
    assert nom.remind_overdue_reviewers(world.engine, world.campaign_id, now=datetime(2024, 1, 20, 15)) == 0


def cells(path: Path, sheet: str) -> list[list[object]]:
    return [list(row) for row in load_workbook(path, read_only=True)[sheet].iter_rows(values_only=True)]


def test_consolidated_list_and_award_register(world: World, tmp_path: Path) -> None:
    ids = walk_every_action(world)
    listing = nom.write_proposal_list(world.engine, world.campaign_id, world.units["BDH.D1"], tmp_path / "ds.xlsx")
    rows = cells(listing, "Danh sách đề nghị")
    assert rows[0][0] == "DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG – LĐLĐ HUYỆN THỬ NGHIỆM 1"
    header = rows.index(next(r for r in rows if r[0] == "STT"))
    body = {r[1]: r for r in rows[header + 1 :]}
    assert set(body) == set(ids.values())
    assert body[ids["awarded"]][11] == "Đã trao tặng" and body[ids["awarded"]][13] == "40/TTr-LĐLĐ ngày 02/12/2023"
    assert body[ids["rejected"]][11] == "Không được chấp nhận" and body[ids["withdrawn"]][11] == "Đã rút"
    summary = {r[0]: r[1:] for r in cells(listing, "Tổng hợp")}
    assert summary["Giấy khen của công đoàn cấp trên trực tiếp cơ sở"] == [0, 1, 0, 0, 1, 0]

    register = nom.write_award_register(world.engine, world.campaign_id, tmp_path / "so.xlsx")
    rows = cells(register, "Sổ theo dõi khen thưởng")
    header = rows.index(next(r for r in rows if r[0] == "STT"))
    granted = rows[header + 1 :]
    assert [(r[1], r[2], r[7], r[14]) for r in granted] == [  # real date cells, not text
        ("123/QĐ-LĐLĐ", datetime(2023, 12, 20), "Nguyễn Văn An", datetime(2023, 12, 28)),  # the province's first
        ("31/QĐ-LĐLĐ", datetime(2023, 12, 3), "CĐCS Đơn vị Mẫu 1-1 (giả lập)", None),  # not handed over yet
    ]
    assert granted[0][3] == "LĐLĐ tỉnh – Liên đoàn Lao động tỉnh Bình Định"


def test_register_and_list_are_ready_to_print(world: World, tmp_path: Path) -> None:
    walk_every_action(world)
    moment = datetime(2024, 1, 10, 3, tzinfo=timezone.utc)
    register = nom.write_award_register(world.engine, world.campaign_id, tmp_path / "so.xlsx", now=moment)
    listing = nom.write_proposal_list(
        world.engine, world.campaign_id, world.units["BDH.D1"], tmp_path / "ds.xlsx", now=moment
    )
    for path, name in ((register, "Sổ theo dõi khen thưởng"), (listing, "Danh sách đề nghị")):
        sheet = load_workbook(path)[name]
        header = next(c.row for c in sheet["A"] if c.value == "STT")
        assert int(sheet.page_setup.paperSize) == 9 and sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.print_title_rows == f"${header}:${header}"
        assert "&P" in sheet.oddFooter.center.text
        first = [c for c in sheet[header + 1]]
        assert first[0].number_format == "#,##0" and first[0].value == 1  # STT: an integer
    dated = load_workbook(register)["Sổ theo dõi khen thưởng"]
    header = next(c.row for c in dated["A"] if c.value == "STT")
    assert dated.cell(header + 1, 3).number_format == "DD/MM/YYYY"
    assert "Lập ngày 10/01/2024" in str(dated["A3"].value)  # the moment asked for, not the wall clock


# --- command line ----------------------------------------------------------------------------------
@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(cli, "_engine", lambda: world.engine)
    monkeypatch.setattr(cli.console, "width", 400)  # tables on one line each, for the assertions
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["nominations", *args])

    return invoke


def test_cli_walks_a_nomination_to_its_decision(run, world: World, tmp_path: Path) -> None:
    proposed = run(
        "propose",
        "bd-2023",
        "--as",
        "BDH.D1.1",
        "--award",
        "bang-khen-ldld-tinh",
        "--person",
        "Nguyễn Văn An",
        "--position",
        "Tổ trưởng",
        "--achievement",
        "Hai sáng kiến được công nhận",
        "--dossier",
        "bao-cao-thanh-tich=05/BC-CĐCS",
        "--dossier",
        "bien-ban-hoi-dong=03/BB-CĐCS",
        "--votes",
        "bien-ban-hoi-dong=9/11",
        "--to-trinh",
        "05/TTr-CĐCS",
        "--to-trinh-date",
        "10/11/2023",
        "--now",
        "10/11/2023 09:00",
    )
    assert proposed.exit_code == 0, proposed.output
    assert "Đề nghị #1: Đang xét – đang ở LĐLĐ huyện Thử Nghiệm 1." in proposed.output
    queue = run("list", "bd-2023", "--queue", "BDH.D1")
    assert "Nguyễn Văn An" in queue.output and "Đang xét" in queue.output
    assert (
        run("review", "bd-2023", "1", "--as", "BDH.D1", "--approve", "--version", "3", "--now", "02/12/2023").exit_code
        == 0
    )
    sent = run(
        "send", "bd-2023", "--as", "BDH.D1", "--to-trinh", "40/TTr-LĐLĐ", "--date", "02/12/2023", "--now", "02/12/2023"
    )
    assert "Đã gửi danh sách" in sent.output and "(1 đề nghị)" in sent.output
    decided = run(
        "decide",
        "bd-2023",
        "1",
        "--as",
        "BDH",
        "--number",
        "123/QĐ-LĐLĐ",
        "--date",
        "20/12/2023",
        "--signer",
        "Chủ tịch",
        "--now",
        "20/12/2023",
    )
    assert decided.exit_code == 0, decided.output
    shown = run("show", "bd-2023", "1")
    assert "Đã có quyết định khen thưởng – đang ở Liên đoàn Lao động tỉnh Bình Định" in shown.output
    assert (
        "123/QĐ-LĐLĐ ngày 20/12/2023, Chủ tịch" in shown.output
        and "bien-ban-hoi-dong: 03/BB-CĐCS (9/11 phiếu)" in shown.output
    )
    assert run("register", "bd-2023", "--out", str(tmp_path / "so.xlsx")).exit_code == 0
    assert cells(tmp_path / "so.xlsx", "Sổ theo dõi khen thưởng")[-1][1] == "123/QĐ-LĐLĐ"
    assert run("export", "bd-2023", "--unit", "BDH", "--out", str(tmp_path / "ds.xlsx")).exit_code == 0
    status = run("status", "bd-2023", "--now", "20/12/2023")
    assert "Đã có quyết định khen thưởng" in status.output and "24/01/2024" in status.output


@pytest.mark.parametrize(
    "args, message",
    [
        (
            [
                "propose",
                "bd-2023",
                "--as",
                "BDH.D1.1",
                "--award",
                "khong-co",
                "--achievement",
                "x",
                "--now",
                "10/11/2023",
            ],
            "không có hình thức khen thưởng 'khong-co'",
        ),
        (
            ["propose", "bd-2023", "--as", "BDH.X", "--award", "cdcs-vung-manh", "--achievement", "x"],
            "không có đơn vị mã 'BDH.X'",
        ),
        (
            [
                "propose",
                "bd-2023",
                "--as",
                "BDH.D1.1",
                "--award",
                "cdcs-vung-manh",
                "--achievement",
                "x",
                "--votes",
                "bb=9",
            ],
            "--votes 'bb=9'",
        ),
        (
            ["decide", "bd-2023", "1", "--as", "BDH", "--date", "20/12/2023", "--signer", "Chủ tịch"],
            "thiếu số quyết định",
        ),
        (
            [
                "decide",
                "bd-2023",
                "7",
                "--as",
                "BDH",
                "--number",
                "1/QĐ",
                "--date",
                "20/12/2023",
                "--signer",
                "Chủ tịch",
                "--now",
                "20/12/2023",
            ],
            "Không có đề nghị khen thưởng số #7",
        ),
        (["review", "bd-2023", "1", "--as", "BDH.D1", "--approve", "--reject"], "chọn đúng một"),
        (["list", "bd-2099"], "Không có chiến dịch mã 'bd-2099'"),
        (
            [
                "propose",
                "bd-2023",
                "--as",
                "BDH.D1.1",
                "--award",
                "cdcs-vung-manh",
                "--achievement",
                "x",
                "--now",
                "31/02/2023",
            ],
            "thời điểm không hợp lệ",
        ),
    ],
)
def test_cli_refusals_are_one_vietnamese_line_and_exit_1(run, world: World, args, message) -> None:
    before = world.counts()
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert world.counts() == before


def test_cli_decision_without_number_is_refused(run, world: World) -> None:
    (nid,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), send="1/TTr")
    result = run(
        "decide",
        "bd-2023",
        str(nid),
        "--as",
        "BDH.D1",
        "--date",
        "01/12/2023",
        "--signer",
        "Chủ tịch",
        "--now",
        "02/12/2023",
    )
    assert result.exit_code == 1 and "thiếu số quyết định" in result.output
    assert world.view(nid).status == "under_review"


def test_cli_checks_a_catalogue_file(run, tmp_path: Path) -> None:
    good = run("catalogue", str(CONFIG / "awards" / "qd999_2024.yaml"))
    assert (
        good.exit_code == 0 and "Bằng Lao động sáng tạo của Tổng Liên đoàn" in good.output and "hợp lệ" in good.output
    )
    broken = tmp_path / "awards" / "hong.yaml"
    broken.parent.mkdir()
    broken.write_text(
        (CONFIG / "awards" / "qd999_2024.yaml")
        .read_text(encoding="utf-8")
        .replace("decided_by: tong_ldld", "decided_by: trung_uong"),
        encoding="utf-8",
    )
    result = run("catalogue", str(broken))
    assert result.exit_code == 1 and "Có 4 lỗi" in result.output and "không có cấp 'trung_uong'" in result.output


@pytest.mark.slow
def test_register_and_list_as_pdf_keep_every_column_on_the_page(world: World, tmp_path: Path) -> None:
    """LibreOffice prints them on A4 landscape, every column on the page width (the register printed three
    columns per page, headers overlapping, before), the header row on each page."""
    import shutil
    import subprocess

    from tests.submissions.test_documents_pdf import ink_outside, page_sizes
    from thidua.services.pdf import to_pdf

    if shutil.which("soffice") is None or shutil.which("pdftoppm") is None:
        pytest.skip("Thiếu LibreOffice/poppler (cài bằng: bash scripts/ensure-test-tools.sh): bỏ qua kiểm tra PDF")
    walk_every_action(world)
    register = nom.write_award_register(world.engine, world.campaign_id, tmp_path / "so-khen-thuong.xlsx")
    listing = nom.write_proposal_list(
        world.engine, world.campaign_id, world.units["BDH.D1"], tmp_path / "danh-sach.xlsx"
    )
    for pdf, last_header in zip(to_pdf([register, listing], tmp_path / "pdf"), ("Số đề nghị", "Quyết định")):
        sizes = page_sizes(pdf)
        assert 1 <= len(sizes) <= 3 and all(w > h for w, h in sizes)  # landscape, a few pages for a few awards
        assert ink_outside(pdf, tmp_path, right_cm=0.8, bottom_cm=0.6) == []
        first = subprocess.run(
            ["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        words = first.split()
        assert "STT" in words and all(w in words for w in last_header.split()) and "Trang" in words, first[:300]
