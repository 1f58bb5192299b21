"""Cụm/khối thi đua: importing clusters and their membership (YAML, CSV, XLSX; every problem located, nothing
applied when there is one), rotating the head, scoring and ranking members from the campaign's
`cluster_scoring`, the ranking the cluster head submits, and the standings the Cờ thi đua rule reads.

Decision (unit.cluster): the unit files' `cluster` label is kept as it is (free text, no year). The first-class
membership of a year is the truth for rankings, the Cờ thi đua rule and the breakdowns; the campaign selector
`clusters: [...]` matches a unit whose label is listed or which is a member (any year) of a cluster whose code or
name is listed; `breakdown_cluster_level` groups by the campaign year's membership and falls back to the label
for units that have none."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from thidua.audit import audit
from thidua.db import session_scope
from thidua.errors import InvalidInputError, NotFoundError, NotPermittedError, RefusedError
from thidua.models.clock import utcnow
from thidua.models.clusters import (
    KINDS,
    Cluster,
    ClusterMember,
    ClusterPlan,
    ClusterRanking,
    ClusterScore,
    ClusterStanding,
    MemberRow,
    Ranked,
    Scored,
    plan_clusters,
    rank_members,
)
from thidua.models.hierarchy import subtree_upper_bound
from thidua.models.sheet_headers import map_header
from thidua.models.spec.clusters import ClusterScoring, ScoringCriterion
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.yamlsource import parse_yaml
from thidua.models.submissions import Submission  # noqa: F401  (table registered for the counted subquery)
from thidua.models.tables import Campaign, ObligationDef, Unit
from thidua.sources import read_text_file

U = Unit.__table__  # type: ignore[attr-defined]
C = Cluster.__table__  # type: ignore[attr-defined]
M = ClusterMember.__table__  # type: ignore[attr-defined]
R = ClusterRanking.__table__  # type: ignore[attr-defined]
SC = ClusterScore.__table__  # type: ignore[attr-defined]

COLUMNS = {  # field -> accepted headers (folded)
    "year": ("nam", "Năm"),
    "code": ("ma_cum", "Mã cụm", "Mã cụm/khối"),
    "name": ("ten_cum", "Tên cụm", "Tên cụm/khối"),
    "kind": ("loai", "Loại", "Cụm/khối"),
    "unit": ("ma_don_vi", "Mã đơn vị"),
    "head": ("truong_cum", "Trưởng cụm", "Đơn vị trưởng cụm"),
}
REQUIRED = ("year", "code", "unit", "head")
TRUE_WORDS = {"x", "có", "co", "1", "true", "yes", "trưởng cụm", "truong cum"}
FALSE_WORDS = {"", "0", "không", "khong", "false", "no"}


# ---------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------
def read_cluster_file(path: Path | str) -> tuple[list[MemberRow], list[Problem]]:
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"Không có tệp {path}")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(path)
    if suffix == ".csv":
        try:
            text = read_text_file(path)
        except SpecError as exc:
            return [], exc.problems
        first = text.split("\n", 1)[0]
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=max((",", ";", "\t"), key=first.count))
        return _read_table(((n, row) for n, row in enumerate(reader, start=1)), str(path))
    if suffix == ".xlsx":
        from thidua.xlsx_guard import XlsxRefused, first_sheet_rows

        try:
            return _read_table(list(first_sheet_rows(path)), str(path))
        except XlsxRefused as exc:
            return [], [Problem(str(path), exc.row, exc.where or "", exc.message)]
        except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
            return [], [Problem(str(path), None, "", f"không đọc được tệp Excel: {exc}")]
    return [], [Problem(str(path), None, "", "chỉ nhận tệp .yaml, .csv hoặc .xlsx")]


def _read_table(rows: Iterable[tuple[int, Sequence[Any]]], file: str) -> tuple[list[MemberRow], list[Problem]]:
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return [], [
            Problem(file, None, "", "tệp rỗng: cần dòng tiêu đề (Năm, Mã cụm, Tên cụm, Loại, Mã đơn vị, Trưởng cụm)")
        ]
    header_line, header = first
    found = map_header(header, file, COLUMNS, REQUIRED, line=header_line)
    columns, labels, problems = found.columns, found.labels, found.problems
    if problems:
        return [], problems
    out: list[MemberRow] = []
    for line, row in iterator:
        values: dict[str, Any] = {}
        for index, cell in enumerate(row):
            if cell is None or str(cell).strip() == "":
                continue
            if index in columns:
                values[columns[index]] = cell
            else:
                problems.append(Problem(file, line, f"cột {index + 1}", "ô có dữ liệu nhưng cột không có tiêu đề"))
        if not values:
            continue
        head_text = str(values.get("head", "")).strip().casefold()
        if head_text not in TRUE_WORDS and head_text not in FALSE_WORDS:
            problems.append(
                Problem(
                    file,
                    line,
                    labels["head"],
                    f"ghi 'x' cho đơn vị trưởng cụm, để trống cho đơn vị khác: '{values['head']}'",
                )
            )
        out.append(
            MemberRow(
                file,
                line,
                labels,
                values.get("year"),
                values.get("code"),
                values.get("name"),
                values.get("kind"),
                values.get("unit"),
                head_text in TRUE_WORDS,
            )
        )
    return out, problems


def _read_yaml(path: Path) -> tuple[list[MemberRow], list[Problem]]:
    """clusters: [{code, name, kind, year | years, head | heads: {year: unit}, members: [unit codes]}]"""
    file = str(path)
    doc = parse_yaml(read_text_file(path), file)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("clusters"), list):
        return [], [Problem(file, 1, "clusters", "tệp phải có khóa 'clusters' là danh sách các cụm/khối thi đua")]
    problems = [
        doc.problem((key,), "khóa không được phép (chỉ dùng 'clusters')") for key in doc.data if key != "clusters"
    ]
    allowed = {"code", "name", "kind", "year", "years", "head", "heads", "members", "note"}
    out: list[MemberRow] = []
    for i, item in enumerate(doc.data["clusters"]):
        loc: tuple[object, ...] = ("clusters", i)
        if not isinstance(item, dict):
            problems.append(doc.problem(loc, "mỗi cụm/khối là một nhóm khóa: giá trị"))
            continue
        for key in sorted(item.keys() - allowed):
            problems.append(doc.problem(loc + (key,), f"khóa không được phép (dùng: {', '.join(sorted(allowed))})"))
        years = item.get("years", [item["year"]] if "year" in item else [])
        if not isinstance(years, list) or not years:
            problems.append(
                doc.problem(loc + ("years" if "years" in item else "year",), "cần 'year' hoặc 'years' (danh sách năm)")
            )
            continue
        heads = item.get("heads", {})
        if not isinstance(heads, dict):
            problems.append(doc.problem(loc + ("heads",), "'heads' là bảng năm: mã đơn vị trưởng cụm"))
            continue
        members = item.get("members")
        if not isinstance(members, list) or not members:
            problems.append(doc.problem(loc + ("members",), "cần 'members': danh sách mã đơn vị thành viên"))
            continue
        for year in years:
            head = heads.get(year, heads.get(str(year), item.get("head")))
            where = loc + (("heads", year) if year in heads or str(year) in heads else ("head",))
            if head is None:
                problems.append(
                    doc.problem(
                        loc, f"cụm '{item.get('code')}' năm {year} chưa có đơn vị trưởng cụm ('head' hoặc 'heads')"
                    )
                )
                continue
            if str(head) not in [str(m) for m in members]:
                problems.append(doc.problem(where, f"đơn vị trưởng cụm '{head}' không phải thành viên của cụm"))
                continue
            for j, unit in enumerate(members):
                fields = {
                    "year": f"clusters[{i}].year" if "year" in item else f"clusters[{i}].years",
                    "code": f"clusters[{i}].code",
                    "name": f"clusters[{i}].name",
                    "kind": f"clusters[{i}].kind",
                    "unit": f"clusters[{i}].members[{j}]",
                    "head": f"clusters[{i}].head",
                }
                out.append(
                    MemberRow(
                        file,
                        doc.line_of(loc + ("members", j)),
                        fields,
                        year,
                        item.get("code"),
                        item.get("name"),
                        item.get("kind"),
                        unit,
                        head is not None and str(unit) == str(head),
                    )
                )
    return out, problems


# ---------------------------------------------------------------------------------------------------
# Import (all or nothing)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterImportReport:
    years: list[int]
    created: int
    updated: int
    removed: int
    members: int
    dry_run: bool


def import_clusters(
    engine: Engine, path: Path | str, *, actor: str = "cli", dry_run: bool = False
) -> ClusterImportReport:
    """Clusters of the years the file names replace those years' clusters; any problem (located: file, row,
    column) changes nothing. A cluster of those years that the file leaves out is removed, unless its head has
    already submitted a ranking (then it is a problem: the ranking backs proposals)."""
    rows, problems = read_cluster_file(path)
    with session_scope(engine) as session:
        codes = {r.unit for r in rows if r.unit is not None}
        known = (
            {c for (c,) in session.execute(select(U.c.code).where(U.c.code.in_([str(x).strip() for x in codes])))}
            if codes
            else set()
        )
        plans, found = plan_clusters(rows, known)
        problems = problems + found
        if not rows and not problems:
            problems.append(Problem(str(path), None, "", "tệp không có cụm/khối thi đua nào"))
        years = sorted({p.year for p in plans})
        existing = {(r.code, r.year): r for r in session.execute(select(C).where(C.c.year.in_(years)))} if years else {}
        ranked = (
            {
                r.cluster_id
                for r in session.execute(
                    select(R.c.cluster_id).join(C, C.c.id == R.c.cluster_id).where(C.c.year.in_(years))
                )
            }
            if years
            else set()
        )
        wanted = {(p.code, p.year) for p in plans}
        for (code, year), row in existing.items():
            if (code, year) not in wanted and row.id in ranked:
                problems.append(
                    Problem(
                        str(path),
                        None,
                        "",
                        f"cụm '{code}' năm {year} đã có bảng xếp hạng nên không bỏ "
                        "khỏi danh sách được; giữ cụm trong tệp",
                    )
                )
        if problems:
            raise SpecError(problems)
        report = ClusterImportReport(
            years,
            sum(1 for k in wanted if k not in existing),
            sum(1 for k in wanted if k in existing),
            sum(1 for k in existing if k not in wanted),
            sum(len(p.members) for p in plans),
            dry_run,
        )
        if dry_run:
            session.rollback()
            return report
        _apply(session, plans, existing, wanted, str(path), actor)
        return report


def _apply(
    session: Session,
    plans: Sequence[ClusterPlan],
    existing: Mapping[tuple[str, int], Any],
    wanted: set[tuple[str, int]],
    file: str,
    actor: str,
) -> None:
    ids: dict[str, int] = dict(
        session.execute(
            select(U.c.code, U.c.id)
            .where(U.c.code.in_(sorted({m for p in plans for m in p.members})))
            .execution_options()
        ).all()
    )
    years = sorted({p.year for p in plans})
    gone = [row.id for key, row in existing.items() if key not in wanted]
    session.execute(delete(M).where(M.c.year.in_(years)))
    if gone:
        session.execute(delete(C).where(C.c.id.in_(gone)))
    now = utcnow()
    for plan in plans:
        values = {
            "name": plan.name,
            "kind": plan.kind,
            "head_unit_id": ids[plan.head],
            "source_file": file,
            "updated_at": now,
        }
        before = existing.get((plan.code, plan.year))
        if before is None:
            cluster_id = session.execute(
                insert(C).values(code=plan.code, year=plan.year, **values)
            ).inserted_primary_key[0]  # type: ignore[attr-defined]
        else:
            cluster_id = before.id
            session.execute(update(C).where(C.c.id == cluster_id).values(**values))
        session.execute(
            insert(M), [{"cluster_id": cluster_id, "unit_id": ids[u], "year": plan.year} for u in plan.members]
        )
        audit(
            session,
            actor=actor,
            action="cluster.import",
            entity="cluster",
            entity_id=cluster_id,
            before=None if before is None else {"name": before.name, "head_unit_id": before.head_unit_id},
            after={
                "code": plan.code,
                "year": plan.year,
                "name": plan.name,
                "kind": plan.kind,
                "head": plan.head,
                "members": plan.members,
            },
            note=file,
        )
    for cluster_id in gone:
        audit(session, actor=actor, action="cluster.remove", entity="cluster", entity_id=cluster_id, note=file)


# ---------------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterInfo:
    id: int
    code: str
    name: str
    kind: str
    year: int
    head_code: str
    head_name: str
    members: int

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class MemberInfo:
    unit_id: int
    code: str
    name: str
    level_code: str
    is_head: bool


def list_clusters(
    session: Session, *, year: int | None = None, head_unit_id: int | None = None, member_unit_id: int | None = None
) -> list[ClusterInfo]:
    head = U.alias("head")
    count = select(func.count()).where(M.c.cluster_id == C.c.id).scalar_subquery()
    query = (
        select(
            C.c.id,
            C.c.code,
            C.c.name,
            C.c.kind,
            C.c.year,
            head.c.code.label("head_code"),
            head.c.name.label("head_name"),
            count.label("members"),
        )
        .join(head, head.c.id == C.c.head_unit_id)
        .order_by(C.c.year.desc(), C.c.code)
    )
    if year is not None:
        query = query.where(C.c.year == year)
    if head_unit_id is not None:
        query = query.where(C.c.head_unit_id == head_unit_id)
    if member_unit_id is not None:
        query = query.where(C.c.id.in_(select(M.c.cluster_id).where(M.c.unit_id == member_unit_id)))
    return [ClusterInfo(*row) for row in session.execute(query)]


def get_cluster(session: Session, code: str, year: int) -> ClusterInfo:
    found = [c for c in list_clusters(session, year=year) if c.code == code]
    if not found:
        years = sorted(y for (y,) in session.execute(select(C.c.year).where(C.c.code == code)))
        hint = f" (có các năm: {', '.join(map(str, years))})" if years else ""
        raise NotFoundError(f"Không có cụm/khối thi đua mã '{code}' năm {year}{hint}")
    return found[0]


def members_of(session: Session, cluster: ClusterInfo) -> list[MemberInfo]:
    head = select(C.c.head_unit_id).where(C.c.id == cluster.id).scalar_subquery()
    return [
        MemberInfo(r.id, r.code, r.name, r.level_code, r.id == r.head)
        for r in session.execute(
            select(U.c.id, U.c.code, U.c.name, U.c.level_code, head.label("head"))
            .join(M, M.c.unit_id == U.c.id)
            .where(M.c.cluster_id == cluster.id)
            .order_by(U.c.code)
        )
    ]


def cluster_names_by_unit(session: Session, year: int, unit_ids: Iterable[int] | None = None) -> dict[int, str]:
    """unit id -> the name of its cụm/khối of that year (the membership; for breakdowns)."""
    query = select(M.c.unit_id, C.c.name).join(C, C.c.id == M.c.cluster_id).where(M.c.year == year)
    if unit_ids is not None:
        query = query.where(M.c.unit_id.in_(list(unit_ids)))
    return dict(session.execute(query).all())  # type: ignore[arg-type]


def membership_clause(names: Sequence[str]) -> Any:
    """Units that are members (any year) of a cluster whose code or name is listed: for the `clusters` selector."""
    return U.c.id.in_(
        select(M.c.unit_id).join(C, C.c.id == M.c.cluster_id).where(or_(C.c.code.in_(names), C.c.name.in_(names)))
    )


def rotate_head(engine: Engine, code: str, year: int, unit_code: str, *, actor: str = "cli") -> ClusterInfo:
    """Đơn vị trưởng cụm luân phiên: the head of a cluster's year becomes another member."""
    with session_scope(engine) as session:
        cluster = get_cluster(session, code, year)
        member = next((m for m in members_of(session, cluster) if m.code == unit_code), None)
        if member is None:
            raise InvalidInputError(
                f"Đơn vị '{unit_code}' không phải thành viên của {cluster.name} năm {year}; "
                "đơn vị trưởng cụm phải là thành viên"
            )
        session.execute(update(C).where(C.c.id == cluster.id).values(head_unit_id=member.unit_id, updated_at=utcnow()))
        audit(
            session,
            actor=actor,
            action="cluster.rotate_head",
            entity="cluster",
            entity_id=cluster.id,
            before={"head": cluster.head_code},
            after={"head": unit_code},
            unit_id=member.unit_id,
        )
    with Session(engine) as session:
        return get_cluster(session, code, year)


