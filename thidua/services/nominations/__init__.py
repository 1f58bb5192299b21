"""Award nominations: proposing, review level by level, batches under a tờ trình, decisions, the register.

Every public function that changes state runs one transaction: it takes the campaign's nomination lock
(PostgreSQL: the campaign row FOR UPDATE; SQLite: BEGIN IMMEDIATE), reads the current rows, checks the
acting unit, the state machine (models.nominations) and the award rules (models.awards: eligibility and
quotas when proposing and forwarding, exclusivity when deciding), then writes with set-based SQL:
UPDATE … WHERE id = ? AND version = ? (executemany), the NominationStep rows, the audit rows and the
e-mails to the proposer (notifications.outbox) — or raises a NominationError and changes nothing.

Batch operations take lists: one nomination is a list of one. Callers that showed the user a version pass
`expected_versions`; a stale one raises NominationConflict.

The package splits the service along its sections; this module is its one import surface."""

from thidua.models.awards import DossierEntry  # noqa: F401  (re-exported: callers import it from here)
from thidua.models.nominations import (
    InvalidNominationInput,  # noqa: F401  (re-exported: callers import it from here)
    NominationConflict,  # noqa: F401  (re-exported: callers import it from here)
    NominationError,  # noqa: F401  (re-exported: callers import it from here)
    status_label,  # noqa: F401  (re-exported: callers import it from here)
)

from .actions import (  # noqa: F401
    _held_rows,
    approve,
    decide,
    decide_in,
    edit,
    mark_awarded,
    reject,
    resubmit,
    return_for_revision,
    withdraw,
)
from .context import (  # noqa: F401
    _campaign,
    _change,
    _context,
    _label,
    _levels,
    _load,
    campaign_by_code,
    campaign_catalogue,
    catalogue_path,
    catalogue_paths,
)
from .inputs import (  # noqa: F401
    QC,
    Actor,
    B,
    BatchResult,
    CloseResult,
    Decision,
    DocumentRef,
    N,
    NominationView,
    ProposalChanges,
    ProposalInput,
    ProposeResult,
    RatingLookup,
    S,
    StepView,
    U,
    WindowClose,
    _Move,
    submissions_rating,
)
from .proposing import (  # noqa: F401
    _batch_for,
    declare_no_proposals,
    draft,
    prepare_batch,
    propose,
    send_batch,
)
from .queries import (  # noqa: F401
    get_nomination,
    list_batches,
    list_nominations,
    overdue_reviews,
    pipeline,
    remind_overdue_reviewers,
    reviewer_queue,
    write_award_register,
    write_proposal_list,
)
from .rules import (  # noqa: F401
    _count_live,
    _live_counts,
    forget_quota_counts,
)
from .transitions import (  # noqa: F401
    _apply_moves,
    _transition_or_error,
)
from .windows import (  # noqa: F401
    close_windows,
    window_schedule,
)

__all__ = [
    "DossierEntry",
    "InvalidNominationInput",
    "NominationConflict",
    "NominationError",
    "status_label",
    "Actor",
    "B",
    "BatchResult",
    "CloseResult",
    "Decision",
    "DocumentRef",
    "N",
    "NominationView",
    "ProposalChanges",
    "ProposalInput",
    "ProposeResult",
    "QC",
    "RatingLookup",
    "S",
    "StepView",
    "U",
    "WindowClose",
    "_Move",
    "_apply_moves",
    "_batch_for",
    "_campaign",
    "_change",
    "_context",
    "_count_live",
    "_held_rows",
    "_label",
    "_levels",
    "_live_counts",
    "_load",
    "_transition_or_error",
    "approve",
    "campaign_by_code",
    "campaign_catalogue",
    "catalogue_path",
    "catalogue_paths",
    "close_windows",
    "decide",
    "decide_in",
    "declare_no_proposals",
    "draft",
    "edit",
    "forget_quota_counts",
    "get_nomination",
    "list_batches",
    "list_nominations",
    "mark_awarded",
    "overdue_reviews",
    "pipeline",
    "prepare_batch",
    "propose",
    "reject",
    "remind_overdue_reviewers",
    "resubmit",
    "return_for_revision",
    "reviewer_queue",
    "send_batch",
    "submissions_rating",
    "window_schedule",
    "withdraw",
    "write_award_register",
    "write_proposal_list",
]
