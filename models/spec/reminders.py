"""Schema of reminder ladders and the working calendar (behaviour: models/reminders.py).

Rules inside one rung, ladder or calendar are pydantic validators; rules that need the whole campaign
(calendar hours against a ladder's send time, time zone) are in `ladder_problems`, called by
`models.spec.campaign.consistency_problems` so that they are reported with file, line and field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from thidua.models.spec.common import HHMM, Code, Strict, VNDate

if TYPE_CHECKING:
    from thidua.models.spec.campaign import CampaignSpec

Loc = tuple[object, ...]


class Rung(Strict):
    """One step of a ladder, relative to an assignment's due date (negative = before)."""

    code: Code
    offset_days: int = Field(ge=-90, le=365)
    repeat_every_days: int | None = Field(default=None, ge=1, le=60)  # while still overdue
    until_offset_days: int | None = Field(default=None, ge=-90, le=365)
    escalate: bool = False  # also tell the parent unit

    @model_validator(mode="after")
    def _repeat_needs_end(self) -> "Rung":
        if self.repeat_every_days is not None and self.until_offset_days is None:
            raise ValueError("bậc lặp lại cần 'until_offset_days' (ngày dừng nhắc)")
        if self.until_offset_days is not None and self.until_offset_days < self.offset_days:
            raise ValueError("'until_offset_days' phải không nhỏ hơn 'offset_days'")
        return self


class Ladder(Strict):
    code: Code
    name: str
    send_time: HHMM = "08:00"
    rungs: list[Rung] = Field(min_length=1)
    office_digest: Literal["daily", "weekly", "none"] = "daily"

    @model_validator(mode="after")
    def _unique_rungs(self) -> "Ladder":
        codes = [r.code for r in self.rungs]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"mã bậc nhắc bị trùng: {', '.join(dupes)}")
        return self


class CalendarSpec(Strict):
    working_hours_start: HHMM = "07:30"
    working_hours_end: HHMM = "17:00"
    working_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])  # ISO: 1 = thứ Hai
    holidays_file: str | None = "calendars/vn_holidays.yaml"
    # v2: public holidays from the `holidays` package (Vietnamese names), corrected by an overrides file
    # (days worked in exchange for a bridge day off, e.g. Saturday 04/05/2024). Replaces holidays_file.
    country: Literal["VN"] | None = None
    overrides_file: str | None = None
    extra_holidays: list[VNDate] = Field(default_factory=list)
    deadline_on_holiday: Literal["keep", "next_working_day"] = "keep"

    @model_validator(mode="after")
    def _one_holiday_source(self) -> "CalendarSpec":
        if self.country is not None and "holidays_file" in self.model_fields_set and self.holidays_file:
            raise ValueError("chọn một nguồn ngày nghỉ: 'country' (gói holidays) hoặc 'holidays_file', không cả hai")
        if self.overrides_file is not None and self.country is None:
            raise ValueError("'overrides_file' điều chỉnh ngày nghỉ của gói holidays: cần 'country: VN'")
        if self.country is not None:
            self.holidays_file = None  # the package replaces the v1 default file
        return self

    @model_validator(mode="after")
    def _hours_in_order(self) -> "CalendarSpec":
        if self.working_hours_start >= self.working_hours_end:
            raise ValueError("giờ làm việc: giờ bắt đầu phải trước giờ kết thúc")
        if not self.working_days or any(d < 1 or d > 7 for d in self.working_days):
            raise ValueError("ngày làm việc phải là các số 1 (thứ Hai) đến 7 (Chủ nhật)")
        return self


def ladder_problems(spec: "CampaignSpec") -> list[tuple[Loc, str]]:
    """Ladder and calendar rules that span the campaign. (location, message) pairs; empty when fine."""
    problems: list[tuple[Loc, str]] = []
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append((("timezone",), f"không có múi giờ '{spec.timezone}' (ví dụ đúng: Asia/Ho_Chi_Minh)"))
    calendar = spec.calendar
    seen: set[str] = set()
    for i, ladder in enumerate(spec.reminder_ladders):
        loc: Loc = ("reminder_ladders", i)
        if ladder.code in seen:
            problems.append((loc + ("code",), f"mã thang nhắc bị trùng: '{ladder.code}'"))
        seen.add(ladder.code)
        if not calendar.working_hours_start <= ladder.send_time < calendar.working_hours_end:
            problems.append(
                (
                    loc + ("send_time",),
                    f"giờ gửi {ladder.send_time} nằm ngoài giờ làm việc "
                    f"{calendar.working_hours_start}–{calendar.working_hours_end} (mục 'calendar')",
                )
            )
        first_rung_on: dict[int, str] = {}
        for j, rung in enumerate(ladder.rungs):
            rung_loc = loc + ("rungs", j)
            if rung.escalate and rung.offset_days <= 0:
                problems.append(
                    (
                        rung_loc + ("escalate",),
                        f"bậc '{rung.code}': chỉ bậc sau hạn (offset_days > 0) "
                        f"mới báo lên đơn vị cấp trên (đang là {rung.offset_days})",
                    )
                )
            offsets = [rung.offset_days]
            if rung.repeat_every_days is not None and rung.until_offset_days is not None:
                offsets = list(range(rung.offset_days, rung.until_offset_days + 1, rung.repeat_every_days))
            for offset in offsets:
                other = first_rung_on.setdefault(offset, rung.code)
                if other != rung.code:
                    problems.append(
                        (
                            rung_loc,
                            f"bậc '{rung.code}' và bậc '{other}' cùng rơi vào ngày {offset:+d} "
                            "so với hạn (mỗi ngày chỉ một lần nhắc)",
                        )
                    )
                    break
    return problems
