"""Union levels (config/levels.yaml): the file's models and the ranks drawn from it (pure). Kept apart from
`thidua.models.hierarchy` (which re-exports them) so that `thidua validate` checks a campaign's levels without
loading the unit-file rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping

from pydantic import Field

from thidua.models.spec.common import Code, Strict, VNDate


class LevelSpec(Strict):
    code: Code
    name: str = Field(min_length=1)
    short_name: str = ""
    valid_from: VNDate | None = None  # the level exists from this date (a reorganisation may add levels)
    valid_to: VNDate | None = None  # and no unit may be created at it from this date on


class LevelsFile(Strict):
    """config/levels.yaml: levels from the top down; the rank is the position in the list."""

    levels: list[LevelSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class LevelInfo:
    code: str
    name: str
    short_name: str
    rank: int  # 0 is the top
    valid_from: date | None = None
    valid_to: date | None = None

    @property
    def label(self) -> str:
        return self.short_name or self.name


def levels_from_file(spec: LevelsFile) -> list[LevelInfo]:
    return [
        LevelInfo(level.code, level.name, level.short_name, rank, level.valid_from, level.valid_to)
        for rank, level in enumerate(spec.levels)
    ]


def level_period_problems(spec: LevelsFile) -> list[tuple[int, str]]:
    """(index, message) of levels whose period ends before it starts."""
    return [
        (index, f"cấp '{level.code}': ngày kết thúc phải sau ngày bắt đầu")
        for index, level in enumerate(spec.levels)
        if level.valid_from and level.valid_to and level.valid_to <= level.valid_from
    ]


def duplicate_level_codes(spec: LevelsFile) -> list[tuple[int, str]]:
    """(index, code) of every repeated level code after its first occurrence."""
    seen: set[str] = set()
    dupes = []
    for index, level in enumerate(spec.levels):
        if level.code in seen:
            dupes.append((index, level.code))
        seen.add(level.code)
    return dupes


def rank_conflicts(edges: Iterable[tuple[str, str, int]], ranks: Mapping[str, int]) -> list[tuple[str, str, int]]:
    """(parent level, child level, unit count) edges of the stored tree that the new ranks would break."""
    return [
        (parent, child, count)
        for parent, child, count in edges
        if parent in ranks and child in ranks and ranks[child] <= ranks[parent]
    ]
