"""nominations: Queries; Spreadsheets: a level's consolidated proposal list, and the campaign's award register."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.awards import (
    occasion_label,
    reviewer_levels,
)
from thidua.models.clock import fmt_date, fmt_datetime, utc_to_local
from thidua.models.nominations import (
    NominationNotFound,
    status_label,
)
from thidua.models.spec.awards import (
    SUBJECT_LABELS,
)
from thidua.models.tables import Level
from thidua.notifications.outbox import enqueue_many
from thidua.services.campaigns import subtree_range
from thidua.settings import get_settings
from thidua.xlsx_safety import put_row

from .context import _aware, _context, _levels, _Units
from .inputs import _ALIVE, _GRANTED, _S, B, N, NominationView, S, StepView, U
from .transitions import _base_context


# ---------------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------------
def get_nomination(engine: Engine, nomination_id: int) -> NominationView:
    with Session(engine) as session:
        row = session.execute(select(N).where(N.c.id == nomination_id)).mappings().first()
        if row is None:
            raise NominationNotFound(f"Không có đề nghị khen thưởng #{nomination_id}")
        steps = list(session.execute(select(S).where(S.c.nomination_id == nomination_id).order_by(S.c.seq)).mappings())
        units = _Units(session)
        names = {
            i: u.name
            for i, u in units.load(
                [row["nominee_unit_id"], row["origin_unit_id"], row["current_unit_id"], row["deciding_unit_id"]]
                + [s["at_unit_id"] for s in steps]
                + [s["to_unit_id"] for s in steps if s["to_unit_id"]]
            ).items()
        }
        view = _view(row, names)
        levels, level_names = _levels(session)
        # The route follows the tree (each unit's direct superior), not the list of levels: a CĐCS directly
        # under the province goes straight there.
        origin = units.get(row["origin_unit_id"])
        above = [
            u for u in (units.load(origin.ancestor_ids()).get(i) for i in reversed(origin.ancestor_ids()[:-1])) if u
        ]
        chain = []
        for unit in above:
            chain.append(unit.level_code)
            if unit.id == row["deciding_unit_id"]:
                break
        if not chain or chain[-1] != row["deciding_level"]:  # the decider is not an ancestor (data of old files)
            chain = reviewer_levels(levels, row["origin_level"], row["deciding_level"])
        view.route = [level_names[lvl] for lvl in chain]
        view.steps = [
            StepView(
                s["seq"],
                s["action"],
                s["from_status"],
                s["to_status"],
                names.get(s["at_unit_id"], ""),
                names.get(s["to_unit_id"], "") if s["to_unit_id"] else "",
                s["actor"],
                s["at"],
                s["comment"],
                s["review_due_at"],
            )
            for s in steps
        ]
        return view


def _view(row: Mapping[str, Any], names: Mapping[int, str]) -> NominationView:
    return NominationView(
        id=row["id"],
        version=row["version"],
        status=row["status"],
        status_label=status_label(row["status"]),
        award_code=row["award_code"],
        award_name=row["award_name"],
        subject=row["subject"],
        nominee_name=row["nominee_name"],
        nominee_position=row["nominee_position"],
        nominee_unit=names.get(row["nominee_unit_id"], ""),
        occasion=row["occasion"],
        occasion_label=occasion_label(row["occasion"], row["round_number"]),
        round_number=row["round_number"],
        theme=row["theme"],
        achievement=row["achievement"],
        discipline=row["discipline"],
        dossier=dict(row["dossier"] or {}),
        origin_unit_id=row["origin_unit_id"],
        origin_unit=names.get(row["origin_unit_id"], ""),
        current_unit_id=row["current_unit_id"],
        current_unit=names.get(row["current_unit_id"], ""),
        deciding_unit_id=row["deciding_unit_id"],
        deciding_unit=names.get(row["deciding_unit_id"], ""),
        returned_by_unit_id=row["returned_by_unit_id"],
        review_due_at=row["review_due_at"],
        decision_number=row["decision_number"],
        decision_date=row["decision_date"],
        decision_signer=row["decision_signer"],
        awarded_on=row["awarded_on"],
        updated_at=row["updated_at"],
        batch_id=row["batch_id"],
    )


def list_nominations(
    engine: Engine,
    campaign_id: int,
    *,
    holder_unit_id: int | None = None,
    origin_unit_id: int | None = None,
    within_unit_id: int | None = None,
    statuses: Sequence[str] | None = None,
    award_code: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[NominationView]:
    """Nominations of a campaign, oldest change first. `holder_unit_id` + status under_review is a
    reviewer's queue; `within_unit_id` keeps those whose nominee is in that unit's subtree."""
    with Session(engine) as session:
        query = select(N).where(N.c.campaign_id == campaign_id)
        if holder_unit_id is not None:
            query = query.where(N.c.current_unit_id == holder_unit_id)
        if origin_unit_id is not None:
            query = query.where(N.c.origin_unit_id == origin_unit_id)
        if statuses:
            query = query.where(N.c.status.in_(list(statuses)))
        if award_code:
            query = query.where(N.c.award_code == award_code)
        if within_unit_id is not None:
            root_path = session.execute(select(U.c.path).where(U.c.id == within_unit_id)).scalar()
            if root_path is None:
                raise NominationNotFound(f"Không có đơn vị #{within_unit_id}")
            low, high = subtree_range(root_path)
            query = query.where(exists().where(U.c.id == N.c.nominee_unit_id, U.c.path >= low, U.c.path < high))
        query = query.order_by(N.c.updated_at, N.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = list(session.execute(query).mappings())
        names = {
            i: u.name
            for i, u in _Units(session)
            .load(
                {
                    r[k]
                    for r in rows
                    for k in ("nominee_unit_id", "origin_unit_id", "current_unit_id", "deciding_unit_id")
                }
            )
            .items()
        }
        return [_view(r, names) for r in rows]


def reviewer_queue(engine: Engine, campaign_id: int, unit_id: int, *, limit: int | None = None) -> list[NominationView]:
    """What waits for this unit's decision, oldest first."""
    return list_nominations(engine, campaign_id, holder_unit_id=unit_id, statuses=[_S.UNDER_REVIEW.value], limit=limit)


