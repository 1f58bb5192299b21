"""Council sessions of the deciding level: convene with members, put nominations on the agenda, record
attendance and votes (per member, or the tally of a secret ballot), close with the catalogue's quorum and
threshold, write the biên bản (DOCX, numbered in the BB series). Decisions are refused for nominations still on
an open session's agenda or whose vote failed (and, where the catalogue requires it, without a passing vote)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.awards import Refusal
from thidua.models.clock import fmt_date, fmt_datetime
from thidua.models.council import (
    MODES,
    VOTES,
    CouncilAgendaItem,
    CouncilMember,
    CouncilSession,
    CouncilVote,
    Rule,
    needed_votes,
    passes,
    quorum_met,
    rule_text,
    tally_problems,
)
from thidua.models.nominations import (
    InvalidNominationInput,
    InvalidTransition,
    Nomination,
    NominationNotFound,
    NotPermitted,
)
from thidua.models.tables import Unit
from thidua.models.vnformat import fmt_document_date
from thidua.services import nominations as nom
from thidua.services.commendation.config import template_path
from thidua.services.commendation.docx_fill import render_docx
from thidua.services.commendation.numbers import take_number

CS = CouncilSession.__table__  # type: ignore[attr-defined]
CM = CouncilMember.__table__  # type: ignore[attr-defined]
CA = CouncilAgendaItem.__table__  # type: ignore[attr-defined]
CV = CouncilVote.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Member:
    name: str
    role: str = "Ủy viên"
    present: bool = True


@dataclass
class SessionView:
    id: int
    campaign_id: int
    unit_id: int
    unit_name: str
    title: str
    held_on: date
    place: str
    mode: str
    status: str
    quorum_met: bool | None
    present_count: int
    member_count: int
    minutes_symbol: str
    rule: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)
    agenda: list[dict[str, Any]] = field(default_factory=list)


def _rule(catalogue: Any) -> Rule:
    c = catalogue.council
    return Rule(c.quorum_percent, c.quorum_strict, c.threshold_percent, c.threshold_strict, c.threshold_base)


def _session_row(session: Session, session_id: int) -> dict[str, Any]:
    row = session.execute(select(CS).where(CS.c.id == session_id)).mappings().first()
    if row is None:
        raise NominationNotFound(f"Không có phiên họp Hội đồng #{session_id}")
    return dict(row)


def _campaign_of(engine: Engine, session_id: int) -> int:
    with Session(engine) as session:
        return _session_row(session, session_id)["campaign_id"]


def _editable(row: Mapping[str, Any], actor: nom.Actor, ctx: Any) -> None:
    if row["unit_id"] != actor.unit_id:
        raise NotPermitted(f"Phiên họp #{row['id']} là của {ctx.units.get(row['unit_id']).name}")
    if row["status"] != "open":
        raise InvalidTransition(
            f"Phiên họp #{row['id']} đã kết thúc lúc {fmt_datetime(row['closed_at'], ctx.tz)}; không sửa được biên bản"
        )


def _audit(session: Session, ctx: Any, actor: nom.Actor, action: str, session_id: int, **after: Any) -> None:
    audit_many(
        session,
        [
            {
                "at": ctx.now,
                "actor": actor.name,
                "action": f"council.{action}",
                "entity": "council_session",
                "entity_id": session_id,
                "campaign_id": ctx.campaign.id,
                "unit_id": actor.unit_id,
                "after": after,
            }
        ],
    )


def convene(
    engine: Engine,
    campaign_id: int,
    actor: nom.Actor,
    *,
    title: str,
    held_on: date,
    members: Sequence[Member],
    mode: str = "open",
    place: str = "",
    nomination_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> int:
    """Open a session of the acting unit's council with its members (and, optionally, its agenda)."""
    if mode not in MODES:
        raise InvalidNominationInput(f"Hình thức biểu quyết '{mode}' không có (chỉ: open, secret)")
    names = [m.name.strip() for m in members]
    if not names or any(not n for n in names):
        raise InvalidNominationInput("Hội đồng cần danh sách thành viên, mỗi người có họ tên")
    if len(set(n.casefold() for n in names)) != len(names):
        raise InvalidNominationInput("Danh sách thành viên Hội đồng có người bị trùng")
    with nom._change(engine, campaign_id, now) as (session, ctx):
        session_id = session.execute(
            insert(CS)
            .values(
                campaign_id=campaign_id,
                unit_id=actor.unit_id,
                title=title.strip() or "Họp Hội đồng thi đua, khen thưởng",
                held_on=held_on,
                place=place.strip(),
                mode=mode,
                status="open",
                member_count=len(members),
                present_count=sum(1 for m in members if m.present),
                rule={},
                created_by=actor.name,
                created_at=ctx.now,
            )
            .returning(CS.c.id)
        ).scalar_one()
        session.execute(
            insert(CM),
            [
                {
                    "session_id": session_id,
                    "seq": i,
                    "name": m.name.strip(),
                    "role": m.role.strip(),
                    "present": m.present,
                }
                for i, m in enumerate(members, start=1)
            ],
        )
        _audit(session, ctx, actor, "convened", session_id, members=len(members), mode=mode, held_on=held_on)
        if nomination_ids:
            _add_agenda(session, ctx, actor, session_id, nomination_ids)
        return session_id


