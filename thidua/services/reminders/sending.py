"""reminders: Sending one claimed batch."""

from __future__ import annotations

import asyncio
import json
import time as _time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Sequence

from sqlalchemy import String, bindparam, cast, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.clock import local_to_utc, utc_to_local, utcnow
from thidua.models.outbox import OutboxStatus
from thidua.models.reminders import (
    Phase,
    is_plausible_email,
)
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.models.workcalendar import WorkingCalendar
from thidua.notifications.render import Renderer, TemplateRenderError, get_renderer
from thidua.notifications.transport import (
    DeliveryAborted,
    DeliveryResult,
    DeliveryStream,
    OutgoingMessage,
    SmtpSettings,
    deliver,
)
from thidua.services.campaign_context import (
    campaign_calendar,
)
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)
from thidua.services.optout import NON_MANDATORY_KINDS, opted_out, unsubscribe_url
from thidua.settings import Settings

from .contents import (
    DIGEST_FIGURES,
    REMINDER_PER_RECIPIENT,
    _overdue_children,
    compose,
    failure_report_context,
    obligation_link,
    office_digest_context,
    parent_digest_context,
    reminder_context,
    signed_obligation_link,
    sole_office,
)
from .errors import (
    _PROBLEM_STATUSES,
    _REPORTING_KINDS,
    DEFAULT_LEASE,
    GIVE_UP_AFTER_ATTEMPTS,
    OB,
    RECORD_EVERY,
    RECORD_MAX_DELAY_S,
    RETRY_BASE,
    RETRY_MAX,
    A,
    C,
    O,
    SmtpRefused,
    U,
)
from .planning import _audit_row


