"""The embedded clock of `thidua serve`: APScheduler ticks every Settings.tick_seconds and runs one dispatch
pass (thidua.services.reminders.run_dispatch) — no Prefect server needed in the embedded deployment.

The job store is APScheduler's in-memory default and is never shared between processes: what is due lives
in the database (assignments, ladders, outbox), not in jobs. Several `thidua serve` processes may run on
one database; a named lease row (models.tables.Lease "dispatcher") lets only one of them dispatch at a
time. Correctness does not depend on the lease (claims are atomic), it only avoids duplicate work.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from thidua.models.clock import utcnow
from thidua.models.tables import Campaign, Lease
from thidua.services import reminders as service
from thidua.settings import Settings

log = logging.getLogger(__name__)

DISPATCHER_LEASE = "dispatcher"
L = Lease.__table__  # type: ignore[attr-defined]


def acquire_lease(engine: Engine, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None) -> bool:
    """Take or renew lease `name` for `holder` until now + ttl. False while someone else holds it."""
    now = now or utcnow()
    until = now + ttl
    with Session(engine) as session, session.begin():
        taken = session.execute(
            update(L)
            .where(L.c.name == name, or_(L.c.holder == holder, L.c.expires_at < now))
            .values(holder=holder, expires_at=until)
            .returning(L.c.name)
        ).first()
        if taken is not None:
            return True
    try:
        with Session(engine) as session, session.begin():
            session.execute(insert(L).values(name=name, holder=holder, expires_at=until))
        return True
    except IntegrityError:  # another process inserted it first
        return False


def release_lease(engine: Engine, name: str, holder: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(update(L).where(L.c.name == name, L.c.holder == holder).values(expires_at=utcnow()))


class DispatchClock:
    """Ticks, takes the dispatcher lease, runs a pass. `tick()` can be awaited directly (tests, --once)."""

    def __init__(
        self, engine: Engine, settings: Settings, *, holder: str | None = None, smtp: service.SmtpSettings | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.holder = holder or service.new_dispatcher_id()
        self.smtp = smtp
        self.ttl = timedelta(seconds=max(3 * settings.tick_seconds, 30))
        self.scheduler: AsyncIOScheduler | None = None

    async def tick(self, now: datetime | None = None) -> service.DispatchSummary | None:
        """One pass if this process holds the lease; None when another process does."""
        if not acquire_lease(self.engine, DISPATCHER_LEASE, self.holder, self.ttl):
            log.debug("dispatcher lease held by another process")
            return None
        renew = asyncio.create_task(self._keep_lease())
        try:
            summary = await service.run_dispatch(self.engine, self.settings, now=now, smtp=self.smtp, owner=self.holder)
        except service.SmtpRefused as exc:
            log.error("%s", exc)
            return None
        finally:
            renew.cancel()
        totals = summary.totals
        if totals.claimed or summary.plan.reminders:
            log.info(
                "dispatch: planned %d, sent %d, failed %d, unknown %d, retry %d, skipped %d",
                summary.plan.reminders,
                totals.sent,
                totals.failed,
                totals.unknown,
                totals.retried,
                totals.skipped,
            )
        return summary

    async def housekeeping(self, now: datetime | None = None) -> dict[str, int] | None:
        """The slower duties of the clock, for every active campaign: consolidate reports whose deadline has
        passed, send nomination lists whose window closed, and queue reminders to reviewers who are late
        (the next dispatch pass sends them). Each is idempotent, so running it again is harmless."""
        if not acquire_lease(self.engine, DISPATCHER_LEASE, self.holder, self.ttl):
            return None
        return await asyncio.to_thread(run_housekeeping, self.engine, now)

    async def _keep_lease(self) -> None:
        """A long pass (a national campaign's first day) keeps the lease while it runs."""
        while True:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            acquire_lease(self.engine, DISPATCHER_LEASE, self.holder, self.ttl)

    def start(self) -> AsyncIOScheduler:
        """Schedule ticks on the running event loop (the first one immediately)."""
        scheduler = AsyncIOScheduler(timezone=self.settings.timezone)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.tick_seconds,
            id="dispatch",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(scheduler.timezone),
        )
        scheduler.add_job(
            self.housekeeping,
            "interval",
            seconds=self.settings.housekeeping_seconds,
            id="housekeeping",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(scheduler.timezone),
        )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        release_lease(self.engine, DISPATCHER_LEASE, self.holder)


def run_housekeeping(engine: Engine, now: datetime | None = None) -> dict[str, int]:
    from thidua.services import nominations
    from thidua.services.consolidation import consolidate_due

    moment = now or utcnow()
    with Session(engine) as session:
        consolidated = consolidate_due(session, now=moment, actor="system:dong-ho")
        session.commit()
        campaign_ids = session.execute(select(Campaign.id).where(Campaign.status == "active")).scalars().all()  # type: ignore[call-overload]
    lists_sent = reviewer_reminders = 0
    for campaign_id in campaign_ids:
        lists_sent += len(nominations.close_windows(engine, campaign_id, now=moment).sent)
        reviewer_reminders += nominations.remind_overdue_reviewers(engine, campaign_id, now=moment)
    return {"consolidated": len(consolidated), "lists_sent": lists_sent, "reviewer_reminders": reviewer_reminders}
