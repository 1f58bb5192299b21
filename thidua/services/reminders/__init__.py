"""Reminder e-mail: plan what is due, preview it, and dispatch the outbox (claim → send → record).

Flow of one dispatch pass (`run_dispatch`), each step a short transaction:

1. `recover_expired_claims`: rows a dead dispatcher had claimed come back. Rows never handed to SMTP go
   back to `pending`; rows that may have reached the server become `unknown` (never resent
   automatically: an operator decides with `thidua reminders resolve-unknown --resend|--mark-sent`).
2. `plan_due`: set-based. For each (obligation, due date) with owing assignments, the ladder is expanded
   in Python (models/reminders.py; a handful of occurrences) and the one occurrence current at `now` is
   inserted for every owing assignment × unit address with one INSERT … SELECT … ON CONFLICT DO NOTHING.
   Keys (`rem:{assignment}:{rung}:{n}:{email}`) make a second insert of the same reminder a no-op, so a
   moved deadline or a new unit only changes what is computed next, and no rung is ever sent twice.
   Escalation digests (one per parent unit per day) and the office digest are planned the same way; the
   office digest's delivery figures are taken when it is inserted (before anything of the pass is claimed)
   and stored in its row, so what the pass sends before composing it does not change what it says.
3. `claim_batch`: marks up to `batch_size` due rows `claimed` with a lease (PostgreSQL: FOR UPDATE SKIP
   LOCKED; SQLite: the UPDATE … WHERE id IN (SELECT … LIMIT n) AND status='pending' is atomic).
4. `send_batch`: re-checks every row against the database at send time (submitted / inactive → `skipped`),
   renders, builds and delivers over a few SMTP connections, recording results as they arrive.

"Handed over" bookkeeping: before a message can be given to SMTP its row gets its `message_id`. Rows are
marked in windows ahead of the transport (see `_Recorder`), so after a crash a claimed row without a
`message_id` was certainly never sent (safe to retry) and one with a `message_id` might have been.

`now` (aware UTC) is the engine's clock for everything scheduled or recorded, so a whole year can be
replayed; leases use the real clock because they are about live processes.

Errors: `RemindersError` ├ `CampaignNotFound`, `UnitNotFound` (bad input) ├ `SmtpRefused` (permanent: the
server refuses our session, e.g. 535 bad credentials; nothing more is sent until fixed). Temporary SMTP
trouble is not an exception: the rows go back to `pending` with a backoff and the pass stops early.

The package splits the service along its sections; this module is its one import surface."""

from thidua.notifications.transport import SmtpSettings  # noqa: F401  (re-exported: callers import it from here)
from thidua.services.lookup import (
    CampaignInfo,  # noqa: F401  (re-exported: callers import it from here)
    campaign_infos,  # noqa: F401  (re-exported: callers import it from here)
)

from .claims import (  # noqa: F401
    Recovery,
    claim_batch,
    new_dispatcher_id,
    recover_expired_claims,
)
from .contents import (  # noqa: F401
    compose,
    display_address,
    email_problems,
    failure_report_context,
    list_id,
    obligation_link,
    office_digest_context,
    parent_digest_context,
    reminder_context,
    render_preview,
    signed_obligation_link,
    smtp_settings,
    sole_office,
)
from .context import (  # noqa: F401
    ObligationGroup,
    campaign_context,
    obligation_groups,
)
from .errors import (  # noqa: F401
    DEFAULT_LEASE,
    DIGEST_LIST_LIMIT,
    GIVE_UP_AFTER_ATTEMPTS,
    KIND_LABELS,
    OB,
    RECORD_EVERY,
    RECORD_MAX_DELAY_S,
    RETRY_BASE,
    RETRY_MAX,
    STATUS_LABELS,
    SYSTEM_ACTOR,
    A,
    C,
    CampaignNotFound,
    O,
    RemindersError,
    SmtpRefused,
    U,
    UnitNotFound,
)
from .passes import (  # noqa: F401
    DispatchSummary,
    StatusReport,
    campaign_id_for,
    dispatch_batch,
    dispatch_loop,
    dispatch_pass,
    resolve_unknown,
    run_dispatch,
    server_unreachable,
    status_report,
    stop_reason,
)
from .planning import (  # noqa: F401
    PlanResult,
    Preview,
    PreviewBatch,
    PreviewUnit,
    plan_due,
    plan_failure_reports,
    preview,
)
from .sending import (  # noqa: F401
    WORKING_HOURS_KINDS,
    BatchResult,
    send_batch,
)

__all__ = [
    "CampaignInfo",
    "SmtpSettings",
    "campaign_infos",
    "A",
    "BatchResult",
    "C",
    "CampaignNotFound",
    "DEFAULT_LEASE",
    "DIGEST_LIST_LIMIT",
    "DispatchSummary",
    "GIVE_UP_AFTER_ATTEMPTS",
    "KIND_LABELS",
    "O",
    "OB",
    "ObligationGroup",
    "PlanResult",
    "Preview",
    "PreviewBatch",
    "PreviewUnit",
    "RECORD_EVERY",
    "RECORD_MAX_DELAY_S",
    "RETRY_BASE",
    "RETRY_MAX",
    "Recovery",
    "RemindersError",
    "STATUS_LABELS",
    "SYSTEM_ACTOR",
    "SmtpRefused",
    "StatusReport",
    "U",
    "UnitNotFound",
    "WORKING_HOURS_KINDS",
    "campaign_context",
    "campaign_id_for",
    "claim_batch",
    "compose",
    "dispatch_batch",
    "dispatch_loop",
    "dispatch_pass",
    "display_address",
    "email_problems",
    "failure_report_context",
    "list_id",
    "new_dispatcher_id",
    "obligation_groups",
    "obligation_link",
    "office_digest_context",
    "parent_digest_context",
    "plan_due",
    "plan_failure_reports",
    "preview",
    "recover_expired_claims",
    "reminder_context",
    "render_preview",
    "resolve_unknown",
    "run_dispatch",
    "send_batch",
    "server_unreachable",
    "signed_obligation_link",
    "smtp_settings",
    "sole_office",
    "status_report",
    "stop_reason",
]
