"""Holidays v2: the `holidays` package (Vietnamese names) corrected by config/calendars/vn_overrides.yaml
(worked Saturdays), deadlines and reminders that follow it, and warnings for years nobody checked."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from thidua.models.spec.problems import SpecError
from thidua.models.spec.reminders import CalendarSpec
from thidua.models.tables import ObligationDef
from thidua.models.workcalendar import WorkingCalendar, adjust_deadline
from thidua.services.calendars import days_off_for, load_holidays, read_overrides
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.reminders import campaign_context
from thidua.settings import CONFIG_DIR
from tests.factories import small_binh_dinh

V2 = CalendarSpec(country="VN", overrides_file="calendars/vn_overrides.yaml", deadline_on_holiday="next_working_day")
MINIMAL = Path(__file__).parent / "minimal.yaml"


@pytest.fixture(scope="module")
def days_off():
    return days_off_for(V2, CONFIG_DIR, range(2023, 2028))


def test_package_holidays_have_vietnamese_names_and_the_issue_s_missing_days(days_off):
    assert days_off.names[date(2024, 9, 2)] == "Quốc khánh"
    assert "Tết Nguyên Đán" in days_off.names[date(2025, 1, 29)]
    # the hand-typed v1 table misses both; the package has them
    assert {date(2026, 8, 31), date(2026, 11, 24)} <= days_off
    v1 = load_holidays(CONFIG_DIR / "calendars" / "vn_holidays.yaml")
    assert not {date(2026, 8, 31), date(2026, 11, 24)} & v1


ONE_COUNTRY = """
import json, sys
from thidua.services.calendars import package_holidays
years = range(1995, 2041)
read = package_holidays("VN", years)
alone = "holidays.countries" not in sys.modules
import holidays
expected = dict(holidays.country_holidays("VN", years=list(years), language="vi").items())
print(json.dumps({"alone": alone, "same": list(read.items()) == list(expected.items()), "days": len(read)}))
"""


def test_vietnam_is_read_from_its_own_module_alike():
    """package_holidays loads only the `holidays` package's Vietnam module (not its ~250 countries; issue 17
    `thidua validate` start-up) and gives what country_holidays("VN") gives, in the same order."""
    import json
    import subprocess
    import sys

    from thidua.settings import REPO_ROOT

    done = subprocess.run(
        [sys.executable, "-c", ONE_COUNTRY], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures == {"alone": True, "same": True, "days": figures["days"]} and figures["days"] > 400


@pytest.mark.parametrize("saturday", [date(2024, 5, 4), date(2025, 4, 26), date(2026, 8, 22)])
def test_worked_saturdays_are_working_days(days_off, saturday):
    calendar = WorkingCalendar(V2, days_off)
    assert saturday.isoweekday() == 6
    assert calendar.is_working_day(saturday)
    assert not calendar.is_working_day(saturday + timedelta(days=1))  # the Sunday after stays off
    assert calendar.next_working_day(saturday) == saturday


def test_deadlines_move_past_the_swapped_bridge_day(days_off):
    # Saturday 27/04/2024 → 29/04 (swapped day off), 30/04, 01/05 holidays → Thursday 02/05/2024
    assert adjust_deadline(date(2024, 4, 27), V2, days_off) == date(2024, 5, 2)
    assert adjust_deadline(date(2024, 5, 4), V2, days_off) == date(2024, 5, 4)  # a worked Saturday stays
    assert adjust_deadline(date(2026, 8, 29), V2, days_off) == date(2026, 9, 3)  # 31/08, 01/09, 02/09 off


def test_overrides_outside_checked_years_are_located(tmp_path):
    path = tmp_path / "o.yaml"
    path.write_text("checked_years: [2024]\nworking_days:\n  - {date: 26/04/2025, name: Làm bù}\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        read_overrides(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (3, "working_days[0].date") and "2025" in problem.message


def _campaign(tmp_path: Path, year: int, calendar: str) -> Path:
    text = MINIMAL.read_text(encoding="utf-8").replace("2023", str(year))
    text = text.replace("calendar:\n  holidays_file: calendars/vn_holidays.yaml\n", calendar)
    path = tmp_path / "campaigns" / f"c{year}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


PACKAGE_CALENDAR = (
    "calendar:\n  country: VN\n  overrides_file: calendars/vn_overrides.yaml\n  deadline_on_holiday: next_working_day\n"
)


@pytest.fixture
def bd_engine(engine):
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    return engine


def test_campaign_in_an_unchecked_year_loads_with_a_located_warning(bd_engine, tmp_path):
    path = _campaign(tmp_path, 2027, PACKAGE_CALENDAR)
    result = load_campaign(bd_engine, path)
    [warning] = result.warnings
    assert warning.field == "calendar.overrides_file" and "2027" in warning.message
    line = path.read_text(encoding="utf-8").splitlines().index("  overrides_file: calendars/vn_overrides.yaml") + 1
    assert str(warning).startswith(f"{path}:{line}: calendar.overrides_file:")
    v1 = load_campaign(
        bd_engine, _campaign(tmp_path, 2028, "calendar:\n  holidays_file: calendars/vn_holidays.yaml\n").resolve()
    )
    assert [w.field for w in v1.warnings] == ["calendar.holidays_file"] and "2028" in v1.warnings[0].message


def test_covered_campaign_has_no_warning_and_reminders_use_worked_saturdays(bd_engine, tmp_path):
    path = _campaign(tmp_path, 2024, PACKAGE_CALENDAR)
    text = path.read_text(encoding="utf-8").replace("due: 15/03/2024", "due: 27/04/2024")
    path.write_text(text, encoding="utf-8")
    result = load_campaign(bd_engine, path)
    assert result.warnings == []
    with Session(bd_engine) as session:
        due = session.exec(select(ObligationDef.due_on).where(ObligationDef.code == "dang-ky")).one()
        calendar = campaign_context(session, "thu-nghiem").calendar
    assert due == date(2024, 5, 2)
    assert calendar.is_working_day(date(2024, 5, 4)) and not calendar.is_working_day(date(2024, 4, 29))


def test_the_bundled_campaigns_are_covered():
    spec, doc = read_campaign_file(CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml")
    from thidua.services.campaigns import campaign_warnings

    assert campaign_warnings(spec, doc, CONFIG_DIR) == []
