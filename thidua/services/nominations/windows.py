"""nominations: Windows: each level's outgoing lists leave when its window closes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine, RowMapping
from sqlmodel import Session

from thidua.models.awards import (
    window_closes,
)
from thidua.models.nominations import (
    NominationError,
)

from .context import _aware, _context
from .inputs import Actor, B, CloseResult, RatingLookup, WindowClose
from .proposing import send_batch
from .rules import _windows


# ---------------------------------------------------------------------------------------------------
# Windows: each level's outgoing lists leave when its window closes
# ---------------------------------------------------------------------------------------------------
def window_schedule(engine: Engine, campaign_id: int) -> list[WindowClose]:
    with Session(engine) as session:
        ctx = _context(session, campaign_id, None, for_change=False)
        out = []
        for window in _windows(session, campaign_id):
            occasion = "round" if window.round_number is not None else "year_end"
            for level, closes in window_closes(window.due_on, ctx.levels, ctx.review_days).items():
                out.append(WindowClose(occasion, window.round_number, window.title, level, closes))
        return out


def close_windows(
    engine: Engine, campaign_id: int, *, now: datetime | None = None, rating: RatingLookup | None = None
) -> CloseResult:
    """Send every open list whose level's window closed before today and whose tờ trình is recorded; report
    the lists that cannot leave. Lists are sent lowest level first so that a day's closings chain upward.
    Each list is its own transaction: one refused list does not hold back the others."""
    result = CloseResult()
    now = _aware(now)
    system = "system:dong-cua-so-khen-thuong"
    with Session(engine) as session:
        ctx = _context(session, campaign_id, now)
        rank = {lvl: i for i, lvl in enumerate(ctx.levels)}
        due: list[tuple[int, RowMapping]] = []
        for window in _windows(session, campaign_id):
            occasion = "round" if window.round_number is not None else "year_end"
            for level, closes in window_closes(window.due_on, ctx.levels, ctx.review_days).items():
                if closes >= ctx.today:
                    continue
                for batch in session.execute(
                    select(B).where(
                        B.c.campaign_id == campaign_id,
                        B.c.status == "open",
                        B.c.from_level == level,
                        B.c.occasion == occasion,
                        B.c.round_number == (window.round_number or 0),
                    )
                ).mappings():
                    due.append((rank[level], batch))
    for _, batch in sorted(due, key=lambda item: -item[0]):
        actor = Actor(batch["from_unit_id"], system)
        if not batch["to_trinh_number"]:
            result.missing_to_trinh.append(
                {"batch_id": batch["id"], "unit_id": batch["from_unit_id"], "reason": "chưa có số tờ trình"}
            )
            continue
        try:
            result.sent.append(send_batch(engine, campaign_id, actor, batch_id=batch["id"], rating=rating, now=now))
        except NominationError as exc:
            result.missing_to_trinh.append(
                {"batch_id": batch["id"], "unit_id": batch["from_unit_id"], "reason": str(exc)}
            )
    return result
