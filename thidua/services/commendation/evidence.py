"""Evidence files of nominations: attach (checked by content), list, remove, open for download, and the rule
that a nomination is not forwarded (sent upward, approved, decided) while a required checklist item is missing.

Files are stored content-addressed under the data directory: evidence/ab/cd/<sha256>, written to a temporary
name and renamed (an identical file is stored once; a crash leaves no half file under a real name). The row
and its audit entry are written in one transaction under the campaign's nomination lock.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.awards import Refusal
from thidua.models.evidence import KINDS, NominationEvidence, missing_required, safe_file_name, sniff
from thidua.models.nominations import (
    InvalidNominationInput,
    Nomination,
    NominationNotFound,
    NominationStatus,
    NotPermitted,
)
from thidua.models.spec.awards import AwardCatalogue
from thidua.services import nominations as nom
from thidua.settings import get_settings

E = NominationEvidence.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
_S = NominationStatus
PROPOSER_STATUSES = {_S.DRAFTED.value, _S.PROPOSED.value, _S.RETURNED.value}
HOLDER_STATUSES = {_S.UNDER_REVIEW.value, _S.APPROVED.value}


@dataclass
class EvidenceView:
    id: int
    nomination_id: int
    item_code: str
    item_name: str
    file_name: str
    kind: str
    media_type: str
    size: int
    unit_id: int
    uploaded_by: str
    uploaded_at: datetime


def storage_root(data_dir: Path | None = None) -> Path:
    return (data_dir or get_settings().data_dir) / "evidence"


def stored_path(sha256: str, root: Path | None = None) -> Path:
    return (root or storage_root()) / sha256[:2] / sha256[2:4] / sha256


def _store(data: bytes, digest: str, data_dir: Path | None) -> Path:
    path = stored_path(digest, storage_root(data_dir))
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def requirements(catalogue: AwardCatalogue, award_code: str, subject: str) -> list[tuple[str, str, bool]]:
    """The award's checklist for this subject: (item code, item name, required)."""
    award = catalogue.award(award_code)
    if award is None:
        return []
    out = []
    for requirement in award.evidence_for(subject):
        item = catalogue.dossier_item(requirement.item)
        out.append((requirement.item, item.name if item else requirement.item, requirement.required))
    return out


def _attached_codes(session: Session, nomination_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in nomination_ids}
    for start in range(0, len(nomination_ids), 5000):
        chunk = list(nomination_ids[start : start + 5000])
        for nomination_id, code in session.execute(
            select(E.c.nomination_id, E.c.item_code).where(E.c.nomination_id.in_(chunk), E.c.removed_at.is_(None))
        ).all():
            out[nomination_id].append(code)
    return out


def missing_refusals(
    session: Session, catalogue: AwardCatalogue, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
    """Refusals for nominations whose required evidence files are missing (forwarding and deciding check this)."""
    ids = [r["id"] for r in rows if r.get("id") is not None]
    attached = _attached_codes(session, ids) if ids else {}
    out: dict[str, list[Refusal]] = {}
    for row, label in zip(rows, labels):
        needed = requirements(catalogue, row["award_code"], row["subject"])
        missing = missing_required(needed, attached.get(int(row["id"]), []) if row.get("id") is not None else [])
        if missing:
            out[label] = [Refusal(f"minh-chung:{m.item}", f"Thiếu tệp minh chứng bắt buộc: {m.name}") for m in missing]
    return out


def _may_attach(row: Mapping[str, Any], unit_id: int) -> bool:
    if row["origin_unit_id"] == unit_id and row["status"] in PROPOSER_STATUSES:
        return True
    return row["current_unit_id"] == unit_id and row["status"] in HOLDER_STATUSES


def attach(
    engine: Engine,
    nomination_id: int,
    actor: nom.Actor,
    *,
    item_code: str,
    file_name: str,
    data: bytes,
    now: datetime | None = None,
    data_dir: Path | None = None,
) -> EvidenceView:
    """Attach one file to a checklist item of a nomination: by the proposer while the file is with it (draft,
    outgoing list, returned), or by the unit now reviewing it. EvidenceRejected when the content is refused."""
    with Session(engine) as probe:
        found = probe.execute(select(N.c.campaign_id).where(N.c.id == nomination_id)).scalar_one_or_none()
    if found is None:
        raise NominationNotFound(f"Không có đề nghị khen thưởng số #{nomination_id}")
    with nom._change(engine, found, now) as (session, ctx):
        (row,) = [dict(r) for r in nom._load(session, [nomination_id], found)]
        label = nom._label(row)
        needed = {code: name for code, name, _ in requirements(ctx.catalogue, row["award_code"], row["subject"])}
        if item_code not in needed:
            listed = ", ".join(f"{code} ({name})" for code, name in needed.items()) or "không có mục nào"
            raise InvalidNominationInput(
                f"{label}: '{item_code}' không có trong danh mục hồ sơ minh chứng của "
                f"{row['award_name']} (các mục: {listed})"
            )
        if not _may_attach(row, actor.unit_id):
            raise NotPermitted(
                f"{label}: {ctx.units.get(actor.unit_id).name} không được đính kèm minh chứng lúc đề nghị "
                f"'{nom.status_label(row['status'])}' đang ở {ctx.units.get(row['current_unit_id']).name}"
            )
        sniffed = sniff(data, file_name, int(ctx.catalogue.evidence_max_mb * 1024 * 1024))
        digest = hashlib.sha256(data).hexdigest()
        _store(data, digest, data_dir)
        name = safe_file_name(file_name, sniffed.kind)
        evidence_id = session.execute(
            insert(E)
            .values(
                nomination_id=nomination_id,
                item_code=item_code,
                sha256=digest,
                file_name=name,
                kind=sniffed.kind,
                size=len(data),
                unit_id=actor.unit_id,
                uploaded_by=actor.name,
                uploaded_at=ctx.now,
            )
            .returning(E.c.id)
        ).scalar_one()
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "evidence.attached",
                    "entity": "nomination",
                    "entity_id": nomination_id,
                    "campaign_id": found,
                    "unit_id": actor.unit_id,
                    "after": {
                        "evidence_id": evidence_id,
                        "item": item_code,
                        "file_name": name,
                        "sha256": digest,
                        "size": len(data),
                        "kind": sniffed.kind,
                    },
                }
            ],
        )
        return EvidenceView(
            evidence_id,
            nomination_id,
            item_code,
            needed[item_code],
            name,
            sniffed.kind,
            sniffed.media_type,
            len(data),
            actor.unit_id,
            actor.name,
            ctx.now,
        )


