"""Holidays for the working calendar: the v1 hand-kept data file, or (v2) the `holidays` package with
Vietnamese names corrected by a small overrides file (worked Saturdays, extra days off)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import model_validator

from thidua.models.spec.common import Strict, VNDate
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.validate import validate_doc
from thidua.models.spec.yamlsource import SourceDoc, parse_yaml
from thidua.models.workcalendar import DaysOff
from thidua.settings import get_settings
from thidua.sources import read_text_file

if TYPE_CHECKING:
    from thidua.models.spec.reminders import CalendarSpec


class Holiday(Strict):
    name: str
    date: VNDate | None = None
    from_: VNDate | None = None
    to: VNDate | None = None

    model_config = Strict.model_config | {"populate_by_name": True}

    @model_validator(mode="before")
    @classmethod
    def _from_alias(cls, data):  # 'from' is a Python keyword
        if isinstance(data, dict) and "from" in data:
            data = dict(data)
            data["from_"] = data.pop("from")
        return data

    @model_validator(mode="after")
    def _one_form(self) -> "Holiday":
        if (self.date is None) == (self.from_ is None and self.to is None):
            raise ValueError("mỗi ngày nghỉ cần 'date' hoặc cặp 'from'/'to'")
        if self.date is None and (self.from_ is None or self.to is None or self.from_ > self.to):
            raise ValueError("khoảng nghỉ cần 'from' không sau 'to'")
        return self

    def days(self) -> list[date]:
        if self.date is not None:
            return [self.date]
        assert self.from_ is not None and self.to is not None
        return [self.from_ + timedelta(days=i) for i in range((self.to - self.from_).days + 1)]


class HolidayFile(Strict):
    holidays: list[Holiday]


def resolve_config_path(relative: str, relative_to: Path | None = None) -> Path:
    """Paths inside declarative files are relative to the file's own folder, else to the configuration folder
    (THIDUA_CONFIG_DIR; by default the configuration shipped with thidua)."""
    candidate = Path(relative)
    if candidate.is_absolute():
        return candidate
    if relative_to is not None and (relative_to / candidate).exists():
        return relative_to / candidate
    return get_settings().config_dir / candidate


def load_holidays(path: Path, extra: list[date] | None = None) -> DaysOff:
    doc = parse_yaml(read_text_file(path), str(path))
    spec = validate_doc(doc, HolidayFile)
    names = {day: holiday.name for holiday in spec.holidays for day in holiday.days()}
    return DaysOff(set(names) | set(extra or []), names=names, covered_years={day.year for day in names})


class OverrideDay(Strict):
    date: VNDate
    name: str


class CalendarOverrides(Strict):
    """Corrections to the package's holidays, from each year's official announcement."""

    checked_years: list[int]  # years whose announcement (nghỉ bù, làm bù) has been checked against the package
    working_days: list[OverrideDay] = []  # days worked although normally off (a Saturday worked for a bridge day)
    holidays: list[OverrideDay] = []  # extra days off the package does not know
    not_holidays: list[OverrideDay] = []  # package holidays that were working days that year


def read_overrides(path: Path) -> CalendarOverrides:
    doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    spec = validate_doc(doc, CalendarOverrides)
    problems = []
    for key in ("working_days", "holidays", "not_holidays"):
        for i, day in enumerate(getattr(spec, key)):
            if day.date.year not in spec.checked_years:
                problems.append(doc.problem((key, i, "date"), f"năm {day.date.year} không có trong 'checked_years'"))
    if problems:
        raise SpecError(problems)
    return spec


def package_holidays(country: str, years: range) -> dict[date, str]:
    """Public holidays with Vietnamese names, from the `holidays` package."""
    one_country = _country_class(country)
    if one_country is not None:
        return dict(one_country(years=list(years), language="vi").items())
    import holidays as holidays_package

    return dict(holidays_package.country_holidays(country, years=list(years), language="vi").items())


# Countries read from their own module of the `holidays` package: importing `holidays.countries.<name>` runs the
# package's `holidays/countries/__init__.py`, which imports all ~250 countries (0.08 s of `thidua validate` for a
# campaign with `country: VN`). tests/campaigns/test_holidays.py checks the result equals country_holidays().
ONE_COUNTRY_MODULES = {"VN": ("vietnam", "Vietnam")}
_country_classes: dict[str, type] = {}


def _country_class(country: str) -> type | None:
    if country in _country_classes:
        return _country_classes[country]
    if country not in ONE_COUNTRY_MODULES or "holidays.countries" in sys.modules:
        return None
    import importlib.util

    import holidays as holidays_package  # the package itself loads its countries lazily

    module_name, class_name = ONE_COUNTRY_MODULES[country]
    path = Path(holidays_package.__file__).parent / "countries" / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"thidua._holidays_{module_name}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _country_classes[country] = getattr(module, class_name)
    return _country_classes[country]


def campaign_years(starts: date, ends: date) -> range:
    """Years whose holidays a campaign needs: its dates and due dates up to 60 days after it ends."""
    return range(starts.year, (ends + timedelta(days=60)).year + 1)


def days_off_for(calendar: "CalendarSpec", base_dir: Path | None, years: range) -> DaysOff:
    """The days off of a campaign's calendar, from whichever source it declares."""
    if calendar.country is not None:
        names = package_holidays(calendar.country, years)
        worked: set[date] = set()
        covered: set[int] | None = set()
        if calendar.overrides_file:
            overrides = read_overrides(resolve_config_path(calendar.overrides_file, base_dir))
            names.update({d.date: d.name for d in overrides.holidays})
            for d in overrides.not_holidays:
                names.pop(d.date, None)
            worked = {d.date for d in overrides.working_days}
            covered = set(overrides.checked_years)
        return DaysOff(set(names) | set(calendar.extra_holidays), worked=worked, names=names, covered_years=covered)
    if not calendar.holidays_file:
        return DaysOff(calendar.extra_holidays)
    return load_holidays(resolve_config_path(calendar.holidays_file, base_dir), calendar.extra_holidays)


def coverage_warnings(calendar: "CalendarSpec", days_off: DaysOff, years: range, doc: SourceDoc) -> list[Problem]:
    """Years of the campaign the holiday source says nothing about: deadlines and reminders there would
    ignore that year's holidays or worked days. Warnings, not errors."""
    if days_off.covered_years is None:
        return []
    missing = [year for year in years if year not in days_off.covered_years]
    if not missing:
        return []
    years_text = ", ".join(str(y) for y in missing)
    if calendar.country is not None and not calendar.overrides_file:
        message = (
            f"lịch theo gói holidays nhưng không có 'overrides_file': ngày làm bù (thứ Bảy đi làm) "
            f"các năm {years_text} chưa được tính"
        )
        return [doc.problem(("calendar", "country"), message)]
    if calendar.country is not None:
        message = (
            f"tệp điều chỉnh '{calendar.overrides_file}' chưa đối chiếu thông báo nghỉ bù, làm bù "
            f"năm {years_text} (thêm vào 'checked_years' sau khi đối chiếu)"
        )
        return [doc.problem(("calendar", "overrides_file"), message)]
    message = f"tệp ngày nghỉ '{calendar.holidays_file}' không có ngày nghỉ nào của năm {years_text}"
    return [doc.problem(("calendar", "holidays_file"), message)]
