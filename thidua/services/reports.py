"""Consolidated round report and year-end report, as XLSX (one sheet per level, values not formulas) and
as DOCX laid out as a Vietnamese administrative document ready to sign, with a chart of target progress.

Building a report consolidates first (storing a new snapshot version only if figures changed), then reads
the stored snapshots, so the document shows exactly what the snapshot holds. The content is assembled
once (ReportContent) and rendered twice (XLSX, DOCX).
"""

from __future__ import annotations

import re
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from thidua.db import owns_transaction
from thidua.models.clock import fmt_date, utc_to_local, utcnow
from thidua.models.officenames import body_name, department_abbreviation, place_name, short_body_name  # noqa: F401
from thidua.models.reorganisation import OPERATION_LABELS
from thidua.models.spec.campaign import FormField, Obligation
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import UnknownReference
from thidua.models.tables import Assignment, Level, ObligationDef, Round, Unit
from thidua.models.unit_history import ReorganisationStep
from thidua.models.vnformat import fmt_fraction, fmt_integer, fmt_moment, fmt_number, fmt_percent, fmt_share
from thidua.services.campaign_context import CampaignContext, campaign_context
from thidua.services.campaigns import subtree_range
from thidua.services.consolidation import ConsolidationResult, consolidate, counted_submissions, latest_snapshots
from thidua.services.submissions import RATING_FIELD, obligation_spec, round_obligation
from thidua.services.targets import TargetReport, target_progress
from thidua.services.units import in_subtree_of
from thidua.xlsx_layout import number_format_for, print_setup

A = Assignment.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
RS = ReorganisationStep.__table__  # type: ignore[attr-defined]
FIGURE_TYPES = ("integer", "decimal")


# ---------------------------------------------------------------------------------------------------
# Content model
# ---------------------------------------------------------------------------------------------------
@dataclass
class Table:
    title: str  # sheet name (<= 31 chars) and DOCX caption
    headers: list[str]
    rows: list[list[Any]]
    total: list[Any] | None = None
    caption: str = ""  # longer description above the table
    percent_columns: tuple[int, ...] = ()  # 0-based columns shown with one decimal


@dataclass
class Chart:
    title: str
    labels: list[str]
    values: list[float]
    target: float | None  # a reference line (share targets) or None
    unit: str


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class ReportContent:
    file_stem: str
    issuing_lines: tuple[str, str]  # superior body, issuing body (left header)
    place: str
    year: int
    title: str  # "BÁO CÁO"
    subtitle: str
    as_of: str  # "hh:mm ngày dd/mm/yyyy"
    intro: str
    sections: list[Section]
    sheets: list[Table]
    recipients: list[str]
    signature: list[str]
    campaign_code: str = ""  # with issuer_code: which van-ban.yaml settings apply
    issuer_code: str = ""
    report_date: date | None = None  # the date line ("Bình Định, ngày 20 tháng 6 năm 2023")


@dataclass
class ReportFiles:
    xlsx: Path
    docx: Path
    consolidations: list[ConsolidationResult]


# ---------------------------------------------------------------------------------------------------
# Names in the document header
# ---------------------------------------------------------------------------------------------------
def natural_key(code: str) -> list[Any]:
    """'BDH.D1.10' after 'BDH.D1.9'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", code)]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------------------------------
# Gathering figures
# ---------------------------------------------------------------------------------------------------
@dataclass
class _Context:
    """A report's campaign (the shared CampaignContext) and the units named in its header."""

    campaign: CampaignContext
    issuing: Unit
    parent_of_issuing: Unit | None
    low: str
    high: str
    levels: dict[str, Level]


def _context(session: Session, campaign_code: str) -> _Context:
    campaign = campaign_context(session, campaign_code, error=UnknownReference)
    issuing = session.get(Unit, campaign.issuing_unit_id)
    assert issuing is not None
    parent = session.get(Unit, issuing.parent_id) if issuing.parent_id else None
    low, high = subtree_range(campaign.root_path)
    levels = {lv.code: lv for lv in session.execute(select(Level)).scalars()}
    return _Context(campaign, issuing, parent, low, high, levels)


def _level_label(ctx: _Context, code: str) -> str:
    level = ctx.levels.get(code)
    return (level.short_name or level.name) if level else code


def _sheet_name(text: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "-", text)[:31]


def _figure_fields(spec: Obligation) -> list[FormField]:
    return [f for f in spec.fields if f.type in FIGURE_TYPES]


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


STATUS_HEADERS = [
    "Phải báo cáo",
    "Đã gửi",
    "Được tính",
    "Tỷ lệ đã gửi (%)",
    "Chờ duyệt",
    "Trả lại",
    "Nộp muộn",
    "Chưa gửi",
]


def _status_cells(data: dict[str, Any]) -> list[Any]:
    return [
        data["owed"],
        data["submitted"],
        data["counted"],
        _percent(data["submitted"], data["owed"]),
        data["pending"],
        data["returned"],
        data["late"],
        len(data["not_submitted"]),
    ]


def _figure_cells(data: dict[str, Any], spec: Obligation) -> list[Any]:
    cells: list[Any] = [data["numbers"][f.code]["sum"] for f in _figure_fields(spec)]
    for f in spec.fields:
        if f.type == "bool":
            cells.append(data["bools"][f.code]["true"])
        elif f.type == "choice":
            cells.extend(data["choices"][f.code][c] for c in f.choices or [])
    return cells


