"""Reading the holiday data file into the set the working calendar needs."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pydantic import model_validator

from thidua.models.spec.common import Strict, VNDate
from thidua.models.spec.validate import validate_doc
from thidua.models.spec.yamlsource import parse_yaml
from thidua.settings import get_settings
from thidua.sources import read_text_file


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


def load_holidays(path: Path, extra: list[date] | None = None) -> frozenset[date]:
    doc = parse_yaml(read_text_file(path), str(path))
    spec = validate_doc(doc, HolidayFile)
    days = {day for holiday in spec.holidays for day in holiday.days()}
    return frozenset(days | set(extra or []))
