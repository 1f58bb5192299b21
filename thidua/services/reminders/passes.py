"""reminders: A whole pass; Operators: status and unknown outcomes."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.clock import utcnow
from thidua.models.outbox import OutboxStatus
from thidua.notifications.render import Renderer, get_renderer
from thidua.notifications.transport import (
    DeliveryAborted,
    DeliveryResult,
    DeliveryStream,
    SmtpSettings,
)
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)
from thidua.settings import Settings

from .claims import Recovery, claim_batch, new_dispatcher_id, recover_expired_claims
from .contents import smtp_settings
from .errors import DEFAULT_LEASE, RECORD_EVERY, C, CampaignNotFound, O, U
from .planning import PlanResult, _audit_row, plan_due, plan_failure_reports
from .sending import (
    BatchResult,
    _load_claimed,
    _refused,
    _sort_one,
    _Sorted,
    _StreamRecorder,
    _write_unsendable,
    send_batch,
)


# ---------------------------------------------------------------------------------------------------
# A whole pass
# ---------------------------------------------------------------------------------------------------
@dataclass
class DispatchSummary:
    now: datetime
    recovery: Recovery
    plan: PlanResult
    batches: int = 0
    totals: BatchResult = field(default_factory=BatchResult)
    stopped_early: bool = False  # the SMTP server was unreachable; the rest waits for the next pass


def campaign_id_for(engine: Engine, code: str | None) -> int | None:
    if code is None:
        return None
    with Session(engine) as session:
        campaign_id = session.execute(select(C.c.id).where(C.c.code == code)).scalar_one_or_none()
    if campaign_id is None:
        raise CampaignNotFound(f"không có chiến dịch mã '{code}'")
    return campaign_id


async def dispatch_batch(
    engine: Engine,
    settings: Settings,
    *,
    owner: str,
    now: datetime,
    smtp: SmtpSettings,
    campaign_id: int | None = None,
    batch_size: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> BatchResult | None:
    """Claim and send one batch; None when nothing is due."""
    settings.signing_key()  # links are signed: a refused key stops here, before a row is claimed
    ids = claim_batch(
        engine,
        owner=owner,
        now=now,
        limit=batch_size or settings.dispatch_batch_size,
        lease=lease,
        campaign_id=campaign_id,
    )
    if not ids:
        return None
    return await send_batch(engine, ids, owner=owner, now=now, settings=settings, smtp=smtp, lease=lease)


async def dispatch_pass(
    engine: Engine,
    settings: Settings,
    *,
    owner: str,
    now: datetime,
    smtp: SmtpSettings,
    campaign_id: int | None = None,
    batch_size: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
    max_batches: int | None = None,
    renderer: Renderer | None = None,
    record_every: int = RECORD_EVERY,
    plan_reports: Callable[[set[int]], int] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> tuple[int, BatchResult, bool]:
    """Send batches until nothing is due (then once more for the failure reports of this pass), pipelined:
    while the connections send batch N, batch N+1 is claimed, checked and composed, and every database write
    runs in a thread, so the connections do not wait for the database. At most one batch waits ahead of the
    transport. Same ledger as `dispatch_batch` (claims under a lease, marks ahead of the transport, results in
    small transactions). A claim that comes back short of a batch took everything due at `now`: the pass does
    not ask again (mail queued meanwhile is due later, or waits for the next pass), unless it queued failure
    reports. Stops early when every connection gave up (the server is unreachable). With
    `keep_going`, no further batch is claimed once it returns False (what is claimed is still sent).
    Returns (batches, totals, stopped_early)."""
    settings.signing_key()  # links are signed: a refused key stops here, before a row is claimed
    renderer = renderer or get_renderer()
    size = batch_size or settings.dispatch_batch_size
    totals = BatchResult()
    recorder = _StreamRecorder(
        engine, owner=owner, now=now, lease=lease, smtp=smtp, result=totals, record_every=record_every
    )
    progress = _Progress()  # what the loops below wait for, woken by the result that brings it, instead of polling

    def on_result(delivery: DeliveryResult) -> None:
        recorder.on_result(delivery)
        progress.poke()

    stream = DeliveryStream(smtp, on_result=on_result, may_take=recorder.may_take)
    recorder.stream = stream
    await stream.start()

    async def produce() -> int:
        batches, reports_planned = 0, False
        drained = False  # the last claim came back short: everything due at its moment is claimed
        while max_batches is None or batches < max_batches:
            # One batch ahead is enough: wait until the transport took from the last one (it takes after results).
            await progress.until(lambda: stream.added - stream.taken < size or stream.exhausted)
            if stream.exhausted or recorder.unreachable or (keep_going is not None and not keep_going()):
                break
            ids = (
                []
                if drained
                else await asyncio.to_thread(
                    claim_batch, engine, owner=owner, now=now, limit=size, lease=lease, campaign_id=campaign_id
                )
            )
            drained = len(ids) < size
            if not ids:
                if reports_planned or plan_reports is None:
                    break
                await settle()  # every outcome of this pass is known before it is reported
                if stream.exhausted or recorder.unreachable or not totals.problem_campaigns:
                    break
                reports_planned = True
                if not await asyncio.to_thread(plan_reports, set(totals.problem_campaigns)):
                    break
                drained = False  # the reports just queued are due: claim them
                continue
            batches += 1
            totals.claimed += len(ids)
            recorder.open_ids.update(ids)
            loaded = await asyncio.to_thread(_load_claimed, engine, ids, now=now, settings=settings)
            sorted_ = _Sorted()
            for start in range(0, len(loaded), 25):  # composed on the loop in slices: the connections keep going
                for item in loaded[start : start + 25]:
                    _sort_one(item, sorted_, now=now, settings=settings, smtp=smtp, renderer=renderer)
                await asyncio.sleep(0)
            gone = {row_id for row_ids in sorted_.skipped.values() for row_id in row_ids}
            gone |= {row.id for row, _ in sorted_.failed} | {row_id for row_id, _ in sorted_.deferred}
            if gone:
                await asyncio.to_thread(_write_unsendable, engine, owner, now, sorted_, totals)
                recorder.open_ids.difference_update(gone)
            if sorted_.ready:
                recorder.add(sorted_.ready)
                stream.add([r.message for r in sorted_.ready])
        return batches

    async def settle() -> None:
        """`recorder.settle`, entered once every result is in (it polls while some are missing)."""
        await progress.until(
            lambda: recorder.failure is not None or recorder.completed >= len(recorder.ready) or stream.exhausted
        )
        await recorder.settle(stream)

    try:
        batches = await produce()
        gave_up = stream.exhausted
        await stream.close()
    except DeliveryAborted as exc:
        await recorder.settle(stream)
        totals.retried += await asyncio.to_thread(
            recorder.release_unsent, f"máy chủ SMTP từ chối phiên gửi: {exc.message}"
        )
        raise _refused(smtp, exc) from exc
    except BaseException as exc:
        stream.fail(exc)
        with suppress(BaseException):
            await stream.close()
        raise
    await recorder.settle(stream)
    return batches, totals, (gave_up or recorder.unreachable) and totals.retried > 0


class _Progress:
    """A wait for a condition on the results of a pass: `poke` (at every result) wakes the waiter only once the
    condition holds; it is also checked every `fallback_s` (for what no result announces: every connection giving
    up, a failed write, a message taken without a result yet)."""

    def __init__(self, fallback_s: float = 0.05) -> None:
        self.event = asyncio.Event()
        self.done: Callable[[], bool] | None = None
        self.fallback_s = fallback_s

    def poke(self) -> None:
        if self.done is not None and self.done():
            self.event.set()

    async def until(self, done: Callable[[], bool]) -> None:
        self.done = done
        try:
            while not done():
                self.event.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), self.fallback_s)
        finally:
            self.done = None


def stop_reason(totals: BatchResult, settings: Settings) -> str:
    """Why a pass stopped early, in the words an operator needs: what the server answered, if it answered."""
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    if totals.last_reply:
        return (
            f'Máy chủ thư {server} trả lời "{totals.last_reply}" và không nhận thư nào (lỗi tạm thời phía máy '
            f"chủ thư); phần còn lại sẽ gửi ở lượt sau."
        )
    detail = f" ({totals.last_error})" if totals.last_error else ""
    return f"Không kết nối được máy chủ thư {server}{detail}; phần còn lại sẽ gửi ở lượt sau."


def server_unreachable(batch: BatchResult) -> bool:
    """Nothing got a final answer and something must be retried: stop the pass, try next tick."""
    return batch.answered == 0 and batch.retried > 0


async def dispatch_loop(
    send_one: Callable[[], Awaitable[BatchResult | None]],
    plan_reports: Callable[[set[int]], int],
    *,
    max_batches: int | None = None,
) -> tuple[int, BatchResult, bool]:
    """Send batches until nothing is due, then once more for the failure reports of this pass.
    Stops early when the SMTP server is unreachable. Returns (batches, totals, stopped_early)."""
    batches, totals = 0, BatchResult()
    reports_planned = False
    while max_batches is None or batches < max_batches:
        batch = await send_one()
        if batch is None:
            if reports_planned or not totals.problem_campaigns:
                break
            reports_planned = True
            if not plan_reports(totals.problem_campaigns):
                break
            continue
        batches += 1
        totals.add(batch)
        if server_unreachable(batch):
            return batches, totals, True
    return batches, totals, False


async def run_dispatch(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    campaign_code: str | None = None,
    smtp: SmtpSettings | None = None,
    owner: str | None = None,
    batch_size: int | None = None,
    lease: timedelta = DEFAULT_LEASE,
    max_batches: int | None = None,
) -> DispatchSummary:
    """One full pass: recover, plan, then send batches until nothing is due (or SMTP is unreachable)."""
    settings.signing_key()  # a refused key stops the pass before it plans anything
    moment = now or utcnow()
    smtp_ = smtp or smtp_settings(settings)
    owner_ = owner or new_dispatcher_id()
    campaign_id = campaign_id_for(engine, campaign_code)
    recovery = recover_expired_claims(engine)
    if recovery.campaigns:  # the offices to tell about mail whose outcome became unknown
        plan_failure_reports(engine, recovery.campaigns, moment)
    summary = DispatchSummary(
        now=moment, recovery=recovery, plan=plan_due(engine, now=moment, campaign_code=campaign_code)
    )

    summary.batches, summary.totals, summary.stopped_early = await dispatch_pass(
        engine,
        settings,
        owner=owner_,
        now=moment,
        smtp=smtp_,
        campaign_id=campaign_id,
        batch_size=batch_size,
        lease=lease,
        max_batches=max_batches,
        plan_reports=lambda campaigns: plan_failure_reports(engine, campaigns, moment),
    )
    return summary


# ---------------------------------------------------------------------------------------------------
# Operators: status and unknown outcomes
# ---------------------------------------------------------------------------------------------------
@dataclass
class StatusReport:
    counts: dict[str, int]
    by_kind: dict[tuple[str, str], int]
    latest_failures: list[Any]
    unknown: list[Any]
    next_due: datetime | None


def status_report(engine: Engine, campaign_code: str | None = None, *, limit: int = 10) -> StatusReport:
    campaign_id = campaign_id_for(engine, campaign_code)
    scope = [O.c.campaign_id == campaign_id] if campaign_id is not None else []
    with Session(engine) as session:
        by_kind = {
            (k, s): n
            for k, s, n in session.execute(
                select(O.c.kind, O.c.status, func.count()).where(*scope).group_by(O.c.kind, O.c.status)
            ).all()
        }
        counts: Counter[str] = Counter()
        for (_, status), n in by_kind.items():
            counts[status] += n
        columns = (
            O.c.id,
            O.c.key,
            O.c.kind,
            O.c.status,
            O.c.recipient,
            O.c.last_error,
            O.c.scheduled_at,
            O.c.attempts,
            U.c.code.label("unit_code"),
        )
        source = O.outerjoin(U, U.c.id == O.c.unit_id)
        failures = session.execute(
            select(*columns)
            .select_from(source)
            .where(*scope, O.c.status.in_((OutboxStatus.FAILED.value, OutboxStatus.PARTIAL.value)))
            .order_by(O.c.id.desc())
            .limit(limit)
        ).all()
        unknown = session.execute(
            select(*columns)
            .select_from(source)
            .where(*scope, O.c.status == OutboxStatus.UNKNOWN.value)
            .order_by(O.c.id)
            .limit(200)
        ).all()
        next_due = session.execute(
            select(func.min(O.c.scheduled_at)).where(*scope, O.c.status == OutboxStatus.PENDING.value)
        ).scalar_one()
    return StatusReport(dict(counts), by_kind, list(failures), list(unknown), next_due)


def resolve_unknown(
    engine: Engine, *, action: str, actor: str, keys: Sequence[str] | None = None, now: datetime | None = None
) -> int:
    """An operator's decision on `unknown` rows (all of them when `keys` is None): 'resend' queues them
    again (the receiver may get a second copy, recognisable by the same Message-ID); 'mark-sent' records
    them as delivered."""
    if action not in ("resend", "mark-sent"):
        raise ValueError(action)
    now = now or utcnow()
    condition = [O.c.status == OutboxStatus.UNKNOWN.value]
    if keys is not None:
        condition.append(O.c.key.in_(list(keys)))
    values: dict[str, Any] = (
        {
            "status": OutboxStatus.PENDING.value,
            "message_id": None,  # due again from its original time
            "last_error": f"người vận hành {actor} cho gửi lại",
        }
        if action == "resend"
        else {
            "status": OutboxStatus.SENT.value,
            "sent_at": now,
            "last_error": f"người vận hành {actor} xác nhận đã gửi",
        }
    )
    with Session(engine) as session, session.begin():
        rows = session.execute(
            update(O).where(*condition).values(**values).returning(O.c.id, O.c.key, O.c.campaign_id)
        ).all()
        audit_many(
            session,
            [
                _audit_row(
                    f"outbox.resolve_unknown.{action}",
                    "outbox",
                    r.id,
                    r.campaign_id,
                    {"key": r.key, "status": values["status"]},
                    actor=actor,
                )
                for r in rows
            ],
        )
    return len(rows)