# ---------------------------------------------------------------------------------------------------
# Scoring and ranking
# ---------------------------------------------------------------------------------------------------
def scoring_of(campaign: Campaign) -> ClusterScoring:
    raw = (campaign.spec or {}).get("cluster_scoring")
    if not raw:
        raise RefusedError(
            f"Chiến dịch '{campaign.code}' chưa khai báo cách chấm điểm cụm/khối thi đua "
            "('cluster_scoring' trong tệp chiến dịch)"
        )
    return ClusterScoring.model_validate(raw)


def _as_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return float(bool(value))
    try:
        return float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except ValueError:
        return 0.0


def _criterion_values(
    session: Session, campaign: Campaign, criterion: ScoringCriterion, members: Sequence[MemberInfo], at: date | None
) -> dict[int, float]:
    from thidua.services.consolidation import counted_submissions
    from thidua.services.submissions import obligation_spec

    values = {m.unit_id: 0.0 for m in members}
    if criterion.source == "target":
        from thidua.services.targets import target_progress

        by_code = {m.code: m.unit_id for m in members}
        for report in target_progress(session, campaign_code=campaign.code, at=at):
            if report.code in criterion.targets:
                for row in report.breakdown:
                    if row.unit_code in by_code and row.progress.achieved:
                        values[by_code[row.unit_code]] += 1
        return values
    refs = [r.split("@")[0] for r in criterion.obligations]
    obligations = (
        session.execute(
            select(ObligationDef).where(
                ObligationDef.campaign_id == campaign.id,  # type: ignore[arg-type]
                or_(
                    ObligationDef.code.in_(criterion.obligations),  # type: ignore[attr-defined]
                    ObligationDef.code.in_(refs),  # type: ignore[attr-defined]
                    ObligationDef.series.in_(refs),  # type: ignore[union-attr]
                ),
            )
        )
        .scalars()
        .all()
    )
    paths: dict[int, str] = dict(session.execute(select(U.c.id, U.c.path).where(U.c.id.in_(list(values)))).all())
    for obligation in obligations:
        counted = counted_submissions(obligation.id, obligation_spec(obligation).consolidate_accepted_only)  # type: ignore[arg-type]
        assert criterion.field is not None
        own = (
            counted.c.data[criterion.field].as_string()
            if criterion.source == "rating"
            else counted.c.data[criterion.field]
        )
        column = {
            "appraisal": counted.c.appraised_rating,
            "appraisal_or_self": func.coalesce(counted.c.appraised_rating, own),
        }.get(criterion.assessment, own)
        if criterion.over == "subtree" and criterion.source == "field":
            where = or_(*(and_(U.c.path >= p, U.c.path < subtree_upper_bound(p)) for p in paths.values()))
        else:
            where = U.c.id.in_(list(values))
        for unit_id, path, value in session.execute(
            select(U.c.id, U.c.path, column).select_from(counted.join(U, U.c.id == counted.c.unit_id)).where(where)
        ):
            if criterion.source == "rating":
                if unit_id in values and value is not None:
                    values[unit_id] = max(values[unit_id], criterion.points.get(str(value), 0.0))
                continue
            owner = (
                unit_id if unit_id in values else next((uid for uid, p in paths.items() if path.startswith(p)), None)
            )
            if owner is not None:
                values[owner] += _as_float(value)
    return values


