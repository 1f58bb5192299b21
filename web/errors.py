"""Errors of the web adapter, on the one taxonomy of thidua.errors. The single exception handler in app.py
maps every ThiduaError (these and the service layer's) by category to a status, a Vietnamese page or JSON under
/api. A few web errors pin a status of their own (401 sign-in, 429 rate limit, 400/410 sign-in links). Nothing
else is ever shown: unexpected errors become a generic 500 page, never a stack trace or SQL."""
from __future__ import annotations

from typing import Any, ClassVar

from thidua.errors import (
    HTTP_STATUS, HTTP_TITLE, ConflictError, InvalidInputError, NotFoundError, NotPermittedError, RefusedError,
    ThiduaError,
)


class WebError(ThiduaError):
    status: ClassVar[int | None] = None  # None: the category's status (thidua.errors.HTTP_STATUS)
    title: ClassVar[str | None] = None  # None: the category's title

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None):
        super().__init__(message, detail=detail)
        self.message = message

    @property
    def http_status(self) -> int:
        return self.status or HTTP_STATUS[self.category]


class NotSignedIn(NotPermittedError, WebError):
    status = 401
    title = "Cần đăng nhập"


class Forbidden(NotPermittedError, WebError):
    pass


class CsrfRejected(Forbidden):
    title = "Biểu mẫu đã hết hiệu lực"


class NotFound(NotFoundError, WebError):
    pass


class Conflict(ConflictError, WebError):
    """Someone acted first: the page was stale. `detail` describes the current state."""


class InvalidInput(InvalidInputError, WebError):
    """Bad input; `errors` maps a field code to its message (shown beside the field)."""

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message, detail={"errors": errors or {}})
        self.errors = errors or {}


class RateLimited(RefusedError, WebError):
    status = 429
    title = "Quá nhiều yêu cầu"
    retryable = True

    def __init__(self, message: str, retry_after_seconds: int):
        super().__init__(message, detail={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class BadLink(InvalidInputError, WebError):
    """A sign-in link that cannot be honoured; the page offers a new one."""

    status = 400
    title = "Liên kết không dùng được"


class LinkTampered(BadLink):
    pass


class LinkExpired(BadLink):
    status = 410


class LinkReused(BadLink):
    status = 410


class Refused(RefusedError, WebError):
    """A rule of the campaign forbids the action now (closed campaign, form not open yet, ...)."""


def title_of(exc: ThiduaError) -> str:
    return getattr(exc, "title", None) or HTTP_TITLE[exc.category]