def _add_agenda(session: Session, ctx: Any, actor: nom.Actor, session_id: int, nomination_ids: Sequence[int]) -> None:
    rows = nom._held_rows(session, ctx, nomination_ids, actor, None)
    for row in rows:
        if row["status"] != "under_review" or row["deciding_unit_id"] != actor.unit_id:
            raise InvalidNominationInput(
                f"{row['_label']}: Hội đồng chỉ xét đề nghị đang chờ quyết định tại đơn vị mình"
            )
    already = set(
        session.execute(
            select(CA.c.nomination_id)
            .join(CS, CS.c.id == CA.c.session_id)
            .where(CA.c.nomination_id.in_([r["id"] for r in rows]), CS.c.status == "open")
        ).scalars()
    )
    if already:
        raise InvalidNominationInput(
            f"Đề nghị {', '.join(f'#{i}' for i in sorted(already))} đã có trong chương trình "
            "một phiên họp chưa kết thúc"
        )
    start = session.execute(
        select(func.coalesce(func.max(CA.c.position), 0)).where(CA.c.session_id == session_id)
    ).scalar_one()
    session.execute(
        insert(CA),
        [
            {
                "session_id": session_id,
                "nomination_id": r["id"],
                "position": start + i,
                "votes_for": 0,
                "votes_against": 0,
                "votes_abstain": 0,
                "result": "pending",
            }
            for i, r in enumerate(rows, start=1)
        ],
    )
    _audit(session, ctx, actor, "agenda", session_id, nominations=[r["id"] for r in rows])


def add_to_agenda(
    engine: Engine, session_id: int, actor: nom.Actor, nomination_ids: Sequence[int], *, now: datetime | None = None
) -> None:
    with nom._change(engine, _campaign_of(engine, session_id), now) as (session, ctx):
        _editable(_session_row(session, session_id), actor, ctx)
        _add_agenda(session, ctx, actor, session_id, nomination_ids)


def set_attendance(
    engine: Engine, session_id: int, actor: nom.Actor, present_seqs: Sequence[int], *, now: datetime | None = None
) -> None:
    with nom._change(engine, _campaign_of(engine, session_id), now) as (session, ctx):
        row = _session_row(session, session_id)
        _editable(row, actor, ctx)
        seqs = set(session.execute(select(CM.c.seq).where(CM.c.session_id == session_id)).scalars())
        unknown = set(present_seqs) - seqs
        if unknown:
            raise InvalidNominationInput(
                f"Không có thành viên số {', '.join(map(str, sorted(unknown)))} trong Hội đồng"
            )
        session.execute(
            update(CM).where(CM.c.session_id == session_id).values(present=CM.c.seq.in_(list(present_seqs)))
        )
        absent = seqs - set(present_seqs)
        if absent:  # an absent member's votes do not count
            session.execute(delete(CV).where(CV.c.session_id == session_id, CV.c.member_seq.in_(sorted(absent))))
        session.execute(update(CS).where(CS.c.id == session_id).values(present_count=len(set(present_seqs))))
        _audit(session, ctx, actor, "attendance", session_id, present=sorted(set(present_seqs)))


