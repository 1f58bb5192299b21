"""The campaign file schema. Pydantic models are the single source of truth (JSON Schema is emitted from
them); `consistency_problems` adds the rules that span fields. Rules needing the database (units, levels,
award forms) are checked by the loader with the same located-problem shape."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, EmailStr, Field, Tag, model_validator

from thidua.models.periods import Every, Period, periods
from thidua.models.rounds import RoundDates as RoundDates  # re-exported: the campaign's rounds
from thidua.models.rounds import RoundOfDay as RoundOfDay
from thidua.models.rounds import round_of_day as round_of_day
from thidua.models.spec.clusters import ClusterScoring
from thidua.models.spec.common import Code, ObligationRef, Sector, Strict, UnitCode, VNDate
from thidua.models.spec.reminders import CalendarSpec, Ladder, ladder_problems

ObligationKind = Literal[
    "registration", "round_report", "final_report", "nomination_window", "annual_report", "interim_report", "custom"
]
FieldType = Literal["integer", "decimal", "text", "choice", "date", "bool", "file"]


Scalar = Union[bool, int, float, str]


class UnitSelector(Strict):
    """Which units, beyond level and sector: by unit attributes (config/unit_attributes.yaml), by place in the
    tree, by cụm/khối thi đua. Every condition given must hold; a list of values means any of them."""

    attributes: dict[Code, Union[Scalar, list[Scalar]]] = Field(default_factory=dict)
    under: UnitCode | None = None  # in the subtree of this unit (with `levels`: "level L under Y")
    children_of: UnitCode | None = None  # direct children of this unit only
    clusters: list[str] | None = None  # units of these cụm/khối thi đua

    def unit_codes(self) -> list[tuple[str, str]]:
        return [(key, code) for key, code in (("under", self.under), ("children_of", self.children_of)) if code]


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
    levels: list[Code] | None = None  # only asked of units of these levels (a figure reported at one level only)
    where: UnitSelector | None = None  # only asked of units with these attribute values ('attributes' only)
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
        if self.where is not None and (self.where.unit_codes() or self.where.clusters):
            raise ValueError("'where' của một trường chỉ chọn theo thuộc tính đơn vị ('attributes')")
        return self


class RelativeDue(Strict):
    """A due date relative to the end of a round: `{round: 2, days_after_end: 10}`."""

    round: int = Field(ge=1)
    days_after_end: int = Field(ge=0, le=120)


class PeriodDue(Strict):
    """Due date of each period of a recurring obligation: `{days_after_period_end: 5}`, or for yearly
    obligations a day of the period's year: `{day_month: "15/11"}`."""

    days_after_period_end: int | None = Field(default=None, ge=0, le=120)
    day_month: str | None = Field(default=None, pattern=r"^\d{1,2}/\d{1,2}$")

    @model_validator(mode="after")
    def _one_rule(self) -> "PeriodDue":
        if (self.days_after_period_end is None) == (self.day_month is None):
            raise ValueError("hạn theo kỳ cần đúng một trong hai: 'days_after_period_end' hoặc 'day_month'")
        if self.day_month is not None:
            day, month = (int(x) for x in self.day_month.split("/"))
            try:
                date(2024, month, day)  # a leap year accepts 29/02
            except ValueError:
                raise ValueError(f"'day_month' không phải ngày/tháng có thật: '{self.day_month}'") from None
        return self


class ExtraRecipient(Strict):
    """A body outside the unit tree that receives a copy of every report sent (e.g. the provincial Party committee)."""

    name: str
    email: EmailStr


def _due_form(value: Any) -> str:
    """Which form of due date a value is, so that an error speaks about that form only."""
    if isinstance(value, dict):
        return "RelativeDue" if {"round", "days_after_end"} & set(value) else "PeriodDue"
    if isinstance(value, (RelativeDue, PeriodDue)):
        return type(value).__name__
    return "Date"


Due = Annotated[
    Union[
        Annotated[VNDate, Tag("Date")],
        Annotated[RelativeDue, Tag("RelativeDue")],
        Annotated[PeriodDue, Tag("PeriodDue")],
    ],
    Discriminator(_due_form),
]


