"""Production (scale-out) mode: the engine's flows as Prefect deployments, scheduled by a Prefect server on
PostgreSQL and run by long-running `thidua scaleout serve` processes (any number, on any hosts).

Exactly one clock: the schedules live in the Prefect server, APScheduler is off (THIDUA_SCHEDULER_ENABLED=false)
and every scheduled deployment allows one run at a time, cancelling a run that would overlap the previous one
(a long pass, or a backlog after the serve processes were down).

| deployment (flow/name)                        | when                        | what                               |
|-----------------------------------------------|-----------------------------|------------------------------------|
| gui-nhac-viec/theo-lich                       | every `dispatch_every_s`    | plan and send reminders (1 worker) |
| gui-nhac-viec-song-song/theo-lich             | same, instead of the above  | plan once, then N send runs        |
| gui-thu-da-lap-lich/song-song                 | started by the line above   | claim and send batches until done  |
| tong-hop-khi-het-han/theo-lich                | `consolidate_cron`          | consolidate reports past deadline  |
| tong-hop-bao-cao-dot/theo-yeu-cau             | on demand                   | consolidate one round              |
| dong-cua-so-de-nghi-khen-thuong/hang-ngay     | `nominations_cron`, per campaign | move nomination lists up, remind reviewers |

With N > 1 dispatch workers the scheduled run plans once and starts N runs of the send deployment; each is a
separate process on whichever serve process picks it up, and `FOR UPDATE SKIP LOCKED` claims keep their
batches apart (thidua.services.reminders.claim_batch).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from thidua.settings import Settings, configure_prefect_environment, get_settings

configure_prefect_environment(get_settings())

from prefect import flow, serve  # noqa: E402  (Prefect reads its environment at import)
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy  # noqa: E402
from prefect.deployments import arun_deployment  # noqa: E402
from prefect.deployments.runner import RunnerDeployment  # noqa: E402
from prefect.exceptions import ObjectNotFound  # noqa: E402
from prefect.schedules import Cron, Interval  # noqa: E402
from prefect.types.entrypoint import EntrypointType  # noqa: E402

from thidua.flows.consolidation import consolidate_due_flow, consolidation_flow  # noqa: E402
from thidua.flows.nominations import close_nomination_windows  # noqa: E402
from thidua.flows.reminders import batch_task, dispatch_reminders_flow, failure_report_task, plan_task  # noqa: E402
from thidua.errors import InvalidInputError, UnavailableError  # noqa: E402
from thidua.models.clock import utcnow  # noqa: E402
from thidua.services import reminders as service  # noqa: E402

SCHEDULED = "theo-lich"
ON_DEMAND = "theo-yeu-cau"
DAILY = "hang-ngay"
PARALLEL = "song-song"
TAGS = ["thidua"]
SEND_RUN_TIMEOUT_S = 2 * 3600.0  # a national wave takes minutes; past this the scheduled run reports it


class DeploymentConfigError(InvalidInputError, ValueError):
    """Bad scale-out options (worker count, interval, cron). The message is Vietnamese."""


class SendRunsFailed(UnavailableError, RuntimeError):
    """Some send runs of a parallel dispatch did not complete; their claimed rows wait for crash recovery."""


# ---------------------------------------------------------------------------------------------------
# The flows only this mode needs (thin: the work is thidua.services.reminders)
# ---------------------------------------------------------------------------------------------------
@flow(name="gui-thu-da-lap-lich")
async def send_planned_reminders_flow(
    now: str | None = None, campaign_code: str | None = None, max_batches: int | None = None
) -> dict[str, Any]:
    """Claim and send batches of what is already planned until nothing is due; one of N in parallel."""
    now = now or utcnow().isoformat()
    owner = service.new_dispatcher_id()
    batches, totals, stopped_early = await service.dispatch_loop(
        lambda: batch_task(now, campaign_code, owner),
        lambda campaigns: failure_report_task(now, sorted(campaigns)),
        max_batches=max_batches,
    )
    return {
        "owner": owner,
        "batches": batches,
        "claimed": totals.claimed,
        "sent": totals.sent,
        "partial": totals.partial,
        "failed": totals.failed,
        "unknown": totals.unknown,
        "retried": totals.retried,
        "skipped": totals.skipped,
        "stopped_early": stopped_early,
    }


@flow(name="gui-nhac-viec-song-song")
async def dispatch_parallel_flow(
    workers: int = 2, now: str | None = None, campaign_code: str | None = None
) -> dict[str, Any]:
    """Plan once (recovering expired claims first), then `workers` send runs at the same time."""
    now = now or utcnow().isoformat()
    plan = plan_task(now, campaign_code)
    runs = await asyncio.gather(
        *(
            arun_deployment(
                f"{send_planned_reminders_flow.name}/{PARALLEL}",
                parameters={"now": now, "campaign_code": campaign_code},
                timeout=SEND_RUN_TIMEOUT_S,
                poll_interval=2,
            )
            for _ in range(workers)
        )
    )
    states = [(str(run.id), run.state.name if run.state else "?") for run in runs]
    unfinished = [(run_id, state) for run_id, state in states if state != "Completed"]
    if unfinished:
        listing = ", ".join(f"{run_id} ({state})" for run_id, state in unfinished)
        raise SendRunsFailed(
            f"{len(unfinished)}/{workers} lượt gửi song song chưa hoàn thành: {listing}; "
            "thư chúng đang giữ sẽ được xử lý khi hết hạn giữ chỗ (xem: thidua reminders status)"
        )
    return {"plan": plan, "workers": workers, "runs": [run_id for run_id, _ in states]}


# ---------------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeploymentOptions:
    campaigns: tuple[str, ...] = ()  # whose nomination windows close on schedule
    dispatch_workers: int = 1
    dispatch_every_s: int = 60
    consolidate_cron: str = "5 * * * *"  # hourly: each report once, soon after its deadline
    nominations_cron: str = "0 7 * * *"  # each morning: lists of windows closed yesterday move up
    timezone: str = "Asia/Ho_Chi_Minh"
    tags: tuple[str, ...] = field(default_factory=lambda: tuple(TAGS))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "DeploymentOptions":
        base = cls(dispatch_every_s=settings.tick_seconds, timezone=settings.timezone)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _one_at_a_time() -> ConcurrencyLimitConfig:
    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def _cron(expression: str, what: str, timezone: str, **kwargs: Any):
    try:
        return Cron(expression, timezone=timezone, **kwargs)
    except ValueError:
        raise DeploymentConfigError(
            f"lịch cron không hợp lệ cho {what}: '{expression}' (5 trường: phút giờ ngày tháng thứ, ví dụ '0 7 * * *')"
        ) from None


def _check(options: DeploymentOptions) -> None:
    if not 1 <= options.dispatch_workers <= 64:
        raise DeploymentConfigError(f"số tiến trình gửi phải từ 1 đến 64 (nhận {options.dispatch_workers})")
    if options.dispatch_every_s < 10:
        raise DeploymentConfigError(f"chu kỳ gửi nhắc việc tối thiểu 10 giây (nhận {options.dispatch_every_s})")


def build_deployments(options: DeploymentOptions) -> list[RunnerDeployment]:
    """The deployments of the scale-out mode (nothing is sent to a server here)."""
    _check(options)
    tz, tags = options.timezone, list(options.tags)
    common: dict[str, Any] = {"tags": tags, "entrypoint_type": EntrypointType.MODULE_PATH}
    every = Interval(options.dispatch_every_s, timezone=tz)
    deployments: list[RunnerDeployment] = []
    if options.dispatch_workers == 1:
        deployments.append(
            dispatch_reminders_flow.to_deployment(
                SCHEDULED,
                schedules=[every],
                concurrency_limit=_one_at_a_time(),
                **common,
                description="Một lượt gửi nhắc việc: lập lịch những gì đến hạn rồi gửi.",
            )
        )
    else:
        deployments.append(
            dispatch_parallel_flow.to_deployment(
                SCHEDULED,
                schedules=[every],
                concurrency_limit=_one_at_a_time(),
                parameters={"workers": options.dispatch_workers},
                **common,
                description=f"Lập lịch một lần rồi gửi bằng {options.dispatch_workers} lượt chạy song song.",
            )
        )
        deployments.append(
            send_planned_reminders_flow.to_deployment(
                PARALLEL, **common, description="Nhận từng lô thư đã lập lịch và gửi (do lượt theo lịch khởi động)."
            )
        )
    deployments.append(
        consolidate_due_flow.to_deployment(
            SCHEDULED,
            schedules=[_cron(options.consolidate_cron, "tổng hợp báo cáo đến hạn", tz)],
            concurrency_limit=_one_at_a_time(),
            **common,
            description="Tổng hợp mọi báo cáo vừa hết hạn nộp (mỗi báo cáo một lần).",
        )
    )
    deployments.append(
        consolidation_flow.to_deployment(
            ON_DEMAND,
            **common,
            description="Tổng hợp một đợt báo cáo khi được yêu cầu (tham số campaign_code, round_number).",
        )
    )
    deployments.append(
        close_nomination_windows.to_deployment(
            DAILY,
            concurrency_limit=_one_at_a_time(),
            **common,
            schedules=[
                _cron(
                    options.nominations_cron,
                    "chuyển danh sách đề nghị khen thưởng",
                    tz,
                    parameters={"campaign_code": code},
                    slug=f"khen-thuong-{code}",
                )
                for code in options.campaigns
            ],
            description="Chuyển danh sách đề nghị khen thưởng của các cấp đã hết hạn đề xuất; nhắc người duyệt quá hạn.",
        )
    )
    return deployments


def dispatch_variants() -> tuple[str, str]:
    """(single-worker, parallel) names of the scheduled dispatch deployment; only one may exist."""
    return f"{dispatch_reminders_flow.name}/{SCHEDULED}", f"{dispatch_parallel_flow.name}/{SCHEDULED}"


def runner_limit(options: DeploymentOptions) -> int:
    """Concurrent runs one serve process needs: the scheduled dispatch, its N send runs, consolidation and
    nominations (with one worker the scheduled dispatch sends itself: one spare slot)."""
    return options.dispatch_workers + 3


async def retire_other_dispatch_variant(options: DeploymentOptions) -> str | None:
    """Delete the scheduled dispatch deployment of the other variant (and its queued runs), so that a change
    of worker count never leaves two dispatch clocks. Returns the deleted name, if any."""
    single, parallel = dispatch_variants()
    other = parallel if options.dispatch_workers == 1 else single
    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(other)
        except ObjectNotFound:
            return None
        await client.delete_deployment(deployment.id)
    return other


def serve_deployments(deployments: Sequence[RunnerDeployment], *, limit: int) -> None:
    """Register the deployments with the Prefect server (PREFECT_API_URL) and run their flow runs until
    stopped. Schedules are not paused on shutdown: other serve processes keep running them."""
    serve(*deployments, limit=limit, pause_on_shutdown=False, print_starting_message=False)


# ---------------------------------------------------------------------------------------------------
# The Prefect server
# ---------------------------------------------------------------------------------------------------
def run_prefect_server(arguments: Sequence[str]) -> None:
    """`prefect server start ARGUMENTS` in this process (foreground), made to work with SQLAlchemy 2.1."""
    import sys

    from prefect.cli import app

    _ignore_bulk_values_of_prefect_hybrids()
    sys.argv = ["prefect", "server", "start", *arguments]  # Prefect's entry point reads its arguments there
    app()


def _ignore_bulk_values_of_prefect_hybrids() -> int:
    """Prefect 3.8.8's scheduler service bulk-inserts flow runs with a "state" key, which names a hybrid
    property of its FlowRun model. SQLAlchemy 2.0 ignored such keys; 2.1 raises ("Can't evaluate bulk DML
    statement") unless the hybrid has a bulk_dml hook, so no scheduled run is ever created. Give each hybrid
    of Prefect's server models a hook that ignores the value, as 2.0 did. Returns how many were given one."""
    from prefect.server.database import orm_models
    from sqlalchemy.ext.hybrid import hybrid_property

    patched = 0
    for mapper in orm_models.Base.registry.mappers:
        for klass in mapper.class_.__mro__:
            for attribute in vars(klass).values():
                # SQLAlchemy 2.0 has no bulk_dml_setter attribute at all: nothing to do there.
                if isinstance(attribute, hybrid_property) and getattr(attribute, "bulk_dml_setter", False) is None:
                    attribute.bulk_dml_setter = _ignore_value
                    patched += 1
    return patched


def _ignore_value(cls: type, mapping: Any, value: Any) -> None:  # noqa: ARG001
    return None
