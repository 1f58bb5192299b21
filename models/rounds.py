"""The round a dated event belongs to (pure, no pydantic): kept apart from the campaign file's models
(`thidua.models.spec.campaign` re-exports it) so `thidua status` finds the current round without them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol, Sequence


class RoundDates(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def starts(self) -> date: ...

    @property
    def ends(self) -> date: ...


@dataclass(frozen=True)
class RoundOfDay:
    """The round a dated event belongs to, by the campaign's declared boundary rule."""

    number: int
    name: str
    starts: date
    ends: date
    rule: str


def round_of_day(day: date, rounds: Sequence[RoundDates], rule: str = "earlier_round") -> int | None:
    """The round a dated event (a submission, a nomination, a figure) belongs to. The seed gives 31/5 and 30/9
    to two rounds each; the campaign's rule decides: earlier_round gives a shared boundary day to the earlier
    round, later_round to the later one."""
    ordered = sorted(rounds, key=lambda r: r.number)
    if rule == "later_round":
        ordered.reverse()
    for round_ in ordered:
        if round_.starts <= day <= round_.ends:
            return round_.number
    return None
