"""Schema of config/commendation.yaml: document symbols, DOCX templates, the dated base-salary table."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, model_validator

from thidua.models.spec.common import Strict, VNDate
from thidua.models.spec.validate import validate_doc
from thidua.models.spec.yamlsource import parse_yaml


class BaseSalary(Strict):
    from_: VNDate = Field(alias="from")
    amount: int = Field(gt=0)
    source: str = ""
    assumed: bool = False  # GIẢ ĐỊNH: not checked against the decree


class Templates(Strict):
    decision: str
    to_trinh: str
    minutes: str


class CommendationConfig(Strict):
    symbol: str = "{so}/{loai}-{don_vi}"
    level_symbols: dict[str, str] = Field(default_factory=dict)
    unit_symbols: dict[str, str] = Field(default_factory=dict)
    templates: Templates
    base_salary: list[BaseSalary] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> "CommendationConfig":
        days = [row.from_ for row in self.base_salary]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("bảng lương cơ sở phải xếp theo ngày áp dụng tăng dần, không trùng ngày")
        try:
            self.symbol.format(so=1, loai="QĐ", don_vi="X", nam=2024)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"mẫu ký hiệu '{self.symbol}' sai: chỉ dùng {{so}}, {{loai}}, {{don_vi}}, {{nam}} ({exc})"
            ) from None
        return self

    def base_salary_on(self, day: date) -> BaseSalary | None:
        """The row in force on `day` (None before the first)."""
        found = None
        for row in self.base_salary:
            if row.from_ <= day:
                found = row
        return found


def load_commendation_config(path: Path) -> CommendationConfig:
    doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    return validate_doc(doc, CommendationConfig)
