"""Several dispatch processes at once (scale-out mode on PostgreSQL): this process recovers and plans once,
then N OS processes claim and send batches of the same outbox until nothing is due. Each worker runs the
pipelined pass of a single dispatcher (`dispatch_pass`): its next batch is claimed, checked and composed
while the current one is on the wire, and its ledger writes run off the event loop.

No two workers ever hold the same row: `claim_batch` leases rows with `FOR UPDATE SKIP LOCKED` (a worker
skips rows another is claiming instead of waiting for them), and every result is recorded only for rows the
worker still holds. Workers are separate processes, not threads, because rendering and MIME building are
CPU-bound Python; each opens its own SMTP connections (`Settings.smtp_connections`).

SQLite has one writer at a time: claims and results of N processes would queue behind each other's
transactions, so a pool of more than one worker is refused there.

A worker that dies leaves its claimed rows to the usual crash recovery (lease expiry → `pending` or
`unknown`, see thidua.services.reminders); the pool reports it and never resends on its behalf.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from thidua.db import make_engine
from thidua.errors import UnavailableError
from thidua.models.clock import utcnow
from thidua.notifications.render import get_renderer
from thidua.notifications.transport import SmtpSettings
from thidua.services.reminders import (
    DEFAULT_LEASE,
    BatchResult,
    PlanResult,
    Recovery,
    RemindersError,
    campaign_id_for,
    dispatch_pass,
    new_dispatcher_id,
    plan_due,
    plan_failure_reports,
    recover_expired_claims,
    smtp_settings,
)
from thidua.settings import Settings

MAX_WORKERS = 64
START_TIMEOUT_S = 120.0  # a worker must be connected and ready by then (process start-up on a busy host)


class WorkerPoolError(UnavailableError, RemindersError):
    """The pool cannot run as asked (size, database) or a worker could not start. Nothing was sent."""

    retryable = False


@dataclass
class WorkerReport:
    index: int
    owner: str = ""
    batches: int = 0
    totals: BatchResult = field(default_factory=BatchResult)
    seconds: float = 0.0  # from the common start signal to this worker's last batch
    cpu_seconds: float = 0.0
    stopped_early: bool = False  # the SMTP server was unreachable
    error: str | None = None  # the worker failed; its claimed rows wait for crash recovery


@dataclass
class PoolSummary:
    now: datetime
    workers: int
    recovery: Recovery
    plan: PlanResult
    reports: list[WorkerReport]
    totals: BatchResult  # every worker's, plus the failure reports sent after the wave
    seconds: float  # the sending wave: from the common start signal to the last worker's end
    failure_reports: int = 0

    @property
    def rate(self) -> float:
        """Messages answered by the SMTP server per second of the wave."""
        return self.totals.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed_workers(self) -> list[WorkerReport]:
        return [r for r in self.reports if r.error is not None]

    @property
    def stopped_early(self) -> bool:
        return any(r.stopped_early for r in self.reports)


def check_pool_size(db_url: str, workers: int) -> None:
    if not 1 <= workers <= MAX_WORKERS:
        raise WorkerPoolError(f"số tiến trình gửi phải từ 1 đến {MAX_WORKERS} (nhận {workers})")
    if workers > 1 and db_url.startswith("sqlite"):
        raise WorkerPoolError(
            f"không chạy {workers} tiến trình gửi trên SQLite: SQLite chỉ cho một giao dịch ghi tại một thời điểm, "
            "nên các tiến trình chỉ xếp hàng chờ nhau; dùng PostgreSQL (THIDUA_DATABASE_URL=postgresql+psycopg://…) "
            "hoặc chạy 1 tiến trình"
        )


def run_dispatch_workers(
    settings: Settings,
    workers: int,
    *,
    now: datetime | None = None,
    campaign_code: str | None = None,
    smtp: SmtpSettings | None = None,
    batch_size: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
    start_timeout_s: float = START_TIMEOUT_S,
) -> PoolSummary:
    """One dispatch pass with `workers` sending processes: recover, plan, send until nothing is due."""
    check_pool_size(settings.db_url, workers)
    settings.signing_key()  # links are signed: a refused key stops the pass before it plans anything
    moment = now or utcnow()
    smtp_ = smtp or smtp_settings(settings)
    engine = make_engine(settings.db_url)
    try:
        campaign_id = campaign_id_for(engine, campaign_code)
        recovery = recover_expired_claims(engine)
        plan_failure_reports(engine, recovery.campaigns, moment)
        plan = plan_due(engine, now=moment, campaign_code=campaign_code)
        job = _Job(settings.model_dump(), smtp_, moment, campaign_id, batch_size, lease.total_seconds())
        reports, seconds = _run_pool(job, workers, start_timeout_s)
        totals = BatchResult()
        for report in reports:
            totals.add(report.totals)
        summary = PoolSummary(moment, workers, recovery, plan, reports, totals, seconds)
        # The office hears about this pass's failures once, after every worker is done.
        if totals.problem_campaigns and plan_failure_reports(engine, totals.problem_campaigns, moment):
            _, reports_sent, _ = asyncio.run(
                dispatch_pass(
                    engine,
                    settings,
                    owner=new_dispatcher_id(),
                    now=moment,
                    smtp=smtp_,
                    campaign_id=campaign_id,
                    batch_size=batch_size,
                    lease=lease,
                )
            )
            summary.failure_reports = reports_sent.sent
            totals.add(reports_sent)
        return summary
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------------
# The processes
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """What every worker needs, picklable for a spawned process."""

    settings: dict[str, Any]
    smtp: SmtpSettings
    now: datetime
    campaign_id: int | None
    batch_size: int | None
    lease_s: float


def _run_pool(job: _Job, workers: int, start_timeout_s: float) -> tuple[list[WorkerReport], float]:
    ctx = _process_context()
    start = ctx.Barrier(workers + 1)
    results: Any = ctx.Queue()
    processes = [
        ctx.Process(target=_worker_main, args=(i, job, start, results), name=f"thidua-dispatch-{i}", daemon=True)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    reports: dict[int, WorkerReport] = {}
    try:
        try:
            start.wait(timeout=start_timeout_s)
        except threading.BrokenBarrierError:
            _collect(results, processes, reports, deadline=time.monotonic() + 5)
            problems = "; ".join(f"tiến trình {r.index + 1}: {r.error}" for r in reports.values() if r.error)
            raise WorkerPoolError(
                "các tiến trình gửi không khởi động được"
                + (f" ({problems})" if problems else f" trong {start_timeout_s:.0f} giây")
                + "; chưa gửi thư nào"
            ) from None
        started = time.perf_counter()
        _collect(results, processes, reports, deadline=None)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        results.close()
    for i, process in enumerate(processes):
        if i not in reports:
            reports[i] = WorkerReport(
                i,
                error=f"tiến trình dừng đột ngột (mã thoát {process.exitcode}); "
                "thư nó đang giữ sẽ được xử lý khi hết hạn giữ chỗ",
            )
    return [reports[i] for i in range(workers)], seconds


def _process_context() -> Any:
    """Not plain fork: the parent holds database connections and maybe threads. A fork server imports the
    engine once and forks clean workers from it, much faster than spawning N interpreters."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _collect(results: Any, processes: list[Any], reports: dict[int, WorkerReport], *, deadline: float | None) -> None:
    """Gather reports until every worker has answered or died (or the deadline passes)."""
    while len(reports) < len(processes):
        if deadline is not None and time.monotonic() > deadline:
            return
        try:
            report: WorkerReport = results.get(timeout=0.5)
            reports[report.index] = report
        except queue.Empty:
            if not any(p.is_alive() for i, p in enumerate(processes) if i not in reports):
                try:  # a report may have arrived just before its process ended
                    report = results.get(timeout=0.5)
                    reports[report.index] = report
                    continue
                except queue.Empty:
                    return


