"""Figures for the office dashboard, kept between requests.

Dashboard figures are aggregates over every assignment or report of a campaign: milliseconds for a province,
seconds for the whole country. Each result is kept with the time it took. When it is out of date (older than
`fresh_for`, or something was written through this application since), a cheap one is recomputed on the
spot; an expensive one is served as it was while one background thread recomputes it, so the page always
answers at once and says when its figures were computed. Only the very first request for a figure waits.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Generic, Hashable, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

log = logging.getLogger("thidua.web")
T = TypeVar("T")


@dataclass(frozen=True)
class Figures(Generic[T]):
    value: T
    computed_at: datetime
    generation: int  # of writes through this application, when computed
    seconds: float  # how long the computation took


class FigureCache:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        fresh_for: timedelta = timedelta(minutes=5),
        cheap_below_seconds: float = 0.1,
    ):
        self.engine = engine
        self.clock = clock
        self.fresh_for = fresh_for
        self.cheap_below_seconds = cheap_below_seconds
        self._entries: dict[Hashable, Figures] = {}
        self._refreshing: set[Hashable] = set()
        self._generation = 0
        self._lock = threading.Lock()

    def changed(self) -> None:
        """Something was written: every figure is out of date."""
        with self._lock:
            self._generation += 1

    def get(self, key: Hashable, compute: Callable[[Session], T]) -> Figures[T]:
        with self._lock:
            entry = self._entries.get(key)
            current = (
                entry is not None
                and entry.generation == self._generation
                and (self.clock() - entry.computed_at <= self.fresh_for)
            )
            in_background = (
                entry is not None
                and not current
                and entry.seconds >= self.cheap_below_seconds
                and key not in self._refreshing
            )
            if in_background:
                self._refreshing.add(key)
        if entry is None or (not current and entry.seconds < self.cheap_below_seconds):
            return self._compute(key, compute)
        if in_background:
            threading.Thread(target=self._refresh, args=(key, compute), daemon=True, name="tinh-so-lieu").start()
        return entry

    def _compute(self, key: Hashable, compute: Callable[[Session], T]) -> Figures[T]:
        with self._lock:
            generation = self._generation
        moment, started = self.clock(), time.perf_counter()
        with Session(self.engine, expire_on_commit=False) as session:
            value = compute(session)
        figures = Figures(value, moment, generation, time.perf_counter() - started)
        with self._lock:
            self._entries[key] = figures
        return figures

    def _refresh(self, key: Hashable, compute: Callable[[Session], T]) -> None:
        try:
            self._compute(key, compute)
        except Exception:  # keep serving the previous figures; the next request tries again
            log.exception("Không tính lại được số liệu %s", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)
