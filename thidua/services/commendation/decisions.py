"""Numbered award decisions (quyết định khen thưởng) and tờ trình, their DOCX from the office's templates,
and revocation.

`issue_decision` is one transaction under the campaign's nomination lock: the gates (publication window
closed, council passed — see `decision_gates`), the next QĐ number of the deciding unit for the decision's
year, the nominations decided (thidua.services.nominations.decide_in: state machine, exclusivity), the
decision with its list and bonuses, the audit rows. Any refusal rolls everything back, the number included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.clock import fmt_date
from thidua.models.commendation import AwardDecision, AwardDecisionItem, IssuedNumber, revocation_problems
from thidua.models.nominations import (
    InvalidNominationInput,
    Nomination,
    NominationAction,
    NominationBatch,
    NominationNotFound,
    NotPermitted,
)
from thidua.models.tables import Unit
from thidua.models.vnwords import amount_in_words, group_thousands
from thidua.services import nominations as nom
from thidua.services.commendation import bonuses, persons
from thidua.services.commendation.config import template_path
from thidua.services.commendation.docx_fill import render_docx
from thidua.services.commendation.numbers import take_number

D = AwardDecision.__table__  # type: ignore[attr-defined]
DI = AwardDecisionItem.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
B = NominationBatch.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
NUM = IssuedNumber.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DecisionInput:
    on: date
    signer: str
    signer_title: str = "TM. BAN THƯỜNG VỤ\nCHỦ TỊCH"
    subject: str = ""  # trích yếu; default: "khen thưởng … năm …"
    council_session_id: int | None = None


@dataclass
class IssuedDecision:
    id: int
    symbol: str
    nomination_ids: list[int]
    total_amount: int = 0
    amounts: dict[int, int] = field(default_factory=dict)


def _ids_for_batch(session: Session, batch_id: int, unit_id: int) -> list[int]:
    return list(
        session.execute(
            select(N.c.id)
            .where(N.c.batch_id == batch_id, N.c.status == "under_review", N.c.current_unit_id == unit_id)
            .order_by(N.c.id)
        ).scalars()
    )


def issue_decision(
    engine: Engine,
    campaign_id: int,
    actor: nom.Actor,
    decision: DecisionInput,
    *,
    nomination_ids: Sequence[int] = (),
    batch_id: int | None = None,
    expected_versions: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> IssuedDecision:
    """Number and record a decision for the listed files (or an incoming list's files still under review)."""
    if not nomination_ids and batch_id is None:
        raise InvalidNominationInput("Cần chọn đề nghị hoặc danh sách (tờ trình) để ra quyết định")
    if not decision.signer.strip():
        raise InvalidNominationInput("Quyết định khen thưởng: thiếu người ký quyết định")
    with nom._change(engine, campaign_id, now) as (session, ctx):
        ids = list(nomination_ids)
        if batch_id is not None:
            ids = list(dict.fromkeys([*ids, *_ids_for_batch(session, batch_id, actor.unit_id)]))
        if not ids:
            raise InvalidNominationInput(f"Danh sách #{batch_id} không còn đề nghị nào đang chờ quyết định")
        taken = take_number(
            session,
            issuing_unit_id=actor.unit_id,
            year=decision.on.year,
            series="QĐ",
            purpose="award_decision",
            actor=actor.name,
            now=ctx.now,
        )
        decided = nom.decide_in(
            session,
            ctx,
            actor,
            nom.Decision(taken.symbol, decision.on, decision.signer),
            nomination_ids=ids,
            batch_id=batch_id,
            expected_versions=expected_versions,
        )
        rows = [dict(r) for r in nom._load(session, decided, campaign_id)]
        persons.record_decided(session, taken.symbol, decision.on, ctx.campaign.year, rows)
        items, total = [], 0
        for position, row in enumerate(rows, start=1):
            base, multiplier, amount = bonuses.bonus_for(ctx.catalogue, row, decision.on)
            total += amount
            items.append(
                {
                    "nomination_id": row["id"],
                    "position": position,
                    "base_salary": base,
                    "multiplier": multiplier,
                    "amount": amount,
                }
            )
        subject = decision.subject.strip() or f"khen thưởng thành tích trong {ctx.campaign.title}"
        decision_id = session.execute(
            insert(D)
            .values(
                campaign_id=campaign_id,
                issuing_unit_id=actor.unit_id,
                number_id=taken.id,
                symbol=taken.symbol,
                decision_date=decision.on,
                signer=decision.signer.strip(),
                signer_title=decision.signer_title.strip(),
                subject=subject,
                council_session_id=decision.council_session_id,
                status="issued",
                total_amount=total,
                created_by=actor.name,
                created_at=ctx.now,
                version=1,
            )
            .returning(D.c.id)
        ).scalar_one()
        session.execute(insert(DI), [{**item, "decision_id": decision_id} for item in items])
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "award_decision.issued",
                    "entity": "award_decision",
                    "entity_id": decision_id,
                    "campaign_id": campaign_id,
                    "unit_id": actor.unit_id,
                    "after": {
                        "symbol": taken.symbol,
                        "date": decision.on,
                        "signer": decision.signer,
                        "nominations": [r["id"] for r in rows],
                        "total_amount": total,
                    },
                }
            ],
        )
        return IssuedDecision(
            decision_id,
            taken.symbol,
            [r["id"] for r in rows],
            total,
            {item["nomination_id"]: item["amount"] for item in items},
        )


