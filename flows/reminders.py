"""Prefect flow for reminder dispatch: a thin wrapper over thidua.services.reminders.

One task plans (set-based), then one task per batch claims and sends up to `dispatch_batch_size` mails —
never a task per mail. In the embedded deployment `thidua serve` calls the same service functions from its
APScheduler clock without Prefect; this flow is for scale-out deployments where Prefect holds the schedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thidua.settings import configure_prefect_environment, get_settings

configure_prefect_environment(get_settings())

from prefect import flow, task  # noqa: E402  (Prefect reads its environment at import)
from prefect.cache_policies import NO_CACHE  # noqa: E402

from thidua.models.clock import utcnow  # noqa: E402
from thidua.db import get_engine  # noqa: E402
from thidua.services import reminders as service  # noqa: E402


def _moment(now: str | None) -> datetime:
    return datetime.fromisoformat(now) if now else utcnow()


@task(name="lap-lich-nhac-viec", cache_policy=NO_CACHE)
def plan_task(now: str | None, campaign_code: str | None) -> dict[str, int]:
    engine = get_engine()
    recovery = service.recover_expired_claims(engine)
    service.plan_failure_reports(engine, recovery.campaigns, _moment(now))
    plan = service.plan_due(engine, now=_moment(now), campaign_code=campaign_code)
    return {
        "reminders": plan.reminders,
        "escalations": plan.escalations,
        "office_digests": plan.office_digests,
        "recovered_pending": recovery.returned,
        "recovered_unknown": recovery.unknown,
    }


@task(name="gui-mot-lo-thu", cache_policy=NO_CACHE)
async def batch_task(now: str | None, campaign_code: str | None, owner: str) -> service.BatchResult | None:
    settings = get_settings()
    engine = get_engine(settings)
    return await service.dispatch_batch(
        engine,
        settings,
        owner=owner,
        now=_moment(now),
        smtp=service.smtp_settings(settings),
        campaign_id=service.campaign_id_for(engine, campaign_code),
    )


@task(name="bao-loi-gui-thu", cache_policy=NO_CACHE)
def failure_report_task(now: str | None, campaign_ids: list[int]) -> int:
    return service.plan_failure_reports(get_engine(), campaign_ids, _moment(now))


@flow(name="gui-nhac-viec")
async def dispatch_reminders_flow(
    now: str | None = None, campaign_code: str | None = None, max_batches: int | None = None
) -> dict[str, Any]:
    """One dispatch pass. `now`: ISO-8601 aware time (for replays); default the current time."""
    get_settings().signing_key()  # a refused key stops the pass before it plans anything
    now = now or utcnow().isoformat()
    owner = service.new_dispatcher_id()
    plan = plan_task(now, campaign_code)
    batches, totals, stopped_early = await service.dispatch_loop(
        lambda: batch_task(now, campaign_code, owner),
        lambda campaigns: failure_report_task(now, sorted(campaigns)),
        max_batches=max_batches,
    )
    return {
        "plan": plan,
        "batches": batches,
        "sent": totals.sent,
        "partial": totals.partial,
        "failed": totals.failed,
        "unknown": totals.unknown,
        "retried": totals.retried,
        "skipped": totals.skipped,
        "stopped_early": stopped_early,
    }
