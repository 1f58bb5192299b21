"""Publication (công khai) of nominations before the decision: open a window of the catalogue's days on a public
page, record comments with the commenter's contact while it is open, keep page and comments afterwards, and
refuse a decision while the window is open (or, where the catalogue requires publication, before one closed)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.errors import RefusedError
from thidua.models.awards import Refusal
from thidua.models.clock import fmt_date, local_to_utc, utc_to_local, utcnow
from thidua.models.nominations import InvalidNominationInput, Nomination, NominationNotFound
from thidua.models.publication import Publication, PublicationComment, PublicationItem, comment_problems
from thidua.models.tables import Unit
from thidua.services import nominations as nom

PB = Publication.__table__  # type: ignore[attr-defined]
PI = PublicationItem.__table__  # type: ignore[attr-defined]
PC = PublicationComment.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


class CommentRefused(RefusedError):
    """The comment was not recorded; `errors` maps form fields to Vietnamese messages."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        self.errors = errors or {}
        super().__init__(message, detail={"errors": self.errors} if self.errors else None)


@dataclass
class PublicationView:
    id: int
    token: str
    title: str
    unit_name: str
    days: int
    opens_at: datetime
    closes_at: datetime
    is_open: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


def publish(
    engine: Engine,
    campaign_id: int,
    actor: nom.Actor,
    nomination_ids: Sequence[int],
    *,
    title: str = "",
    days: int | None = None,
    now: datetime | None = None,
) -> PublicationView:
    """Publish nominations held by the acting (deciding) unit for the catalogue's number of days (or `days`).
    The window closes at the end of the last day, local time."""
    if not nomination_ids:
        raise InvalidNominationInput("Cần chọn đề nghị để công khai")
    with nom._change(engine, campaign_id, now) as (session, ctx):
        rows = nom._held_rows(session, ctx, nomination_ids, actor, None)
        for row in rows:
            if row["status"] != "under_review" or row["deciding_unit_id"] != actor.unit_id:
                raise InvalidNominationInput(
                    f"{row['_label']}: chỉ công khai đề nghị đang chờ quyết định tại cấp quyết định"
                )
        open_already = _open_for(session, [r["id"] for r in rows], ctx.now)
        if open_already:
            labels = ", ".join(f"#{i}" for i in sorted(open_already))
            raise InvalidNominationInput(f"Đề nghị {labels} đang được công khai; chờ hết thời hạn")
        length = days or ctx.catalogue.publication.days
        if not 1 <= length <= 60:
            raise InvalidNominationInput(f"Số ngày công khai phải từ 1 đến 60; nhận {length}")
        opens_local = utc_to_local(ctx.now, ctx.tz).date()
        closes_at = local_to_utc(datetime.combine(opens_local + timedelta(days=length), time(0, 0)), ctx.tz)
        unit = ctx.units.get(actor.unit_id)
        token = secrets.token_urlsafe(12)
        heading = title.strip() or f"Danh sách đề nghị khen thưởng – {ctx.campaign.title}"
        publication_id = session.execute(
            insert(PB)
            .values(
                campaign_id=campaign_id,
                unit_id=actor.unit_id,
                token=token,
                title=heading,
                days=length,
                opens_at=ctx.now,
                closes_at=closes_at,
                created_by=actor.name,
                created_at=ctx.now,
            )
            .returning(PB.c.id)
        ).scalar_one()
        session.execute(
            insert(PI),
            [
                {"publication_id": publication_id, "nomination_id": r["id"], "position": i}
                for i, r in enumerate(rows, start=1)
            ],
        )
        audit_many(
            session,
            [
                {
                    "at": ctx.now,
                    "actor": actor.name,
                    "action": "publication.opened",
                    "entity": "publication",
                    "entity_id": publication_id,
                    "campaign_id": campaign_id,
                    "unit_id": actor.unit_id,
                    "after": {
                        "days": length,
                        "closes_at": closes_at,
                        "nominations": [r["id"] for r in rows],
                        "token": token,
                    },
                }
            ],
        )
        return PublicationView(publication_id, token, heading, unit.name, length, ctx.now, closes_at, True)


