"""Located validation problems: every error names file, line and field, and all are reported at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from thidua.errors import InvalidInputError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based; None when the problem is not tied to a line
    field: str  # dotted path, e.g. "obligations[2].due"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(tệp)'}: {self.message}"


class SpecError(InvalidInputError):
    """Raised with every problem found; nothing is applied when this is raised."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def field_path(loc: Iterable[object]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
