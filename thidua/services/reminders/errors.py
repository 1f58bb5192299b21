"""reminders: Errors."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from thidua.errors import Category, NotFoundError, RefusedError, ThiduaError, UnavailableError
from thidua.models.outbox import OutboxMessage, OutboxStatus
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)

O = OutboxMessage.__table__  # type: ignore[attr-defined]
A = Assignment.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
OB = ObligationDef.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]

DEFAULT_LEASE = timedelta(minutes=10)
RECORD_EVERY = 50  # results written per transaction (also bounds the "maybe sent" window after a crash)
RECORD_MAX_DELAY_S = 1.0  # ...or sooner when results come slowly
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER_ATTEMPTS = 40
DIGEST_LIST_LIMIT = 50
SYSTEM_ACTOR = "system:reminders"

STATUS_LABELS = {
    "pending": "Chờ gửi",
    "claimed": "Đang gửi",
    "sent": "Đã gửi",
    "partial": "Gửi được một phần",
    "failed": "Thất bại",
    "unknown": "Chưa rõ kết quả",
    "skipped": "Bỏ qua",
}
KIND_LABELS = {
    "reminder": "nhắc hạn",
    "escalation": "báo cấp trên",
    "office_digest": "tổng hợp cho văn phòng",
    "failure_report": "báo lỗi gửi thư",
}
_PROBLEM_STATUSES = (OutboxStatus.FAILED.value, OutboxStatus.PARTIAL.value, OutboxStatus.UNKNOWN.value)
# Digest mail reports on the others; its own failures are listed in the next digest, never re-reported.
_REPORTING_KINDS = ("office_digest", "failure_report")


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
class RemindersError(ThiduaError):
    """Base of the reminder service's errors; messages are Vietnamese and meant for users."""

    category: ClassVar[Category] = RefusedError.category


class CampaignNotFound(NotFoundError, RemindersError):
    pass


class UnitNotFound(NotFoundError, RemindersError):
    pass


class SmtpRefused(UnavailableError, RemindersError):
    """Permanent: the SMTP server refuses our session (credentials, TLS, policy). Retrying will not help."""

    retryable = False