def last_day(closes_at: datetime, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """The window's last day (it closes at the next midnight, local time)."""
    return fmt_date(utc_to_local(closes_at - timedelta(seconds=1), tz).date())


def _open_for(session: Session, nomination_ids: Sequence[int], now: datetime) -> set[int]:
    return set(
        session.execute(
            select(PI.c.nomination_id)
            .join(PB, PB.c.id == PI.c.publication_id)
            .where(PI.c.nomination_id.in_(list(nomination_ids)), PB.c.closes_at > now)
        ).scalars()
    )


def decision_refusals(
    session: Session, ctx: Any, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> dict[str, list[Refusal]]:
    """A nomination under publication is not decided before the window closes; where the catalogue requires
    publication for the deciding level, one must have closed."""
    ids = [r["id"] for r in rows]
    if not ids:
        return {}
    windows: dict[int, list[datetime]] = {}
    for nomination_id, closes_at in session.execute(
        select(PI.c.nomination_id, PB.c.closes_at)
        .join(PB, PB.c.id == PI.c.publication_id)
        .where(PI.c.nomination_id.in_(ids))
    ):
        windows.setdefault(nomination_id, []).append(closes_at)
    required = set(ctx.catalogue.publication.required_for)
    out: dict[str, list[Refusal]] = {}
    for row, label in zip(rows, labels):
        closes = [c if c.tzinfo else c.replace(tzinfo=ctx.now.tzinfo) for c in windows.get(row["id"], [])]
        still_open = [c for c in closes if c > ctx.now]
        if still_open:
            out[label] = [
                Refusal(
                    "cong-khai:dang-mo",
                    f"Đang công khai đến hết ngày {last_day(max(still_open), ctx.tz)}: "
                    "chưa được quyết định trước khi hết thời hạn lấy ý kiến",
                )
            ]
        elif row["deciding_level"] in required and not closes:
            out[label] = [
                Refusal(
                    "cong-khai:chua-cong-khai",
                    f"Chưa công khai danh sách {ctx.catalogue.publication.days} "
                    "ngày trước khi quyết định (quy định của danh mục khen thưởng)",
                )
            ]
    return out


def add_comment(
    engine: Engine,
    token: str,
    *,
    name: str,
    contact: str,
    content: str,
    nomination_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Record a comment on a published list while its window is open. CommentRefused otherwise."""
    at = now or utcnow()
    errors = comment_problems(name, contact, content)
    with Session(engine) as session:
        publication = session.execute(select(PB).where(PB.c.token == token)).mappings().first()
        if publication is None:
            raise NominationNotFound("Không có danh sách công khai này")
        closes_at = publication["closes_at"]
        if closes_at.tzinfo is None:
            closes_at = closes_at.replace(tzinfo=at.tzinfo)
        if at >= closes_at:
            raise CommentRefused(
                f"Đã hết thời hạn lấy ý kiến (hết ngày {last_day(closes_at)}); ý kiến không được ghi nhận"
            )
        if (
            nomination_id is not None
            and session.execute(
                select(PI.c.nomination_id).where(
                    PI.c.publication_id == publication["id"], PI.c.nomination_id == nomination_id
                )
            ).first()
            is None
        ):
            errors["de_nghi"] = "Chọn một trường hợp trong danh sách công khai."
        if errors:
            raise CommentRefused("Ý kiến chưa được ghi: " + " ".join(errors.values()), errors)
        comment_id = session.execute(
            insert(PC)
            .values(
                publication_id=publication["id"],
                nomination_id=nomination_id,
                name=name.strip(),
                contact=contact.strip(),
                content=content.strip(),
                at=at,
            )
            .returning(PC.c.id)
        ).scalar_one()
        audit_many(
            session,
            [
                {
                    "at": at,
                    "actor": f"public:{contact.strip()[:200]}",
                    "action": "publication.comment",
                    "entity": "publication",
                    "entity_id": publication["id"],
                    "campaign_id": publication["campaign_id"],
                    "unit_id": publication["unit_id"],
                    "after": {"comment_id": comment_id, "nomination_id": nomination_id},
                }
            ],
        )
        session.commit()
        return comment_id


def get_publication(
    engine: Engine,
    token: str | None = None,
    *,
    publication_id: int | None = None,
    now: datetime | None = None,
    with_contacts: bool = False,
) -> PublicationView:
    """The public page's content; contacts of commenters only for the office (`with_contacts`)."""
    at = now or utcnow()
    with Session(engine) as session:
        condition = PB.c.token == token if token is not None else PB.c.id == publication_id
        publication = (
            session.execute(select(PB, U.c.name.label("unit_name")).join(U, U.c.id == PB.c.unit_id).where(condition))
            .mappings()
            .first()
        )
        if publication is None:
            raise NominationNotFound("Không có danh sách công khai này")
        nominee_unit = U.alias("nominee_unit")
        items = [
            dict(r)
            for r in session.execute(
                select(
                    PI.c.position,
                    N.c.id,
                    N.c.nominee_name,
                    N.c.nominee_position,
                    N.c.award_name,
                    N.c.achievement,
                    N.c.subject,
                    nominee_unit.c.name.label("unit_name"),
                )
                .join(N, N.c.id == PI.c.nomination_id)
                .join(nominee_unit, nominee_unit.c.id == N.c.nominee_unit_id)
                .where(PI.c.publication_id == publication["id"])
                .order_by(PI.c.position)
            ).mappings()
        ]
        comments = [
            dict(r)
            for r in session.execute(
                select(PC).where(PC.c.publication_id == publication["id"]).order_by(PC.c.at, PC.c.id)
            ).mappings()
        ]
    if not with_contacts:
        for comment in comments:
            comment.pop("contact", None)
    closes_at = (
        publication["closes_at"]
        if publication["closes_at"].tzinfo
        else publication["closes_at"].replace(tzinfo=at.tzinfo)
    )
    return PublicationView(
        publication["id"],
        publication["token"],
        publication["title"],
        publication["unit_name"],
        publication["days"],
        publication["opens_at"],
        closes_at,
        at < closes_at,
        items,
        comments,
    )


def publications_for(engine: Engine, nomination_id: int) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(PB.c.id, PB.c.token, PB.c.closes_at, PB.c.opens_at, func.count(PC.c.id).label("comments"))
            .join(PI, PI.c.publication_id == PB.c.id)
            .outerjoin(PC, PC.c.publication_id == PB.c.id)
            .where(PI.c.nomination_id == nomination_id)
            .group_by(PB.c.id, PB.c.token, PB.c.closes_at, PB.c.opens_at)
            .order_by(PB.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def list_publications(engine: Engine, campaign_id: int, unit_id: int | None = None) -> list[dict[str, Any]]:
    query = select(PB).where(PB.c.campaign_id == campaign_id)
    if unit_id is not None:
        query = query.where(PB.c.unit_id == unit_id)
    with Session(engine) as session:
        return [dict(r) for r in session.execute(query.order_by(PB.c.id)).mappings()]