def record_votes(
    engine: Engine,
    session_id: int,
    actor: nom.Actor,
    nomination_id: int,
    votes: Mapping[int, str],
    *,
    now: datetime | None = None,
) -> None:
    """Open voting: each present member's vote (for / against / abstain) on one nomination; a member's new vote
    replaces the old one until the session closes."""
    with nom._change(engine, _campaign_of(engine, session_id), now) as (session, ctx):
        row = _session_row(session, session_id)
        _editable(row, actor, ctx)
        if row["mode"] != "open":
            raise InvalidNominationInput("Phiên họp bỏ phiếu kín: ghi kết quả kiểm phiếu, không ghi phiếu từng người")
        _on_agenda(session, session_id, nomination_id)
        present = set(
            session.execute(select(CM.c.seq).where(CM.c.session_id == session_id, CM.c.present.is_(True))).scalars()
        )
        problems = [
            f"thành viên số {seq} không có mặt (hoặc không có trong Hội đồng)" for seq in votes if seq not in present
        ]
        problems += [
            f"phiếu '{v}' của thành viên số {seq} không hợp lệ (for, against, abstain)"
            for seq, v in votes.items()
            if v not in VOTES
        ]
        if problems:
            raise InvalidNominationInput("Phiếu biểu quyết: " + "; ".join(problems))
        session.execute(
            delete(CV).where(
                CV.c.session_id == session_id, CV.c.nomination_id == nomination_id, CV.c.member_seq.in_(list(votes))
            )
        )
        session.execute(
            insert(CV),
            [
                {"session_id": session_id, "nomination_id": nomination_id, "member_seq": seq, "vote": v}
                for seq, v in votes.items()
            ],
        )
        _audit(session, ctx, actor, "votes", session_id, nomination_id=nomination_id, votes=dict(votes))


def record_tally(
    engine: Engine,
    session_id: int,
    actor: nom.Actor,
    nomination_id: int,
    *,
    votes_for: int,
    against: int,
    abstain: int = 0,
    now: datetime | None = None,
) -> None:
    """Secret ballot: the counted tally for one nomination (kiểm phiếu)."""
    with nom._change(engine, _campaign_of(engine, session_id), now) as (session, ctx):
        row = _session_row(session, session_id)
        _editable(row, actor, ctx)
        if row["mode"] != "secret":
            raise InvalidNominationInput("Phiên họp biểu quyết công khai: ghi phiếu của từng thành viên")
        _on_agenda(session, session_id, nomination_id)
        present = session.execute(
            select(func.count()).where(CM.c.session_id == session_id, CM.c.present.is_(True))
        ).scalar_one()
        problems = tally_problems(votes_for, against, abstain, present)
        if problems:
            raise InvalidNominationInput("Kết quả kiểm phiếu: " + "; ".join(problems))
        session.execute(
            update(CA)
            .where(CA.c.session_id == session_id, CA.c.nomination_id == nomination_id)
            .values(votes_for=votes_for, votes_against=against, votes_abstain=abstain)
        )
        _audit(
            session,
            ctx,
            actor,
            "tally",
            session_id,
            nomination_id=nomination_id,
            votes_for=votes_for,
            against=against,
            abstain=abstain,
        )


def _on_agenda(session: Session, session_id: int, nomination_id: int) -> None:
    if (
        session.execute(
            select(CA.c.nomination_id).where(CA.c.session_id == session_id, CA.c.nomination_id == nomination_id)
        ).first()
        is None
    ):
        raise InvalidNominationInput(f"Đề nghị #{nomination_id} không có trong chương trình phiên họp #{session_id}")


