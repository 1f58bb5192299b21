"""Submitting, reviewing and bulk-importing reports; form files and spreadsheet templates.

Every action runs in the caller's transaction and writes the audit log in it; a refused action raises a
models.submissions.SubmissionError before anything is written. Writes go through Core (executemany with
an optimistic version check on the assignment), so a unit and its reviewer acting at the same moment
cannot both win: the second gets StaleVersion.

The package splits the service along its sections; this module is its one import surface."""

from .files import (  # noqa: F401
    CODE_ROW_MARK,
    META_COLUMNS,
    UNIT_HEADER,
    ImportResult,
    import_reports,
    read_form_file,
    write_form_template,
)
from .finding import (  # noqa: F401
    RATING_FIELD,
    A,
    S,
    U,
    get_assignment,
    get_campaign,
    get_obligation,
    get_unit,
    obligation_spec,
    round_obligation,
)
from .reading import (  # noqa: F401
    counted_submission,
    history,
    year_end_rating,
    year_end_ratings,
)
from .reviewing import (  # noqa: F401
    ReviewItem,
    ReviewResult,
    review_many,
    review_report,
    set_campaign_status,
)
from .submitting import (  # noqa: F401
    SubmitItem,
    SubmitResult,
    _apply_submissions,
    _Planned,
    submit_many,
    submit_report,
)

__all__ = [
    "A",
    "CODE_ROW_MARK",
    "ImportResult",
    "META_COLUMNS",
    "RATING_FIELD",
    "ReviewItem",
    "ReviewResult",
    "S",
    "SubmitItem",
    "SubmitResult",
    "U",
    "UNIT_HEADER",
    "_Planned",
    "_apply_submissions",
    "counted_submission",
    "get_assignment",
    "get_campaign",
    "get_obligation",
    "get_unit",
    "history",
    "import_reports",
    "obligation_spec",
    "read_form_file",
    "review_many",
    "review_report",
    "round_obligation",
    "set_campaign_status",
    "submit_many",
    "submit_report",
    "write_form_template",
    "year_end_rating",
    "year_end_ratings",
]