def _figure_headers(spec: Obligation) -> list[str]:
    headers = [f.label for f in _figure_fields(spec)]
    for f in spec.fields:
        if f.type == "bool":
            headers.append(f"{f.label}: số đơn vị trả lời 'có'")
        elif f.type == "choice":
            headers.extend(f"{f.label}: {c}" for c in f.choices or [])
    return headers


def _aggregate_tables(ctx: _Context, snapshots: Sequence[dict[str, Any]], spec: Obligation) -> list[Table]:
    """One sheet per aggregating level: each unit's consolidated figures over its subtree."""
    by_level: dict[str, list[dict[str, Any]]] = {}
    for data in snapshots:
        by_level.setdefault(data["level"], []).append(data)
    tables = []
    for level in sorted(by_level, key=lambda c: ctx.levels[c].rank if c in ctx.levels else 99):
        rows = sorted(by_level[level], key=lambda d: natural_key(d["unit"]))
        tables.append(
            Table(
                title=_sheet_name(f"TH - {_level_label(ctx, level)}"),
                caption=f"Số liệu tổng hợp theo {_level_label(ctx, level)} (mỗi đơn vị gồm cả các đơn vị trực thuộc)",
                headers=["STT", "Mã đơn vị", "Tên đơn vị", *STATUS_HEADERS, *_figure_headers(spec)],
                rows=[
                    [i, d["unit"], d["unit_name"], *_status_cells(d), *_figure_cells(d, spec)]
                    for i, d in enumerate(rows, 1)
                ],
                percent_columns=(6,),
            )
        )
    return tables


def _unit_tables(session: Session, ctx: _Context, obligation: ObligationDef, spec: Obligation) -> list[Table]:
    """One sheet per owing level: each unit's own report (the version that counts), or its status."""
    counted = counted_submissions(obligation.id, spec.consolidate_accepted_only, per_assignment=True)  # type: ignore[arg-type]
    parent = U.alias("parent")
    rows = session.execute(
        select(
            U.c.code,
            U.c.name,
            U.c.level_code,
            U.c.sector,
            parent.c.name.label("parent_name"),
            A.c.status,
            A.c.submitted_at,
            A.c.late,
            A.c.current_version,
            counted.c.data,
            counted.c.appraised_rating,
        )
        .select_from(
            A.join(U, U.c.id == A.c.unit_id)
            .outerjoin(parent, parent.c.id == U.c.parent_id)
            .outerjoin(counted, counted.c.assignment_id == A.c.id)
        )
        .where(A.c.obligation_id == obligation.id, A.c.active.is_(True), U.c.path >= ctx.low, U.c.path < ctx.high)
        .order_by(U.c.path)
    ).all()
    by_level: dict[str, list[Any]] = {}
    for row in rows:
        by_level.setdefault(row.level_code, []).append(row)
    headers_fields = [f for f in spec.fields if f.type != "file"]
    tables = []
    for level in sorted(by_level, key=lambda c: ctx.levels[c].rank if c in ctx.levels else 99):
        body = []
        for i, row in enumerate(by_level[level], 1):
            data = row.data or {}
            values = [_cell_value(f, data.get(f.code)) for f in headers_fields]
            if any(f.code == RATING_FIELD for f in spec.fields):
                values.append(row.appraised_rating or "")
            body.append(
                [
                    i,
                    row.code,
                    row.name,
                    row.parent_name or "",
                    {"sxkd": "SXKD", "hcsn": "HCSN"}.get(row.sector or "", ""),
                    STATUS_LABELS[AssignmentStatus(row.status)],
                    utc_to_local(row.submitted_at, ctx.campaign.timezone).replace(tzinfo=None)
                    if row.submitted_at
                    else None,
                    "có" if row.late else "",
                    row.current_version or None,
                    *values,
                ]
            )
        headers = [
            "STT",
            "Mã đơn vị",
            "Tên đơn vị",
            "Trực thuộc",
            "Khu vực",
            "Trạng thái",
            "Gửi lần đầu lúc",
            "Nộp muộn",
            "Bản số",
            *[f.label for f in headers_fields],
        ]
        if any(f.code == RATING_FIELD for f in spec.fields):
            headers.append("Xếp loại thẩm định")
        tables.append(
            Table(
                title=_sheet_name(f"BC - {_level_label(ctx, level)}"),
                caption=f"Báo cáo của từng đơn vị cấp {_level_label(ctx, level)} (bản được tính vào số liệu)",
                headers=headers,
                rows=body,
            )
        )
    return tables


