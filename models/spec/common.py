"""Shared building blocks for the declarative files."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from thidua.models.clock import parse_date


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():  # a time would be dropped without a word
            raise ValueError(f"cần một ngày, không kèm giờ: '{value:%d/%m/%Y %H:%M}' (viết {value:%d/%m/%Y})")
        return value.date()
    if isinstance(value, str):
        return parse_date(value)
    return value


VNDate = Annotated[date, BeforeValidator(_to_date)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
# An obligation, or one period of a recurring obligation: 'bao-cao-nam@2025'.
ObligationRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]*(@[a-z0-9\-]+)?$", max_length=80)]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
Sector = Annotated[str, StringConstraints(pattern=r"^(sxkd|hcsn)$")]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Strict(BaseModel):
    """Unknown keys are errors in every declarative file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