def list_batches(engine: Engine, campaign_id: int, *, unit_id: int | None = None) -> list[dict[str, Any]]:
    """Lists sent or received by a unit (all when None), newest first, with their live counts."""
    with Session(engine) as session:
        query = select(B).where(B.c.campaign_id == campaign_id)
        if unit_id is not None:
            query = query.where(or_(B.c.from_unit_id == unit_id, B.c.to_unit_id == unit_id))
        batches = list(session.execute(query.order_by(B.c.id.desc())).mappings())
        counts = (
            dict(
                session.execute(
                    select(N.c.batch_id, func.count())
                    .where(N.c.batch_id.in_([b["id"] for b in batches]), N.c.status.in_(_ALIVE))
                    .group_by(N.c.batch_id)
                ).all()
            )
            if batches
            else {}
        )
        names = {
            i: u.name
            for i, u in _Units(session)
            .load({b["from_unit_id"] for b in batches} | {b["to_unit_id"] for b in batches})
            .items()
        }
        return [
            {
                **dict(b),
                "from_unit": names.get(b["from_unit_id"], ""),
                "to_unit": names.get(b["to_unit_id"], ""),
                "live_count": counts.get(b["id"], 0),
                "occasion_label": occasion_label(b["occasion"], b["round_number"] or None),
            }
            for b in batches
        ]