def score_members(
    session: Session, campaign: Campaign, cluster: ClusterInfo, *, at: date | None = None
) -> list[Scored]:
    scoring = scoring_of(campaign)
    members = members_of(session, cluster)
    parts: dict[int, dict[str, float]] = {m.unit_id: {} for m in members}
    for criterion in scoring.criteria:
        for unit_id, value in _criterion_values(session, campaign, criterion, members, at).items():
            parts[unit_id][criterion.code] = round(criterion.weight * value, 4)
    return [Scored(m.code, m.name, round(sum(parts[m.unit_id].values()), 4), parts[m.unit_id]) for m in members]


def compute_ranking(
    session: Session,
    campaign: Campaign,
    cluster: ClusterInfo,
    *,
    meeting_order: Sequence[str] = (),
    at: date | None = None,
) -> list[Ranked]:
    if cluster.year != campaign.year:
        raise RefusedError(
            f"{cluster.name} là cụm/khối năm {cluster.year}; chiến dịch '{campaign.code}' là năm {campaign.year}"
        )
    try:
        return rank_members(
            score_members(session, campaign, cluster, at=at), scoring_of(campaign).tie_break, meeting_order
        )
    except ValueError as exc:
        raise InvalidInputError(f"{cluster.name}: {exc}") from None