def _worker_main(index: int, job: _Job, start: Any, results: Any) -> None:
    settings = Settings(**job.settings)
    report = WorkerReport(index, owner=new_dispatcher_id())
    engine = make_engine(settings.db_url)
    try:
        try:  # warm up before the common start: connection, templates
            with engine.connect():
                pass
            get_renderer()
        except Exception as exc:
            report.error = f"không kết nối được cơ sở dữ liệu: {exc.__class__.__name__}: {exc}"[:500]
            start.abort()
            return
        try:
            start.wait()
        except threading.BrokenBarrierError:  # another worker could not start, or the pool gave up waiting
            report.error = "dừng trước khi gửi: tiến trình khác không khởi động được"
            return
        began, cpu = time.perf_counter(), time.process_time()
        lease = timedelta(seconds=job.lease_s)
        pool = multiprocessing.parent_process()

        try:  # pipelined as a single dispatcher: the next batch is claimed and composed while one is sent
            report.batches, report.totals, report.stopped_early = asyncio.run(
                dispatch_pass(
                    engine,
                    settings,
                    owner=report.owner,
                    now=job.now,
                    smtp=job.smtp,
                    campaign_id=job.campaign_id,
                    batch_size=job.batch_size,
                    lease=lease,
                    # the pool was stopped: send what is claimed, take no more
                    keep_going=lambda: pool is None or pool.is_alive(),
                )
            )
        except RemindersError as exc:  # e.g. SmtpRefused: permanent, the message says what to fix
            report.error = str(exc)
        except Exception as exc:
            report.error = f"{exc.__class__.__name__}: {exc}"[:500]
        report.seconds = time.perf_counter() - began
        report.cpu_seconds = time.process_time() - cpu
    finally:
        results.put(report)
        engine.dispose()
