"""The scale-out deployments, built without any Prefect server: names, schedules, parameters, one clock."""

from __future__ import annotations

import importlib
import inspect
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from thidua.flows import deployments as scaleout
from thidua.flows.deployments import DeploymentConfigError, DeploymentOptions, build_deployments
from thidua.settings import Settings

TZ = "Asia/Ho_Chi_Minh"
DISPATCH_FLOWS = {"gui-nhac-viec", "gui-nhac-viec-song-song", "gui-thu-da-lap-lich"}


def _by_name(deployments) -> dict:  # noqa: ANN001
    return {f"{d.flow_name}/{d.name}": d for d in deployments}


def _entrypoint_flow(deployment):  # noqa: ANN001, ANN202
    """What a serve process's runner loads in its subprocess for a run of this deployment."""
    module, _, name = deployment.entrypoint.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _assert_runnable(deployment) -> None:  # noqa: ANN001
    flow = _entrypoint_flow(deployment)
    assert flow.name == deployment.flow_name
    accepted = set(inspect.signature(flow.fn).parameters)
    assert set(deployment.parameters) <= accepted
    for schedule in deployment.schedules:
        assert set(schedule.parameters) <= accepted


def _one_at_a_time(deployment) -> bool:  # noqa: ANN001
    return deployment.concurrency_limit == 1 and deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"


def test_one_worker_deployments_schedule_each_job_once_in_local_time() -> None:
    options = DeploymentOptions(campaigns=("bd-2023", "kh-2024"), dispatch_every_s=120, timezone=TZ)
    deployments = _by_name(build_deployments(options))

    assert set(deployments) == {
        "gui-nhac-viec/theo-lich",
        "tong-hop-khi-het-han/theo-lich",
        "tong-hop-bao-cao-dot/theo-yeu-cau",
        "dong-cua-so-de-nghi-khen-thuong/hang-ngay",
    }
    for deployment in deployments.values():
        _assert_runnable(deployment)
        assert deployment.tags == ["thidua"]

    dispatch = deployments["gui-nhac-viec/theo-lich"]
    [every] = dispatch.schedules
    assert (every.schedule.interval, every.schedule.timezone) == (timedelta(seconds=120), TZ)
    assert dispatch.parameters == {} and _one_at_a_time(dispatch)

    due = deployments["tong-hop-khi-het-han/theo-lich"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in due.schedules] == [("5 * * * *", TZ)]
    assert _one_at_a_time(due)

    on_demand = deployments["tong-hop-bao-cao-dot/theo-yeu-cau"]
    assert on_demand.schedules == [] and on_demand.parameters == {}

    windows = deployments["dong-cua-so-de-nghi-khen-thuong/hang-ngay"]
    assert sorted((s.schedule.cron, s.schedule.timezone, s.parameters["campaign_code"]) for s in windows.schedules) == [
        ("0 7 * * *", TZ, "bd-2023"),
        ("0 7 * * *", TZ, "kh-2024"),
    ]
    assert _one_at_a_time(windows)


def test_parallel_dispatch_replaces_the_single_dispatcher_and_keeps_one_clock() -> None:
    options = DeploymentOptions(dispatch_workers=4, dispatch_every_s=60)
    deployments = _by_name(build_deployments(options))

    assert "gui-nhac-viec/theo-lich" not in deployments
    scheduled = deployments["gui-nhac-viec-song-song/theo-lich"]
    assert scheduled.parameters == {"workers": 4} and _one_at_a_time(scheduled)
    assert [s.schedule.interval for s in scheduled.schedules] == [timedelta(seconds=60)]
    sender = deployments["gui-thu-da-lap-lich/song-song"]
    assert sender.schedules == [] and sender.concurrency_limit is None  # started N at a time by the scheduled run
    for deployment in deployments.values():
        _assert_runnable(deployment)
    # Exactly one clock drives dispatch, whatever the worker count.
    clocks = [d for d in deployments.values() if d.flow_name in DISPATCH_FLOWS and d.schedules]
    assert clocks == [scheduled]
    # The send runs the scheduled run starts are exactly the deployment registered for them.
    assert f"{scaleout.send_planned_reminders_flow.name}/{scaleout.PARALLEL}" in deployments
    # One serve process has room for the scheduled run, its 4 send runs and the other jobs.
    assert scaleout.runner_limit(options) >= 4 + 1 + 2
    single, parallel = scaleout.dispatch_variants()
    assert single in _by_name(build_deployments(DeploymentOptions())) and parallel in deployments


def test_options_follow_the_settings() -> None:
    options = DeploymentOptions.from_settings(
        Settings(tick_seconds=300, timezone="Asia/Bangkok"), dispatch_workers=3, campaigns=("bd-2023",)
    )
    assert (options.dispatch_every_s, options.timezone, options.dispatch_workers, options.campaigns) == (
        300,
        "Asia/Bangkok",
        3,
        ("bd-2023",),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DeploymentOptions(dispatch_workers=0), "số tiến trình gửi phải từ 1 đến 64 (nhận 0)"),
        (DeploymentOptions(dispatch_every_s=5), "chu kỳ gửi nhắc việc tối thiểu 10 giây (nhận 5)"),
        (
            DeploymentOptions(consolidate_cron="mỗi giờ"),
            "lịch cron không hợp lệ cho tổng hợp báo cáo đến hạn: 'mỗi giờ'",
        ),
        (
            DeploymentOptions(campaigns=("bd-2023",), nominations_cron="0 25 * * *"),
            "lịch cron không hợp lệ cho chuyển danh sách đề nghị khen thưởng: '0 25 * * *'",
        ),
    ],
)
def test_bad_options_are_refused_with_what_and_which_value(options: DeploymentOptions, message: str) -> None:
    with pytest.raises(DeploymentConfigError) as caught:
        build_deployments(options)
    assert message in str(caught.value)


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")  # Prefect's own UUID type, not ours
def test_the_prefect_server_scheduler_can_bulk_insert_flow_runs_under_sqlalchemy_2_1() -> None:
    """What the server's scheduler service does (an INSERT of flow-run mappings that carry a "state" key)."""
    from prefect.server.database import orm_models

    scaleout._ignore_bulk_values_of_prefect_hybrids()
    engine = create_engine("sqlite://")
    orm_models.Base.metadata.create_all(engine, tables=[orm_models.Flow.__table__, orm_models.FlowRun.__table__])
    flow_id, run_id = uuid.uuid4(), uuid.uuid4()
    with Session(engine) as session:
        session.execute(insert(orm_models.Flow), [{"id": flow_id, "name": "gui-nhac-viec"}])
        session.execute(
            insert(orm_models.FlowRun),
            [
                {
                    "id": run_id,
                    "flow_id": flow_id,
                    "name": "lan-chay",
                    "state": {"type": "SCHEDULED"},
                    "state_type": "SCHEDULED",
                    "state_name": "Scheduled",
                }
            ],
        )
        stored = session.execute(select(orm_models.FlowRun.state_name, orm_models.FlowRun.state_id)).one()
    assert tuple(stored) == ("Scheduled", None)  # the state row is Prefect's next statement, as before 2.1