def close(engine: Engine, session_id: int, actor: nom.Actor, *, now: datetime | None = None) -> SessionView:
    """Count the votes, apply the catalogue's quorum and threshold, number the minutes (BB) and close the session.
    Without a quorum every item fails. Nothing changes afterwards."""
    with nom._change(engine, _campaign_of(engine, session_id), now) as (session, ctx):
        row = _session_row(session, session_id)
        _editable(row, actor, ctx)
        rule = _rule(ctx.catalogue)
        members = session.execute(select(func.count()).where(CM.c.session_id == session_id)).scalar_one()
        present = session.execute(
            select(func.count()).where(CM.c.session_id == session_id, CM.c.present.is_(True))
        ).scalar_one()
        agenda = [
            dict(r)
            for r in session.execute(select(CA).where(CA.c.session_id == session_id).order_by(CA.c.position)).mappings()
        ]
        if not agenda:
            raise InvalidNominationInput(f"Phiên họp #{session_id} chưa có đề nghị nào trong chương trình")
        has_quorum = quorum_met(present, members, rule)
        if row["mode"] == "open":
            counts: dict[tuple[int, str], int] = {}
            for nomination_id, vote, n in session.execute(
                select(CV.c.nomination_id, CV.c.vote, func.count())
                .where(CV.c.session_id == session_id)
                .group_by(CV.c.nomination_id, CV.c.vote)
            ):
                counts[(nomination_id, vote)] = n
            for item in agenda:
                item["votes_for"] = counts.get((item["nomination_id"], "for"), 0)
                item["votes_against"] = counts.get((item["nomination_id"], "against"), 0)
                item["votes_abstain"] = present - item["votes_for"] - item["votes_against"]
        for item in agenda:
            item["result"] = "passed" if has_quorum and passes(item["votes_for"], present, members, rule) else "failed"
        from sqlalchemy import bindparam

        session.execute(
            update(CA)
            .where(CA.c.session_id == session_id, CA.c.nomination_id == bindparam("b_nid"))
            .values(
                votes_for=bindparam("v_for"),
                votes_against=bindparam("v_against"),
                votes_abstain=bindparam("v_abstain"),
                result=bindparam("v_result"),
            ),
            [
                {
                    "b_nid": i["nomination_id"],
                    "v_for": i["votes_for"],
                    "v_against": i["votes_against"],
                    "v_abstain": i["votes_abstain"],
                    "v_result": i["result"],
                }
                for i in agenda
            ],
        )
        taken = take_number(
            session,
            issuing_unit_id=actor.unit_id,
            year=row["held_on"].year,
            series="BB",
            purpose="minutes",
            actor=actor.name,
            now=ctx.now,
        )
        rule_json = {
            "quorum_percent": rule.quorum_percent,
            "quorum_strict": rule.quorum_strict,
            "threshold_percent": rule.threshold_percent,
            "threshold_strict": rule.threshold_strict,
            "threshold_base": rule.threshold_base,
        }
        session.execute(
            update(CS)
            .where(CS.c.id == session_id)
            .values(
                status="closed",
                quorum_met=has_quorum,
                present_count=present,
                member_count=members,
                rule=rule_json,
                minutes_symbol=taken.symbol,
                closed_at=ctx.now,
                closed_by=actor.name,
            )
        )
        _audit(
            session,
            ctx,
            actor,
            "closed",
            session_id,
            quorum_met=has_quorum,
            present=present,
            members=members,
            minutes=taken.symbol,
            results={i["nomination_id"]: i["result"] for i in agenda},
        )
    return get_session(engine, session_id)


def get_session(engine: Engine, session_id: int) -> SessionView:
    with Session(engine) as session:
        row = _session_row(session, session_id)
        unit_name = session.execute(select(U.c.name).where(U.c.id == row["unit_id"])).scalar_one()
        members = [
            dict(r)
            for r in session.execute(select(CM).where(CM.c.session_id == session_id).order_by(CM.c.seq)).mappings()
        ]
        nominee_unit = U.alias("nominee_unit")
        agenda = [
            dict(r)
            for r in session.execute(
                select(
                    CA,
                    N.c.nominee_name,
                    N.c.nominee_position,
                    N.c.award_name,
                    N.c.status.label("nomination_status"),
                    nominee_unit.c.name.label("unit_name"),
                )
                .join(N, N.c.id == CA.c.nomination_id)
                .join(nominee_unit, nominee_unit.c.id == N.c.nominee_unit_id)
                .where(CA.c.session_id == session_id)
                .order_by(CA.c.position)
            ).mappings()
        ]
        votes = session.execute(select(CV).where(CV.c.session_id == session_id)).mappings().all()
    for item in agenda:
        item["votes"] = {v["member_seq"]: v["vote"] for v in votes if v["nomination_id"] == item["nomination_id"]}
    return SessionView(
        row["id"],
        row["campaign_id"],
        row["unit_id"],
        unit_name,
        row["title"],
        row["held_on"],
        row["place"],
        row["mode"],
        row["status"],
        row["quorum_met"],
        row["present_count"],
        row["member_count"],
        row["minutes_symbol"],
        row["rule"] or {},
        members,
        agenda,
    )


def list_sessions(engine: Engine, campaign_id: int, unit_id: int | None = None) -> list[dict[str, Any]]:
    query = select(CS).where(CS.c.campaign_id == campaign_id)
    if unit_id is not None:
        query = query.where(CS.c.unit_id == unit_id)
    with Session(engine) as session:
        return [dict(r) for r in session.execute(query.order_by(CS.c.held_on, CS.c.id)).mappings()]


def passed_nominations(engine: Engine, session_id: int) -> list[int]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(CA.c.nomination_id)
                .where(CA.c.session_id == session_id, CA.c.result == "passed")
                .order_by(CA.c.position)
            ).scalars()
        )


