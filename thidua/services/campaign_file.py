"""The checks of a campaign file that need no database: the file itself, the files it names (award catalogues,
holiday files and overrides) and the levels from the configured levels file; the holiday-coverage warnings.
Kept apart from services.campaigns (the loader) so `thidua validate` runs without the ORM."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from thidua.models.spec.campaign import CampaignSpec
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.validate import validate_campaign_text
from thidua.models.spec.yamlsource import SourceDoc
from thidua.models.workcalendar import DaysOff
from thidua.services.calendars import (
    campaign_years,
    coverage_warnings,
    days_off_for,
    load_holidays,
    read_overrides,
    resolve_config_path,
)
from thidua.sources import read_text_file

if TYPE_CHECKING:
    from thidua.models.levels import LevelsFile


def read_campaign_file(path: Path) -> tuple[CampaignSpec, SourceDoc]:
    text = read_text_file(path)
    return validate_campaign_text(text, str(path))


def read_levels_file(path: Path) -> tuple[SourceDoc, LevelsFile]:
    """A levels file, parsed and checked on its own (schema, duplicate codes, periods): SpecError otherwise."""
    from thidua.models.hierarchy import duplicate_level_codes  # noqa: PLC0415
    from thidua.models.levels import LevelsFile, level_period_problems  # noqa: PLC0415
    from thidua.models.spec.validate import validate_doc  # noqa: PLC0415
    from thidua.models.spec.yamlsource import parse_yaml  # noqa: PLC0415

    doc = parse_yaml(read_text_file(path), str(path))
    spec = validate_doc(doc, LevelsFile)
    problems = [
        doc.problem(("levels", index, "code"), f"mã cấp '{code}' bị trùng")
        for index, code in duplicate_level_codes(spec)
    ] + [doc.problem(("levels", index, "valid_to"), message) for index, message in level_period_problems(spec)]
    if problems:
        raise SpecError(problems)
    return doc, spec


def _level_problems(
    spec: CampaignSpec, doc: SourceDoc, known: Sequence[str], source: str = "danh mục cấp trong cơ sở dữ liệu"
) -> list[Problem]:
    """Levels the campaign names that `known` (codes from the top down, from `source`) lacks."""
    level_codes = set(known)
    where = f" (trong {source} chỉ có: {', '.join(known)})"

    def unknown(level: str) -> str:
        return f"không có cấp '{level}'{where}"

    problems: list[Problem] = []
    for i, ob in enumerate(spec.obligations):
        for j, level in enumerate(ob.levels):
            if level not in level_codes:
                problems.append(doc.problem(("obligations", i, "levels", j), unknown(level)))
    for i, target in enumerate(spec.targets):
        for key in ("scope_level", "breakdown_level"):
            level = getattr(target, key)
            if level and level not in level_codes:
                problems.append(doc.problem(("targets", i, key), unknown(level)))
        for j, level in enumerate(target.source.levels or []):
            if level not in level_codes:
                problems.append(doc.problem(("targets", i, "source", "levels", j), unknown(level)))
    if spec.awards:
        for level in spec.awards.review_days_per_level:
            if level not in level_codes:
                problems.append(doc.problem(("awards", "review_days_per_level", level), unknown(level)))
    return problems


def _file_problems(spec: CampaignSpec, doc: SourceDoc, base_dir: Path) -> list[Problem]:
    """The award catalogues and the holiday files the campaign names: present, files, valid."""
    problems: list[Problem] = []
    if spec.awards:
        key = "catalogue" if spec.awards.catalogue else "catalogues"
        for i, relative in enumerate(spec.awards.paths()):
            catalogue_path = resolve_config_path(relative, base_dir)
            loc = ("awards", key) if key == "catalogue" else ("awards", key, i)
            if not catalogue_path.exists():
                problems.append(doc.problem(loc, f"không tìm thấy danh mục khen thưởng '{relative}'"))
            elif not catalogue_path.is_file():
                problems.append(doc.problem(loc, f"'{relative}' là một thư mục, không phải tệp"))
    if spec.calendar.overrides_file:
        overrides_path = resolve_config_path(spec.calendar.overrides_file, base_dir)
        if not overrides_path.exists():
            problems.append(
                doc.problem(
                    ("calendar", "overrides_file"),
                    f"không tìm thấy tệp điều chỉnh ngày nghỉ '{spec.calendar.overrides_file}'",
                )
            )
        else:
            try:
                read_overrides(overrides_path)
            except SpecError as exc:
                problems.extend(exc.problems)
    if spec.calendar.holidays_file and spec.calendar.country is None:
        holidays_path = resolve_config_path(spec.calendar.holidays_file, base_dir)
        if not holidays_path.exists():
            problems.append(
                doc.problem(
                    ("calendar", "holidays_file"), f"không tìm thấy tệp ngày nghỉ '{spec.calendar.holidays_file}'"
                )
            )
        elif not holidays_path.is_file():
            problems.append(
                doc.problem(
                    ("calendar", "holidays_file"),
                    f"'{spec.calendar.holidays_file}' là một thư mục, không phải tệp ngày nghỉ",
                )
            )
        else:
            try:
                load_holidays(holidays_path)
            except SpecError as exc:
                problems.extend(exc.problems)
    problems.extend(_award_problems(spec, doc, base_dir))
    return problems


# What `thidua validate` cannot check without the database (said to the user, so "valid" is not overclaimed).
CHECKS_NEEDING_THE_DATABASE = (
    "đơn vị phát hành, đơn vị gốc tham gia và đơn vị của văn phòng có trong danh sách đơn vị đã nhập",
    "nghĩa vụ hiện có của chiến dịch (khi nạp lại: những gì sẽ thay đổi)",
)


def check_campaign_file(
    path: Path, doc: SourceDoc | None = None, *, levels_path: Path | None = None
) -> tuple[CampaignSpec, SourceDoc, list[str]]:
    """Every check `load_campaign` makes that needs no database: the file itself, the files it names and the
    levels (from `levels_path`, by default the configured levels file, instead of the database). `doc` is the
    file already parsed, if the caller has it. Returns the spec, the parsed file and the checks skipped; SpecError
    lists every problem."""
    from thidua.models.spec.validate import validate_campaign_doc  # noqa: PLC0415
    from thidua.settings import get_settings  # noqa: PLC0415

    if doc is None:
        spec, doc = read_campaign_file(path)
    else:
        spec = validate_campaign_doc(doc)
    base_dir = path.resolve().parent.parent
    problems = _file_problems(spec, doc, base_dir)
    skipped = list(CHECKS_NEEDING_THE_DATABASE)
    levels_path = levels_path or get_settings().config_dir / "levels.yaml"
    try:
        known = [level.code for level in read_levels_file(levels_path)[1].levels]
    except (OSError, SpecError):
        skipped.append(f"các cấp công đoàn (không đọc được {levels_path})")
    else:
        problems.extend(_level_problems(spec, doc, known, f"tệp danh mục cấp {levels_path}"))
    if problems:
        raise SpecError(problems)
    return spec, doc, skipped


def _award_problems(spec: CampaignSpec, doc: SourceDoc, base_dir: Path) -> list[Problem]:
    """The award catalogue is validated by its own module when present (issue: nominations)."""
    if not spec.awards:
        return []
    from thidua.models.spec.awards import validate_catalogue_file  # noqa: PLC0415

    problems: list[Problem] = []
    periods = []
    for i, relative in enumerate(spec.awards.paths()):
        path = resolve_config_path(relative, base_dir)
        if not path.is_file():  # missing or a folder: said by _file_problems
            continue
        try:
            catalogue = validate_catalogue_file(path)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        periods.append((catalogue.effective_from or date.min, catalogue.effective_until or date.max, i, catalogue.code))
    if spec.awards.catalogues and not problems:
        periods.sort()
        for (_, end, _, code), (start, _, i, next_code) in zip(periods, periods[1:]):
            if start <= end:
                problems.append(
                    doc.problem(
                        ("awards", "catalogues", i), f"danh mục '{next_code}' có hiệu lực chồng lên danh mục '{code}'"
                    )
                )
        covered = [(a, b) for a, b, _, _ in periods]
        for day in (spec.starts, spec.ends):
            if not any(a <= day <= b for a, b in covered):
                problems.append(
                    doc.problem(
                        ("awards", "catalogues"), f"không có danh mục khen thưởng nào có hiệu lực ngày {day:%d/%m/%Y}"
                    )
                )
        for (_, end, _, code), (start, _, i, _) in zip(periods, periods[1:]):
            if end != date.max and start > end + timedelta(days=1):
                problems.append(
                    doc.problem(
                        ("awards", "catalogues", i), f"khoảng trống sau ngày {end:%d/%m/%Y} (hết hiệu lực của '{code}')"
                    )
                )
    return problems


def holidays_for(spec: CampaignSpec, base_dir: Path) -> DaysOff:
    return days_off_for(spec.calendar, base_dir, campaign_years(spec.starts, spec.ends))


def campaign_warnings(spec: CampaignSpec, doc: SourceDoc, base_dir: Path) -> list[Problem]:
    """What a valid file may still get wrong: years of the campaign its holiday source does not cover."""
    return coverage_warnings(
        spec.calendar, holidays_for(spec, base_dir), range(spec.starts.year, spec.ends.year + 1), doc
    )