class Obligation(Strict):
    code: Code
    kind: ObligationKind
    title: str
    description: str = ""
    round: int | None = Field(default=None, ge=1)
    levels: list[Code] = Field(min_length=1)  # levels that owe it
    sectors: list[Sector] | None = None  # None: every sector
    where: UnitSelector | None = None  # only the units of `levels` that match (attributes, place, cluster)
    opens: VNDate | None = None
    every: Every | None = None  # recurring: one dated obligation per calendar period
    periods_from: VNDate | None = None  # recurring window (default: the campaign's dates)
    periods_until: VNDate | None = None
    due: Due
    # interim_report (báo cáo nhanh): the day its running figure is counted to ("8,000 by 31/8" inside a round
    # that ends 30/9): its values are attributed to that day, and to the round of that day by round_boundary.
    as_of: VNDate | None = None
    assumption: str | None = None  # why a date was chosen where the plan names none
    fields: list[FormField] = Field(default_factory=list)
    reviewer: Literal["parent", "owner"] = "parent"
    review_required: bool = True
    consolidate_accepted_only: bool = True
    ladder: Code | None = None  # default: the campaign's default_ladder
    recipients: list[ExtraRecipient] = Field(
        default_factory=list
    )  # named bodies outside the tree: a copy of each report
    cc: list[EmailStr] = Field(default_factory=list)  # plain addresses that get the same copy

    @model_validator(mode="after")
    def _round_needed(self) -> "Obligation":
        if self.kind == "round_report" and self.round is None:
            raise ValueError("nghĩa vụ 'round_report' cần số đợt ('round')")
        codes = [f.code for f in self.fields]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"mã trường bị trùng: {', '.join(dupes)}")
        addresses = [str(r.email).lower() for r in self.recipients] + [str(a).lower() for a in self.cc]
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise ValueError(f"địa chỉ nhận bản sao bị trùng: {', '.join(repeated)}")
        return self

    def copy_recipients(self) -> list[tuple[str, str]]:
        """(name, address) of everyone outside the tree who gets a copy of each report."""
        return [(r.name, str(r.email)) for r in self.recipients] + [("", str(a)) for a in self.cc]


class TargetCondition(Strict):
    op: Literal[">=", ">", "==", "<=", "<", "in", "truthy"]
    value: float | str | list[str] | None = None


class TargetSource(Strict):
    obligations: list[ObligationRef] = Field(min_length=1)
    field: Code
    levels: list[Code] | None = None  # which units' submissions count (default: whoever owes them)
    condition: TargetCondition | None = None  # for rollup 'share'
    every_period: bool = False  # share: a unit counts only when it meets the condition in every period due
    each_period: bool = False  # judged separately in each period of the recurring source ("hàng năm, …")
    where: UnitSelector | None = None  # only these units' reports count (the numerator's units)
    assessment: Literal["self", "appraisal"] = "self"  # appraisal: the rating the reviewer gave, not the unit's own
    denominator_field: Code | None = None  # ratio: Σ field / Σ this field of the same reports
    denominator_attribute: Code | None = None  # ratio: Σ field / Σ this unit attribute of the reporting units


class Denominator(Strict):
    """The explicit set a share divides by: every active unit of these levels (in the scope) that matches,
    whether or not it owes the report (e.g. "CĐCS eligible to have a women's committee")."""

    levels: list[Code] = Field(min_length=1)
    where: UnitSelector | None = None


class TargetSpec(Strict):
    code: Code
    title: str
    rollup: Literal["sum", "average", "share", "count", "ratio"]
    op: Literal[">=", ">", "<=", "<", "=="] = ">="  # achieved when figure <op> value ("trên 95%" is ">")
    value: float = Field(ge=0)
    unit: str = ""  # unit of measure shown to users, e.g. "sáng kiến", "%"
    deadline: VNDate
    source: TargetSource
    scope_level: Code | None = None  # where the target is set (default: the campaign root)
    breakdown_level: Code | None = None  # progress per unit of this level (e.g. each district)
    denominator: Denominator | None = None  # share: divide by this set instead of the units that owe the report
    breakdown_attribute: Code | None = None  # progress per value of a unit attribute (e.g. ownership)
    breakdown_cluster_level: Code | None = None  # progress per cụm/khối thi đua of the units of this level
    quotas: str | None = None  # XLSX/CSV (path relative to config/): each breakdown unit's own assigned value


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