# ---------------------------------------------------------------------------------------------------
# Sending one claimed batch
# ---------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    partial: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0
    skipped: int = 0
    answered: int = 0  # messages the SMTP server gave a final answer for (anything but "retry")
    deferred: int = 0  # campaign mail claimed outside working hours, back to pending until the next slot
    problem_campaigns: set[int] = field(default_factory=set)
    # What the SMTP server last said about a message it did not take (e.g. "451 4.3.0 thử lại sau"), or the
    # connection error when it said nothing: an operator must know which of the two stopped the pass.
    last_reply: str | None = None
    last_error: str | None = None

    def add(self, other: "BatchResult") -> None:
        for name in ("claimed", "sent", "partial", "failed", "unknown", "retried", "skipped", "answered", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problem_campaigns |= other.problem_campaigns
        self.last_reply = other.last_reply or self.last_reply
        self.last_error = other.last_error or self.last_error


@dataclass
class _Ready:
    id: int
    key: str
    kind: str
    campaign_id: int | None
    attempts: int
    message: OutgoingMessage
    message_id: str


# The ledger's statements, built once. A statement built afresh for every write costs more Python than SQLite
# spends on it (its construction and the walk for its cache key); a prebuilt one goes straight to its compiled
# form. Ids go in as one expanding `IN` parameter (rendered per execution, cheap) where every row gets the same
# values, and as executemany rows (one Python parameter set per row, dearer) only where values differ per row.
_MARK = update(O).where(O.c.id == bindparam("b_id")).values(message_id=bindparam("b_mid"))
_FINAL = (
    update(O)
    .where(O.c.id.in_(bindparam("b_ids", expanding=True)), O.c.lease_owner == bindparam("b_owner"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        sent_at=bindparam("b_sent", type_=O.c.sent_at.type),
        lease_owner=None,
        lease_until=None,
    )
)


def _back_to_pending(**values: Any) -> Any:
    """A claimed row (by id, still this owner's) back to pending, due at `b_at`, unmarked and unleased."""
    return (
        update(O)
        .where(O.c.id == bindparam("b_id"), O.c.lease_owner == bindparam("b_owner"))
        .values(
            status=OutboxStatus.PENDING.value,
            scheduled_at=bindparam("b_at", type_=O.c.scheduled_at.type),
            message_id=None,
            lease_owner=None,
            lease_until=None,
            **values,
        )
    )


_RETRY = _back_to_pending(attempts=bindparam("b_attempts"), last_error=bindparam("b_error"))
_RENEW = (
    update(O)
    .where(
        O.c.id.in_(bindparam("b_ids", expanding=True)),
        O.c.lease_owner == bindparam("b_owner"),
        O.c.status == OutboxStatus.CLAIMED.value,
    )
    .values(lease_until=bindparam("b_until", type_=O.c.lease_until.type))
)
_DEFER = _back_to_pending()  # outside working hours: not an attempt
_SKIP = (
    update(O)
    .where(O.c.id.in_(bindparam("b_ids", expanding=True)), O.c.lease_owner == bindparam("b_owner"))
    .values(status=OutboxStatus.SKIPPED.value, last_error=bindparam("b_error"), lease_owner=None, lease_until=None)
)
_FAIL = (
    update(O)
    .where(O.c.id == bindparam("b_id"), O.c.lease_owner == bindparam("b_owner"))
    .values(status=OutboxStatus.FAILED.value, last_error=bindparam("b_error"), lease_owner=None, lease_until=None)
)


def _retry_delay(attempts: int, per_round: int) -> timedelta:
    rounds = max(1, -(-attempts // max(1, per_round)))
    return min(RETRY_MAX, RETRY_BASE * 2 ** (rounds - 1))


class _Recorder:
    """Writes delivery results in small transactions while the transport keeps sending.

    Invariant (the crash guarantee): every message the transport may have taken has its row's
    `message_id` set. The transport takes message i only after i − connections messages completed, so
    marking `completed + RECORD_EVERY + connections` rows ahead at each write keeps the marks ahead of
    it (writes happen on the event loop thread, so nothing is taken during one)."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        ready: list[_Ready],
        smtp: SmtpSettings,
        result: BatchResult,
        record_every: int = RECORD_EVERY,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.now = now
        self.lease = lease
        self.ready = ready
        self.by_key = {r.key: r for r in ready}
        self.smtp = smtp
        self.result = result
        self.record_every = record_every
        self.window = record_every + smtp.connections
        self.marked = 0
        self.completed = 0
        self.buffer: list[DeliveryResult] = []
        self.recorded: set[str] = set()
        self.last_write = _time.monotonic()

    def start(self) -> None:
        with self.engine.begin() as conn:
            self._mark(conn, self.window)

    def on_result(self, delivery: DeliveryResult) -> None:
        self.buffer.append(delivery)
        self.completed += 1
        if len(self.buffer) >= self.record_every or _time.monotonic() - self.last_write > RECORD_MAX_DELAY_S:
            self.flush()

    def flush(self) -> None:
        with self.engine.begin() as conn:
            if self.buffer:
                self._record(conn, self.buffer)
            self._mark(conn, self.completed + self.window)
            # By id: a scan by owner and status walks every dead row version of the status index on PostgreSQL.
            conn.execute(
                _RENEW, {"b_ids": [r.id for r in self.ready], "b_owner": self.owner, "b_until": utcnow() + self.lease}
            )
        self.buffer = []
        self.last_write = _time.monotonic()

    def release_unsent(self, reason: str) -> None:
        """After an aborted run: rows without a result were never sent (the transport says so)."""
        rows = [r for r in self.ready if r.key not in self.recorded]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(O)
                .where(O.c.id.in_([r.id for r in rows]), O.c.lease_owner == self.owner)
                .values(
                    status=OutboxStatus.PENDING.value,
                    message_id=None,
                    lease_owner=None,
                    lease_until=None,
                    scheduled_at=self.now + RETRY_BASE,
                    last_error=reason,
                )
            )
            audit_many(
                conn,
                [
                    _audit_row(
                        "outbox.released",
                        "outbox",
                        None,
                        None,
                        {"count": len(rows), "ids": [r.id for r in rows]},
                        note=reason,
                    )
                ],
            )
        self.result.retried += len(rows)

    def _mark(self, conn: Connection, upto: int) -> None:
        upto = min(upto, len(self.ready))
        if upto <= self.marked:
            return
        conn.execute(_MARK, [{"b_id": r.id, "b_mid": r.message_id} for r in self.ready[self.marked : upto]])
        self.marked = upto

    def _record(self, conn: Connection, deliveries: list[DeliveryResult]) -> None:
        _record_deliveries(
            conn,
            deliveries,
            by_key=self.by_key,
            recorded=self.recorded,
            owner=self.owner,
            now=self.now,
            smtp=self.smtp,
            result=self.result,
        )


def _record_deliveries(
    conn: Connection | Session,
    deliveries: list[DeliveryResult],
    *,
    by_key: dict[str, _Ready],
    recorded: set[str],
    owner: str,
    now: datetime,
    smtp: SmtpSettings,
    result: BatchResult,
) -> None:
    """Final statuses (and retries back to pending) of delivered messages, with their audit rows."""
    finals: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    audits: dict[str, list[int]] = defaultdict(list)
    problem_audits: list[dict[str, Any]] = []
    for delivery in deliveries:
        row = by_key[delivery.key]
        recorded.add(delivery.key)
        attempts = row.attempts + delivery.attempts
        status, error = delivery.status, _describe_delivery(delivery)
        if status == "retry" and attempts >= GIVE_UP_AFTER_ATTEMPTS:
            status, error = "failed", f"đã thử {attempts} lần không gửi được; lỗi cuối: {error}"
        if delivery.status != "sent":
            result.last_reply = delivery.server_reply or result.last_reply
            result.last_error = delivery.error or result.last_error
        if status == "retry":
            retries.append(
                {
                    "b_id": row.id,
                    "b_owner": owner,
                    "b_attempts": attempts,
                    "b_error": error,
                    "b_at": now + _retry_delay(attempts, smtp.max_attempts),
                }
            )
            result.retried += 1
            audits["retry"].append(row.id)
            continue
        result.answered += 1
        finals.append(
            {
                "b_id": row.id,
                "b_status": status,
                "b_attempts": attempts,
                "b_error": error,
                "b_sent": now if status in ("sent", "partial") else None,
            }
        )
        setattr(result, status, getattr(result, status) + 1)
        audits[status].append(row.id)
        if status in _PROBLEM_STATUSES:
            problem_audits.append(
                _audit_row(
                    f"outbox.{status}",
                    "outbox",
                    row.id,
                    row.campaign_id,
                    {"key": row.key, "status": status, "error": error},
                )
            )
            if row.campaign_id is not None and row.kind not in _REPORTING_KINDS:
                result.problem_campaigns.add(row.campaign_id)
    # Set-based: one UPDATE per outcome (status, attempts, error), usually a single one for a whole write.
    outcomes: dict[tuple[str, int, str | None, datetime | None], list[int]] = defaultdict(list)
    for final in finals:
        outcomes[(final["b_status"], final["b_attempts"], final["b_error"], final["b_sent"])].append(final["b_id"])
    for (final_status, final_attempts, final_error, sent_at), ids in outcomes.items():
        conn.execute(
            _FINAL,
            {
                "b_ids": ids,
                "b_owner": owner,
                "b_status": final_status,
                "b_attempts": final_attempts,
                "b_error": final_error,
                "b_sent": sent_at,
            },
        )
    if retries:
        conn.execute(_RETRY, retries)
    audit_many(
        conn,
        [
            _audit_row(f"outbox.{status}", "outbox", None, None, {"count": len(ids), "ids": ids})
            for status, ids in audits.items()
            if status not in _PROBLEM_STATUSES
        ]
        + problem_audits,
    )


class _StreamRecorder:
    """The results of a pipelined pass (`dispatch_pass`), written off the event loop.

    Writes run in a thread, one at a time, each one transaction: the results buffered so far, the
    `message_id` marks ahead of the transport, and (every third of a lease) the lease of every claimed row
    not yet recorded. The crash guarantee of `_Recorder` holds across batches: the transport takes message i
    (in the order batches were added) only when i < `marked`, and `marked` moves only after the marks are
    committed; a write marks up to `completed + window`, so at most `window` (= RECORD_EVERY + connections)
    rows are ever marked without their result written.

    A write happens when one is worth a transaction (`_write_wanted`): half of RECORD_EVERY results buffered,
    the marks running low ahead of the transport (or a message waiting for its mark), results waiting longer than
    RECORD_MAX_DELAY_S, leases to renew, or `settle` waiting. Asking for a write while one runs does not by
    itself cause another (it used to: a write followed every few results)."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        smtp: SmtpSettings,
        result: BatchResult,
        record_every: int = RECORD_EVERY,
    ) -> None:
        self.engine, self.owner, self.now, self.lease, self.smtp, self.result = engine, owner, now, lease, smtp, result
        self.window = record_every + smtp.connections
        self.write_every = max(1, record_every // 2)  # write before the transport reaches the marks
        self.ready: list[_Ready] = []
        self.by_key: dict[str, _Ready] = {}
        self.recorded: set[str] = set()
        self.open_ids: set[int] = set()  # claimed by this pass, no final status yet (their leases are renewed)
        self.marked = 0
        self.completed = 0
        self.buffer: list[DeliveryResult] = []
        self.last_renewal = self.last_write = _time.monotonic()
        self.writer: asyncio.Task[None] | None = None
        self.again = False
        self.failure: BaseException | None = None
        self.stream: DeliveryStream | None = None
        # Per batch: [results to come, answered, to retry]. A batch that got nothing through stops the pass
        # (as `server_unreachable` does for `dispatch_loop`).
        self.batches: list[list[int]] = []
        self.batch_of: dict[str, int] = {}
        self.unreachable = False
        self.waiting = -1  # the last message the transport was refused for want of its mark
        self.flushing = False  # settle waits for the buffer to be written
        # On SQLite the writes keep one connection between them (`settle` gives it back): a connection from the
        # pool per write is a different one each time (the pool hands them out in turn), and SQLite drops a
        # connection's page cache whenever another one wrote, so every write would read its pages again.
        # PostgreSQL keeps no such cache: there each write takes a connection (checked by the pool's pre-ping).
        self.keep_connection = engine.dialect.name == "sqlite"
        self.conn: Connection | None = None
        self.closer: weakref.finalize | None = None  # gives the connection back if the pass ends without settle

    def add(self, ready: Sequence[_Ready]) -> None:
        self.ready.extend(ready)
        self.by_key.update((r.key, r) for r in ready)
        self.batch_of.update((r.key, len(self.batches)) for r in ready)
        self.batches.append([len(ready), 0, 0])
        self.request_write()

    def may_take(self, index: int) -> bool:
        if index < self.marked:
            return True
        self.waiting = max(self.waiting, index)
        self.request_write()
        return False

    def on_result(self, delivery: DeliveryResult) -> None:
        self.buffer.append(delivery)
        self.completed += 1
        stats = self.batches[self.batch_of[delivery.key]]
        stats[0] -= 1
        stats[2 if delivery.status == "retry" else 1] += 1
        if stats[0] == 0 and stats[1] == 0 and stats[2] > 0:
            self.unreachable = True
        if self._write_wanted():
            self.request_write()

    def _marks_low(self) -> bool:
        """A quarter of a window of marks or less left ahead of the results, and something left to mark (the
        transport runs at most `connections` ahead of the results)."""
        return self.marked < len(self.ready) and self.marked - self.completed <= self.window // 4

    def _write_wanted(self) -> bool:
        return (
            len(self.buffer) >= self.write_every
            or self.waiting >= self.marked
            or self.flushing
            or self._marks_low()
            or bool(self.buffer and _time.monotonic() - self.last_write > RECORD_MAX_DELAY_S)
            or _time.monotonic() - self.last_renewal > self.lease.total_seconds() / 3
        )

    def request_write(self) -> None:
        if self.failure is not None:
            return
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._writes())
        else:
            self.again = True

    async def _writes(self) -> None:
        while True:
            self.again = False
            if not self._write_wanted():
                return
            self.flushing = False
            buffer, self.buffer = self.buffer, []
            upto = min(len(self.ready), self.completed + self.window)
            marks = self.ready[self.marked : upto] if upto > self.marked else []
            renew = _time.monotonic() - self.last_renewal > self.lease.total_seconds() / 3
            if buffer or marks or renew:
                try:
                    await asyncio.to_thread(self._write, buffer, marks, sorted(self.open_ids) if renew else [])
                except Exception as exc:  # the database failed: stop sending; the leases bring the rows back
                    self.failure = exc
                    if self.stream is not None:
                        self.stream.fail(exc)
                    return
                self.marked = max(self.marked, upto)
                self.last_write = _time.monotonic()
                self.open_ids.difference_update(self.by_key[d.key].id for d in buffer)
                if renew:
                    self.last_renewal = _time.monotonic()
                if self.stream is not None:
                    self.stream.wake()
            if not self.again:
                return

    def _write(self, buffer: list[DeliveryResult], marks: list[_Ready], renew: list[int]) -> None:
        if not self.keep_connection:
            with self.engine.connect() as conn:
                self._write_on(conn, buffer, marks, renew)
            return
        if self.conn is None:
            self.conn = self.engine.connect()
            self.closer = weakref.finalize(self, self.conn.close)
        try:
            self._write_on(self.conn, buffer, marks, renew)
        except BaseException:
            self.release_connection()
            raise

    def release_connection(self) -> None:
        if self.closer is not None:
            self.closer()  # closes the connection (once)
        self.conn, self.closer = None, None

    def _write_on(self, conn: Connection, buffer: list[DeliveryResult], marks: list[_Ready], renew: list[int]) -> None:
        """One write: one transaction on `conn`."""
        with conn.begin():
            if buffer:
                _record_deliveries(
                    conn,
                    buffer,
                    by_key=self.by_key,
                    recorded=self.recorded,
                    owner=self.owner,
                    now=self.now,
                    smtp=self.smtp,
                    result=self.result,
                )
            if marks:
                conn.execute(_MARK, [{"b_id": r.id, "b_mid": r.message_id} for r in marks])
            if renew:
                conn.execute(_RENEW, {"b_ids": renew, "b_owner": self.owner, "b_until": utcnow() + self.lease})

    async def settle(self, stream: DeliveryStream) -> None:
        """Every message added so far has its result written (or no connection is left to send it)."""
        while self.failure is None:
            if self.writer is not None and not self.writer.done():
                await asyncio.shield(self.writer)
                continue
            done = self.completed >= len(self.ready) or stream.exhausted
            if self.buffer and done:  # the last results (meanwhile results are written as they accumulate)
                self.flushing = True
                self.request_write()
                continue
            if done:
                break
            await asyncio.sleep(0.005)
        self.release_connection()  # no write runs now; the next one (if any) takes a connection again
        if self.failure is not None:
            raise self.failure

    def release_unsent(self, reason: str) -> int:
        """After an aborted run: claimed rows without a result were never sent (the transport says so)."""
        ids = sorted(self.open_ids)
        if ids:
            with self.engine.begin() as conn:
                conn.execute(
                    update(O)
                    .where(O.c.id.in_(ids), O.c.lease_owner == self.owner, O.c.status == OutboxStatus.CLAIMED.value)
                    .values(
                        status=OutboxStatus.PENDING.value,
                        message_id=None,
                        lease_owner=None,
                        lease_until=None,
                        scheduled_at=self.now + RETRY_BASE,
                        last_error=reason,
                    )
                )
                audit_many(
                    conn,
                    [_audit_row("outbox.released", "outbox", None, None, {"count": len(ids), "ids": ids}, note=reason)],
                )
            self.open_ids.clear()
        return len(ids)


def _describe_delivery(delivery: DeliveryResult) -> str | None:
    if delivery.status == "sent":
        return None
    if delivery.status == "partial":
        refused = "; ".join(f"{addr}: {code} {text}" for addr, (code, text) in delivery.refused.items())
        return f"một số người nhận bị từ chối: {refused}"
    prefix = {
        "failed": "máy chủ thư từ chối",
        "retry": "lỗi tạm thời, sẽ thử lại",
        "unknown": "mất kết nối sau khi đã gửi nội dung thư; không tự gửi lại",
    }[delivery.status]
    return f"{prefix}: {delivery.error or delivery.server_reply or ''}".strip()


@dataclass
class _Loaded:
    """A claimed row with what its mail needs, or the reason it is not sent."""

    row: Any
    skip: str | None = None
    fail: str | None = None
    defer_until: datetime | None = None  # outside the campaign's working hours: back to pending until then
    template_context: dict[str, Any] | None = None
    display_name: str = ""
    reply_to: str | None = None
    campaign: CampaignInfo | None = None
    reply_name: str = ""


def _prepare(
    session: Session,
    ids: Sequence[int],
    *,
    now: datetime,
    base_url: str,
    link_for: Callable[[str, int, int], str] | None = None,
    fallback_reply_to: str | None = None,
) -> list[_Loaded]:
    parent = U.alias("parent")
    rows = session.execute(
        select(
            O.c.id,
            O.c.key,
            O.c.kind,
            O.c.template,
            O.c.recipient,
            # as stored (JSON text): decoded below, a reminder's through `_reminder_row_context`
            cast(O.c.context, String).label("context_text"),
            O.c.unit_id,
            O.c.assignment_id,
            O.c.campaign_id,
            O.c.attempts,
            U.c.name.label("unit_name"),
            U.c.active.label("unit_active"),
            A.c.status.label("a_status"),
            A.c.active.label("a_active"),
            A.c.due_on,
            A.c.due_at,
            OB.c.title.label("ob_title"),
            OB.c.active.label("ob_active"),
            parent.c.name.label("parent_name"),
        )
        .select_from(
            O.outerjoin(U, U.c.id == O.c.unit_id)
            .outerjoin(A, A.c.id == O.c.assignment_id)
            .outerjoin(OB, OB.c.id == A.c.obligation_id)
            .outerjoin(parent, parent.c.id == U.c.parent_id)
        )
        .where(O.c.id.in_(ids))
        .order_by(O.c.id)
    ).all()
    campaigns = campaign_infos(session, [r.campaign_id for r in rows if r.campaign_id is not None])
    children = _overdue_children(session, {(r.campaign_id, r.unit_id) for r in rows if r.kind == "escalation"}, now)
    office_cache: dict[tuple[int, Any], dict[str, Any]] = {}
    stopped = opted_out(session, [(r.recipient, r.campaign_id, r.assignment_id, r.kind) for r in rows])
    office = sole_office(session) if any(r.campaign_id is None for r in rows) else None
    calendars = _calendars(session, {r.campaign_id for r in rows if r.kind in WORKING_HOURS_KINDS and r.campaign_id})
    loaded = []
    # `now` in each time zone, and whether each campaign's calendar holds the mail back (until when): the same for
    # every row of the batch, so worked out once.
    local_moments: dict[str, datetime] = {}
    held_until: dict[int, datetime | None] = {}
    for row in rows:
        item = _Loaded(row, display_name=row.unit_name or "")
        context = (
            _reminder_row_context(row.context_text)
            if row.kind == "reminder"
            else (json.loads(row.context_text) if row.context_text is not None else None)
        )
        campaign = campaigns.get(row.campaign_id) if row.campaign_id is not None else None
        item.campaign = campaign
        item.reply_to = (
            campaign.owner_email if campaign else (fallback_reply_to or (office.owner_email if office else None))
        )
        if campaign is None and office is not None and not fallback_reply_to:
            item.reply_name = office.reply_name
        timezone = campaign.timezone if campaign else "Asia/Ho_Chi_Minh"
        local = local_moments.get(timezone)
        if local is None:
            local = local_moments[timezone] = utc_to_local(now, timezone)
        today = local.date()
        calendar = calendars.get(row.campaign_id) if row.kind in WORKING_HOURS_KINDS else None
        if calendar is not None and campaign is not None:
            if row.campaign_id not in held_until:
                local_now = local.replace(tzinfo=None)
                held_until[row.campaign_id] = (
                    None
                    if calendar.is_working_moment(local_now)
                    else local_to_utc(calendar.next_working_slot(local_now), campaign.timezone)
                )
            until = held_until[row.campaign_id]
            if until is not None:
                item.defer_until = until
                loaded.append(item)
                continue
        if row.kind in ("reminder", "escalation", "office_digest", "failure_report") and (
            campaign is None or not campaign.active
        ):
            item.skip = "chiến dịch không còn hoạt động"
        elif stopped and (row.recipient.strip().lower(), row.campaign_id, row.assignment_id) in stopped:
            item.skip = "người nhận đã bấm ngừng nhận loại thư này"
        elif row.kind == "reminder":
            item.skip = _reminder_skip_reason(row, now, context)
            if item.skip is None:
                assert campaign is not None
                escalated_to = row.parent_name if (context or {}).get("escalate") and row.parent_name else ""
                item.template_context = reminder_context(
                    campaign,
                    unit_name=row.unit_name,
                    obligation_title=row.ob_title,
                    due_on=row.due_on,
                    today=today,
                    assignment_id=row.assignment_id,
                    base_url=base_url,
                    returned=row.a_status == AssignmentStatus.RETURNED.value,
                    escalated_to=escalated_to,
                    link=link_for(row.recipient, row.unit_id, row.assignment_id) if link_for else None,
                )
        elif row.kind == "escalation":
            assert campaign is not None
            overdue = children.get((row.campaign_id, row.unit_id), [])
            if not row.unit_active:
                item.skip = "đơn vị đã ngừng hoạt động"
            elif not overdue:
                item.skip = "không còn đơn vị trực thuộc quá hạn"
            else:
                item.template_context = parent_digest_context(
                    campaign, parent_name=row.unit_name, children=overdue, today=today, base_url=base_url
                )
        elif row.kind == "office_digest":
            assert campaign is not None
            item.display_name = campaign.owner_department
            stored = context or {}
            figures = stored.get(DIGEST_FIGURES)  # as they stood at its planning; absent on rows queued before
            cache_key = (campaign.id, stored.get("period"))
            if cache_key not in office_cache:
                office_cache[cache_key] = office_digest_context(
                    session, campaign, now=now, frequency=stored.get("frequency", "daily"), figures=figures
                )
            item.template_context = office_cache[cache_key]
        elif row.kind == "failure_report":
            assert campaign is not None
            item.display_name = campaign.owner_department
            day = date.fromisoformat((context or {}).get("day", today.isoformat()))
            item.template_context = failure_report_context(session, campaign, day=day, now=now)
            if item.template_context["count"] == 0:
                item.skip = "không còn thư lỗi để báo"
        elif row.kind == "report_returned":
            if row.a_status != AssignmentStatus.RETURNED.value:
                item.skip = "đơn vị đã gửi lại báo cáo"
            else:
                link = (
                    link_for(row.recipient, row.unit_id, row.assignment_id)
                    if link_for
                    else obligation_link(base_url, row.assignment_id)
                )
                item.template_context = {**(campaign.layout if campaign else {}), **(context or {}), "link": link}
        else:  # mail queued by other parts of the system through notifications.outbox.enqueue
            item.template_context = {**(campaign.layout if campaign else {}), **(context or {})}
        if item.skip is None and not is_plausible_email(row.recipient):
            item.fail = f"địa chỉ e-mail không hợp lệ: '{row.recipient}'"
        loaded.append(item)
    return loaded


# Campaign mail bound to the working calendar (never sent on a day off or outside working hours); sign-in
# links and failure reports to the office go at any time.
WORKING_HOURS_KINDS = frozenset({"reminder", "escalation", "office_digest", "report_returned", "nomination"})


def _calendars(session: Session, campaign_ids: set[int]) -> dict[int, WorkingCalendar]:
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(C.c.id, cast(C.c.spec, String).label("spec"), C.c.source_file, C.c.starts_on, C.c.ends_on).where(
            C.c.id.in_(campaign_ids)
        )
    ).all()
    return {
        row.id: campaign_calendar(_stored_spec(row.spec), row.source_file, row.starts_on, row.ends_on) for row in rows
    }


@lru_cache(maxsize=32)
def _stored_spec(stored: str | None) -> dict[str, Any]:
    """A campaign's spec from its stored JSON text, decoded once per version (read only: shared)."""
    return (json.loads(stored) if stored is not None else None) or {}


@lru_cache(maxsize=4096)
def _reminder_row_context(stored: str | None) -> dict[str, Any] | None:
    """A reminder row's context from its JSON text, decoded once per distinct text (rows of one rung share it).
    Read only: shared by those rows."""
    return json.loads(stored) if stored is not None else None


def _reminder_skip_reason(row: Any, now: datetime, context: dict[str, Any] | None) -> str | None:
    if row.a_status in SUBMITTED_STATUSES:
        return "đơn vị đã gửi báo cáo"
    if not row.a_active or not row.ob_active:
        return "nghĩa vụ không còn hiệu lực với đơn vị"
    if not row.unit_active:
        return "đơn vị đã ngừng hoạt động"
    phase = (context or {}).get("phase")
    if phase == Phase.BEFORE.value and now > row.due_at:
        return "đã qua hạn nộp; thư nhắc trước hạn không còn đúng"
    if phase == Phase.OVERDUE.value and now <= row.due_at:
        return "hạn nộp đã được lùi; đơn vị chưa quá hạn"
    return None


@dataclass
class _Sorted:
    """A claimed batch after preparing: mail ready to go, and the rows that go nowhere (with why)."""

    ready: list[_Ready] = field(default_factory=list)
    skipped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failed: list[tuple[Any, str]] = field(default_factory=list)
    deferred: list[tuple[int, datetime]] = field(default_factory=list)


def _load_claimed(engine: Engine, ids: Sequence[int], *, now: datetime, settings: Settings) -> list[_Loaded]:
    with Session(engine) as session:
        return _prepare(
            session,
            ids,
            now=now,
            base_url=settings.base_url,
            link_for=lambda email, unit_id, assignment_id: signed_obligation_link(
                settings, email, unit_id, assignment_id, now
            ),
            fallback_reply_to=settings.smtp_reply_to,
        )


def _sort_one(
    item: _Loaded, out: _Sorted, *, now: datetime, settings: Settings, smtp: SmtpSettings, renderer: Renderer
) -> None:
    row = item.row
    if item.defer_until is not None:
        out.deferred.append((row.id, item.defer_until))
        return
    if item.skip is not None:
        out.skipped[item.skip].append(row.id)
        return
    if item.fail is not None:
        out.failed.append((row, item.fail))
        return
    assert item.template_context is not None
    try:
        unsubscribe = (
            unsubscribe_url(
                settings, row.recipient, row.campaign_id, row.assignment_id if row.kind == "reminder" else None
            )
            if row.kind in NON_MANDATORY_KINDS and row.campaign_id is not None
            else None
        )
        message, message_id = compose(
            key=row.key,
            recipient=row.recipient,
            display_name=item.display_name,
            template=row.template,
            context=item.template_context,
            reply_to=item.reply_to,
            smtp=smtp,
            mail_domain=settings.mail_domain,
            now=now,
            kind=row.kind,
            renderer=renderer,
            campaign=item.campaign,
            unsubscribe=unsubscribe,
            reply_name=item.reply_name,
            per_recipient=REMINDER_PER_RECIPIENT if row.kind == "reminder" else (),
        )
    except (ValueError, TemplateRenderError) as exc:
        out.failed.append((row, f"không tạo được thư: {exc}"))
        return
    out.ready.append(_Ready(row.id, row.key, row.kind, row.campaign_id, row.attempts, message, message_id))


def _write_unsendable(engine: Engine, owner: str, now: datetime, sorted_: _Sorted, result: BatchResult) -> None:
    _record_unsendable(engine, owner, now, sorted_.skipped, sorted_.failed, result)
    _defer(engine, owner, sorted_.deferred, result)


async def send_batch(
    engine: Engine,
    ids: Sequence[int],
    *,
    owner: str,
    now: datetime,
    settings: Settings,
    smtp: SmtpSettings,
    lease: timedelta = DEFAULT_LEASE,
    renderer: Renderer | None = None,
    record_every: int = RECORD_EVERY,
) -> BatchResult:
    """Send the claimed rows `ids`; every row ends sent/partial/failed/unknown/skipped or back in pending."""
    renderer = renderer or get_renderer()
    result = BatchResult(claimed=len(ids))
    sorted_ = _Sorted()
    for item in _load_claimed(engine, ids, now=now, settings=settings):
        _sort_one(item, sorted_, now=now, settings=settings, smtp=smtp, renderer=renderer)
    _write_unsendable(engine, owner, now, sorted_, result)
    ready = sorted_.ready
    if not ready:
        return result
    recorder = _Recorder(
        engine, owner=owner, now=now, lease=lease, ready=ready, smtp=smtp, result=result, record_every=record_every
    )
    recorder.start()
    try:
        await deliver([r.message for r in ready], smtp, on_result=recorder.on_result)
    except DeliveryAborted as exc:
        recorder.flush()
        recorder.release_unsent(f"máy chủ SMTP từ chối phiên gửi: {exc.message}")
        raise _refused(smtp, exc) from exc
    recorder.flush()
    return result


def _refused(smtp: SmtpSettings, exc: DeliveryAborted) -> SmtpRefused:
    return SmtpRefused(
        f"máy chủ thư {smtp.host}:{smtp.port or ''} từ chối phiên gửi ({exc.message}); "
        "kiểm tra tên đăng nhập, mật khẩu, TLS trong cấu hình THIDUA_SMTP_*"
    )


def _defer(engine: Engine, owner: str, deferred: list[tuple[int, datetime]], result: BatchResult) -> None:
    """Claimed outside working hours: back to pending, due at the next working slot (not an attempt)."""
    if not deferred:
        return
    with engine.begin() as conn:
        conn.execute(_DEFER, [{"b_id": row_id, "b_owner": owner, "b_at": at} for row_id, at in deferred])
        audit_many(
            conn,
            [
                _audit_row(
                    "outbox.deferred",
                    "outbox",
                    None,
                    None,
                    {"count": len(deferred), "ids": [i for i, _ in deferred]},
                    note="ngoài giờ làm việc của chiến dịch",
                )
            ],
        )
    result.deferred += len(deferred)


def _record_unsendable(
    engine: Engine,
    owner: str,
    now: datetime,
    skipped: dict[str, list[int]],
    failed: list[tuple[Any, str]],
    result: BatchResult,
) -> None:
    if not skipped and not failed:
        return
    with engine.begin() as conn:
        audits = []
        for reason, row_ids in skipped.items():
            conn.execute(_SKIP, {"b_ids": row_ids, "b_owner": owner, "b_error": reason})
            audits.append(
                _audit_row("outbox.skipped", "outbox", None, None, {"count": len(row_ids), "ids": row_ids}, note=reason)
            )
            result.skipped += len(row_ids)
        if failed:
            conn.execute(_FAIL, [{"b_id": row.id, "b_owner": owner, "b_error": reason} for row, reason in failed])
        for row, reason in failed:
            audits.append(_audit_row("outbox.failed", "outbox", row.id, row.campaign_id, {"key": row.key}, note=reason))
            result.failed += 1
            if row.campaign_id is not None and row.kind not in _REPORTING_KINDS:
                result.problem_campaigns.add(row.campaign_id)
        audit_many(conn, audits)
