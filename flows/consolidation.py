"""Prefect flows around thidua.services.consolidation (thin: one task per batch, the work is the service).

`consolidation_flow` consolidates one round's report on demand; `consolidate_due_flow` consolidates every
report whose deadline has passed and has not been consolidated since (schedule it, e.g. hourly). Tasks retry by
the one rule thidua.errors.is_retryable: database hiccups and conflicts yes, a refused input never.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thidua.settings import configure_prefect_environment, get_settings

configure_prefect_environment(get_settings())

import anyio  # noqa: E402
from prefect import flow, task  # noqa: E402

from thidua.bootstrap import ready_engine  # noqa: E402
from thidua.db import session_scope  # noqa: E402
from thidua.errors import retry_only_retryable  # noqa: E402
from thidua.services.consolidation import ConsolidationResult, consolidate, consolidate_due  # noqa: E402


def _as_dict(result: ConsolidationResult) -> dict[str, Any]:
    return {
        "campaign": result.campaign_code,
        "obligation": result.obligation_code,
        "round": result.round_number,
        "aggregating_units": result.aggregating_units,
        "new_versions": result.new_versions,
    }


def _consolidate_one(
    campaign_code: str, obligation_code: str | None, round_number: int | None, actor: str
) -> dict[str, Any]:
    engine = ready_engine()
    with session_scope(engine) as session:
        return _as_dict(
            consolidate(
                session,
                campaign_code=campaign_code,
                obligation_code=obligation_code,
                round_number=round_number,
                actor=actor,
            )
        )


def _consolidate_due(now: datetime | None, actor: str) -> list[dict[str, Any]]:
    engine = ready_engine()
    with session_scope(engine) as session:
        return [_as_dict(r) for r in consolidate_due(session, now=now, actor=actor)]


@task(name="tong-hop-so-lieu", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_only_retryable)
async def consolidate_task(
    campaign_code: str, obligation_code: str | None, round_number: int | None, actor: str
) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(_consolidate_one, campaign_code, obligation_code, round_number, actor)


@task(name="tong-hop-cac-bao-cao-den-han", retries=3, retry_delay_seconds=10, retry_condition_fn=retry_only_retryable)
async def consolidate_due_task(now: datetime | None, actor: str) -> list[dict[str, Any]]:
    return await anyio.to_thread.run_sync(_consolidate_due, now, actor)


@flow(name="tong-hop-bao-cao-dot", log_prints=False)
async def consolidation_flow(
    campaign_code: str,
    round_number: int | None = None,
    obligation_code: str | None = None,
    actor: str = "system:consolidation",
) -> dict[str, Any]:
    """Consolidate one round (or one obligation) now; a new snapshot version only if figures changed."""
    return await consolidate_task(campaign_code, obligation_code, round_number, actor)


@flow(name="tong-hop-khi-het-han", log_prints=False)
async def consolidate_due_flow(
    now: datetime | None = None, actor: str = "system:consolidation"
) -> list[dict[str, Any]]:
    """Consolidate every report whose deadline has just passed (idempotent: each once after its deadline)."""
    return await consolidate_due_task(now, actor)