class ProgrammeSpec(Strict):
    """A programme of several years (e.g. 2021–2025): one file, one campaign, a round per year; recurring
    obligations give the yearly instances and targets may be judged each year ('each_period') or at the end."""

    from_year: int = Field(ge=2000, le=2100)
    to_year: int = Field(ge=2000, le=2100)


class AwardsRef(Strict):
    catalogue: str | None = None  # path relative to config/
    # v2: several catalogues in force one after another (each file's effective_from / effective_until); a
    # nomination uses the one in force on the day it is made.
    catalogues: list[str] = Field(default_factory=list)
    review_days_per_level: dict[Code, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_form(self) -> "AwardsRef":
        if (self.catalogue is None) == (not self.catalogues):
            raise ValueError(
                "khai báo đúng một trong hai: 'catalogue' (một danh mục) hoặc 'catalogues' (nhiều danh mục theo thời gian)"
            )
        return self

    def paths(self) -> list[str]:
        return [self.catalogue] if self.catalogue else list(self.catalogues)


class CampaignSpec(Strict):
    code: Code
    title: str
    theme: str
    year: int = Field(ge=2000, le=2100)
    programme: ProgrammeSpec | None = None  # several years: 'year' is the first one
    issuing_unit: UnitCode
    owner: Owner
    timezone: str = "Asia/Ho_Chi_Minh"
    participants_root: UnitCode | None = None  # default: the issuing unit
    plan_issued_on: VNDate
    assumption_notes: list[str] = Field(default_factory=list)
    starts: VNDate
    ends: VNDate
    # A day shared by two rounds (the seed's 31/5 and 30/9 end one round and start the next) belongs to the
    # earlier round (earlier_round) or to the later one (later_round): dated events follow this rule.
    round_boundary: Literal["earlier_round", "later_round"] = "earlier_round"
    rounds: list[RoundSpec] = Field(min_length=1)
    content: ContentBySector = Field(default_factory=ContentBySector)
    obligations: list[Obligation] = Field(min_length=1)
    targets: list[TargetSpec] = Field(default_factory=list)
    reminder_ladders: list[Ladder] = Field(default_factory=list)
    default_ladder: Code | None = None
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    awards: AwardsRef | None = None
    cluster_scoring: ClusterScoring | None = None  # chấm điểm, xếp hạng trong cụm/khối thi đua (Cờ thi đua)


Loc = tuple[object, ...]


def period_due(due: PeriodDue, period: Period) -> date:
    if due.days_after_period_end is not None:
        return period.ends + timedelta(days=due.days_after_period_end)
    assert due.day_month is not None
    day, month = (int(x) for x in due.day_month.split("/"))
    return date(period.ends.year, month, day)


def obligation_periods(obligation: Obligation, spec: CampaignSpec) -> list[tuple[Period, date]]:
    """Each period of a recurring obligation with its due date (empty for a one-off obligation)."""
    if obligation.every is None or not isinstance(obligation.due, PeriodDue):
        return []
    start = obligation.periods_from or spec.starts
    end = obligation.periods_until or spec.ends
    return [(p, period_due(obligation.due, p)) for p in periods(obligation.every, start, end)]


def resolve_due(obligation: Obligation, rounds: dict[int, RoundSpec]) -> date | None:
    if isinstance(obligation.due, PeriodDue):
        return None  # one due date per period: obligation_periods
    if isinstance(obligation.due, RelativeDue):
        round_ = rounds.get(obligation.due.round)
        return None if round_ is None else round_.ends + timedelta(days=obligation.due.days_after_end)
    return obligation.due


def consistency_problems(spec: CampaignSpec) -> list[tuple[Loc, str]]:
    """Rules spanning several fields. Returns (location, message) pairs; empty when consistent."""
    problems: list[tuple[Loc, str]] = _blank_and_infinite(spec)
    if spec.starts > spec.ends:
        problems.append((("starts",), "ngày bắt đầu sau ngày kết thúc chiến dịch"))
    if spec.programme is None and spec.starts.year != spec.year and spec.ends.year != spec.year:
        problems.append((("year",), f"năm {spec.year} không khớp thời gian chiến dịch"))
    if spec.programme is not None:
        p = spec.programme
        if p.to_year <= p.from_year:
            problems.append((("programme", "to_year"), "chương trình nhiều năm: năm cuối phải sau năm đầu"))
        if spec.year != p.from_year:
            problems.append(
                (("year",), f"chương trình {p.from_year}–{p.to_year}: 'year' phải là năm đầu ({p.from_year})")
            )
        if spec.starts.year != p.from_year or spec.ends.year != p.to_year:
            problems.append(
                (
                    ("programme",),
                    f"thời gian chiến dịch {spec.starts:%d/%m/%Y} – {spec.ends:%d/%m/%Y} "
                    f"không khớp chương trình {p.from_year}–{p.to_year}",
                )
            )
    elif spec.ends.year > spec.starts.year + 1 or (spec.ends - spec.starts).days > 400:
        problems.append((("ends",), "chiến dịch dài hơn một năm: khai báo 'programme' (from_year, to_year)"))

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
                problems.append(
                    (("rounds", i, "starts"), f"có khoảng trống giữa đợt {previous.number} và đợt {round_.number}")
                )

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
        problems.extend(_recurrence_problems(spec, ob, loc))
        due = resolve_due(ob, rounds)
        problems.extend(_interim_problems(spec, ob, loc, due))
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
    recurring = {ob.code: ob.every is not None for ob in spec.obligations}
    period_keys = {ob.code: {p.key for p, _ in obligation_periods(ob, spec)} for ob in spec.obligations if ob.every}
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
            series, _, key = ob_code.partition("@")
            if key and series in field_codes:  # one period of a recurring obligation: 'bao-cao-nam@2025'
                if key not in period_keys.get(series, set()):
                    problems.append(
                        (loc + ("source", "obligations", j), f"nghĩa vụ định kỳ '{series}' không có kỳ '{key}'")
                    )
                elif target.source.field not in field_codes[series]:
                    problems.append(
                        (loc + ("source", "field"), f"nghĩa vụ '{series}' không có trường '{target.source.field}'")
                    )
                continue
            if ob_code not in field_codes:
                problems.append((loc + ("source", "obligations", j), f"không có nghĩa vụ '{ob_code}'"))
            elif target.source.field not in field_codes[ob_code]:
                problems.append(
                    (loc + ("source", "field"), f"nghĩa vụ '{ob_code}' không có trường '{target.source.field}'")
                )
            else:
                # A sum or an average of text or dates, or "more than" on them, would stay at 0 % forever.
                kind = field_types[ob_code][target.source.field]
                condition = target.source.condition
                numeric_test = target.rollup not in ("share", "count") or (
                    condition is not None and condition.op in (">=", ">", "<=", "<")
                )  # count/share test a condition
                if numeric_test and kind not in ("integer", "decimal"):
                    what = f"chỉ tiêu '{target.rollup}'" if target.rollup != "share" else f"điều kiện '{condition.op}'"  # type: ignore[union-attr]
                    problems.append(
                        (
                            loc + ("source", "field"),
                            f"{what} không tính được trên trường '{target.source.field}' kiểu '{kind}' của "
                            f"nghĩa vụ '{ob_code}' (cần trường số: integer hoặc decimal)",
                        )
                    )
        if target.rollup == "share" and target.source.condition is None:
            problems.append((loc + ("source", "condition"), "chỉ tiêu tỉ lệ ('share') cần điều kiện ('condition')"))
        has_base = [k for k in ("denominator_field", "denominator_attribute") if getattr(target.source, k)]
        if target.rollup == "ratio" and len(has_base) != 1:
            problems.append(
                (
                    loc + ("source",),
                    "chỉ tiêu tỉ số ('ratio') cần đúng một trong 'denominator_field', 'denominator_attribute'",
                )
            )
        if target.rollup != "ratio" and has_base:
            problems.append((loc + ("source", has_base[0]), f"'{has_base[0]}' chỉ dùng cho chỉ tiêu tỉ số ('ratio')"))
        if target.source.denominator_field:
            for ob_code in target.source.obligations:
                if ob_code in field_codes and target.source.denominator_field not in field_codes[ob_code]:
                    problems.append(
                        (
                            loc + ("source", "denominator_field"),
                            f"nghĩa vụ '{ob_code}' không có trường '{target.source.denominator_field}'",
                        )
                    )
        if target.value == 0 and target.op in (">=", ">") and target.rollup != "count":
            problems.append((loc + ("value",), "giá trị chỉ tiêu phải lớn hơn 0"))
        if target.quotas is not None and target.breakdown_level is None:
            problems.append(
                (loc + ("quotas",), "chỉ tiêu giao cho từng đơn vị ('quotas') cần 'breakdown_level' (cấp được giao)")
            )
        if target.denominator is not None and target.rollup != "share":
            problems.append((loc + ("denominator",), "'denominator' chỉ dùng cho chỉ tiêu tỉ lệ ('share')"))
        if target.source.each_period:
            one_off = [c for c in target.source.obligations if not recurring.get(c, False)]
            if one_off:
                problems.append(
                    (
                        loc + ("source", "each_period"),
                        f"'each_period' cần nghĩa vụ định kỳ ('every'); '{one_off[0]}' không định kỳ",
                    )
                )
        if target.source.every_period:
            if target.rollup != "share":
                problems.append(
                    (loc + ("source", "every_period"), "'every_period' chỉ dùng cho chỉ tiêu tỉ lệ ('share')")
                )
            one_off = [c for c in target.source.obligations if c in recurring and not recurring[c]]
            if one_off:
                problems.append(
                    (
                        loc + ("source", "every_period"),
                        f"'every_period' cần nghĩa vụ định kỳ ('every'); '{one_off[0]}' không định kỳ",
                    )
                )
    problems.extend(ladder_problems(spec))
    problems.extend(_cluster_scoring_problems(spec))
    return problems


def _cluster_scoring_problems(spec: CampaignSpec) -> list[tuple[Loc, str]]:
    """Cụm/khối scoring: the obligations, fields and targets it names exist in this file."""
    if spec.cluster_scoring is None:
        return []
    problems: list[tuple[Loc, str]] = []
    obligations = {ob.code: ob for ob in spec.obligations}
    targets = {t.code for t in spec.targets}
    for i, criterion in enumerate(spec.cluster_scoring.criteria):
        loc: Loc = ("cluster_scoring", "criteria", i)
        for ref in criterion.obligations:
            ob = obligations.get(ref.split("@")[0])
            if ob is None:
                problems.append((loc + ("obligations",), f"không có nghĩa vụ '{ref}'"))
            elif criterion.field and criterion.field not in {f.code for f in ob.fields}:
                problems.append((loc + ("field",), f"nghĩa vụ '{ob.code}' không có trường '{criterion.field}'"))
        for code in criterion.targets:
            if code not in targets:
                problems.append((loc + ("targets",), f"không có chỉ tiêu '{code}'"))
    return problems


def _interim_problems(spec: CampaignSpec, ob: Obligation, loc: Loc, due: date | None) -> list[tuple[Loc, str]]:
    """A báo cáo nhanh (interim_report) names the day its figure is counted to, inside the campaign, not after
    its own due date; no other kind has such a day."""
    if ob.kind != "interim_report":
        if ob.as_of is not None:
            return [(loc + ("as_of",), "'as_of' (ngày chốt số liệu) chỉ dùng cho báo cáo nhanh (kind: interim_report)")]
        return []
    if ob.as_of is None:
        return [
            (
                loc + ("kind",),
                "báo cáo nhanh (interim_report) cần 'as_of': ngày chốt số liệu lũy kế, ví dụ as_of: 31/08/2023",
            )
        ]
    problems: list[tuple[Loc, str]] = []
    if ob.every is not None:
        problems.append((loc + ("every",), "báo cáo nhanh chốt số liệu một ngày ('as_of'): không định kỳ ('every')"))
    if not spec.starts <= ob.as_of <= spec.ends:
        problems.append(
            (
                loc + ("as_of",),
                f"ngày chốt số liệu {ob.as_of:%d/%m/%Y} nằm ngoài thời gian chiến dịch "
                f"({spec.starts:%d/%m/%Y} – {spec.ends:%d/%m/%Y})",
            )
        )
    if due is not None and ob.as_of > due:
        problems.append((loc + ("as_of",), f"ngày chốt số liệu {ob.as_of:%d/%m/%Y} sau hạn nộp {due:%d/%m/%Y}"))
    if (
        ob.round is not None
        and ob.round in {r.number for r in spec.rounds}
        and round_of_day(ob.as_of, spec.rounds, spec.round_boundary) != ob.round
    ):
        problems.append(
            (
                loc + ("round",),
                f"ngày chốt số liệu {ob.as_of:%d/%m/%Y} không thuộc đợt {ob.round} "
                f"(theo quy tắc ranh giới '{spec.round_boundary}')",
            )
        )
    return problems


def interim_round(ob: Obligation, spec: CampaignSpec) -> int | None:
    """The round a báo cáo nhanh's figure belongs to: its declared round, else the round of its as_of day."""
    if ob.round is not None or ob.as_of is None:
        return ob.round
    return round_of_day(ob.as_of, spec.rounds, spec.round_boundary)


def _recurrence_problems(spec: CampaignSpec, ob: Obligation, loc: Loc) -> list[tuple[Loc, str]]:
    """A recurring obligation needs a per-period due rule inside the campaign; a one-off one must not have it."""
    problems: list[tuple[Loc, str]] = []
    if ob.every is None:
        if isinstance(ob.due, PeriodDue):
            problems.append((loc + ("due",), "hạn theo kỳ chỉ dùng cho nghĩa vụ định kỳ (thêm 'every')"))
        for key in ("periods_from", "periods_until"):
            if getattr(ob, key) is not None:
                problems.append((loc + (key,), f"'{key}' chỉ dùng cho nghĩa vụ định kỳ (thêm 'every')"))
        return problems
    if not isinstance(ob.due, PeriodDue):
        problems.append((loc + ("due",), "nghĩa vụ định kỳ cần hạn theo kỳ, ví dụ {days_after_period_end: 5}"))
        return problems
    if ob.round is not None or ob.kind == "round_report":
        problems.append((loc + ("every",), "nghĩa vụ định kỳ không gắn với một đợt ('round')"))
    if ob.due.day_month is not None and ob.every != "year":
        problems.append((loc + ("due", "day_month"), "'day_month' chỉ dùng khi 'every: year'"))
    start, end = ob.periods_from or spec.starts, ob.periods_until or spec.ends
    if start > end:
        problems.append((loc + ("periods_until",), "kỳ cuối kết thúc trước kỳ đầu"))
        return problems
    if start < spec.starts:
        problems.append((loc + ("periods_from",), "kỳ đầu bắt đầu trước chiến dịch"))
    if end > spec.ends:
        problems.append((loc + ("periods_until",), "kỳ cuối kết thúc sau chiến dịch"))
    for period, due in obligation_periods(ob, spec):
        if due < period.starts:
            problems.append((loc + ("due",), f"hạn {due:%d/%m/%Y} của kỳ {period.label} trước khi kỳ bắt đầu"))
            break
        if due > spec.ends + timedelta(days=60):
            problems.append(
                (loc + ("due",), f"hạn {due:%d/%m/%Y} của kỳ {period.label} nằm ngoài thời gian chiến dịch")
            )
            break
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
                    problems.append(
                        (("obligations", i, "fields", j, key), "phải là một số hữu hạn (không dùng .inf/.nan)")
                    )
    for i, target in enumerate(spec.targets):
        if not target.title:
            problems.append((("targets", i, "title"), blank))
        if not math.isfinite(target.value):
            problems.append((("targets", i, "value"), "phải là một số hữu hạn (không dùng .inf/.nan)"))
        condition = target.source.condition
        if condition is not None and isinstance(condition.value, float) and not math.isfinite(condition.value):
            problems.append(
                (("targets", i, "source", "condition", "value"), "phải là một số hữu hạn (không dùng .inf/.nan)")
            )
    return problems