def pipeline(engine: Engine, campaign_id: int) -> list[dict[str, Any]]:
    """Counts by level where the files are and by status (the office's pipeline view)."""
    with Session(engine) as session:
        rank = dict(session.execute(select(Level.code, Level.rank)).all())  # type: ignore[arg-type]
        rows = session.execute(
            select(N.c.current_level, N.c.status, func.count())
            .where(N.c.campaign_id == campaign_id)
            .group_by(N.c.current_level, N.c.status)
        ).all()
        return sorted(
            ({"level": lvl, "status": st, "status_label": status_label(st), "count": n} for lvl, st, n in rows),
            key=lambda r: (-rank.get(r["level"], 0), r["status"]),
        )


def overdue_reviews(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Reviewers past their deadline: unit, number of files, the oldest deadline."""
    now = _aware(now)
    with Session(engine) as session:
        rows = session.execute(
            select(N.c.current_unit_id, func.count(), func.min(N.c.review_due_at))
            .where(N.c.campaign_id == campaign_id, N.c.status == _S.UNDER_REVIEW.value, N.c.review_due_at < now)
            .group_by(N.c.current_unit_id)
        ).all()
        names = {i: u.name for i, u in _Units(session).load(r[0] for r in rows).items()}
        return [
            {"unit_id": unit_id, "unit": names.get(unit_id, ""), "count": count, "oldest_due_at": oldest}
            for unit_id, count, oldest in rows
        ]


def remind_overdue_reviewers(engine: Engine, campaign_id: int, *, now: datetime | None = None) -> int:
    """Queue one reminder per overdue reviewer unit and day (the outbox key makes a second run a no-op)."""
    now = _aware(now)
    overdue = overdue_reviews(engine, campaign_id, now=now)
    if not overdue:
        return 0
    with Session(engine) as session, session.begin():
        ctx = _context(session, campaign_id, now, for_change=False)
        queued = 0
        for item in overdue:
            unit = ctx.units.get(item["unit_id"])
            context = {
                **_base_context(ctx),
                "audience": "overdue",
                "unit_name": unit.name,
                "count": item["count"],
                "review_due": fmt_date(utc_to_local(item["oldest_due_at"], ctx.tz)),
                "acting_unit": "",
                "link": f"{get_settings().base_url.rstrip('/')}/xet-duyet",
                "at": fmt_datetime(now, ctx.tz),
            }
            queued += enqueue_many(
                session,
                [
                    {
                        "key": f"nomrem:{campaign_id}:{unit.id}:{ctx.today.isoformat()}:{email}",
                        "kind": "nomination",
                        "recipient": email,
                        "template": "nomination_step",
                        "context": context,
                        "campaign_id": campaign_id,
                        "unit_id": unit.id,
                        "scheduled_at": now,
                    }
                    for email in dict.fromkeys(unit.emails)
                ],
            )
        return queued


# ---------------------------------------------------------------------------------------------------
# Spreadsheets: a level's consolidated proposal list, and the campaign's award register
# ---------------------------------------------------------------------------------------------------
_LIST_HEADERS = [
    "STT",
    "Số đề nghị",
    "Hình thức khen thưởng",
    "Đối tượng",
    "Tên tập thể / Họ tên",
    "Chức vụ",
    "Đơn vị",
    "Dịp",
    "Chuyên đề",
    "Tóm tắt thành tích",
    "Đơn vị đề nghị",
    "Trạng thái",
    "Đang ở",
    "Tờ trình",
    "Quyết định",
]
_REGISTER_HEADERS = [
    "STT",
    "Số quyết định",
    "Ngày quyết định",
    "Cấp quyết định",
    "Người ký",
    "Hình thức khen thưởng",
    "Đối tượng",
    "Tên tập thể / Họ tên",
    "Chức vụ",
    "Đơn vị",
    "Dịp",
    "Chuyên đề",
    "Tóm tắt thành tích",
    "Đơn vị đề nghị",
    "Ngày trao tặng",
    "Số đề nghị",
]


def _sheet_header(ws, title: str, lines: Sequence[str], headers: Sequence[str]) -> None:  # noqa: ANN001
    from openpyxl.styles import Alignment, Font

    put_row(ws, [title])
    ws.cell(row=1, column=1).font = Font(bold=True, size=13)
    for line in lines:
        put_row(ws, [line])
    ws.append([])
    put_row(ws, list(headers))
    header_row = ws.max_row
    for col in range(1, len(headers) + 1):
        cell = ws.cell(row=header_row, column=col)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    ws.freeze_panes = f"A{header_row + 1}"  # a string: creating the cell would push the first row down


def _print_ready(ws) -> None:  # noqa: ANN001
    """Dates and numbers typed, body text wrapped in its column, A4 print setup with the header row repeated."""
    from openpyxl.styles import Alignment

    from thidua.xlsx_layout import print_setup, set_formats

    header_row = int(ws.freeze_panes[1:]) - 1  # _sheet_header freezes the rows down to the header
    set_formats(ws, header_row + 1)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = wrap
    print_setup(ws, header_row=header_row)


def write_proposal_list(
    engine: Engine,
    campaign_id: int,
    unit_id: int,
    out: Path,
    *,
    occasion: str | None = None,
    round_number: int | None = None,
    now: datetime | None = None,
) -> Path:
    """The consolidated list of a level: every file that reached this unit (its own proposals and those sent
    to it), with where each one is now; a summary sheet counts them per award against the quotas."""
    from openpyxl import Workbook

    with Session(engine) as session:
        ctx = _context(session, campaign_id, now, for_change=False)
        unit = ctx.units.get(unit_id)
        reached = select(S.c.nomination_id).where(S.c.to_unit_id == unit_id)
        query = select(N).where(
            N.c.campaign_id == campaign_id,
            or_(N.c.id.in_(reached), N.c.origin_unit_id == unit_id),
            N.c.status != _S.DRAFTED.value,
        )
        if occasion:
            query = query.where(N.c.occasion == occasion)
        if round_number is not None:
            query = query.where(N.c.round_number == round_number)
        rows = list(session.execute(query.order_by(N.c.award_code, N.c.subject, N.c.id)).mappings())
        batches = {
            b["id"]: b
            for b in session.execute(
                select(B).where(B.c.id.in_({r["batch_id"] for r in rows if r["batch_id"]}))
            ).mappings()
        }
        names = {
            i: u.name
            for i, u in ctx.units.load(
                {r[k] for r in rows for k in ("nominee_unit_id", "origin_unit_id", "current_unit_id")}
            ).items()
        }
        wb = Workbook()
        ws = wb.active
        ws.title = "Danh sách đề nghị"
        scope = occasion_label(occasion, round_number) if occasion else "tất cả các dịp"
        _sheet_header(
            ws,
            f"DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG – {unit.name.upper()}",
            [ctx.campaign.title, f"Dịp: {scope}. Lập ngày {fmt_date(ctx.today)}."],
            _LIST_HEADERS,
        )
        for i, r in enumerate(rows, start=1):
            batch = batches.get(r["batch_id"])
            to_trinh = (
                f"{batch['to_trinh_number']} ngày {fmt_date(batch['to_trinh_date'])}"
                if batch and batch["to_trinh_number"]
                else ""
            )
            decision = f"{r['decision_number']} ngày {fmt_date(r['decision_date'])}" if r["decision_number"] else ""
            put_row(
                ws,
                [
                    i,
                    r["id"],
                    r["award_name"],
                    SUBJECT_LABELS.get(r["subject"], r["subject"]),
                    r["nominee_name"],
                    r["nominee_position"],
                    names.get(r["nominee_unit_id"], ""),
                    occasion_label(r["occasion"], r["round_number"]),
                    r["theme"],
                    r["achievement"],
                    names.get(r["origin_unit_id"], ""),
                    status_label(r["status"]),
                    names.get(r["current_unit_id"], ""),
                    to_trinh,
                    decision,
                ],
            )
        summary = wb.create_sheet("Tổng hợp")
        _sheet_header(
            summary,
            f"TỔNG HỢP ĐỀ NGHỊ KHEN THƯỞNG – {unit.name.upper()}",
            [ctx.campaign.title],
            [
                "Hình thức khen thưởng",
                "Tập thể",
                "Cá nhân",
                "Còn hiệu lực",
                "Bị trả lại",
                "Không chấp nhận / đã rút",
                "Đã quyết định",
            ],
        )
        per_award: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            counts = per_award[r["award_name"]]
            counts[r["subject"]] += 1
            counts["alive"] += r["status"] in _ALIVE
            counts["returned"] += r["status"] == _S.RETURNED.value
            counts["dead"] += r["status"] in (_S.REJECTED.value, _S.WITHDRAWN.value)
            counts["granted"] += r["status"] in _GRANTED
        for name, counts in sorted(per_award.items()):
            put_row(
                summary,
                [
                    name,
                    counts["collective"],
                    counts["individual"],
                    counts["alive"],
                    counts["returned"],
                    counts["dead"],
                    counts["granted"],
                ],
            )
        for sheet, widths in (
            (ws, [5, 8, 26, 9, 22, 14, 22, 13, 16, 40, 22, 16, 22, 18, 18]),
            (summary, [50, 10, 10, 14, 12, 24, 14]),
        ):
            for col, width in enumerate(widths, start=1):
                sheet.column_dimensions[sheet.cell(row=1, column=col).column_letter].width = width
            _print_ready(sheet)
        out.parent.mkdir(parents=True, exist_ok=True)
        wb.save(out)
        return out


def write_award_register(engine: Engine, campaign_id: int, out: Path, *, now: datetime | None = None) -> Path:
    """Sổ theo dõi khen thưởng: every award decided in the campaign, by deciding level and decision.
    `now` dates the register ("Lập ngày"; default: today)."""
    from openpyxl import Workbook

    with Session(engine) as session:
        ctx = _context(session, campaign_id, now, for_change=False)
        rank = {lvl: i for i, lvl in enumerate(ctx.levels)}
        rows = sorted(
            session.execute(select(N).where(N.c.campaign_id == campaign_id, N.c.status.in_(_GRANTED))).mappings(),
            key=lambda r: (
                rank.get(r["deciding_level"], 99),
                r["decision_date"] or date.min,
                r["decision_number"],
                r["id"],
            ),
        )
        names = {
            i: u.name
            for i, u in ctx.units.load(
                {r[k] for r in rows for k in ("nominee_unit_id", "origin_unit_id", "deciding_unit_id")}
            ).items()
        }
        wb = Workbook()
        ws = wb.active
        ws.title = "Sổ theo dõi khen thưởng"
        _sheet_header(
            ws,
            "SỔ THEO DÕI KHEN THƯỞNG",
            [ctx.campaign.title, f"Danh mục: {ctx.catalogue.title}. Lập ngày {fmt_date(ctx.today)}."],
            _REGISTER_HEADERS,
        )
        for i, r in enumerate(rows, start=1):
            put_row(
                ws,
                [
                    i,
                    r["decision_number"],
                    r["decision_date"],
                    f"{ctx.level_name(r['deciding_level'])} – {names.get(r['deciding_unit_id'], '')}",
                    r["decision_signer"],
                    r["award_name"],
                    SUBJECT_LABELS.get(r["subject"], r["subject"]),
                    r["nominee_name"],
                    r["nominee_position"],
                    names.get(r["nominee_unit_id"], ""),
                    occasion_label(r["occasion"], r["round_number"]),
                    r["theme"],
                    r["achievement"],
                    names.get(r["origin_unit_id"], ""),
                    r["awarded_on"],
                    r["id"],
                ],
            )
        for col, width in enumerate([5, 14, 11, 26, 20, 26, 9, 24, 14, 24, 14, 16, 40, 24, 11, 8], start=1):
            ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
        _print_ready(ws)
        out.parent.mkdir(parents=True, exist_ok=True)
        wb.save(out)
        return out
