"""Evidence files (hồ sơ minh chứng) attached to nominations: the table, the content checks and the checklist
rule. Pure: the checks read bytes already in memory; storage lives in thidua.services.commendation.evidence.

A file is accepted by what it is, never by its name: PDF, PNG and JPEG by their magic bytes; DOCX as a ZIP
holding [Content_Types].xml and word/document.xml whose members really decompress (streamed, counted — the
sizes in the ZIP headers can lie) to less than the limit and at most MAX_RATIO times the file's size
(zip bombs). A name whose extension says another type is refused, so that what is downloaded opens as named.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Iterable, Mapping, Optional, Sequence

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from thidua.errors import InvalidInputError
from thidua.models.clock import utcnow

MAX_RATIO = 100  # decompressed / compressed, for DOCX
MAX_DOCX_MEMBERS = 2000
DOCX_EXPANDED_LIMIT = 200 * 1024 * 1024  # bytes a DOCX may expand to, whatever its own size

KINDS = {  # kind -> (media type, extensions accepted in the name, label)
    "pdf": ("application/pdf", {".pdf"}, "PDF"),
    "png": ("image/png", {".png"}, "ảnh PNG"),
    "jpg": ("image/jpeg", {".jpg", ".jpeg"}, "ảnh JPEG"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", {".docx"}, "Word (DOCX)"),
}


class EvidenceRejected(InvalidInputError):
    """The file is refused; the message says why, in Vietnamese, naming the file."""


class NominationEvidence(SQLModel, table=True):
    __tablename__ = "nomination_evidence"
    __table_args__ = (Index("ix_evidence_nomination", "nomination_id", "item_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id")
    item_code: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    file_name: str = Field(max_length=255)
    kind: str = Field(max_length=8)  # pdf | png | jpg | docx
    size: int
    unit_id: int = Field(foreign_key="unit.id")  # the unit that attached it
    uploaded_by: str = Field(max_length=254)
    uploaded_at: datetime = Field(default_factory=utcnow)
    removed_at: Optional[datetime] = None
    removed_by: str = Field(default="", max_length=254)


@dataclass(frozen=True)
class Sniffed:
    kind: str
    media_type: str


def _docx_problem(data: bytes, name: str, limit: int) -> str | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return f"Tệp '{name}' không phải Word (DOCX) hợp lệ: tệp ZIP hỏng"
    with archive:
        members = archive.infolist()
        if len(members) > MAX_DOCX_MEMBERS:
            return f"Tệp '{name}' có {len(members)} thành phần (tối đa {MAX_DOCX_MEMBERS}): không nhận"
        names = {m.filename for m in members}
        if "[Content_Types].xml" not in names or "word/document.xml" not in names:
            return f"Tệp '{name}' không phải văn bản Word (DOCX): thiếu word/document.xml"
        if any(m.flag_bits & 0x1 for m in members):
            return f"Tệp '{name}' có mật khẩu (mã hóa): không nhận"
        budget = min(DOCX_EXPANDED_LIMIT, len(data) * MAX_RATIO)
        expanded = 0
        for member in members:
            try:
                with archive.open(member) as stream:
                    while chunk := stream.read(1 << 16):
                        expanded += len(chunk)
                        if expanded > budget:
                            return (
                                f"Tệp '{name}' giải nén ra gấp hơn {MAX_RATIO} lần tệp gốc (hoặc trên "
                                f"{DOCX_EXPANDED_LIMIT // 1048576} MB): nghi là tệp nén độc hại (zip bomb), không nhận"
                            )
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
                return f"Tệp '{name}' không phải Word (DOCX) hợp lệ: {exc.__class__.__name__}"
    return None


def sniff(data: bytes, name: str, max_bytes: int) -> Sniffed:
    """The file's kind by content, or EvidenceRejected saying why it is refused."""
    shown = PurePosixPath(name.replace("\\", "/")).name or "tệp"
    if not data:
        raise EvidenceRejected(f"Tệp '{shown}' rỗng")
    if len(data) > max_bytes:
        raise EvidenceRejected(
            f"Tệp '{shown}' nặng {len(data) / 1048576:.1f} MB, vượt giới hạn "
            f"{max_bytes / 1048576:g} MB cho một tệp minh chứng"
        )
    if data.startswith(b"%PDF-"):
        kind = "pdf"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "jpg"
    elif data.startswith(b"PK\x03\x04"):
        problem = _docx_problem(data, shown, max_bytes)
        if problem:
            raise EvidenceRejected(problem)
        kind = "docx"
    else:
        accepted = ", ".join(label for _, _, label in KINDS.values())
        raise EvidenceRejected(
            f"Tệp '{shown}' không phải loại được nhận theo nội dung ({accepted}); "
            "đổi đuôi tên tệp không làm thay đổi loại tệp"
        )
    media_type, extensions, label = KINDS[kind]
    suffix = PurePosixPath(shown).suffix.lower()
    if suffix and suffix not in extensions:
        raise EvidenceRejected(
            f"Tệp '{shown}' mang đuôi '{suffix}' nhưng nội dung là {label}: hãy đặt đúng đuôi "
            f"({', '.join(sorted(extensions))})"
        )
    return Sniffed(kind, media_type)


def safe_file_name(name: str, kind: str) -> str:
    """The base name only (no folders, no control characters), with the kind's extension."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip() or "minh-chung"
    if not PurePosixPath(base).suffix:
        base += sorted(KINDS[kind][1])[0]
    return base[:200]


@dataclass(frozen=True)
class MissingEvidence:
    item: str
    name: str


def missing_required(requirements: Iterable[tuple[str, str, bool]], attached: Sequence[str]) -> list[MissingEvidence]:
    """Required checklist items (code, name, required) with no attached file."""
    have = set(attached)
    return [MissingEvidence(code, name) for code, name, required in requirements if required and code not in have]


def checklist(requirements: Iterable[tuple[str, str, bool]], attached: Mapping[str, int]) -> list[dict[str, object]]:
    """Rows for the page: each item, whether required, how many files are attached."""
    return [
        {"item": code, "name": name, "required": required, "files": attached.get(code, 0)}
        for code, name, required in requirements
    ]
