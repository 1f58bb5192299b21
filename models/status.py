"""Vocabulary of assignment statuses, with the words people use."""

from __future__ import annotations

from enum import StrEnum


class AssignmentStatus(StrEnum):
    NOT_SUBMITTED = "chua_gui"
    SUBMITTED = "da_gui"  # waiting for review
    ACCEPTED = "da_duyet"
    RETURNED = "tra_lai"  # returned for revision, awaiting resubmission


STATUS_LABELS = {
    AssignmentStatus.NOT_SUBMITTED: "Chưa gửi",
    AssignmentStatus.SUBMITTED: "Đã gửi (chờ duyệt)",
    AssignmentStatus.ACCEPTED: "Đã duyệt",
    AssignmentStatus.RETURNED: "Trả lại",
}

# Statuses in which the unit has done its part (reminders stop; counts as submitted).
SUBMITTED_STATUSES = (AssignmentStatus.SUBMITTED.value, AssignmentStatus.ACCEPTED.value)

OBLIGATION_KIND_LABELS = {
    "registration": "Đăng ký thi đua",
    "round_report": "Báo cáo sơ kết đợt",
    "final_report": "Báo cáo tổng kết",
    "nomination_window": "Đề xuất khen thưởng",
    "annual_report": "Báo cáo năm",
    "custom": "Khác",
}