def revoke_decision(
    engine: Engine,
    decision_id: int,
    actor: nom.Actor,
    *,
    reason: str,
    on: date | None = None,
    now: datetime | None = None,
) -> str:
    """Revoke a decision (quyết định hủy, numbered in the QĐ series): every nomination on it becomes
    'revoked'; the reason is kept on the decision and in the audit log. Returns the revoking decision's symbol."""
    with Session(engine) as probe:
        campaign_id = probe.execute(select(D.c.campaign_id).where(D.c.id == decision_id)).scalar_one_or_none()
    if campaign_id is None:
        raise NominationNotFound(f"Không có quyết định khen thưởng #{decision_id}")
    with nom._change(engine, campaign_id, now) as (session, ctx):
        decision = session.execute(select(D).where(D.c.id == decision_id)).mappings().one()
        if decision["issuing_unit_id"] != actor.unit_id:
            raise NotPermitted(
                f"Chỉ {ctx.units.get(decision['issuing_unit_id']).name} (đơn vị ban hành) mới hủy được "
                f"quyết định {decision['symbol']}"
            )
        problems = revocation_problems(decision["status"], reason)
        day = on or ctx.today
        if day < decision["decision_date"]:
            problems.append(f"ngày hủy {fmt_date(day)} trước ngày quyết định {fmt_date(decision['decision_date'])}")
        if problems:
            raise InvalidNominationInput(f"Không hủy được quyết định {decision['symbol']}: " + "; ".join(problems))
        taken = take_number(
            session,
            issuing_unit_id=actor.unit_id,
            year=day.year,
            series="QĐ",
            purpose="revocation",
            actor=actor.name,
            now=ctx.now,
        )
        ids = list(
            session.execute(
                select(DI.c.nomination_id).where(DI.c.decision_id == decision_id).order_by(DI.c.position)
            ).scalars()
        )
        rows = [dict(r) for r in nom._load(session, ids, campaign_id)]
        moves = []
        for row in rows:
            row["_label"] = nom._label(row)
            to_status = nom._transition_or_error(row, NominationAction.REVOKE, at_deciding_unit=True)
            moves.append(nom._Move(row, to_status, {}, row["current_unit_id"]))
        note = f"Hủy quyết định {decision['symbol']} bằng quyết định {taken.symbol}: {reason.strip()}"
        nom._apply_moves(session, ctx, NominationAction.REVOKE, actor, moves, comment=note)
        persons.record_revoked(session, ids)
        changed = session.execute(
            update(D)
            .where(D.c.id == decision_id, D.c.version == decision["version"])
            .values(
                status="revoked",
                revoked_reason=reason.strip(),
                revoked_at=ctx.now,
                revoked_by=actor.name,
                revocation_symbol=taken.symbol,
                version=decision["version"] + 1,
            )
        ).rowcount
        if changed != 1:
            raise nom.NominationConflict(f"Quyết định {decision['symbol']} vừa được thay đổi; hãy tải lại")
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "award_decision.revoked",
                    "entity": "award_decision",
                    "entity_id": decision_id,
                    "campaign_id": campaign_id,
                    "unit_id": actor.unit_id,
                    "note": reason.strip(),
                    "before": {"status": decision["status"]},
                    "after": {"status": "revoked", "revocation_symbol": taken.symbol, "nominations": ids},
                }
            ],
        )
        return taken.symbol