def campaign_named(session: Session, code: str) -> Campaign:
    found = session.execute(select(Campaign).where(Campaign.code == code)).scalars().first()  # type: ignore[arg-type]
    if found is None:
        raise NotFoundError(f"Không có chiến dịch mã '{code}'")
    return found


def submit_ranking(
    engine: Engine,
    campaign_code: str,
    cluster_code: str,
    acting_unit_id: int,
    *,
    actor: str,
    minutes: str,
    meeting_order: Sequence[str] = (),
    now: datetime | None = None,
) -> int:
    """The cluster head submits the ranking of its members (biên bản họp cụm: số, ngày in `minutes`); a new
    submission replaces the earlier one (version + 1). Only that year's head may submit."""
    if not minutes.strip():
        raise InvalidInputError("Cần số và ngày của biên bản họp cụm (ví dụ: 'Biên bản số 02/BB-CTĐ ngày 05/12/2023')")
    if len(minutes) > 300:
        raise InvalidInputError("Thông tin biên bản họp cụm quá dài (tối đa 300 ký tự)")
    with session_scope(engine) as session:
        campaign = campaign_named(session, campaign_code)
        cluster = get_cluster(session, cluster_code, campaign.year)
        head_id = session.execute(select(C.c.head_unit_id).where(C.c.id == cluster.id).with_for_update()).scalar_one()
        if head_id != acting_unit_id:
            raise NotPermittedError(
                f"Chỉ đơn vị trưởng {cluster.name} năm {cluster.year} ({cluster.head_name}) được gửi "
                "bảng xếp hạng của cụm"
            )
        ranked = compute_ranking(session, campaign, cluster, meeting_order=meeting_order)
        ids = {m.code: m.unit_id for m in members_of(session, cluster)}
        at = now or utcnow()
        previous = session.execute(
            select(R.c.id, R.c.version).where(R.c.cluster_id == cluster.id, R.c.campaign_id == campaign.id)
        ).first()
        if previous is not None:
            session.execute(delete(SC).where(SC.c.ranking_id == previous.id))
            session.execute(
                update(R)
                .where(R.c.id == previous.id)
                .values(
                    submitted_by_unit_id=acting_unit_id,
                    submitted_by=actor,
                    submitted_at=at,
                    minutes=minutes.strip(),
                    version=previous.version + 1,
                )
            )
            ranking_id = previous.id
        else:
            ranking_id = session.execute(
                insert(R).values(
                    cluster_id=cluster.id,
                    campaign_id=campaign.id,
                    submitted_by_unit_id=acting_unit_id,
                    submitted_by=actor,
                    submitted_at=at,
                    minutes=minutes.strip(),
                    version=1,
                )
            ).inserted_primary_key[0]  # type: ignore[attr-defined]
        session.execute(
            insert(SC),
            [
                {
                    "ranking_id": ranking_id,
                    "unit_id": ids[r.unit_code],
                    "score": r.score,
                    "rank": r.rank,
                    "details": {"parts": dict(r.parts), "tied": r.tied, "decided_by": r.decided_by},
                }
                for r in ranked
            ],
        )
        audit(
            session,
            actor=actor,
            action="cluster.ranking_submit",
            entity="cluster_ranking",
            entity_id=ranking_id,
            campaign_id=campaign.id,
            unit_id=acting_unit_id,
            at=at,
            note=minutes.strip(),
            after={
                "cluster": cluster.code,
                "year": cluster.year,
                "ranking": [[r.rank, r.unit_code, r.score] for r in ranked],
                "meeting_order": list(meeting_order),
            },
        )
        return int(ranking_id)