def remove(engine: Engine, evidence_id: int, actor: nom.Actor, *, now: datetime | None = None) -> None:
    """Take a file off the nomination (the stored content stays: other rows may share it; the audit keeps it)."""
    with Session(engine) as probe:
        found = probe.execute(
            select(E.c.nomination_id, N.c.campaign_id)
            .join(N, N.c.id == E.c.nomination_id)
            .where(E.c.id == evidence_id, E.c.removed_at.is_(None))
        ).first()
    if found is None:
        raise NominationNotFound(f"Không có tệp minh chứng #{evidence_id}")
    with nom._change(engine, found.campaign_id, now) as (session, ctx):
        (row,) = [dict(r) for r in nom._load(session, [found.nomination_id], found.campaign_id)]
        evidence = session.execute(select(E).where(E.c.id == evidence_id)).mappings().one()
        if evidence["unit_id"] != actor.unit_id or not _may_attach(row, actor.unit_id):
            raise NotPermitted(
                f"{nom._label(row)}: chỉ đơn vị đã đính kèm tệp, khi đề nghị đang ở đơn vị đó, mới gỡ được"
            )
        session.execute(update(E).where(E.c.id == evidence_id).values(removed_at=ctx.now, removed_by=actor.name))
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "evidence.removed",
                    "entity": "nomination",
                    "entity_id": found.nomination_id,
                    "campaign_id": found.campaign_id,
                    "unit_id": actor.unit_id,
                    "before": {"evidence_id": evidence_id, "file_name": evidence["file_name"]},
                }
            ],
        )


def list_evidence(engine: Engine, nomination_id: int) -> list[EvidenceView]:
    with Session(engine) as session:
        row = session.execute(
            select(N.c.campaign_id, N.c.award_code, N.c.subject).where(N.c.id == nomination_id)
        ).first()
        if row is None:
            raise NominationNotFound(f"Không có đề nghị khen thưởng số #{nomination_id}")
        catalogue = nom.campaign_catalogue(session, nom._campaign(session, row.campaign_id))
        names = {code: name for code, name, _ in requirements(catalogue, row.award_code, row.subject)}
        rows = (
            session.execute(
                select(E).where(E.c.nomination_id == nomination_id, E.c.removed_at.is_(None)).order_by(E.c.id)
            )
            .mappings()
            .all()
        )
    return [
        EvidenceView(
            r["id"],
            r["nomination_id"],
            r["item_code"],
            names.get(r["item_code"], r["item_code"]),
            r["file_name"],
            r["kind"],
            KINDS[r["kind"]][0],
            r["size"],
            r["unit_id"],
            r["uploaded_by"],
            r["uploaded_at"],
        )
        for r in rows
    ]


def checklist_for(engine: Engine, nomination_id: int) -> list[dict[str, Any]]:
    """The nomination's checklist with the files attached to each item."""
    with Session(engine) as session:
        row = session.execute(
            select(N.c.campaign_id, N.c.award_code, N.c.subject).where(N.c.id == nomination_id)
        ).first()
        if row is None:
            raise NominationNotFound(f"Không có đề nghị khen thưởng số #{nomination_id}")
        catalogue = nom.campaign_catalogue(session, nom._campaign(session, row.campaign_id))
        needed = requirements(catalogue, row.award_code, row.subject)
    files = list_evidence(engine, nomination_id)
    return [
        {"item": code, "name": name, "required": required, "files": [f for f in files if f.item_code == code]}
        for code, name, required in needed
    ]


def open_evidence(engine: Engine, evidence_id: int, *, data_dir: Path | None = None) -> tuple[int, Path, str, str]:
    """(nomination id, stored path, file name, media type) of a file still attached. The caller checks that
    the reader may see the nomination."""
    with Session(engine) as session:
        row = session.execute(select(E).where(E.c.id == evidence_id, E.c.removed_at.is_(None))).mappings().first()
    if row is None:
        raise NominationNotFound(f"Không có tệp minh chứng #{evidence_id}")
    path = stored_path(row["sha256"], storage_root(data_dir))
    if not path.exists():
        raise NominationNotFound(f"Tệp minh chứng #{evidence_id} không còn trong kho lưu trữ ({path})")
    return row["nomination_id"], path, row["file_name"], KINDS[row["kind"]][0]


def evidence_count(engine: Engine, campaign_id: int) -> int:
    with Session(engine) as session:
        return session.execute(
            select(func.count())
            .select_from(E)
            .join(N, N.c.id == E.c.nomination_id)
            .where(N.c.campaign_id == campaign_id, E.c.removed_at.is_(None))
        ).scalar_one()