def issue_to_trinh(
    engine: Engine,
    campaign_id: int,
    actor: nom.Actor,
    *,
    on: date,
    occasion: str = "year_end",
    round_number: int | None = None,
    batch_id: int | None = None,
    now: datetime | None = None,
) -> tuple[int, str]:
    """Number the acting unit's open list's tờ trình (TTr series) and record it on the list, which then leaves
    with it when sent (or when the level's window closes). Returns (list id, số/ký hiệu)."""
    with nom._change(engine, campaign_id, now) as (session, ctx):
        if on > ctx.today:
            raise InvalidNominationInput(f"Ngày tờ trình {fmt_date(on)} sau hôm nay ({fmt_date(ctx.today)})")
        batch = nom._batch_for(session, ctx, actor, batch_id, occasion, round_number)
        if batch["to_trinh_number"]:
            raise InvalidNominationInput(f"Danh sách #{batch['id']} đã có tờ trình số {batch['to_trinh_number']}")
        taken = take_number(
            session,
            issuing_unit_id=actor.unit_id,
            year=on.year,
            series="TTr",
            purpose="to_trinh",
            actor=actor.name,
            now=ctx.now,
        )
        changed = session.execute(
            update(B)
            .where(B.c.id == batch["id"], B.c.version == batch["version"])
            .values(to_trinh_number=taken.symbol, to_trinh_date=on, version=batch["version"] + 1)
        ).rowcount
        if changed != 1:
            raise nom.NominationConflict(f"Danh sách #{batch['id']} vừa được thay đổi; hãy tải lại")
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "nomination_batch.prepared",
                    "entity": "nomination_batch",
                    "entity_id": batch["id"],
                    "campaign_id": campaign_id,
                    "unit_id": actor.unit_id,
                    "after": {"to_trinh_number": taken.symbol, "to_trinh_date": on},
                }
            ],
        )
        return batch["id"], taken.symbol