@dataclass(frozen=True)
class SubmittedRanking:
    id: int
    submitted_by: str
    submitted_at: datetime
    minutes: str
    version: int
    rows: list[Ranked]


def submitted_ranking(session: Session, campaign_id: int, cluster_id: int) -> SubmittedRanking | None:
    head = session.execute(select(R).where(R.c.cluster_id == cluster_id, R.c.campaign_id == campaign_id)).first()
    if head is None:
        return None
    rows = session.execute(
        select(U.c.code, U.c.name, SC.c.score, SC.c.rank, SC.c.details)
        .join(U, U.c.id == SC.c.unit_id)
        .where(SC.c.ranking_id == head.id)
        .order_by(SC.c.rank, U.c.code)
    ).all()
    return SubmittedRanking(
        head.id,
        head.submitted_by,
        head.submitted_at,
        head.minutes,
        head.version,
        [
            Ranked(
                r.code,
                r.name,
                r.score,
                (r.details or {}).get("parts", {}),
                r.rank,
                bool((r.details or {}).get("tied")),
                (r.details or {}).get("decided_by", ""),
            )
            for r in rows
        ],
    )


def standings(session: Session, campaign_id: int, year: int, unit_ids: Iterable[int]) -> dict[int, ClusterStanding]:
    """Each unit's place in its cụm/khối of `year` as the head submitted it (for the Cờ thi đua rule)."""
    ids = sorted(set(unit_ids))
    out = {uid: ClusterStanding(None, year) for uid in ids}
    if not ids:
        return out
    member_of: dict[int, int] = dict(
        session.execute(select(M.c.unit_id, M.c.cluster_id).where(M.c.year == year, M.c.unit_id.in_(ids))).all()
    )
    if not member_of:
        return out
    clusters = sorted(set(member_of.values()))
    names: dict[int, str] = dict(session.execute(select(C.c.id, C.c.name).where(C.c.id.in_(clusters))).all())
    rankings: dict[int, int] = dict(
        session.execute(
            select(R.c.cluster_id, R.c.id).where(R.c.campaign_id == campaign_id, R.c.cluster_id.in_(clusters))
        ).all()
    )
    scores: dict[int, list[tuple[int, int]]] = {}
    if rankings:
        for ranking_id, unit_id, rank in session.execute(
            select(SC.c.ranking_id, SC.c.unit_id, SC.c.rank).where(SC.c.ranking_id.in_(list(rankings.values())))
        ):
            scores.setdefault(ranking_id, []).append((unit_id, rank))
    for uid, cluster_id in member_of.items():
        ranking_id = rankings.get(cluster_id)
        rows = scores.get(ranking_id, []) if ranking_id is not None else []
        rank = next((r for u, r in rows if u == uid), None)
        out[uid] = ClusterStanding(
            names[cluster_id], year, rank, len(rows), sum(1 for _, r in rows if r == rank) if rank is not None else 1
        )
    return out


