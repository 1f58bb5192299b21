"""CLI: validate files, load and show campaigns, status and upcoming deadlines."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from thidua.models.clock import fmt_date, local_to_utc, utc_to_local, utcnow
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.status import OBLIGATION_KIND_LABELS, STATUS_LABELS, AssignmentStatus
from thidua.models.vnformat import fmt_integer, fmt_number, fmt_percent
from thidua.cli.common import console, friendly, parse_cli_date, parse_cli_now

if TYPE_CHECKING:
    from sqlmodel import Session

    from thidua.services.campaigns import LoadResult
    from thidua.services.status import StatusReport

campaign_app = typer.Typer(help="Chiến dịch thi đua: nạp, xem.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("validate", help="Kiểm tra tệp khai báo (chiến dịch, đơn vị, danh mục khen thưởng).")(validate)
    app.add_typer(campaign_app, name="campaign")
    app.command("status", help="Tình hình thực hiện nghĩa vụ theo cấp và theo đơn vị.")(status)
    app.command("plan", help="Các hạn nộp trong N ngày tới, theo đơn vị.")(plan)
    app.command("schema", help="Xuất JSON Schema của tệp chiến dịch (cho trình soạn thảo).")(schema)


def ready_engine():
    from thidua.db import create_schema, get_engine

    engine = get_engine()
    create_schema(engine)
    return engine


def _validate_one(path: Path) -> str:
    """Validate a file by what it declares at the top level; returns what it was."""
    from thidua.models.spec.validate import validate_campaign_text
    from thidua.models.spec.yamlsource import parse_yaml

    text = path.read_text(encoding="utf-8") if path.suffix.lower() in (".yaml", ".yml") else None
    if text is None:
        return _validate_units(path)
    doc = parse_yaml(text, str(path))
    keys = set(doc.data) if isinstance(doc.data, dict) else set()
    if "obligations" in keys or "rounds" in keys:
        validate_campaign_text(text, str(path))  # what services.campaigns.read_campaign_file does, without the ORM
        return "chiến dịch"
    if "units" in keys:
        return _validate_units(path)
    if "holidays" in keys:
        from thidua.services.calendars import load_holidays

        load_holidays(path)
        return "lịch ngày nghỉ"
    from thidua.models.spec import awards as award_spec  # noqa: PLC0415

    award_spec.validate_catalogue_file(path)
    return "danh mục khen thưởng"


def _validate_units(path: Path) -> str:
    """A dry-run import checks the file and its fit with the units already in the database."""
    from thidua.services.units import import_units, load_levels

    engine = ready_engine()
    load_levels(engine)
    import_units(engine, path, dry_run=True)
    return "danh sách đơn vị"


@friendly
def validate(files: list[Path] = typer.Argument(..., help="Các tệp cần kiểm tra")) -> None:
    problems: list[Problem] = []
    for path in files:
        try:
            kind = _validate_one(path)
            console.print(f"[green]✓[/] {path} ({kind}) hợp lệ")
        except SpecError as exc:
            problems.extend(exc.problems)
        except FileNotFoundError:
            problems.append(Problem(str(path), None, "", "không tìm thấy tệp"))
    if problems:
        raise SpecError(problems)


def _print_load(result: LoadResult) -> None:
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


def show_campaign(session: Session, code: str) -> None:
    from sqlmodel import select

    from thidua.models.tables import ObligationDef, Round, Target, Unit
    from thidua.services.status import get_campaign

    campaign = get_campaign(session, code)
    issuing = session.get(Unit, campaign.issuing_unit_id)
    console.print(f"[bold]{campaign.title}[/]")
    console.print(f"Mã: {campaign.code} · Năm {campaign.year} · Đơn vị ban hành: {issuing.name if issuing else ''}")
    console.print(f"Chủ đề: “{campaign.theme}”", highlight=False)
    console.print(f"Thời gian: {fmt_date(campaign.starts_on)} – {fmt_date(campaign.ends_on)} · "
                  f"Theo dõi: {campaign.owner_department} ({campaign.owner_email})", highlight=False)
    rounds = Table(title="Các đợt thi đua")
    for column in ("Đợt", "Từ ngày", "Đến ngày"):
        rounds.add_column(column)
    for round_ in session.exec(select(Round).where(Round.campaign_id == campaign.id).order_by(Round.number)).all():
        rounds.add_row(round_.name, fmt_date(round_.starts_on), fmt_date(round_.ends_on))
    console.print(rounds)
    obligations = Table(title="Nghĩa vụ của các đơn vị")
    for column in ("Mã", "Loại", "Nội dung", "Cấp phải nộp", "Hạn nộp"):
        obligations.add_column(column)
    for ob in session.exec(
        select(ObligationDef).where(ObligationDef.campaign_id == campaign.id, ObligationDef.active == True)  # noqa: E712
        .order_by(ObligationDef.due_on)
    ).all():
        obligations.add_row(ob.code, OBLIGATION_KIND_LABELS.get(ob.kind, ob.kind), ob.title, ", ".join(ob.levels), fmt_date(ob.due_on))
    console.print(obligations)
    targets = Table(title="Chỉ tiêu")
    for column in ("Mã", "Chỉ tiêu", "Giá trị", "Hạn"):
        targets.add_column(column)
    for target in session.exec(select(Target).where(Target.campaign_id == campaign.id)).all():
        value = fmt_number(target.value)
        targets.add_row(target.code, target.title, f"{value} {target.unit_of_measure}".strip(), fmt_date(target.deadline))
    console.print(targets)


def _status_table(title: str, rows, first_column: str) -> Table:  # noqa: ANN001
    table = Table(title=title)
    for column in (first_column, "Phải nộp", "Đã nộp", "Đã duyệt", "Trả lại", "Quá hạn", "Nộp muộn", "% hoàn thành"):
        table.add_column(column, justify="left" if column == first_column else "right")
    for row in rows:
        c = row.counts
        table.add_row(row.label, *(fmt_integer(n) for n in (c.owed, c.submitted, c.accepted, c.returned, c.overdue,
                                                             c.late_submitted)), fmt_percent(c.percent_done))
    return table


def print_status(report: StatusReport, timezone: str) -> None:
    at = utc_to_local(report.at, timezone)
    console.print(f"[bold]Tình hình thực hiện — {report.scope_name}[/] (tính đến {at:%H:%M %d/%m/%Y})")
    t = report.total
    console.print(f"Tổng: {fmt_integer(t.owed)} nghĩa vụ · đã nộp {fmt_integer(t.submitted)} ({fmt_percent(t.percent_done)}) · "
                  f"đã duyệt {fmt_integer(t.accepted)} · quá hạn chưa nộp {fmt_integer(t.overdue)} · "
                  f"nộp muộn {fmt_integer(t.late_submitted)}")
    console.print(_status_table("Theo cấp", report.by_level, "Cấp"))
    if report.by_group:
        console.print(_status_table("Theo đơn vị trực thuộc", report.by_group, "Đơn vị"))


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
) -> None:
    from thidua.services.status import campaign_row, status_report

    with ready_engine().connect() as session:  # Core only: no ORM to load for a status
        campaign = campaign_row(session, code)
        local = parse_cli_now(now)  # with --now: the world as it stood then
        report = status_report(session, code, unit_code=unit, level=level, obligation_code=obligation,
                               now=local_to_utc(local, campaign.timezone) if local else None, as_of=local is not None)
        print_status(report, campaign.timezone)


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
    table = Table(title=f"Hạn nộp từ {fmt_date(start)} trong {days} ngày tới ({len(items)} nghĩa vụ còn nợ)")
    for column in ("Hạn", "Nghĩa vụ", "Đơn vị", "Trạng thái"):
        table.add_column(column)
    for item in items[:limit]:
        table.add_row(fmt_date(item.due_on), item.obligation_title, item.unit_name, STATUS_LABELS[AssignmentStatus(item.status)])
    console.print(table)
    if len(items) > limit:
        console.print(f"… và {len(items) - limit} dòng nữa (dùng --limit hoặc --unit).")


def schema(out: Path = typer.Option(Path("config/campaign.schema.json"), "--out", help="Tệp JSON Schema")) -> None:
    from thidua.models.spec.campaign import CampaignSpec

    out.write_text(json.dumps(CampaignSpec.model_json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"Đã ghi {out}")
