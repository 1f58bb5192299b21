"""CLI: validate files, load and show campaigns, status and upcoming deadlines."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from thidua.models.clock import fmt_date, local_to_utc, utc_to_local, utcnow
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.vnformat import fmt_integer, fmt_number, fmt_percent
from thidua.cli.common import console, friendly, parse_cli_date, parse_cli_now, ready_engine

if TYPE_CHECKING:
    from rich.table import Table
    from sqlmodel import Session

    from thidua.models.spec.yamlsource import SourceDoc
    from thidua.services.campaigns import LoadResult
    from thidua.services.status import StatusReport

campaign_app = typer.Typer(help="Chiến dịch thi đua: nạp, xem.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("validate", help="Kiểm tra tệp khai báo (chiến dịch, đơn vị, cấp, khen thưởng, cụm thi đua, văn bản).")(
        validate
    )
    app.add_typer(campaign_app, name="campaign")
    app.command("status", help="Tình hình thực hiện nghĩa vụ theo cấp và theo đơn vị.")(status)
    app.command("plan", help="Các hạn nộp trong N ngày tới, theo đơn vị.")(plan)
    app.command("schema", help="Xuất JSON Schema của tệp chiến dịch (cho trình soạn thảo).")(schema)


def _kind_of(path: Path, keys: set[str]) -> str:
    """What a YAML file declares, by which schema its top-level keys fit best: a misspelled key must not turn
    a campaign into an award catalogue."""
    from thidua.models.spec.awards import AwardCatalogue  # noqa: PLC0415
    from thidua.models.spec.campaign import CampaignSpec  # noqa: PLC0415

    if "units" in keys:
        return "units"
    if "holidays" in keys:
        return "holidays"
    scores = {
        "campaign": len(keys & set(CampaignSpec.model_fields)) + 3 * bool(keys & {"obligations", "rounds"}),
        "catalogue": len(keys & set(AwardCatalogue.model_fields))
        + 3 * bool(keys & {"awards", "ratings", "regulation"}),
    }
    best = max(scores, key=lambda kind: scores[kind])
    if scores[best] == 0 or scores["campaign"] == scores["catalogue"]:
        raise SpecError(
            [
                Problem(
                    str(path),
                    1,
                    "",
                    "không nhận ra loại tệp: tệp chiến dịch có các khóa code, title, "
                    "rounds, obligations…; danh mục khen thưởng có ratings, awards…; "
                    "danh sách đơn vị có units; danh mục cấp có levels; lịch ngày nghỉ có holidays; "
                    "cụm, khối thi đua có clusters; văn bản khen thưởng có base_salary; "
                    "đầu văn bản báo cáo có mac_dinh",
                )
            ]
        )
    return best


def _parse_yaml_file(path: Path) -> SourceDoc | None:
    """The parsed YAML file; None for another kind of file (a unit spreadsheet)."""
    from thidua.models.spec.yamlsource import parse_yaml
    from thidua.sources import read_text_file

    if path.suffix.lower() not in (".yaml", ".yml"):
        return None
    return parse_yaml(read_text_file(path), str(path))


def _is_levels_file(path: Path, parsed: dict[Path, SourceDoc]) -> bool:
    """A YAML file whose only top-level key is `levels` (a campaign has no such key). Keeps what it parsed."""
    try:
        doc = _parse_yaml_file(path)
    except (OSError, SpecError):
        return False  # reported when the file itself is validated
    if doc is None:
        return False
    parsed[path] = doc
    return isinstance(doc.data, dict) and set(doc.data) == {"levels"}


def _validate_one(path: Path, levels_path: Path | None = None, doc: SourceDoc | None = None) -> str:
    """Validate a file by what it declares at the top level; returns what it was. A campaign's levels are
    checked against `levels_path` (a levels file given in the same command), else the configured one. `doc`:
    the file already parsed."""
    doc = doc or _parse_yaml_file(path)
    if doc is None:
        return _validate_units(path)
    if not isinstance(doc.data, dict):
        raise SpecError([Problem(str(path), 1, "", "tệp phải là một nhóm khóa: giá trị ở cấp ngoài cùng")])
    keys = set(doc.data)
    if keys == {"levels"}:
        from thidua.services.campaign_file import read_levels_file

        read_levels_file(path)
        return "danh mục cấp công đoàn"
    if "attributes" in keys:
        from thidua.services.units import load_attribute_schema

        load_attribute_schema(path)
        return "thuộc tính đơn vị"
    if "clusters" in keys:
        from thidua.services.clusters import read_cluster_file

        problems = read_cluster_file(path)[1]
        if problems:
            raise SpecError(problems)
        return "cụm, khối thi đua"
    if keys and keys <= {"mac_dinh", "don_vi", "chien_dich"}:
        from thidua.services.documents import check_document_settings_file

        messages = check_document_settings_file(path)
        if messages:
            raise SpecError([Problem(str(path), None, "", message.removeprefix(f"{path}: ")) for message in messages])
        return "đầu văn bản báo cáo"
    if "base_salary" in keys or "level_symbols" in keys:
        from thidua.models.spec.commendation import load_commendation_config

        load_commendation_config(path)
        return "văn bản khen thưởng"
    if "checked_years" in keys:
        from thidua.services.calendars import read_overrides

        read_overrides(path)
        return "điều chỉnh ngày nghỉ"
    kind = _kind_of(path, keys)
    if kind == "campaign":
        from thidua.services.campaign_file import campaign_warnings, check_campaign_file

        spec, doc, skipped = check_campaign_file(path, doc, levels_path=levels_path)  # the file is parsed once
        _print_warnings(campaign_warnings(spec, doc, path.resolve().parent.parent))
        if levels_path is not None:
            console.print(f"  (các cấp công đoàn theo {levels_path})", highlight=False)
        console.print(
            f"  (chưa kiểm tra vì cần cơ sở dữ liệu — 'thidua campaign load --dry-run' kiểm tra nốt: "
            f"{'; '.join(skipped)})",
            highlight=False,
        )
        return "chiến dịch"
    if kind == "units":
        return _validate_units(path)
    if kind == "holidays":
        from thidua.services.calendars import load_holidays

        load_holidays(path)
        return "lịch ngày nghỉ"
    from thidua.models.spec import awards as award_spec  # noqa: PLC0415

    award_spec.validate_catalogue_file(path)
    return "danh mục khen thưởng"


def _validate_units(path: Path) -> str:
    """A dry-run import checks the file and its fit with the units and levels already in the database. Only a
    database without levels gets the configured ones first (the levels in force are never replaced by a check)."""
    from sqlmodel import Session, col, select

    from thidua.models.tables import Level
    from thidua.services.units import import_units, load_levels

    engine = ready_engine()
    with Session(engine) as session:
        has_levels = session.exec(select(col(Level.code)).limit(1)).first() is not None
    if not has_levels:
        load_levels(engine)
    import_units(engine, path, dry_run=True)
    return "danh sách đơn vị"


@friendly
def validate(
    files: list[Path] = typer.Argument(
        ...,
        help="Các tệp cần kiểm tra; tệp chiến dịch được đối chiếu với tệp danh mục cấp (levels) đưa kèm, "
        "nếu không thì với danh mục cấp đang cấu hình",
    ),
) -> None:
    problems: list[Problem] = []
    parsed: dict[Path, SourceDoc] = {}
    levels_files = [path for path in files if _is_levels_file(path, parsed)]
    levels_path = levels_files[-1] if levels_files else None
    for path in files:
        try:
            kind = _validate_one(path, levels_path, parsed.get(path))
            console.print(f"[green]✓[/] {path} ({kind}) hợp lệ")
        except SpecError as exc:
            problems.extend(exc.problems)
        except FileNotFoundError:
            problems.append(Problem(str(path), None, "", "không tìm thấy tệp"))
    if problems:
        raise SpecError(problems)


def _print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        console.print(f"[yellow]Cảnh báo:[/] {warning}", highlight=False)


def _print_load(result: LoadResult) -> None:
    _print_warnings(result.warnings)
    verb = "Sẽ" if result.dry_run else "Đã"
    if not result.changes:
        console.print(f"Chiến dịch [bold]{result.code}[/]: không có thay đổi.")
        return
    title = f"{verb} {'tạo' if result.created else 'cập nhật'} chiến dịch {result.code}"
    console.print(f"[bold]{title}[/] ({len(result.changes)} thay đổi):")
    for line in result.changes:
        console.print(f"  • {line}", highlight=False)
    if result.dry_run:
        console.print("[yellow]Chạy thử (--dry-run): chưa ghi gì vào cơ sở dữ liệu.[/]")


@campaign_app.command("load", help="Kiểm tra và nạp tệp chiến dịch (nạp lại để cập nhật kế hoạch).")
@friendly
def load(
    file: Path = typer.Argument(..., help="Tệp chiến dịch .yaml"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ in các thay đổi, không ghi"),
) -> None:
    from thidua.services.campaigns import load_campaign

    result = load_campaign(ready_engine(), file, dry_run=dry_run)
    _print_load(result)


@campaign_app.command("show", help="Xem các đợt, nghĩa vụ (kèm hạn) và chỉ tiêu của chiến dịch.")
@friendly
def show(code: str = typer.Argument(..., help="Mã chiến dịch")) -> None:
    from sqlmodel import Session

    with Session(ready_engine()) as session:
        show_campaign(session, code)


BOUNDARY_RULES = {
    "earlier_round": "Ngày ranh giới giữa hai đợt thuộc đợt trước",
    "later_round": "Ngày ranh giới giữa hai đợt thuộc đợt sau",
}


def round_boundary_text(campaign) -> str:  # noqa: ANN001
    """The declared rule that attributes a dated event to a round, and the shared days it decides."""
    from thidua.models.spec.campaign import RoundSpec, round_of_day

    spec = campaign.spec or {}
    rule = spec.get("round_boundary", "earlier_round")
    rounds = [
        RoundSpec.model_validate(
            {**r, "starts": date.fromisoformat(r["starts"]), "ends": date.fromisoformat(r["ends"])}
        )
        if isinstance(r.get("starts"), str) and "-" in r["starts"]
        else RoundSpec.model_validate(r)
        for r in spec.get("rounds") or []
    ]
    names = {r.number: r.name for r in rounds}
    shared = sorted({r.starts for r in rounds} & {r.ends for r in rounds})
    days = "; ".join(f"{fmt_date(day)} thuộc {names.get(round_of_day(day, rounds, rule), '—')}" for day in shared)
    return (
        f"Quy tắc ranh giới đợt ({rule}): {BOUNDARY_RULES.get(rule, rule)}"
        + (f" — {days}." if days else ".")
        + " Báo cáo, đề nghị và số liệu có ngày được tính vào đợt theo quy tắc này."
    )


def _show_programme(session: Session, campaign, programme: dict) -> None:  # noqa: ANN001
    """A programme of several years is one thing: its years side by side (what falls due and what is judged)."""
    first, last = programme["from_year"], programme["to_year"]
    from rich.table import Table
    from sqlmodel import select

    from thidua.models.tables import ObligationDef, Target

    console.print(f"[bold]Chương trình nhiều năm {first}–{last}[/] ({last - first + 1} năm, một tệp, một chiến dịch)")
    obligations = session.exec(
        select(ObligationDef.due_on, ObligationDef.series).where(
            ObligationDef.campaign_id == campaign.id,
            ObligationDef.active.is_(True),  # type: ignore[attr-defined]
        )
    ).all()
    targets = session.exec(select(Target.deadline, Target.definition).where(Target.campaign_id == campaign.id)).all()
    years = Table(title="Từng năm của chương trình")
    for column in ("Năm", "Số hạn nộp", "Chỉ tiêu xét trong năm", "Chỉ tiêu đến hạn"):
        years.add_column(column)
    each_year = sum(1 for _, d in targets if (d.get("source") or {}).get("each_period"))
    for year in range(first, last + 1):
        due = sum(1 for day, _ in obligations if day.year == year)
        ending = sum(
            1 for deadline, d in targets if deadline.year == year and not (d.get("source") or {}).get("each_period")
        )
        years.add_row(str(year), str(due), str(each_year), str(ending))
    console.print(years)


def show_campaign(session: Session, code: str) -> None:
    from rich.table import Table
    from sqlmodel import select

    from thidua.models.tables import Level, ObligationDef, Round, Target, Unit
    from thidua.services.status import get_campaign

    campaign = get_campaign(session, code)
    issuing = session.get(Unit, campaign.issuing_unit_id)
    console.print(f"[bold]{campaign.title}[/]")
    console.print(f"Mã: {campaign.code} · Năm {campaign.year} · Đơn vị ban hành: {issuing.name if issuing else ''}")
    console.print(f"Chủ đề: “{campaign.theme}”", highlight=False)
    console.print(
        f"Thời gian: {fmt_date(campaign.starts_on)} – {fmt_date(campaign.ends_on)} · "
        f"Theo dõi: {campaign.owner_department} ({campaign.owner_email})",
        highlight=False,
    )
    programme = (campaign.spec or {}).get("programme")
    if programme:
        _show_programme(session, campaign, programme)
    rounds = Table(title="Các đợt thi đua")
    for column in ("Đợt", "Từ ngày", "Đến ngày"):
        rounds.add_column(column, no_wrap=column != "Đợt")
    for round_ in session.exec(select(Round).where(Round.campaign_id == campaign.id).order_by(Round.number)).all():
        rounds.add_row(round_.name, fmt_date(round_.starts_on), fmt_date(round_.ends_on))
    console.print(rounds)
    console.print(round_boundary_text(campaign), highlight=False)
    level_names = {lv.code: lv.short_name or lv.name for lv in session.exec(select(Level)).all()}
    found = session.exec(
        select(ObligationDef)
        .where(ObligationDef.campaign_id == campaign.id, ObligationDef.active == True)  # noqa: E712
        .order_by(ObligationDef.due_on)
    ).all()
    # Codes are what users type: never cut them (the other columns wrap instead).
    obligations = Table(title="Nghĩa vụ của các đơn vị")
    obligations.add_column("Mã", no_wrap=True, min_width=max((len(ob.code) for ob in found), default=2))
    obligations.add_column("Nội dung")
    obligations.add_column("Cấp phải nộp")
    obligations.add_column("Hạn nộp", no_wrap=True)
    for ob in found:
        obligations.add_row(
            ob.code, ob.title, ", ".join(level_names.get(code, code) for code in ob.levels), fmt_date(ob.due_on)
        )
    console.print(obligations)
    found_targets = session.exec(select(Target).where(Target.campaign_id == campaign.id)).all()
    targets = Table(title="Chỉ tiêu")
    targets.add_column("Mã", no_wrap=True, min_width=max((len(t.code) for t in found_targets), default=2))
    targets.add_column("Chỉ tiêu")
    targets.add_column("Giá trị", justify="right")
    targets.add_column("Hạn", no_wrap=True)
    for target in found_targets:
        value = fmt_number(target.value)
        targets.add_row(
            target.code, target.title, f"{value} {target.unit_of_measure}".strip(), fmt_date(target.deadline)
        )
    console.print(targets)


def _status_table(title: str, rows, first_column: str, *, with_codes: bool = False) -> Table:  # noqa: ANN001
    """Counts per level or per unit; fits 80 columns: names wrap, codes (what users type next) never do."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    if with_codes:
        table.add_column("Mã", no_wrap=True, min_width=max((len(row.key) for row in rows), default=2))
    table.add_column(first_column, ratio=1, min_width=12)
    for column in ("Phải\nnộp", "Đã\nnộp", "Đã\nduyệt", "Trả\nlại", "Quá\nhạn", "Nộp\nmuộn", "Tỷ lệ\nnộp"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        c = row.counts
        table.add_row(
            *([row.key] if with_codes else []),
            row.label,
            *(fmt_integer(n) for n in (c.owed, c.submitted, c.accepted, c.returned, c.overdue, c.late_submitted)),
            fmt_percent(c.percent_done),
        )
    return table


def print_status(report: StatusReport, timezone: str, limit: int = 0) -> None:
    at = utc_to_local(report.at, timezone)
    round_ = report.round
    in_round = (
        f" · thuộc {round_.name} ({fmt_date(round_.starts)} – {fmt_date(round_.ends)})"
        if round_
        else " · ngoài các đợt"
    )
    console.print(f"[bold]Tình hình thực hiện — {report.scope_name}[/] (tính đến {at:%H:%M %d/%m/%Y}{in_round})")
    t = report.total
    console.print(
        f"Tổng: {fmt_integer(t.owed)} nghĩa vụ · đã nộp {fmt_integer(t.submitted)} ({fmt_percent(t.percent_done)}) · "
        f"đã duyệt {fmt_integer(t.accepted)} · quá hạn chưa nộp {fmt_integer(t.overdue)} · "
        f"nộp muộn {fmt_integer(t.late_submitted)}"
    )
    if report.tree_on is not None:
        console.print(f"Theo cơ cấu tổ chức ngày {report.tree_on:%d/%m/%Y}.")
    console.print(_status_table("Theo cấp", report.by_level, "Cấp"))
    if report.by_group:
        shown = report.by_group[:limit] if limit else report.by_group
        console.print(_status_table("Theo đơn vị trực thuộc", shown, "Đơn vị", with_codes=True))
        if len(shown) < len(report.by_group):
            console.print(
                f"… và {fmt_integer(len(report.by_group) - len(shown))} đơn vị khác "
                f"(--limit 0 để xem tất cả, hoặc --unit MÃ để xem một đơn vị).",
                highlight=False,
            )
    if report.unplaced is not None:
        u = report.unplaced
        console.print(
            f"Ngoài cơ cấu ngày {report.tree_on:%d/%m/%Y} (do đơn vị thành lập sau ngày đó đang giữ): "
            f"{fmt_integer(u.owed)} nghĩa vụ · đã nộp {fmt_integer(u.submitted)} · quá hạn {fmt_integer(u.overdue)}"
        )


def _now_utc(now_text: str | None, timezone: str):
    local = parse_cli_now(now_text)
    return local_to_utc(local, timezone) if local else utcnow()


@friendly
def status(
    code: str = typer.Argument(..., help="Mã chiến dịch"),
    unit: Optional[str] = typer.Option(None, "--unit", help="Mã đơn vị (mặc định: toàn chiến dịch)"),
    level: Optional[str] = typer.Option(None, "--level", help="Chỉ tính các đơn vị thuộc cấp này"),
    obligation: Optional[str] = typer.Option(None, "--obligation", help="Chỉ tính một nghĩa vụ"),
    now: Optional[str] = typer.Option(None, "--now", help="Thời điểm tính (dd/mm/yyyy [HH:MM])"),
    tree_on: Optional[str] = typer.Option(None, "--tree-on", help="Nhóm theo cơ cấu tổ chức của ngày này (dd/mm/yyyy)"),
    limit: int = typer.Option(30, "--limit", min=0, help="Số đơn vị trực thuộc tối đa in ra (0: tất cả)"),
) -> None:
    from thidua.services.status import campaign_row, status_report

    with ready_engine().connect() as session:  # Core only: no ORM to load for a status
        campaign = campaign_row(session, code)
        local = parse_cli_now(now)  # with --now: the world as it stood then
        report = status_report(
            session,
            code,
            unit_code=unit,
            level=level,
            obligation_code=obligation,
            now=local_to_utc(local, campaign.timezone) if local else None,
            as_of=local is not None,
            tree_on=parse_cli_date(tree_on),
        )
        print_status(report, campaign.timezone, limit)


@friendly
def plan(
    code: str = typer.Argument(..., help="Mã chiến dịch"),
    days: int = typer.Option(30, "--days", min=0, max=400, help="Số ngày tới"),
    unit: Optional[str] = typer.Option(None, "--unit", help="Mã đơn vị (mặc định: toàn chiến dịch)"),
    today: Optional[str] = typer.Option(None, "--today", help="Ngày bắt đầu (dd/mm/yyyy; mặc định hôm nay)"),
    limit: int = typer.Option(200, "--limit", help="Số dòng tối đa in ra"),
) -> None:
    from thidua.services.status import campaign_row, upcoming_deadlines

    with ready_engine().connect() as session:
        campaign = campaign_row(session, code)
        start: date = parse_cli_date(today) or utc_to_local(utcnow(), campaign.timezone).date()
        items = upcoming_deadlines(session, code, days=days, today=start, unit_code=unit)
    print_plan(items, start, days, limit)


def print_plan(items, start: date, days: int, limit: int) -> None:  # noqa: ANN001
    if not items:
        console.print(f"Không có hạn nộp nào còn nợ từ {fmt_date(start)} trong {days} ngày tới.")
        return
    from rich.table import Table

    table = Table(title=f"Hạn nộp từ {fmt_date(start)} trong {days} ngày tới ({len(items)} nghĩa vụ còn nợ)")
    for column in ("Hạn", "Nghĩa vụ", "Đơn vị", "Trạng thái"):
        table.add_column(column)
    for item in items[:limit]:
        table.add_row(
            fmt_date(item.due_on), item.obligation_title, item.unit_name, STATUS_LABELS[AssignmentStatus(item.status)]
        )
    console.print(table)
    if len(items) > limit:
        console.print(f"… và {len(items) - limit} dòng nữa (dùng --limit hoặc --unit).")


def schema(out: Path = typer.Option(Path("config/campaign.schema.json"), "--out", help="Tệp JSON Schema")) -> None:
    from thidua.models.spec.campaign import CampaignSpec

    out.write_text(json.dumps(CampaignSpec.model_json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"Đã ghi {out}")