# ---------------------------------------------------------------------------------------------------
# Reading and documents
# ---------------------------------------------------------------------------------------------------
def get_decision(engine: Engine, decision_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        decision = session.execute(select(D).where(D.c.id == decision_id)).mappings().first()
        if decision is None:
            raise NominationNotFound(f"Không có quyết định khen thưởng #{decision_id}")
        items = (
            session.execute(
                select(
                    DI,
                    N.c.nominee_name,
                    N.c.nominee_position,
                    N.c.award_name,
                    N.c.award_code,
                    N.c.subject,
                    N.c.status,
                    N.c.nominee_unit_id,
                    U.c.name.label("unit_name"),
                )
                .join(N, N.c.id == DI.c.nomination_id)
                .join(U, U.c.id == N.c.nominee_unit_id)
                .where(DI.c.decision_id == decision_id)
                .order_by(DI.c.position)
            )
            .mappings()
            .all()
        )
        return {**dict(decision), "items": [dict(i) for i in items]}


def list_decisions(engine: Engine, campaign_id: int, *, unit_id: int | None = None) -> list[dict[str, Any]]:
    query = select(D).where(D.c.campaign_id == campaign_id)
    if unit_id is not None:
        query = query.where(D.c.issuing_unit_id == unit_id)
    with Session(engine) as session:
        return [dict(r) for r in session.execute(query.order_by(D.c.decision_date, D.c.id)).mappings()]


def decision_for_nomination(engine: Engine, nomination_id: int) -> dict[str, Any] | None:
    with Session(engine) as session:
        row = (
            session.execute(
                select(D)
                .join(DI, DI.c.decision_id == D.c.id)
                .where(DI.c.nomination_id == nomination_id)
                .order_by(D.c.id.desc())
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None


def date_in_words(day: date) -> str:
    """The date line of a document (Nghị định 30/2020): 'ngày 05 tháng 02 năm 2024', 'ngày 20 tháng 12 năm 2023'."""
    from thidua.models.vnformat import fmt_document_date

    return fmt_document_date(day)


def _unit_names(session: Session, unit_id: int) -> tuple[str, str]:
    unit = session.execute(select(U.c.name, U.c.parent_id).where(U.c.id == unit_id)).one()
    parent = (
        session.execute(select(U.c.name).where(U.c.id == unit.parent_id)).scalar_one_or_none()
        if unit.parent_id
        else None
    )
    return unit.name, parent or ""


def _list_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "stt": i,
            "ho_ten": item["nominee_name"],
            "chuc_vu": item.get("nominee_position") or "",
            "don_vi": item["unit_name"],
            "hinh_thuc": item["award_name"],
            "tien_thuong": group_thousands(item.get("amount") or 0),
        }
        for i, item in enumerate(items, start=1)
    ]


def write_decision_docx(engine: Engine, decision_id: int, out: Path, *, template: Path | None = None) -> Path:
    """The quyết định with its danh sách kèm theo, from the office's template."""
    decision = get_decision(engine, decision_id)
    with Session(engine) as session:
        campaign = nom._campaign(session, decision["campaign_id"])
        levels, _ = nom._levels(session)
        catalogue = nom.campaign_catalogue(session, campaign, levels)
        unit_name, parent_name = _unit_names(session, decision["issuing_unit_id"])
        batches = session.execute(
            select(B.c.to_trinh_number, B.c.to_trinh_date, U.c.name)
            .join(U, U.c.id == B.c.from_unit_id)
            .where(
                B.c.id.in_(select(N.c.batch_id).where(N.c.id.in_([i["nomination_id"] for i in decision["items"]]))),
                B.c.to_trinh_number != "",
            )
        ).all()
        council = ""
        if decision["council_session_id"]:
            from thidua.models.council import CouncilSession

            held = session.get(CouncilSession, decision["council_session_id"])
            council = f"ngày {fmt_date(held.held_on)}" if held else ""
    to_trinh = "; ".join(f"{name} tại Tờ trình số {number} ngày {fmt_date(day)}" for number, day, name in batches)
    award_names = list(dict.fromkeys(i["award_name"] for i in decision["items"]))
    values = {
        "ten_don_vi_cap_tren": parent_name.upper(),
        "ten_don_vi": unit_name.upper(),
        "so_ky_hieu": decision["symbol"],
        "dia_danh": "",
        "ngay_chu": date_in_words(decision["decision_date"]),
        "ngay": fmt_date(decision["decision_date"]),
        "trich_yeu": decision["subject"],
        "chuc_danh_co_quan": f"BAN THƯỜNG VỤ {unit_name.upper()}",
        "quy_che": catalogue.regulation,
        "can_cu_hoi_dong": council or "(không họp)",
        "can_cu_to_trinh": to_trinh or "các đơn vị",
        "hinh_thuc_chung": ", ".join(award_names),
        "so_luong": len(decision["items"]),
        "phong_trao": campaign.title,
        "tong_tien": group_thousands(decision["total_amount"]),
        "tong_tien_chu": amount_in_words(decision["total_amount"]),
        "chuc_vu_nguoi_ky": decision["signer_title"],
        "nguoi_ky": decision["signer"],
    }
    return render_docx(template or template_path("decision"), out, values, _list_rows(decision["items"]))


def write_to_trinh_docx(
    engine: Engine,
    batch_id: int,
    out: Path,
    *,
    signer: str = "",
    signer_title: str = "CHỦ TỊCH",
    template: Path | None = None,
) -> Path:
    """The tờ trình of a list with its danh sách kèm theo, from the office's template."""
    with Session(engine) as session:
        batch = session.execute(select(B).where(B.c.id == batch_id)).mappings().first()
        if batch is None:
            raise NominationNotFound(f"Không có danh sách đề nghị #{batch_id}")
        if not batch["to_trinh_number"]:
            raise InvalidNominationInput(f"Danh sách #{batch_id} chưa có số tờ trình")
        campaign = nom._campaign(session, batch["campaign_id"])
        levels, _ = nom._levels(session)
        catalogue = nom.campaign_catalogue(session, campaign, levels)
        items = (
            session.execute(
                select(
                    N.c.nominee_name, N.c.nominee_position, N.c.award_name, N.c.award_code, U.c.name.label("unit_name")
                )
                .join(U, U.c.id == N.c.nominee_unit_id)
                .where(N.c.batch_id == batch_id, N.c.status.notin_(["withdrawn", "rejected", "returned"]))
                .order_by(N.c.id)
            )
            .mappings()
            .all()
        )
        unit_name, parent_name = _unit_names(session, batch["from_unit_id"])
        to_name = session.execute(select(U.c.name).where(U.c.id == batch["to_unit_id"])).scalar_one()
    codes = {
        code for item in items if (award := catalogue.award(item["award_code"])) is not None for code in award.dossier
    }
    dossier = sorted((found.name if (found := catalogue.dossier_item(code)) is not None else code) for code in codes)
    values = {
        "ten_don_vi_cap_tren": parent_name.upper(),
        "ten_don_vi": unit_name,
        "so_ky_hieu": batch["to_trinh_number"],
        "dia_danh": "",
        "ngay_chu": date_in_words(batch["to_trinh_date"]),
        "ngay": fmt_date(batch["to_trinh_date"]),
        "trich_yeu": f"đề nghị khen thưởng {campaign.title}",
        "kinh_gui": to_name,
        "quy_che": catalogue.regulation,
        "phong_trao": campaign.title,
        "so_luong": len(items),
        "ho_so_kem_theo": "; ".join(dossier) or "không",
        "chuc_vu_nguoi_ky": signer_title,
        "nguoi_ky": signer,
    }
    rows = [{**r, "amount": 0} for r in items]
    return render_docx(template or template_path("to_trinh"), out, values, _list_rows(rows))
