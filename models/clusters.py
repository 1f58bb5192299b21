"""Cụm/khối thi đua (emulation clusters) as first-class groups: a cluster of a year (code, name, kind cụm/khối,
its head unit — đơn vị trưởng cụm, which rotates from year to year), its member units, and the ranking the head
submits after the cluster's meeting (biên bản họp cụm), which backs the Cờ thi đua proposals.

Pure rules here (no I/O): reading membership rows into a plan with located problems, and ranking scored members
with a stated tie rule. Tables: `cluster`, `cluster_member`, `cluster_ranking`, `cluster_score`.

`unit.cluster` (the free-text label of the unit files) stays: it is what the unit file says, with no year. The
first-class membership of a year is what rankings, the Cờ thi đua rule and the cluster breakdowns read; the
campaign selector `clusters: [...]` matches either (a cluster's code or name, or the unit's label)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow
from thidua.models.spec.problems import Problem

KINDS = {"cum": "Cụm thi đua", "khoi": "Khối thi đua"}
KIND_WORDS = {
    "cum": "cum",
    "cụm": "cum",
    "cum thi dua": "cum",
    "cụm thi đua": "cum",
    "khoi": "khoi",
    "khối": "khoi",
    "khoi thi dua": "khoi",
    "khối thi đua": "khoi",
}
YEAR_MIN, YEAR_MAX = 2000, 2100
NAME_MAX = 200
CODE_MAX = 64


class Cluster(SQLModel, table=True):
    """One cụm/khối thi đua in one year (the same code may come back every year with another head)."""

    __table_args__ = (UniqueConstraint("code", "year", name="uq_cluster_code_year"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=CODE_MAX)
    name: str = Field(max_length=NAME_MAX)
    kind: str = Field(max_length=8)  # cum | khoi
    year: int
    head_unit_id: int = Field(foreign_key="unit.id")  # đơn vị trưởng cụm of that year
    source_file: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class ClusterMember(SQLModel, table=True):
    """A unit belongs to at most one cụm/khối in a year (GIẢ ĐỊNH, see `one_cluster_per_year` below)."""

    __tablename__ = "cluster_member"
    __table_args__ = (
        UniqueConstraint("year", "unit_id", name="uq_cluster_member_year_unit"),
        Index("ix_cluster_member_cluster", "cluster_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id")
    unit_id: int = Field(foreign_key="unit.id")
    year: int  # the cluster's year (denormalised: one cluster per unit and year is a constraint)


class ClusterRanking(SQLModel, table=True):
    """The ranking the head submitted for a campaign (one per cluster and campaign; a resubmission replaces it)."""

    __tablename__ = "cluster_ranking"
    __table_args__ = (UniqueConstraint("cluster_id", "campaign_id", name="uq_cluster_ranking"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    cluster_id: int = Field(foreign_key="cluster.id")
    campaign_id: int = Field(foreign_key="campaign.id")
    submitted_by_unit_id: int = Field(foreign_key="unit.id")
    submitted_by: str = Field(max_length=254)
    submitted_at: datetime = Field(default_factory=utcnow)
    minutes: str = Field(default="", max_length=300)  # biên bản họp cụm: số, ngày
    version: int = 1


class ClusterScore(SQLModel, table=True):
    __tablename__ = "cluster_score"

    ranking_id: int = Field(foreign_key="cluster_ranking.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    score: float
    rank: int
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# ---------------------------------------------------------------------------------------------------
# Membership rows (one per member and year) -> a plan, with located problems
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberRow:
    """One membership as read from a file: where it was read, and the raw values."""

    file: str
    line: int | None
    fields: Mapping[str, str]  # field name -> how the file names it (column header or YAML path)
    year: Any
    code: Any
    name: Any
    kind: Any
    unit: Any
    head: bool


@dataclass
class ClusterPlan:
    code: str
    year: int
    name: str
    kind: str
    head: str  # unit code
    members: list[str] = field(default_factory=list)
    line: int | None = None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def normalise_kind(value: Any) -> str | None:
    return KIND_WORDS.get(_text(value).lower())


def plan_clusters(rows: Sequence[MemberRow], unit_codes: set[str]) -> tuple[list[ClusterPlan], list[Problem]]:
    """Clusters of the rows, every problem at once with file, row and column. One unit in at most one
    cụm/khối per year (GIẢ ĐỊNH: quy chế thi đua của LĐLĐ tỉnh xếp mỗi đơn vị vào một cụm hoặc một khối; đổi
    bằng cách bỏ ràng buộc uq_cluster_member_year_unit và kiểm tra dưới đây)."""
    problems: list[Problem] = []
    plans: dict[tuple[str, int], ClusterPlan] = {}
    seen_unit: dict[tuple[int, str], tuple[str, int | None]] = {}
    heads: dict[tuple[str, int], list[tuple[str, MemberRow]]] = {}
    for row in rows:

        def bad(name: str, message: str, row: MemberRow = row) -> None:
            problems.append(Problem(row.file, row.line, row.fields.get(name, name), message))

        ok = True
        year_text = _text(row.year)
        try:
            year = int(float(year_text)) if year_text else None
        except ValueError:
            year = None
        if year is None or not (YEAR_MIN <= year <= YEAR_MAX) or (year_text and float(year_text) != year):
            bad("year", f"năm phải là số từ {YEAR_MIN} đến {YEAR_MAX}: '{year_text}'" if year_text else "thiếu năm")
            ok = False
        code = _text(row.code)
        if not code:
            bad("code", "thiếu mã cụm/khối thi đua")
            ok = False
        elif len(code) > CODE_MAX or any(c.isspace() for c in code):
            bad("code", f"mã cụm/khối không hợp lệ (không có khoảng trắng, tối đa {CODE_MAX} ký tự): '{code}'")
            ok = False
        name = _text(row.name)
        if len(name) > NAME_MAX:
            bad("name", f"tên cụm/khối quá dài (tối đa {NAME_MAX} ký tự)")
            ok = False
        kind = normalise_kind(row.kind) if _text(row.kind) else None
        if _text(row.kind) and kind is None:
            bad("kind", f"loại phải là 'cụm' hoặc 'khối': '{_text(row.kind)}'")
            ok = False
        unit = _text(row.unit)
        if not unit:
            bad("unit", "thiếu mã đơn vị thành viên")
            ok = False
        elif unit not in unit_codes:
            bad("unit", f"không có đơn vị mã '{unit}' (nhập đơn vị trước: thidua units import)")
            ok = False
        if not ok or year is None:
            continue
        key = (code, year)
        plan = plans.get(key)
        if plan is None:
            if not name:
                bad("name", f"thiếu tên của cụm/khối '{code}' năm {year}")
                continue
            plan = plans[key] = ClusterPlan(code, year, name, kind or "cum", "", line=row.line)
        else:
            if name and name != plan.name:
                bad(
                    "name",
                    f"tên '{name}' khác tên '{plan.name}' đã khai cho cụm '{code}' năm {year} (dòng {plan.line})",
                )
            if kind and kind != plan.kind:
                bad("kind", f"loại khác loại đã khai cho cụm '{code}' năm {year} (dòng {plan.line})")
        earlier = seen_unit.get((year, unit))
        if earlier is not None:
            other, line = earlier
            where = f"dòng {line}" if line else "trước đó"
            if other == code:
                bad("unit", f"đơn vị '{unit}' đã có trong cụm '{code}' năm {year} ({where})")
            else:
                bad(
                    "unit",
                    f"đơn vị '{unit}' đã thuộc cụm/khối '{other}' năm {year} ({where}); mỗi đơn vị chỉ thuộc "
                    "một cụm hoặc một khối trong một năm",
                )
            continue
        seen_unit[(year, unit)] = (code, row.line)
        plan.members.append(unit)
        if row.head:
            heads.setdefault(key, []).append((unit, row))
    for key, plan in plans.items():
        found = heads.get(key, [])
        if not found:
            problems.append(
                Problem(
                    rows[0].file if rows else "",
                    plan.line,
                    "head",
                    f"cụm '{plan.code}' năm {plan.year} chưa có đơn vị trưởng cụm (đánh dấu một thành viên)",
                )
            )
        elif len(found) > 1:
            second = found[1][1]
            problems.append(
                Problem(
                    second.file,
                    second.line,
                    second.fields.get("head", "head"),
                    f"cụm '{plan.code}' năm {plan.year} đã có đơn vị trưởng cụm '{found[0][0]}'; "
                    "mỗi năm chỉ một đơn vị trưởng cụm",
                )
            )
        else:
            plan.head = found[0][0]
    return sorted(plans.values(), key=lambda p: (p.year, p.code)), problems


# ---------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    unit_code: str
    unit_name: str
    score: float
    parts: Mapping[str, float]  # criterion code -> points


@dataclass(frozen=True)
class Ranked:
    unit_code: str
    unit_name: str
    score: float
    parts: Mapping[str, float]
    rank: int
    tied: bool  # shares its rank with another member (the meeting did not order them)
    decided_by: str  # "điểm" | "tiêu chí phụ: <code>" | "biên bản họp cụm" | ""


def rank_members(
    scored: Sequence[Scored], tie_break: Sequence[str] = (), meeting_order: Sequence[str] = ()
) -> list[Ranked]:
    """Higher score first. Equal scores: the tie-break criteria in order (higher points first); still equal: the
    order the cluster's meeting voted (biên bản họp cụm, `meeting_order`, unit codes); still equal: the same
    rank (đồng hạng, competition ranking 1, 1, 3) — then neither is "the first" until the meeting decides.
    ValueError when `meeting_order` names a unit that is not tied or not a member."""
    members = {s.unit_code for s in scored}
    unknown = [c for c in meeting_order if c not in members]
    if unknown:
        raise ValueError(f"đơn vị {', '.join(unknown)} không phải thành viên của cụm")
    position = {code: i for i, code in enumerate(meeting_order)}

    def key(s: Scored) -> tuple[Any, ...]:
        return (-round(s.score, 6), *(-round(s.parts.get(c, 0.0), 6) for c in tie_break))

    def full_key(s: Scored) -> tuple[Any, ...]:
        return (*key(s), position.get(s.unit_code, len(position)))

    ordered = sorted(scored, key=lambda s: (full_key(s), s.unit_code))
    out: list[Ranked] = []
    misplaced = []
    for i, s in enumerate(ordered):
        same_key = [o for o in ordered if o is not s and key(o) == key(s)]
        tied = any(full_key(o) == full_key(s) for o in same_key)
        rank = out[-1].rank if i and full_key(ordered[i - 1]) == full_key(s) else i + 1
        if s.unit_code in position and not same_key:
            misplaced.append(s.unit_code)
        if tied:
            how = ""
        elif same_key:
            how = "biên bản họp cụm"
        elif any(round(o.score, 6) == round(s.score, 6) for o in ordered if o is not s):
            how = "tiêu chí phụ: " + next(
                c
                for c in tie_break
                if any(
                    round(o.score, 6) == round(s.score, 6)
                    and round(o.parts.get(c, 0.0), 6) != round(s.parts.get(c, 0.0), 6)
                    for o in ordered
                    if o is not s
                )
            )
        else:
            how = "điểm"
        out.append(Ranked(s.unit_code, s.unit_name, s.score, s.parts, rank, tied, how))
    if misplaced:
        raise ValueError(
            f"thứ tự của biên bản họp cụm chỉ dùng cho các đơn vị bằng điểm: {', '.join(misplaced)} không bằng "
            "điểm với đơn vị nào"
        )
    return out


@dataclass(frozen=True)
class ClusterStanding:
    """Where a nominee stands in its cluster of the campaign's year (for the Cờ thi đua rule)."""

    cluster_name: str | None  # None: not a member of any cụm/khối that year
    year: int
    rank: int | None = None  # None: the head has not submitted the ranking
    size: int = 0
    tie_size: int = 1  # how many members share this rank (đồng hạng)
