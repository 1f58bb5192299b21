"""The campaign file schema. Pydantic models are the single source of truth (JSON Schema is emitted from
them); `consistency_problems` adds the rules that span fields. Rules needing the database (units, levels,
award forms) are checked by the loader with the same located-problem shape."""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Literal, Union

from pydantic import EmailStr, Field, model_validator

from thidua.models.spec.common import Code, Sector, Strict, UnitCode, VNDate
from thidua.models.spec.reminders import CalendarSpec, Ladder, ladder_problems

ObligationKind = Literal[
    "registration", "round_report", "final_report", "nomination_window", "annual_report", "custom"
]
FieldType = Literal["integer", "decimal", "text", "choice", "date", "bool", "file"]


class FormField(Strict):
    code: Code
    label: str
    type: FieldType
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None
    max_length: int | None = Field(default=None, ge=1)
    sectors: list[Sector] | None = None  # only asked of units in these sectors
    help: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> "FormField":
        if self.type == "choice" and not self.choices:
            raise ValueError("trường kiểu 'choice' cần danh sách 'choices'")
        if self.type != "choice" and self.choices:
            raise ValueError("'choices' chỉ dùng cho trường kiểu 'choice'")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "decimal"):
            raise ValueError("'min'/'max' chỉ dùng cho trường số (integer, decimal)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' lớn hơn 'max'")
        return self


class RelativeDue(Strict):
    """A due date relative to the end of a round: `{round: 2, days_after_end: 10}`."""

    round: int = Field(ge=1)
    days_after_end: int = Field(ge=0, le=120)


class Obligation(Strict):
    code: Code
    kind: ObligationKind
    title: str
    description: str = ""
    round: int | None = Field(default=None, ge=1)
    levels: list[Code] = Field(min_length=1)  # levels that owe it
    sectors: list[Sector] | None = None  # None: every sector
    opens: VNDate | None = None
    due: Union[VNDate, RelativeDue]
    assumption: str | None = None  # why a date was chosen where the plan names none
    fields: list[FormField] = Field(default_factory=list)
    reviewer: Literal["parent", "owner"] = "parent"
    review_required: bool = True
    consolidate_accepted_only: bool = True
    ladder: Code | None = None  # default: the campaign's default_ladder

    @model_validator(mode="after")
    def _round_needed(self) -> "Obligation":
        if self.kind == "round_report" and self.round is None:
            raise ValueError("nghĩa vụ 'round_report' cần số đợt ('round')")
        codes = [f.code for f in self.fields]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"mã trường bị trùng: {', '.join(dupes)}")
        return self


class TargetCondition(Strict):
    op: Literal[">=", ">", "==", "<=", "<", "in", "truthy"]
    value: float | str | list[str] | None = None


class TargetSource(Strict):
    obligations: list[Code] = Field(min_length=1)
    field: Code
    levels: list[Code] | None = None  # which units' submissions count (default: whoever owes them)
    condition: TargetCondition | None = None  # for rollup 'share'


class TargetSpec(Strict):
    code: Code
    title: str
    rollup: Literal["sum", "average", "share"]
    value: float = Field(gt=0)
    unit: str = ""  # unit of measure shown to users, e.g. "sáng kiến", "%"
    deadline: VNDate
    source: TargetSource
    scope_level: Code | None = None  # where the target is set (default: the campaign root)
    breakdown_level: Code | None = None  # progress per unit of this level (e.g. each district)


class Owner(Strict):
    department: str
    email: EmailStr
    unit: UnitCode | None = None  # default: the issuing unit


class ContentBySector(Strict):
    sxkd: list[str] = Field(default_factory=list)
    hcsn: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)


class RoundSpec(Strict):
    number: int = Field(ge=1)
    name: str
    starts: VNDate
    ends: VNDate


class AwardsRef(Strict):
    catalogue: str  # path relative to config/
    review_days_per_level: dict[Code, int] = Field(default_factory=dict)