# ---------------------------------------------------------------------------------------------------
# Targets broken down by cluster
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterTargetRow:
    """One campaign target seen from one cluster: its members' own rows of the target's breakdown."""

    code: str
    title: str
    achieved: int  # members whose breakdown row reaches the target
    counted: int  # members that have a breakdown row (members of the target's breakdown level)
    members: list[tuple[str, str, float | None, str]]  # (unit code, name, % of target, verdict)


def cluster_targets(
    session: Session, campaign: Campaign, clusters: Sequence[ClusterInfo], *, at: date | None = None
) -> dict[int, list[ClusterTargetRow]]:
    """Progress of each campaign target per cluster (targets with a breakdown level its members belong to),
    computed once for all the clusters asked."""
    from thidua.services.targets import target_progress

    reports = [r for r in target_progress(session, campaign_code=campaign.code, at=at) if r.breakdown]
    out: dict[int, list[ClusterTargetRow]] = {}
    for cluster in clusters:
        codes = {m.code for m in members_of(session, cluster)}
        rows = []
        for report in reports:
            mine = [r for r in report.breakdown if r.unit_code in codes]
            if mine:
                rows.append(
                    ClusterTargetRow(
                        report.code,
                        report.title,
                        sum(1 for r in mine if r.progress.achieved),
                        len(mine),
                        [(r.unit_code, r.unit_name, r.progress.percent_of_target, r.progress.verdict) for r in mine],
                    )
                )
        out[cluster.id] = rows
    return out
