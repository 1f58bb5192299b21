"""The one error taxonomy of thidua. Every error the system raises on purpose derives from ``ThiduaError``.

    ThiduaError                 anything refused on purpose; the message is Vietnamese, fit to show a user
    ├── NotFoundError           a campaign, unit, obligation, nomination, … named by the user does not exist
    ├── InvalidInputError       malformed or inconsistent input (a file, a form field, an option)
    │   └── InvalidFields       … with a message per field (``errors``)
    ├── NotPermittedError       the actor may not do this (role, unit, sign-in)
    ├── ConflictError           someone acted first / the state moved on; reload and try again (retryable)
    ├── RefusedError            a rule of the campaign forbids it now (closed, not open yet, quota, eligibility)
    └── UnavailableError        an outside system failed (SMTP server, worker pool, Prefect server) (retryable)

Like httpx's documented hierarchy, callers catch the branch they can act on and read ``retryable`` to decide
whether the same request may succeed later. The existing, more specific classes (``SubmissionError``,
``NominationError``, ``SpecError``, the web errors, …) keep their names and derive from one of these branches.

Adapters translate by category only, in one place each:
- CLI (``thidua.cli.common.friendly``): exit code 0 ok, 1 any ThiduaError (refused or bad input), 2 usage
  (typer: unknown option, missing argument);
- web (``thidua.web.app``): ``HTTP_STATUS`` below, a Vietnamese page or JSON under /api/v1;
- flows (Prefect ``retry_condition_fn``): ``retry_only_retryable`` retries exactly what ``is_retryable`` says.

This module is the floor of the layer rules: it imports nothing from thidua, so every layer may import it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

Category = Literal["not_found", "invalid_input", "not_permitted", "conflict", "refused", "unavailable"]

EXIT_OK = 0
EXIT_ERROR = 1  # refused or bad input: the message says what and where; nothing was changed
EXIT_USAGE = 2  # the command line itself is wrong (typer/click)

HTTP_STATUS: dict[str, int] = {
    "not_found": 404,
    "invalid_input": 422,
    "not_permitted": 403,
    "conflict": 409,
    "refused": 422,
    "unavailable": 503,
}

HTTP_TITLE: dict[str, str] = {
    "not_found": "Không tìm thấy",
    "invalid_input": "Dữ liệu chưa hợp lệ",
    "not_permitted": "Không có quyền",
    "conflict": "Dữ liệu đã thay đổi",
    "refused": "Không thực hiện được",
    "unavailable": "Dịch vụ tạm thời không dùng được",
}


class ThiduaError(Exception):
    """Base of every error raised on purpose. The message is Vietnamese and says what and where.

    ``category`` selects the CLI exit code and the HTTP status; ``retryable`` says whether the same request may
    succeed later (a subclass may override the branch default); ``detail`` carries structured context for the
    web page / JSON body (field errors, the current state, a link back)."""

    category: ClassVar[Category] = "invalid_input"
    retryable: ClassVar[bool] = False
    status: ClassVar[int | None] = None  # a few errors pin an HTTP status of their own (401, 410, 429)
    title: ClassVar[str | None] = None  # and a page title; None: the category's

    def __init__(self, *args: object, detail: dict[str, Any] | None = None) -> None:
        super().__init__(*args)
        self.detail: dict[str, Any] = dict(detail or {})

    @property
    def http_status(self) -> int:
        return self.status or HTTP_STATUS[self.category]

    @property
    def exit_code(self) -> int:
        return EXIT_ERROR


class NotFoundError(ThiduaError):
    """Something named by the user does not exist."""

    category: ClassVar[Category] = "not_found"


class InvalidInputError(ThiduaError):
    """Malformed or inconsistent input; the message names the file, line/row and field."""

    category: ClassVar[Category] = "invalid_input"


class InvalidFields(InvalidInputError):
    """Bad input for named fields of a form or command; ``errors`` maps a field code to its message."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message, detail={"errors": dict(errors or {})})
        self.errors: dict[str, str] = dict(errors or {})


class NotPermittedError(ThiduaError):
    """The actor may not do this."""

    category: ClassVar[Category] = "not_permitted"


class ConflictError(ThiduaError):
    """The state changed under the request (someone acted first). Retryable after reloading the state."""

    category: ClassVar[Category] = "conflict"
    retryable = True


class RefusedError(ThiduaError):
    """A rule of the campaign refuses the action now (closed campaign, form not open yet, quota, eligibility)."""

    category: ClassVar[Category] = "refused"


class UnavailableError(ThiduaError):
    """An outside system (SMTP server, database, worker pool, Prefect server) failed. Usually retryable."""

    category: ClassVar[Category] = "unavailable"
    retryable = True


def category_of(exc: BaseException) -> Category | None:
    return exc.category if isinstance(exc, ThiduaError) else None


def is_retryable(exc: BaseException | None) -> bool:
    """The one retry rule: a ThiduaError says so itself; a database hiccup (SQLAlchemy OperationalError: locked,
    connection lost) is transient; anything else (a bug, a refused input) is permanent."""
    if exc is None:
        return False
    if isinstance(exc, ThiduaError):
        return exc.retryable
    retryable = getattr(exc, "retryable", None)  # e.g. transport errors that say so themselves
    if isinstance(retryable, bool):
        return retryable
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return False
    return isinstance(exc, OperationalError)


def retry_only_retryable(task: object, task_run: object, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a failed task only when its exception is retryable."""
    exc = getattr(state, "data", None)
    return is_retryable(exc if isinstance(exc, BaseException) else None)