def decision_refusals(
    session: Session, ctx: Any, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
    """Not decided while on an open session's agenda; not decided when the latest closed vote failed; where the
    catalogue requires the council for the deciding level, only after a passing vote."""
    ids = [r["id"] for r in rows]
    if not ids:
        return {}
    items: dict[int, list[dict[str, Any]]] = {}
    for item in session.execute(
        select(CA.c.nomination_id, CA.c.result, CS.c.status, CS.c.id, CS.c.held_on)
        .join(CS, CS.c.id == CA.c.session_id)
        .where(CA.c.nomination_id.in_(ids))
        .order_by(CS.c.id)
    ).mappings():
        items.setdefault(item["nomination_id"], []).append(dict(item))
    required = set(ctx.catalogue.council.required_for)
    out: dict[str, list[Refusal]] = {}
    for row, label in zip(rows, labels):
        found = items.get(row["id"], [])
        pending = [i for i in found if i["status"] == "open"]
        closed = [i for i in found if i["status"] == "closed"]
        if pending:
            out[label] = [
                Refusal(
                    "hoi-dong:chua-hop-xong",
                    f"Đang chờ Hội đồng thi đua, khen thưởng xét (phiên họp #{pending[-1]['id']} chưa kết thúc)",
                )
            ]
        elif closed and closed[-1]["result"] != "passed":
            out[label] = [
                Refusal(
                    "hoi-dong:khong-dat",
                    f"Không đạt biểu quyết của Hội đồng thi đua, khen thưởng (phiên "
                    f"họp #{closed[-1]['id']} ngày {fmt_date(closed[-1]['held_on'])})",
                )
            ]
        elif not closed and row["deciding_level"] in required:
            out[label] = [Refusal("hoi-dong:chua-xet", "Chưa được Hội đồng thi đua, khen thưởng xét và biểu quyết")]
    return out


def write_minutes_docx(engine: Engine, session_id: int, out: Path, *, template: Path | None = None) -> Path:
    view = get_session(engine, session_id)
    if view.status != "closed":
        raise InvalidTransition(f"Phiên họp #{session_id} chưa kết thúc: chưa lập biên bản")
    rule = Rule(**view.rule)
    quorum, threshold = rule_text(rule)
    chair = next(
        (m["name"] for m in view.members if "chủ tịch" in m["role"].casefold() and "phó" not in m["role"].casefold()),
        view.members[0]["name"],
    )
    secretary = next((m["name"] for m in view.members if "thư ký" in m["role"].casefold()), "")
    present = [m for m in view.members if m["present"]]
    absent = [m for m in view.members if not m["present"]]
    with Session(engine) as session:
        parent = (
            session.execute(
                select(U.c.name).where(U.c.id == select(U.c.parent_id).where(U.c.id == view.unit_id).scalar_subquery())
            ).scalar_one_or_none()
            or ""
        )
    passed = sum(1 for i in view.agenda if i["result"] == "passed")
    values = {
        "ten_don_vi_cap_tren": parent.upper(),
        "ten_don_vi": view.unit_name,
        "so_ky_hieu": view.minutes_symbol,
        "dia_danh": "",
        "ngay_chu": fmt_document_date(view.held_on),
        "thoi_gian": fmt_date(view.held_on),
        "dia_diem": view.place or "trụ sở đơn vị",
        "chu_tri": chair,
        "thu_ky": secretary,
        "so_thanh_vien": view.member_count,
        "so_co_mat": view.present_count,
        "danh_sach_co_mat": ", ".join(m["name"] for m in present) or "không có",
        "danh_sach_vang": ", ".join(m["name"] for m in absent) or "không",
        "ket_luan_so_dai_bieu": "đủ" if view.quorum_met else "KHÔNG đủ",
        "ty_le_co_mat": quorum,
        "hinh_thuc_bieu_quyet": MODES[view.mode],
        "nguong": threshold,
        "so_thong_qua": passed,
        "so_khong_thong_qua": len(view.agenda) - passed,
        "ket_thuc": fmt_date(view.held_on),
    }
    rows = [
        {
            "stt": i,
            "ho_ten": item["nominee_name"],
            "hinh_thuc": item["award_name"],
            "dong_y": item["votes_for"],
            "khong_dong_y": item["votes_against"],
            "ket_qua": "Đạt" if item["result"] == "passed" else "Không đạt",
        }
        for i, item in enumerate(view.agenda, start=1)
    ]
    return render_docx(template or template_path("minutes"), out, values, rows)


def needed(engine: Engine, session_id: int) -> int:
    """Votes for needed to pass in this session (for the page)."""
    view = get_session(engine, session_id)
    with Session(engine) as session:
        campaign = nom._campaign(session, view.campaign_id)
        rule = _rule(nom.campaign_catalogue(session, campaign)) if not view.rule else Rule(**view.rule)
    present = sum(1 for m in view.members if m["present"])
    return needed_votes(present, len(view.members), rule)
