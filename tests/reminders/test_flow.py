"""The Prefect flow is a thin wrapper: one real run (Prefect's temporary server costs ~10 s to start)."""

from __future__ import annotations

import asyncio

import pytest

from thidua.notifications.sink import FaultInjectingHandler
from tests.reminders.conftest import vn
from thidua.settings import get_settings


@pytest.mark.slow
def test_flow_dispatches_in_batches(campaign, settings, sinks, monkeypatch) -> None:
    sink = sinks(FaultInjectingHandler())
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("THIDUA_SMTP_HOST", sink.host)
    monkeypatch.setenv("THIDUA_SMTP_PORT", str(sink.port))
    monkeypatch.setenv("THIDUA_DISPATCH_BATCH_SIZE", "4")  # 9 mails → 3 batch tasks
    get_settings.cache_clear()
    try:
        from thidua.flows.reminders import dispatch_reminders_flow

        result = asyncio.run(dispatch_reminders_flow(now=vn(3, 10).isoformat(), campaign_code="bd-2023"))
    finally:
        get_settings.cache_clear()
    assert result["plan"]["reminders"] == 8 and result["plan"]["office_digests"] == 1
    assert result["batches"] == 3 and result["sent"] == 9 and not result["stopped_early"]
    assert len(sink.handler.accepted) == 9
    assert {r.status for r in campaign.outbox()} == {"sent"}
