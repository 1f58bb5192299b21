"""Prefect flow for award nominations: a thin wrapper over thidua.services.nominations.

`close_nomination_windows` runs when a level's proposal window closes (schedule it daily): every open list
of a level whose window has closed leaves for the direct superior under the tờ trình its unit recorded,
lowest level first; lists without a tờ trình are reported, not guessed. It then queues one reminder per
reviewer that is past its review deadline. One task per pass, never per nomination. Only database
hiccups and conflicts are retried (thidua.errors.is_retryable, the one rule); a refused list is permanent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thidua.settings import configure_prefect_environment, get_settings

configure_prefect_environment(get_settings())

import anyio  # noqa: E402
from prefect import flow, task  # noqa: E402  (Prefect reads its environment at import)
from prefect.cache_policies import NO_CACHE  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from thidua.db import get_engine, make_engine  # noqa: E402
from thidua.errors import retry_only_retryable  # noqa: E402
from thidua.services import nominations as service  # noqa: E402


def _engine(database_url: str | None) -> Engine:
    return make_engine(database_url) if database_url else get_engine()


def _close(campaign_code: str, now: datetime | None, database_url: str | None) -> dict[str, Any]:
    engine = _engine(database_url)
    try:
        campaign_id = service.campaign_by_code(engine, campaign_code).id
        result = service.close_windows(engine, campaign_id, now=now)
        queued = service.remind_overdue_reviewers(engine, campaign_id, now=now)
    finally:
        if database_url:
            engine.dispose()
    return {
        "sent": [
            {"batch_id": b.batch_id, "to_unit_id": b.to_unit_id, "count": len(b.nomination_ids)} for b in result.sent
        ],
        "missing": result.missing_to_trinh,
        "reviewer_reminders": queued,
    }


@task(
    name="gui-danh-sach-de-nghi-het-han",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=10,
    retry_condition_fn=retry_only_retryable,
)
async def close_windows_task(campaign_code: str, now: datetime | None, database_url: str | None) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(_close, campaign_code, now, database_url)


@flow(name="dong-cua-so-de-nghi-khen-thuong", log_prints=False)
async def close_nomination_windows(
    campaign_code: str, now: datetime | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """Send the lists of every level whose window closed; remind reviewers past their deadline."""
    return await close_windows_task(campaign_code, now, database_url)