class CampaignSpec(Strict):
    code: Code
    title: str
    theme: str
    year: int = Field(ge=2000, le=2100)
    issuing_unit: UnitCode
    owner: Owner
    timezone: str = "Asia/Ho_Chi_Minh"
    participants_root: UnitCode | None = None  # default: the issuing unit
    plan_issued_on: VNDate
    assumption_notes: list[str] = Field(default_factory=list)
    starts: VNDate
    ends: VNDate
    round_boundary: Literal["earlier_round"] = "earlier_round"
    rounds: list[RoundSpec] = Field(min_length=1)
    content: ContentBySector = Field(default_factory=ContentBySector)
    obligations: list[Obligation] = Field(min_length=1)
    targets: list[TargetSpec] = Field(default_factory=list)
    reminder_ladders: list[Ladder] = Field(default_factory=list)
    default_ladder: Code | None = None
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    awards: AwardsRef | None = None


Loc = tuple[object, ...]


def resolve_due(obligation: Obligation, rounds: dict[int, RoundSpec]) -> date | None:
    if isinstance(obligation.due, RelativeDue):
        round_ = rounds.get(obligation.due.round)
        return None if round_ is None else round_.ends + timedelta(days=obligation.due.days_after_end)
    return obligation.due


def round_of_day(day: date, rounds: list[RoundSpec]) -> int | None:
    """The round a day belongs to. The seed gives 31/5 and 30/9 to two rounds each; the rule
    (round_boundary: earlier_round) gives a shared boundary day to the earlier round."""
    for round_ in sorted(rounds, key=lambda r: r.number):
        if round_.starts <= day <= round_.ends:
            return round_.number
    return None


def consistency_problems(spec: CampaignSpec) -> list[tuple[Loc, str]]:
    """Rules spanning several fields. Returns (location, message) pairs; empty when consistent."""
    problems: list[tuple[Loc, str]] = _blank_and_infinite(spec)
    if spec.starts > spec.ends:
        problems.append((("starts",), "ngày bắt đầu sau ngày kết thúc chiến dịch"))
    if spec.starts.year != spec.year and spec.ends.year != spec.year:
        problems.append((("year",), f"năm {spec.year} không khớp thời gian chiến dịch"))

    numbers = [r.number for r in spec.rounds]
    for i, round_ in enumerate(spec.rounds):
        if round_.number != i + 1:
            problems.append((("rounds", i, "number"), f"các đợt phải đánh số liên tiếp từ 1 (gặp {round_.number})"))
        if round_.starts > round_.ends:
            problems.append((("rounds", i, "ends"), "đợt kết thúc trước khi bắt đầu"))
        if round_.starts < spec.starts or round_.ends > spec.ends:
            problems.append((("rounds", i), "đợt nằm ngoài thời gian chiến dịch"))
        if i > 0:
            previous = spec.rounds[i - 1]
            # A round may start on the day the previous one ends (shared boundary), never earlier.
            if round_.starts < previous.ends:
                problems.append((("rounds", i, "starts"), f"đợt {round_.number} chồng lấn đợt {previous.number}"))
            elif round_.starts > previous.ends + timedelta(days=1):
                problems.append((("rounds", i, "starts"), f"có khoảng trống giữa đợt {previous.number} và đợt {round_.number}"))

    rounds = {r.number: r for r in spec.rounds}
    ladders = {l.code for l in spec.reminder_ladders}
    if spec.default_ladder and spec.default_ladder not in ladders:
        problems.append((("default_ladder",), f"không có thang nhắc '{spec.default_ladder}'"))
    seen: set[str] = set()
    for i, ob in enumerate(spec.obligations):
        loc: Loc = ("obligations", i)
        if ob.code in seen:
            problems.append((loc + ("code",), f"mã nghĩa vụ bị trùng: '{ob.code}'"))
        seen.add(ob.code)
        if ob.round is not None and ob.round not in rounds:
            problems.append((loc + ("round",), f"không có đợt {ob.round} (số đợt: {len(numbers)})"))
        if isinstance(ob.due, RelativeDue) and ob.due.round not in rounds:
            problems.append((loc + ("due", "round"), f"không có đợt {ob.due.round}"))
        due = resolve_due(ob, rounds)
        if due is not None:
            if ob.round is not None and ob.round in rounds and due < rounds[ob.round].starts:
                problems.append((loc + ("due",), f"hạn {due:%d/%m/%Y} trước khi đợt {ob.round} bắt đầu"))
            if due < spec.starts or due > spec.ends + timedelta(days=60):
                problems.append((loc + ("due",), f"hạn {due:%d/%m/%Y} nằm ngoài thời gian chiến dịch"))
            if ob.opens is not None and ob.opens > due:
                problems.append((loc + ("opens",), "ngày mở sau hạn nộp"))
        if ob.ladder is not None and ob.ladder not in ladders:
            problems.append((loc + ("ladder",), f"không có thang nhắc '{ob.ladder}'"))

    field_codes = {ob.code: {f.code for f in ob.fields} for ob in spec.obligations}
    field_types = {ob.code: {f.code: f.type for f in ob.fields} for ob in spec.obligations}
    target_codes: set[str] = set()
    for i, target in enumerate(spec.targets):
        loc = ("targets", i)
        if target.code in target_codes:
            problems.append((loc + ("code",), f"mã chỉ tiêu bị trùng: '{target.code}'"))
        target_codes.add(target.code)
        if target.deadline < spec.starts or target.deadline > spec.ends:
            problems.append((loc + ("deadline",), "hạn chỉ tiêu nằm ngoài thời gian chiến dịch"))
        for j, ob_code in enumerate(target.source.obligations):
            if ob_code not in field_codes:
                problems.append((loc + ("source", "obligations", j), f"không có nghĩa vụ '{ob_code}'"))
            elif target.source.field not in field_codes[ob_code]:
                problems.append((loc + ("source", "field"), f"nghĩa vụ '{ob_code}' không có trường '{target.source.field}'"))
            else:
                # A sum or an average of text or dates, or "more than" on them, would stay at 0 % forever.
                kind = field_types[ob_code][target.source.field]
                condition = target.source.condition
                numeric_test = target.rollup != "share" or (condition is not None and condition.op in (">=", ">", "<=", "<"))
                if numeric_test and kind not in ("integer", "decimal"):
                    what = f"chỉ tiêu '{target.rollup}'" if target.rollup != "share" else f"điều kiện '{condition.op}'"  # type: ignore[union-attr]
                    problems.append((loc + ("source", "field"),
                                     f"{what} không tính được trên trường '{target.source.field}' kiểu '{kind}' của "
                                     f"nghĩa vụ '{ob_code}' (cần trường số: integer hoặc decimal)"))
        if target.rollup == "share" and target.source.condition is None:
            problems.append((loc + ("source", "condition"), "chỉ tiêu tỉ lệ ('share') cần điều kiện ('condition')"))
    problems.extend(ladder_problems(spec))
    return problems