def _cell_value(f: FormField, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "bool":
        return "có" if value else "không"
    if f.type == "date":
        return date.fromisoformat(str(value)[:10])  # a real date cell
    return value


def _names(session: Session, codes: Sequence[str]) -> dict[str, tuple[str, str]]:
    """code -> (name, parent name), fetched in chunks."""
    out: dict[str, tuple[str, str]] = {}
    parent = U.alias("parent")
    codes = list(codes)
    for start in range(0, len(codes), 900):
        chunk = codes[start : start + 900]
        for code, name, parent_name in session.execute(
            select(U.c.code, U.c.name, parent.c.name)
            .select_from(U.outerjoin(parent, parent.c.id == U.c.parent_id))
            .where(U.c.code.in_(chunk))
        ):
            out[code] = (name, parent_name or "")
    return out


def _missing_table(session: Session, root: dict[str, Any], title: str) -> Table:
    names = _names(session, [*root["not_submitted"], *root["late_units"], *root["awaiting"]])
    rows = []
    for label, codes in (
        ("Chưa gửi", root["not_submitted"]),
        ("Nộp muộn", root["late_units"]),
        ("Đã gửi, chưa được tính (chờ duyệt hoặc trả lại)", root["awaiting"]),
    ):
        for code in sorted(codes, key=natural_key):
            name, parent_name = names.get(code, ("", ""))
            rows.append([len(rows) + 1, label, code, name, parent_name])
    return Table(
        title=_sheet_name(title),
        caption="Đơn vị chưa gửi, nộp muộn, hoặc có báo cáo chưa được tính",
        headers=["STT", "Tình trạng", "Mã đơn vị", "Tên đơn vị", "Trực thuộc"],
        rows=rows,
    )


def _missing_paragraphs(
    session: Session, snapshots: Sequence[dict[str, Any]], root: dict[str, Any], breakdown_level: str | None
) -> list[str]:
    """'LĐLĐ huyện X: A, B.' per breakdown unit, for units not yet sent and units late."""
    groups = [d for d in snapshots if d["level"] == breakdown_level] or [root]
    groups.sort(key=lambda d: natural_key(d["unit"]))
    names = _names(session, sorted({c for d in groups for c in d["not_submitted"] + d["late_units"]}))
    out = []
    for key, label in (("not_submitted", "Đơn vị chưa gửi báo cáo"), ("late_units", "Đơn vị nộp báo cáo muộn")):
        total = len(root[key])
        if not total:
            out.append(f"{label}: không có.")
            continue
        out.append(f"{label} ({fmt_integer(total)} đơn vị):")
        for d in groups:
            if d[key]:
                listed = sorted(d[key], key=natural_key)
                out.append(f"- {d['unit_name']}: " + ", ".join(names.get(c, (c, ""))[0] for c in listed) + ".")
    return out


def _target_sheet(reports: Sequence[TargetReport]) -> Table:
    rows = []
    for t in reports:
        for scope, row in [("Toàn phạm vi", r) for r in t.scope] + [("Theo đơn vị", r) for r in t.breakdown]:
            p = row.progress
            rows.append(
                [
                    t.code,
                    t.title,
                    scope,
                    row.unit_code,
                    row.unit_name,
                    t.target,
                    t.unit_of_measure,
                    None if p.figure.value is None else round(p.figure.value, 2),
                    None if p.percent_of_target is None else round(p.percent_of_target, 1),
                    None if p.forecast is None else round(p.forecast, 1),
                    p.verdict,
                    p.figure.units_reported,
                    p.figure.units_owing,
                    t.deadline,
                    p.note,
                ]
            )
    return Table(
        title="Chỉ tiêu",
        caption="Tiến độ thực hiện chỉ tiêu",
        headers=[
            "Mã chỉ tiêu",
            "Chỉ tiêu",
            "Phạm vi",
            "Mã đơn vị",
            "Đơn vị",
            "Chỉ tiêu đặt ra",
            "Đơn vị tính",
            "Đã đạt",
            "Tỷ lệ so với chỉ tiêu (%)",
            "Dự báo đến hạn",
            "Đánh giá",
            "Số đơn vị có số liệu",
            "Số đơn vị phải báo cáo",
            "Hạn",
            "Ghi chú",
        ],
        rows=rows,
        percent_columns=(8,),
    )


def _target_paragraphs(reports: Sequence[TargetReport]) -> list[str]:
    out: list[str] = []
    notes: list[str] = []
    for t in reports:
        for row in t.scope:
            p = row.progress
            value = (
                "chưa có số liệu" if p.figure.value is None else f"{fmt_number(p.figure.value, 2)} {t.unit_of_measure}"
            )
            percent = "" if p.percent_of_target is None else f", bằng {fmt_percent(p.percent_of_target)} chỉ tiêu"
            forecast = (
                ""
                if p.forecast is None
                else (
                    f"; dự báo đến hạn {fmt_date(t.deadline)} đạt khoảng {fmt_number(p.forecast)} {t.unit_of_measure}"
                )
            )
            out.append(
                f"- {t.title} (chỉ tiêu {fmt_number(t.target)} {t.unit_of_measure}, hạn {fmt_date(t.deadline)}): "
                f"{row.unit_name} đạt {value}{percent}{forecast}. Đánh giá: {p.verdict}."
            )
            if p.note and p.note not in notes:
                notes.append(p.note)
    # The same method note holds for every target: say it once.
    return out + [f"Ghi chú: {note}" for note in notes]


def _target_charts(reports: Sequence[TargetReport], ctx: _Context) -> list[Chart]:
    charts = []
    for t in reports:
        if not t.breakdown:
            continue
        ranked = sorted(t.breakdown, key=lambda r: (-(r.progress.figure.value or 0.0), r.unit_name))  # largest first
        charts.append(
            Chart(
                title=f"{t.title} — theo {_level_label(ctx, t.breakdown_level or '')} (đến {fmt_date(t.at)})",
                labels=[r.unit_name for r in ranked],
                values=[r.progress.figure.value or 0.0 for r in ranked],
                target=t.target if t.rollup != "sum" else None,
                unit=t.unit_of_measure,
            )
        )
    return charts


def _status_summary_table(
    ctx: _Context,
    snapshots: Sequence[dict[str, Any]],
    root: dict[str, Any],
    breakdown_level: str | None,
    spec: Obligation,
) -> tuple[Table, Table]:
    """The two DOCX tables: reporting status and figures, one row per breakdown unit plus the total."""
    rows = sorted([d for d in snapshots if d["level"] == breakdown_level], key=lambda d: natural_key(d["unit"]))
    status = Table(
        title="Tình hình báo cáo",
        headers=["STT", "Đơn vị", "Phải BC", "Đã gửi", "Được tính", "Tỷ lệ (%)", "Nộp muộn", "Chưa gửi"],
        rows=[
            [
                i,
                d["unit_name"],
                d["owed"],
                d["submitted"],
                d["counted"],
                _percent(d["submitted"], d["owed"]),
                d["late"],
                len(d["not_submitted"]),
            ]
            for i, d in enumerate(rows, 1)
        ],
        total=[
            "",
            "Tổng cộng",
            root["owed"],
            root["submitted"],
            root["counted"],
            _percent(root["submitted"], root["owed"]),
            root["late"],
            len(root["not_submitted"]),
        ],
        percent_columns=(5,),
    )
    fields = _figure_fields(spec)
    figures = Table(
        title="Kết quả",
        headers=["STT", "Đơn vị", *[f.label for f in fields]],
        rows=[[i, d["unit_name"], *[d["numbers"][f.code]["sum"] for f in fields]] for i, d in enumerate(rows, 1)],
        total=["", "Tổng cộng", *[root["numbers"][f.code]["sum"] for f in fields]],
    )
    return status, figures


def _breakdown_level(ctx: _Context, snapshots: Sequence[dict[str, Any]]) -> str | None:
    """The level just under the root among aggregating units (the districts)."""
    levels = sorted({d["level"] for d in snapshots}, key=lambda c: ctx.levels[c].rank if c in ctx.levels else 99)
    return levels[1] if len(levels) > 1 else None


def _header_parts(ctx: _Context, breakdown_level: str | None) -> tuple[tuple[str, str], str, list[str], list[str]]:
    """Left header lines, place of the date line, 'Nơi nhận' and the signature block."""
    department = department_abbreviation(ctx.campaign.owner_department) if ctx.campaign.owner_department else ""
    # The issuer is the federation that signs ("TM. BAN THƯỜNG VỤ"), under its superior body; the department
    # that drafted the report is named where the decree puts it: "Lưu: VT, Ban …".
    superior = short_body_name(ctx.parent_of_issuing.name) if ctx.parent_of_issuing is not None else ""
    issuing_lines = (superior, short_body_name(ctx.issuing.name))
    recipients = []
    if ctx.parent_of_issuing is not None:
        recipients.append(f"- {ctx.parent_of_issuing.name} (để báo cáo);")
    recipients.append(f"- Thường trực {body_name(ctx.issuing.name)};")
    level = ctx.levels.get(breakdown_level or "")
    if level is not None:
        recipients.append(f"- Các {_lower_first(level.name)} (để biết);")
    filed_with = ", " + department.replace("BAN ", "Ban ", 1) if department else ""
    recipients.append(f"- Lưu: VT{filed_with}.")
    signature = ["TM. BAN THƯỜNG VỤ", "(Ký, ghi rõ họ tên và đóng dấu)", "", "", "", "……………………………"]
    return issuing_lines, place_name(ctx.issuing.name), recipients, signature


# ---------------------------------------------------------------------------------------------------
# The two reports
# ---------------------------------------------------------------------------------------------------
def round_report_content(
    session: Session,
    *,
    campaign_code: str,
    round_number: int,
    now: datetime | None = None,
    actor: str = "system:report",
) -> tuple[ReportContent, list[ConsolidationResult]]:
    now = now or utcnow()
    ctx = _context(session, campaign_code)
    obligation = round_obligation(session, ctx.campaign, round_number)
    spec = obligation_spec(obligation)
    result = consolidate(session, campaign_code=campaign_code, obligation_code=obligation.code, actor=actor, now=now)
    snapshots = [s.data for s in latest_snapshots(session, obligation.id).values()]  # type: ignore[arg-type]
    root = next(d for d in snapshots if d["unit"] == _root_code(session, ctx))
    breakdown = _breakdown_level(ctx, snapshots)
    round_ = (
        session.execute(select(Round).where(Round.campaign_id == ctx.campaign.id, Round.number == round_number))  # type: ignore[arg-type]
        .scalars()
        .first()
    )
    round_name = round_.name if round_ else f"Đợt {round_number}"
    targets = target_progress(session, campaign_code=campaign_code, at=utc_to_local(now, ctx.campaign.timezone).date())
    status_table, figure_table = _status_summary_table(ctx, snapshots, root, breakdown, spec)
    issuing_lines, place, recipients, signature = _header_parts(ctx, breakdown)
    as_of = fmt_moment(now, ctx.campaign.timezone)
    counted_rule = "báo cáo đã được duyệt" if spec.consolidate_accepted_only else "báo cáo đã gửi (không bị trả lại)"
    sections = [
        Section(
            "I. TÌNH HÌNH BÁO CÁO",
            [
                f"Tính đến {as_of}, có {fmt_fraction(root['submitted'], root['owed'])} đơn vị đã gửi báo cáo "
                f"({fmt_share(root['submitted'], root['owed'])}), trong đó {fmt_integer(root['counted'])} báo cáo được tính vào "
                f"số liệu ({counted_rule}); {fmt_integer(root['pending'])} báo cáo đang chờ duyệt, {fmt_integer(root['returned'])} báo cáo bị trả lại "
                f"chờ đơn vị gửi lại; {fmt_integer(root['late'])} đơn vị nộp muộn so với hạn {fmt_date(obligation.due_on)}; "
                f"{fmt_integer(len(root['not_submitted']))} đơn vị chưa gửi."
            ],
            [status_table],
        ),
        Section(
            "II. KẾT QUẢ THỰC HIỆN",
            [
                "Kết quả " + _lower_first(round_name) + " tổng hợp từ báo cáo của các đơn vị:",
                *[f"- {f.label}: {fmt_number(root['numbers'][f.code]['sum'], 2)}." for f in _figure_fields(spec)],
                *_choice_paragraphs(spec, root),
            ],
            [figure_table],
        ),
        Section("III. TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU", _target_paragraphs(targets), [], _target_charts(targets, ctx)),
        Section("IV. ĐƠN VỊ CHƯA BÁO CÁO, BÁO CÁO MUỘN", _missing_paragraphs(session, snapshots, root, breakdown)),
    ]
    content = ReportContent(
        file_stem=f"{ctx.campaign.code}-so-ket-dot-{round_number}",
        issuing_lines=issuing_lines,
        place=place,
        year=ctx.campaign.year,
        title="BÁO CÁO",
        subtitle=f"Kết quả sơ kết {_lower_first(round_name)} {_lower_first(ctx.campaign.title)}",
        as_of=as_of,
        intro=(
            f"Căn cứ báo cáo của các cấp công đoàn gửi qua hệ thống đến {as_of}, "
            f"{ctx.issuing.name} tổng hợp kết quả sơ kết {_lower_first(round_name)} ({obligation.title}) như sau:"
        ),
        sections=sections,
        sheets=[
            *_aggregate_tables(ctx, snapshots, spec),
            *_unit_tables(session, ctx, obligation, spec),
            _missing_table(session, root, "Chưa gửi - nộp muộn"),
            _target_sheet(targets),
        ],
        recipients=recipients,
        signature=signature,
        campaign_code=ctx.campaign.code,
        issuer_code=ctx.issuing.code,
        report_date=utc_to_local(now, ctx.campaign.timezone).date(),
    )
    return content, [result]


def _choice_paragraphs(spec: Obligation, root: dict[str, Any]) -> list[str]:
    out = []
    for f in spec.fields:
        if f.type == "bool":
            out.append(
                f"- {f.label}: {root['bools'][f.code]['true']}/{root['bools'][f.code]['reports']} đơn vị trả lời 'có'."
            )
        elif f.type == "choice":
            counts = root["choices"][f.code]
            out.append(f"- {f.label}: " + "; ".join(f"{c}: {counts[c]}" for c in f.choices or []) + ".")
    return out


def _root_code(session: Session, ctx: _Context) -> str:
    return session.execute(select(U.c.code).where(U.c.id == ctx.campaign.root_unit_id)).scalar_one()


def final_report_content(
    session: Session, *, campaign_code: str, now: datetime | None = None, actor: str = "system:report"
) -> tuple[ReportContent, list[ConsolidationResult]]:
    now = now or utcnow()
    ctx = _context(session, campaign_code)
    obligations = (
        session.execute(
            select(ObligationDef)
            .where(
                ObligationDef.campaign_id == ctx.campaign.id,  # type: ignore[arg-type]
                ObligationDef.active.is_(True),  # type: ignore[attr-defined]
                ObligationDef.kind.in_(("round_report", "final_report")),  # type: ignore[attr-defined]
            )
            .order_by(ObligationDef.round_number, ObligationDef.id)  # type: ignore[arg-type, arg-type]
        )
        .scalars()
        .all()
    )
    final = next((o for o in obligations if o.kind == "final_report"), None)
    if final is None:
        raise UnknownReference(f"chiến dịch '{campaign_code}' không có báo cáo tổng kết (final_report)")
    results, per_obligation = [], []
    for ob in obligations:
        results.append(consolidate(session, campaign_code=campaign_code, obligation_code=ob.code, actor=actor, now=now))
        per_obligation.append((ob, obligation_spec(ob), [s.data for s in latest_snapshots(session, ob.id).values()]))  # type: ignore[arg-type]
    final_spec = obligation_spec(final)
    final_snapshots = per_obligation[[o for o, _, _ in per_obligation].index(final)][2]
    root_code = _root_code(session, ctx)
    root = next(d for d in final_snapshots if d["unit"] == root_code)
    breakdown = _breakdown_level(ctx, final_snapshots)
    at = min(utc_to_local(now, ctx.campaign.timezone).date(), ctx.campaign.ends_on)
    targets = target_progress(session, campaign_code=campaign_code, at=at)
    ended = _ended_codes(session, ctx)
    year_table = _year_table(ctx, per_obligation, breakdown, root_code, ended)
    mapping = _mapping_table(session, ctx)
    status_table, _ = _status_summary_table(ctx, final_snapshots, root, breakdown, final_spec)
    rating_sheet, rating_summary = _rating_tables(session, ctx, final, final_spec, breakdown)
    issuing_lines, place, recipients, signature = _header_parts(ctx, breakdown)
    as_of = fmt_moment(now, ctx.campaign.timezone)
    year_totals = year_table.total or []
    sections = [
        Section(
            "I. TÌNH HÌNH BÁO CÁO TỔNG KẾT",
            [
                f"Tính đến {as_of}, có {fmt_fraction(root['submitted'], root['owed'])} đơn vị đã gửi báo cáo tổng kết "
                f"({fmt_share(root['submitted'], root['owed'])}), {fmt_integer(root['counted'])} báo cáo được tính vào số liệu; "
                f"{fmt_integer(root['late'])} đơn vị nộp muộn so với hạn {fmt_date(final.due_on)}; {fmt_integer(len(root['not_submitted']))} đơn vị chưa gửi."
            ],
            [status_table],
        ),
        Section(
            "II. KẾT QUẢ CẢ NĂM",
            [
                "Số liệu cả năm là tổng các đợt sơ kết và đợt tổng kết:",
                *[
                    f"- {header}: {fmt_number(value, 2)}."
                    for header, value in zip(year_table.headers[2:], year_totals[2:])
                ],
            ],
            [year_table],
        ),
        Section("III. TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU", _target_paragraphs(targets), [], _target_charts(targets, ctx)),
        Section(
            "IV. XẾP LOẠI CUỐI NĂM",
            [
                "Xếp loại cuối năm là xếp loại do công đoàn cấp trên thẩm định khi duyệt báo cáo; "
                "nếu cấp trên không ghi xếp loại thẩm định thì lấy xếp loại đơn vị tự đánh giá."
            ],
            [rating_summary],
        ),
        Section("V. ĐƠN VỊ CHƯA BÁO CÁO, BÁO CÁO MUỘN", _missing_paragraphs(session, final_snapshots, root, breakdown)),
    ]
    if mapping is not None:
        sections.append(
            Section(
                "VI. SẮP XẾP TỔ CHỨC TRONG NĂM",
                [
                    f"Trong năm có {len(mapping.rows)} thay đổi về tổ chức. Số liệu được trình bày theo cơ cấu tổ chức tại thời "
                    "điểm cuối năm; số liệu của đơn vị đã sáp nhập, giải thể (kể cả trước ngày hiệu lực) được tính cho đơn vị "
                    "kế thừa."
                ],
                [mapping],
            )
        )
    content = ReportContent(
        file_stem=f"{ctx.campaign.code}-tong-ket-nam",
        issuing_lines=issuing_lines,
        place=place,
        year=ctx.campaign.year,
        title="BÁO CÁO",
        subtitle=f"Tổng kết {_lower_first(ctx.campaign.title)}",
        as_of=as_of,
        intro=(
            f"Căn cứ báo cáo sơ kết các đợt và báo cáo tổng kết của các cấp công đoàn gửi qua hệ thống đến {as_of}, "
            f"{ctx.issuing.name} tổng hợp kết quả phong trào thi đua năm {ctx.campaign.year} như sau:"
        ),
        sections=sections,
        sheets=[
            year_table,
            *_aggregate_tables(ctx, final_snapshots, final_spec),
            *_unit_tables(session, ctx, final, final_spec),
            rating_sheet,
            rating_summary,
            _missing_table(session, root, "Chưa gửi - nộp muộn"),
            _target_sheet(targets),
            *([mapping] if mapping is not None else []),
        ],
        recipients=recipients,
        signature=signature,
        campaign_code=ctx.campaign.code,
        issuer_code=ctx.issuing.code,
        report_date=utc_to_local(now, ctx.campaign.timezone).date(),
    )
    return content, results


def _year_table(
    ctx: _Context,
    per_obligation: Sequence[tuple[ObligationDef, Obligation, list[dict[str, Any]]]],
    breakdown: str | None,
    root_code: str,
    ended: set[str] = frozenset(),
) -> Table:
    """Year totals per breakdown unit: each numeric field summed over every round and the final report."""
    labels: dict[str, str] = {}
    for _, spec, _ in per_obligation:
        for f in _figure_fields(spec):
            labels.setdefault(f.code, re.sub(r"\s+(trong đợt(\s+\d+)?|cả năm)", "", f.label))
    totals: dict[str, dict[str, float]] = {}
    names: dict[str, str] = {}
    for _, _spec, snapshots in per_obligation:
        for data in snapshots:
            if data["level"] != breakdown and data["unit"] != root_code:
                continue
            names[data["unit"]] = data["unit_name"]
            unit_totals = totals.setdefault(data["unit"], {code: 0 for code in labels})
            for code, figure in data["numbers"].items():
                unit_totals[code] += figure["sum"]
    # The structure in force at the end: a unit ended by a reorganisation has no row of its own; it sits
    # under its successor, whose figures include its past ones (declared rule).
    codes = sorted((c for c in totals if c != root_code and c not in ended), key=natural_key)
    root_totals = totals.get(root_code, {code: 0 for code in labels})
    rows = [[i, names[c], *[_tidy(totals[c][code]) for code in labels]] for i, c in enumerate(codes, 1)]
    if ended:
        rest = {code: root_totals[code] - sum(totals[c][code] for c in codes) for code in labels}
        if any(abs(value) > 1e-9 for value in rest.values()):
            rows.append(
                [
                    len(rows) + 1,
                    "Trực thuộc trực tiếp (kể cả đơn vị đã sáp nhập, giải thể)",
                    *[_tidy(rest[code]) for code in labels],
                ]
            )
    return Table(
        title="Tổng hợp năm",
        caption="Kết quả cả năm (cộng các đợt sơ kết và tổng kết), theo đơn vị",
        headers=["STT", "Đơn vị", *labels.values()],
        rows=rows,
        total=["", "Tổng cộng", *[_tidy(root_totals[code]) for code in labels]],
    )


def _ended_codes(session: Session, ctx: _Context) -> set[str]:
    """Units of the campaign's tree that a reorganisation ended by the end of the campaign."""
    rows = session.execute(
        select(U.c.code)
        .select_from(RS.join(U, U.c.id == RS.c.unit_id))
        .where(
            RS.c.kind == "ended", RS.c.effective_on <= ctx.campaign.ends_on, U.c.path >= ctx.low, U.c.path < ctx.high
        )
    ).scalars()
    return set(rows)


def _mapping_table(session: Session, ctx: _Context) -> Table | None:
    """Before/after: every change of the year's reorganisations inside the campaign's tree; units that only
    changed parent are counted per (old parent, new parent)."""
    old, new, before, after = U.alias("old_unit"), U.alias("new_unit"), U.alias("old_parent"), U.alias("new_parent")
    rows = session.execute(
        select(
            RS.c.effective_on,
            RS.c.operation,
            RS.c.kind,
            old.c.code,
            RS.c.old_name,
            old.c.name,
            new.c.code.label("successor"),
            new.c.name.label("successor_name"),
            before.c.code.label("old_parent"),
            after.c.code.label("new_parent"),
            after.c.name.label("new_parent_name"),
            RS.c.new_name,
        )
        .select_from(
            RS.join(old, old.c.id == RS.c.unit_id)
            .outerjoin(new, new.c.id == RS.c.successor_unit_id)
            .outerjoin(before, before.c.id == RS.c.old_parent_id)
            .outerjoin(after, after.c.id == RS.c.new_parent_id)
        )
        .where(
            RS.c.effective_on >= ctx.campaign.starts_on,
            RS.c.effective_on <= ctx.campaign.ends_on,
            old.c.path >= ctx.low,
            old.c.path < ctx.high,
        )
        .order_by(RS.c.effective_on, RS.c.id)
    ).all()
    if not rows:
        return None
    out: list[list[Any]] = []
    moved: dict[tuple, int] = {}
    for r in rows:
        label = OPERATION_LABELS.get(r.operation, r.operation)
        if r.kind == "ended":
            after_text = f"{r.successor} — {r.successor_name}" if r.successor else "(không có đơn vị kế thừa)"
            out.append([fmt_date(r.effective_on), label, f"{r.code} — {r.name}", after_text])
        elif r.kind == "created":
            out.append(
                [fmt_date(r.effective_on), label, "(đơn vị mới)", f"{r.code} — {r.new_name}, trực thuộc {r.new_parent}"]
            )
        elif r.kind == "renamed":
            out.append([fmt_date(r.effective_on), label, f"{r.code} — {r.old_name}", f"{r.code} — {r.new_name}"])
        else:
            key = (fmt_date(r.effective_on), label, r.old_parent, r.new_parent, r.new_parent_name)
            moved[key] = moved.get(key, 0) + 1
    for (day, label, old_parent, new_parent, new_parent_name), count in moved.items():
        out.append(
            [day, label, f"{count} đơn vị trực thuộc {old_parent}", f"trực thuộc {new_parent} — {new_parent_name}"]
        )
    return Table(
        title="Trước - sau sắp xếp",
        caption="Đối chiếu đơn vị trước và sau sắp xếp tổ chức trong năm",
        headers=["STT", "Ngày hiệu lực", "Thay đổi", "Trước", "Sau"],
        rows=[[i, *row] for i, row in enumerate(out, 1)],
    )


def _tidy(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 6)


def _rating_tables(
    session: Session, ctx: _Context, final: ObligationDef, spec: Obligation, breakdown: str | None
) -> tuple[Table, Table]:
    rating_field = next((f for f in spec.fields if f.code == RATING_FIELD), None)
    choices = list(rating_field.choices or []) if rating_field else []
    counted = counted_submissions(final.id, spec.consolidate_accepted_only, per_assignment=True)  # type: ignore[arg-type]
    group = U.alias("grp")
    parent = U.alias("parent")
    join = (
        A.join(U, U.c.id == A.c.unit_id)
        .outerjoin(counted, counted.c.assignment_id == A.c.id)
        .outerjoin(parent, parent.c.id == U.c.parent_id)
        .outerjoin(group, (group.c.level_code == (breakdown or "")) & in_subtree_of(U.c.path, group.c.path))
    )
    rows = session.execute(
        select(
            U.c.code,
            U.c.name,
            parent.c.name.label("parent_name"),
            group.c.code.label("group_code"),
            group.c.name.label("group_name"),
            counted.c.data[RATING_FIELD].as_string().label("proposed"),
            counted.c.appraised_rating,
        )
        .select_from(join)
        .where(A.c.obligation_id == final.id, A.c.active.is_(True), U.c.path >= ctx.low, U.c.path < ctx.high)
        .order_by(U.c.path)
    ).all()
    detail, summary = [], {}
    for row in rows:
        final_rating = row.appraised_rating or row.proposed
        detail.append(
            [
                len(detail) + 1,
                row.code,
                row.name,
                row.parent_name or "",
                row.proposed or "",
                row.appraised_rating or "",
                final_rating or "Chưa có",
            ]
        )
        key = (row.group_code or "", row.group_name or "Trực thuộc trực tiếp")
        counts = summary.setdefault(key, {c: 0 for c in [*choices, "Chưa có"]})
        counts[final_rating if final_rating in counts else "Chưa có"] += 1
    ordered = sorted(summary.items(), key=lambda item: natural_key(item[0][0]))
    total = {c: sum(counts[c] for _, counts in ordered) for c in [*choices, "Chưa có"]}
    return (
        Table(
            title="Xếp loại",
            caption="Xếp loại cuối năm của từng đơn vị",
            headers=[
                "STT",
                "Mã đơn vị",
                "Tên đơn vị",
                "Trực thuộc",
                "Tự đánh giá",
                "Cấp trên thẩm định",
                "Xếp loại năm",
            ],
            rows=detail,
        ),
        Table(
            title="Xếp loại theo đơn vị",
            caption="Số đơn vị theo xếp loại cuối năm",
            headers=["STT", "Đơn vị", *choices, "Chưa có"],
            rows=[
                [i, name, *[counts[c] for c in [*choices, "Chưa có"]]]
                for i, ((_, name), counts) in enumerate(ordered, 1)
            ],
            total=["", "Tổng cộng", *[total[c] for c in [*choices, "Chưa có"]]],
        ),
    )


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------
def write_xlsx(content: ReportContent, path: Path) -> Path:
    """One sheet per table; a title block, a header row, values (numbers as numbers, never formulas)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    from thidua.xlsx_safety import put, put_cell

    workbook = Workbook()
    workbook.remove(workbook.active)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for table in content.sheets:
        sheet = workbook.create_sheet(table.title)
        put_cell(sheet, 1, 1, content.subtitle).font = Font(bold=True, size=12)
        put_cell(sheet, 2, 1, table.caption or table.title).font = Font(italic=True)
        sheet.cell(3, 1, f"Số liệu đến {content.as_of}")
        header_row = 5
        for column, header in enumerate(table.headers, 1):
            cell = put_cell(sheet, header_row, column, header)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
            cell.border = border
        body = list(table.rows) + ([table.total] if table.total else [])
        for column, header in enumerate(table.headers, 1):
            sheet.column_dimensions[get_column_letter(column)].width = _column_width(
                header, [r[column - 1] for r in body[:500]]
            )
        # Styling a cell registers its style in the workbook (costly); cells of one kind share one style array.
        styled: dict[str, object] = {}
        wrap = Alignment(wrap_text=True, vertical="top")
        for offset, values in enumerate(body, 1):
            for column, value in enumerate(values, 1):
                if isinstance(value, float) and value.is_integer() and column - 1 not in table.percent_columns:
                    value = int(value)  # a whole number reads as one, without a trailing decimal mark
                cell = sheet.cell(header_row + offset, column)
                number_format = _xlsx_format(value, column - 1 in table.percent_columns)
                if number_format in styled:
                    cell._style = copy(styled[number_format])
                else:
                    cell.border = border
                    cell.number_format = number_format
                    cell.alignment = wrap  # long unit names wrap inside their column
                    styled[number_format] = cell._style
                put(cell, value)  # after styling: a formula-like text gets a style of its own
            if table.total and offset == len(body):
                for column in range(1, len(values) + 1):
                    sheet.cell(header_row + offset, column).font = Font(bold=True)
        sheet.row_dimensions[header_row].height = 45
        sheet.freeze_panes = sheet.cell(header_row + 1, 1)
        print_setup(sheet, header_row=header_row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _xlsx_format(value: Any, percent: bool) -> str:
    return number_format_for(value, percent=percent)


def _column_width(header: str, values: Sequence[Any]) -> float:
    """Wide enough for the longest header word and most values (long names wrap), between 6 and 36 characters."""
    longest_word = max((len(w) for w in header.split()), default=4) + 2
    shown = sorted(
        len(
            fmt_number(v, 2)
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else "dd/mm/yyyy hh:mm"
            if isinstance(v, datetime)
            else "dd/mm/yyyy"
            if isinstance(v, date)
            else str(v or "")
        )
        for v in values
    )
    typical = shown[int(len(shown) * 0.9)] + 2 if shown else 0
    return float(max(6, min(36, max(longest_word, typical, min(len(header), 14)))))


def write_docx(content: ReportContent, path: Path) -> Path:
    """The report as a Word document from the office's template (config/documents; Nghị định 30/2020 layout)."""
    from thidua.services.documents import render_report
    from thidua.settings import get_settings

    return render_report(content, path, config_dir=get_settings().config_dir)


@owns_transaction
def build_round_report(
    session: Session,
    *,
    campaign_code: str,
    round_number: int,
    out_dir: Path,
    now: datetime | None = None,
    actor: str = "system:report",
) -> ReportFiles:
    content, results = round_report_content(
        session, campaign_code=campaign_code, round_number=round_number, now=now, actor=actor
    )
    return _write_both(content, out_dir, results)


@owns_transaction
def build_final_report(
    session: Session, *, campaign_code: str, out_dir: Path, now: datetime | None = None, actor: str = "system:report"
) -> ReportFiles:
    content, results = final_report_content(session, campaign_code=campaign_code, now=now, actor=actor)
    return _write_both(content, out_dir, results)


def _write_both(content: ReportContent, out_dir: Path, results: list[ConsolidationResult]) -> ReportFiles:
    xlsx, docx = report_paths(content, out_dir)
    write_xlsx(content, xlsx)
    write_docx(content, docx)
    return ReportFiles(xlsx, docx, results)


def report_paths(content: ReportContent, out_dir: Path) -> tuple[Path, Path]:
    """Where a report's XLSX and DOCX go."""
    return out_dir / f"{content.file_stem}.xlsx", out_dir / f"{content.file_stem}.docx"


def write_report_files(content: ReportContent, out_dir: Path, config_dir: Path) -> tuple[Path, Path]:
    """Both files of an assembled report, with the document settings of `config_dir`: no database, so another
    process may write them (the simulation does, beside its year) from the pickled content."""
    from thidua.services.documents import render_report

    xlsx, docx = report_paths(content, out_dir)
    write_xlsx(content, xlsx)
    render_report(content, docx, config_dir=config_dir)
    return xlsx, docx


def prepare_report_writer() -> None:
    """Load what writing a report needs (openpyxl, docxtpl, matplotlib and its chart fonts), ahead of the first."""
    import docxtpl  # noqa: F401
    import openpyxl  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401

    from thidua.services.documents import chart_fonts

    chart_fonts()
