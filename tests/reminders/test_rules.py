"""Pure rules: working calendar, ladder expansion, the current occurrence, wording, keys (no database)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from thidua.models.clock import local_to_utc
from thidua.models.reminders import (
    LAST_OCCURRENCE_GRACE,
    Phase,
    current_occurrence,
    deadline_phrase,
    escalation_key,
    expand_rungs,
    is_plausible_email,
    office_digest_due,
    office_digest_period,
    reminder_key,
    schedule,
)
from thidua.models.spec.reminders import CalendarSpec, Ladder, Rung
from thidua.models.workcalendar import WorkingCalendar, adjust_deadline
from thidua.services.calendars import load_holidays
from thidua.settings import CONFIG_DIR

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

TZ = "Asia/Ho_Chi_Minh"
HOLIDAYS = load_holidays(CONFIG_DIR / "calendars" / "vn_holidays.yaml")
CALENDAR = WorkingCalendar(CalendarSpec(), HOLIDAYS)
# The ladder of the Bình Định 2023 campaign file.
MAC_DINH = Ladder(
    code="mac-dinh",
    name="Thang nhắc mặc định",
    send_time="08:00",
    rungs=[
        Rung(code="truoc-7-ngay", offset_days=-7),
        Rung(code="truoc-3-ngay", offset_days=-3),
        Rung(code="truoc-1-ngay", offset_days=-1),
        Rung(code="qua-han-1-ngay", offset_days=1, escalate=True),
        Rung(code="qua-han-nhac-lai", offset_days=4, repeat_every_days=3, until_offset_days=31, escalate=True),
    ],
)


def when(text: str) -> datetime:
    return datetime.strptime(text, "%d/%m/%Y %H:%M")


def timeline(due_on: date, ladder: Ladder = MAC_DINH, **kwargs) -> list[tuple[str, str]]:
    return [
        (o.occurrence_id, o.send_local.strftime("%a %d/%m/%Y %H:%M"))
        for o in schedule(ladder, due_on, CALENDAR, TZ, **kwargs)
    ]


# --- working calendar --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "moment, slot",
    [
        ("03/10/2023 08:00", "03/10/2023 08:00"),  # Tuesday, inside working hours
        ("03/10/2023 06:15", "03/10/2023 07:30"),  # before opening → opening of the same day
        ("03/10/2023 17:00", "04/10/2023 07:30"),  # closing time is already outside
        ("07/10/2023 08:00", "09/10/2023 07:30"),  # Saturday → Monday
        ("31/08/2023 18:00", "05/09/2023 07:30"),  # Quốc khánh 2023: Fri 1/9 – Mon 4/9 off
        ("07/02/2024 17:30", "15/02/2024 07:30"),  # Tết Giáp Thìn 8/2 – 14/2/2024
    ],
)
def test_next_working_slot(moment: str, slot: str) -> None:
    assert CALENDAR.next_working_slot(when(moment)) == when(slot)


def test_working_hours_and_days_are_configurable() -> None:
    saturday_mornings = WorkingCalendar(
        CalendarSpec(working_hours_start="08:00", working_hours_end="11:30", working_days=[1, 2, 3, 4, 5, 6]),
        frozenset(),
    )
    assert saturday_mornings.next_working_slot(when("06/10/2023 11:30")) == when("07/10/2023 08:00")
    assert saturday_mornings.next_working_slot(when("07/10/2023 07:00")) == when("07/10/2023 08:00")


def test_deadline_on_a_holiday_is_kept_or_moved_as_the_file_says() -> None:
    national_day = date(2023, 9, 2)
    assert adjust_deadline(national_day, CalendarSpec(deadline_on_holiday="keep"), HOLIDAYS) == national_day
    assert adjust_deadline(national_day, CalendarSpec(deadline_on_holiday="next_working_day"), HOLIDAYS) == date(
        2023, 9, 5
    )


# --- ladder expansion ----------------------------------------------------------------------------------
def test_repeating_rung_unrolls_until_its_last_offset() -> None:
    steps = [(rung.code, n, offset) for rung, n, offset in expand_rungs(MAC_DINH)]
    assert steps[3:] == [("qua-han-1-ngay", 0, 1)] + [("qua-han-nhac-lai", n, 4 + 3 * n) for n in range(10)]


def test_so_ket_dot_2_schedule_shifts_weekends_and_keeps_one_reminder_a_day() -> None:
    # Due Tue 10/10/2023. −3 falls on Sat 07/10 → the previous working day, Fri 06/10 (units keep their lead
    # time); overdue reminders on a day off go to the next working day; all at the ladder's send_time.
    assert timeline(date(2023, 10, 10)) == [
        ("truoc-7-ngay:0", "Tue 03/10/2023 08:00"),
        ("truoc-3-ngay:0", "Fri 06/10/2023 08:00"),
        ("truoc-1-ngay:0", "Mon 09/10/2023 08:00"),
        ("qua-han-1-ngay:0", "Wed 11/10/2023 08:00"),
        ("qua-han-nhac-lai:0", "Mon 16/10/2023 08:00"),  # +4 = Sat 14/10
        ("qua-han-nhac-lai:1", "Tue 17/10/2023 08:00"),
        ("qua-han-nhac-lai:2", "Fri 20/10/2023 08:00"),
        ("qua-han-nhac-lai:3", "Mon 23/10/2023 08:00"),
        ("qua-han-nhac-lai:4", "Thu 26/10/2023 08:00"),
        ("qua-han-nhac-lai:5", "Mon 30/10/2023 08:00"),  # +19 = Sun 29/10
        ("qua-han-nhac-lai:6", "Wed 01/11/2023 08:00"),
        ("qua-han-nhac-lai:7", "Mon 06/11/2023 08:00"),  # +25 = Sat 04/11
        ("qua-han-nhac-lai:8", "Tue 07/11/2023 08:00"),
        ("qua-han-nhac-lai:9", "Fri 10/11/2023 08:00"),
    ]


def test_holidays_move_reminders_national_day_2023() -> None:
    # Due Tue 05/09/2023 right after the 1–4/9 break: −3 (Sat 2/9) and −1 (Mon 4/9) both move back to
    # Thu 31/08, the last working day before the break; the more urgent −1 goes out.
    assert timeline(date(2023, 9, 5))[:3] == [
        ("truoc-7-ngay:0", "Tue 29/08/2023 08:00"),
        ("truoc-1-ngay:0", "Thu 31/08/2023 08:00"),
        ("qua-han-1-ngay:0", "Wed 06/09/2023 08:00"),
    ]


def test_holidays_move_reminders_tet_2024() -> None:
    # Due Tue 20/02/2024: −7 = 13/02 is Tết (8/2 – 14/2) → Wed 07/02; −3 = Sat 17/02 → Fri 16/02.
    assert timeline(date(2024, 2, 20))[:4] == [
        ("truoc-7-ngay:0", "Wed 07/02/2024 08:00"),
        ("truoc-3-ngay:0", "Fri 16/02/2024 08:00"),
        ("truoc-1-ngay:0", "Mon 19/02/2024 08:00"),
        ("qua-han-1-ngay:0", "Wed 21/02/2024 08:00"),
    ]


def test_every_planned_send_of_a_year_is_on_a_working_day_at_send_time() -> None:
    """Property over every deadline of 2023 and 2024 (each day) and both ladders of the shipped files: each
    occurrence is at a working moment, at the ladder's send_time; one before the deadline lands on its nominal
    day or earlier (never later, never past the deadline); an overdue one on its nominal day or later."""
    late_ladder = Ladder(code="chieu", name="chiều", send_time="16:30", rungs=MAC_DINH.rungs)
    day = date(2023, 1, 1)
    while day <= date(2024, 12, 31):
        for ladder in (MAC_DINH, late_ladder):
            nominal = {f"{r.code}:{n}": day + timedelta(days=off) for r, n, off in expand_rungs(ladder)}
            for o in schedule(ladder, day, CALENDAR, TZ):
                assert CALENDAR.is_working_moment(o.send_local), (day, o)
                assert o.send_local.strftime("%H:%M") == ladder.send_time, (day, o)
                if o.offset_days <= 0:
                    assert o.day <= nominal[o.occurrence_id] and o.day <= day, (day, o)
                else:
                    assert o.day >= nominal[o.occurrence_id], (day, o)
        day += timedelta(days=1)


def test_a_reminder_before_the_deadline_never_moves_past_it() -> None:
    ladder = Ladder(
        code="l", name="l", rungs=[Rung(code="truoc-1-ngay", offset_days=-1), Rung(code="hom-nay", offset_days=0)]
    )
    # Due Sun 11/06/2023: −1 (Sat) and 0 (Sun) would move to Monday, after the deadline → Friday instead,
    # where they meet; the later rung wins.
    assert timeline(date(2023, 6, 11), ladder) == [("hom-nay:0", "Fri 09/06/2023 08:00")]


def test_no_reminder_before_the_obligation_opens() -> None:
    # de-xuat-khen-thuong-dot-2 opens 01/10/2023, due Fri 20/10: a −30 rung would fall on 20/09.
    ladder = Ladder(
        code="l", name="l", rungs=[Rung(code="truoc-30", offset_days=-30), Rung(code="truoc-7", offset_days=-7)]
    )
    assert timeline(date(2023, 10, 20), ladder, not_before=date(2023, 10, 1)) == [("truoc-7:0", "Fri 13/10/2023 08:00")]


# --- the occurrence current at a moment --------------------------------------------------------------------
DUE = date(2023, 10, 10)
DUE_AT = local_to_utc(datetime(2023, 10, 10, 23, 59, 59))
OCCURRENCES = schedule(MAC_DINH, DUE, CALENDAR, TZ)


def current_at(text: str) -> str | None:
    found = current_occurrence(OCCURRENCES, local_to_utc(when(text)), DUE_AT)
    return found.occurrence_id if found else None


def test_current_occurrence_follows_the_clock() -> None:
    assert current_at("03/10/2023 07:59") is None
    assert current_at("03/10/2023 08:00") == "truoc-7-ngay:0"
    assert current_at("05/10/2023 16:00") == "truoc-7-ngay:0"  # until the day of the next one
    assert current_at("06/10/2023 07:00") is None  # a missed −7 is not sent on the morning of −3
    assert current_at("09/10/2023 07:00") is None  # a missed −7 is not sent on the morning of −1
    assert current_at("09/10/2023 08:00") == "truoc-1-ngay:0"
    # A reminder before the deadline is stale once the deadline has passed; the overdue one waits for its time.
    assert current_at("11/10/2023 00:30") is None
    assert current_at("11/10/2023 08:00") == "qua-han-1-ngay:0"
    # Missed occurrences (server down for a week) are replaced by the latest one, not sent in a burst.
    assert current_at("20/10/2023 09:00") == "qua-han-nhac-lai:2"


def test_last_occurrence_expires_after_its_grace() -> None:
    last = OCCURRENCES[-1]
    assert current_occurrence(OCCURRENCES, last.send_at + LAST_OCCURRENCE_GRACE - timedelta(seconds=1), DUE_AT) == last
    assert current_occurrence(OCCURRENCES, last.send_at + LAST_OCCURRENCE_GRACE, DUE_AT) is None


def test_phase_and_escalation_of_occurrences() -> None:
    phases = {o.occurrence_id: (o.phase, o.escalate) for o in OCCURRENCES}
    assert phases["truoc-1-ngay:0"] == (Phase.BEFORE, False)
    assert phases["qua-han-1-ngay:0"] == (Phase.OVERDUE, True)


# --- wording, digests, keys ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "days, phrase",
    [
        (7, "Còn 7 ngày"),
        (1, "Còn 1 ngày"),
        (0, "Hôm nay là hạn cuối"),
        (-1, "Quá hạn 1 ngày"),
        (-16, "Quá hạn 16 ngày"),
    ],
)
def test_deadline_phrase(days: int, phrase: str) -> None:
    assert deadline_phrase(days) == phrase


def test_office_digest_days() -> None:
    assert office_digest_due("daily", date(2023, 10, 3), CALENDAR)
    assert not office_digest_due("daily", date(2023, 10, 7), CALENDAR)  # Saturday
    assert not office_digest_due("daily", date(2023, 9, 4), CALENDAR)  # holiday
    # Weekly: the first working day of the week — Tuesday when Monday is a holiday.
    assert office_digest_due("weekly", date(2023, 9, 5), CALENDAR)
    assert not office_digest_due("weekly", date(2023, 9, 6), CALENDAR)
    assert office_digest_due("weekly", date(2023, 10, 9), CALENDAR)
    assert not office_digest_due("none", date(2023, 10, 9), CALENDAR)
    assert office_digest_period("weekly", date(2023, 10, 12)) == "2023-W41"
    assert office_digest_period("daily", date(2023, 10, 12)) == "2023-10-12"


def test_keys_normalise_the_address() -> None:
    assert reminder_key(17, "truoc-7-ngay:0", " CdCs@Example.VN ") == "rem:17:truoc-7-ngay:0:cdcs@example.vn"
    assert escalation_key(1, 3, date(2023, 10, 11), "D1@x.vn") == "esc:1:3:20231011:d1@x.vn"


@pytest.mark.parametrize(
    "address, ok",
    [
        ("cdcs.1@ldld.binhdinh.vn", True),
        ("a+b@x.vn", True),
        ("khong-co-a-cong.vn", False),
        ("a@b", False),
        ("a b@x.vn", False),
        ("thư@x.vn", False),
        ("a@@x.vn", False),
        ("x" * 150 + "@x.vn", False),
    ],
)
def test_plausible_email(address: str, ok: bool) -> None:
    assert is_plausible_email(address) is ok