def _blank_and_infinite(spec: CampaignSpec) -> list[tuple[Loc, str]]:
    """Titles of only spaces (read as empty) and infinite or NaN numbers: accepted by the types, useless
    (an empty title) or harmful (SQLite stores non-JSON 'Infinity'; PostgreSQL refuses it) in the database."""
    problems: list[tuple[Loc, str]] = []
    blank = "không được để trống (hoặc chỉ gồm dấu cách)"
    for loc, value in ((("title",), spec.title), (("theme",), spec.theme)):
        if not value:
            problems.append((loc, blank))
    for i, round_ in enumerate(spec.rounds):
        if not round_.name:
            problems.append((("rounds", i, "name"), blank))
    for i, ob in enumerate(spec.obligations):
        if not ob.title:
            problems.append((("obligations", i, "title"), blank))
        for j, f in enumerate(ob.fields):
            if not f.label:
                problems.append((("obligations", i, "fields", j, "label"), blank))
            for key in ("min", "max"):
                number = getattr(f, key)
                if number is not None and not math.isfinite(number):
                    problems.append((("obligations", i, "fields", j, key), "phải là một số hữu hạn (không dùng .inf/.nan)"))
    for i, target in enumerate(spec.targets):
        if not target.title:
            problems.append((("targets", i, "title"), blank))
        if not math.isfinite(target.value):
            problems.append((("targets", i, "value"), "phải là một số hữu hạn (không dùng .inf/.nan)"))
        condition = target.source.condition
        if condition is not None and isinstance(condition.value, float) and not math.isfinite(condition.value):
            problems.append((("targets", i, "source", "condition", "value"), "phải là một số hữu hạn (không dùng .inf/.nan)"))
    return problems
