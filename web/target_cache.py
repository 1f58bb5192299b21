"""Target progress for the dashboard, kept for a few minutes.

Progress is computed by the targets service over every counted report of the campaign: seconds at national
scale, too slow for a page that should answer in a fraction of a second. The dashboard shows the last
figures (with the time they were computed) and, once they are older than `fresh_for`, one background
thread recomputes them while the stale ones are still served. Only the first request after a start waits.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.services.targets import TargetReport, target_progress

log = logging.getLogger("thidua.web")


@dataclass(frozen=True)
class TargetFigures:
    reports: list[TargetReport]
    computed_at: datetime


class TargetCache:
    def __init__(self, engine: Engine, clock: Callable[[], datetime], fresh_for: timedelta = timedelta(minutes=5)):
        self.engine = engine
        self.clock = clock
        self.fresh_for = fresh_for
        self._figures: dict[tuple[str, date], TargetFigures] = {}
        self._refreshing: set[tuple[str, date]] = set()
        self._lock = threading.Lock()

    def get(self, campaign_code: str, today: date) -> TargetFigures:
        key = (campaign_code, today)
        with self._lock:
            figures = self._figures.get(key)
            stale = figures is not None and self.clock() - figures.computed_at > self.fresh_for
            start_refresh = stale and key not in self._refreshing
            if start_refresh:
                self._refreshing.add(key)
        if figures is None:
            return self._compute(key)
        if start_refresh:
            threading.Thread(target=self._refresh, args=(key,), daemon=True, name="tinh-chi-tieu").start()
        return figures

    def invalidate(self) -> None:
        with self._lock:
            self._figures.clear()

    def _compute(self, key: tuple[str, date]) -> TargetFigures:
        moment = self.clock()
        with Session(self.engine) as session:
            figures = TargetFigures(target_progress(session, campaign_code=key[0], now=moment), moment)
        with self._lock:
            self._figures[key] = figures
        return figures

    def _refresh(self, key: tuple[str, date]) -> None:
        try:
            self._compute(key)
        except Exception:  # keep serving the previous figures; the next request tries again
            log.exception("Không tính lại được tiến độ chỉ tiêu của chiến dịch %s", key[0])
        finally:
            with self._lock:
                self._refreshing.discard(key)
