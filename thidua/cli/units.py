"""CLI: the unit hierarchy (`thidua units ...`): levels, import, show, generators."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.models.clock import fmt_date, fmt_datetime
from thidua.models.vnformat import fmt_integer, fmt_seconds
from thidua.cli.common import UserError, console, friendly, parse_cli_date
from thidua.cli.common import ready_engine as _engine
from thidua.lazyimport import lazy_module
from thidua.paths import CONFIG_DIR

if TYPE_CHECKING:
    from sqlmodel import Session

    from thidua.models.hierarchy import ImportReport
    from thidua.services.reorganisation import ReorgReport

service = lazy_module("thidua.services.units")
history = lazy_module("thidua.services.unit_history")
unitgen = lazy_module("thidua.unitgen")

units_app = typer.Typer(help="Đơn vị công đoàn: danh mục cấp, nhập danh sách đơn vị, tra cứu.", no_args_is_help=True)
SHOWN_CODES = 10  # codes listed per category in the import report

BINH_DINH_CDCS_FILE = CONFIG_DIR / "units" / "binh_dinh_cdcs.csv"
SECTOR_LABELS = {"sxkd": "Sản xuất kinh doanh", "hcsn": "Hành chính sự nghiệp"}


def register(app: typer.Typer) -> None:
    app.add_typer(units_app, name="units")


@units_app.command("levels")
@friendly
def levels_cmd(
    file: Path | None = typer.Argument(
        None, help="Tệp danh mục cấp (YAML); mặc định levels.yaml trong thư mục cấu hình."
    ),
) -> None:
    """Nạp danh mục cấp công đoàn (thứ tự trong tệp là thứ tự từ trên xuống)."""
    from thidua.settings import get_settings

    file = file or get_settings().config_dir / "levels.yaml"
    report = service.load_levels(_engine(), file)
    table = Table(title=f"Danh mục cấp từ {escape(str(file))}")
    table.add_column("Kết quả")
    table.add_column("Số cấp", justify="right")
    table.add_column("Mã cấp")
    for label, codes in (
        ("Thêm mới", report.created),
        ("Cập nhật", report.updated),
        ("Bỏ (không đơn vị nào dùng)", report.removed),
        ("Không đổi", report.unchanged),
    ):
        table.add_row(label, str(len(codes)), ", ".join(codes))
    console.print(table)


@units_app.command("import")
@friendly
def import_cmd(
    file: Path = typer.Argument(..., help="Tệp danh sách đơn vị: .yaml, .csv (UTF-8) hoặc .xlsx."),
    deactivate_missing: bool = typer.Option(
        False,
        "--deactivate-missing",
        help="Ngừng hoạt động các đơn vị có trong CSDL nhưng không có trong tệp (chỉ trong phạm vi các đơn vị "
        "gốc của tệp). Không bao giờ xóa đơn vị.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ kiểm tra và báo cáo, không ghi vào CSDL."),
) -> None:
    """Nhập (thêm mới / cập nhật theo mã) danh sách đơn vị từ tệp."""
    started = time.perf_counter()
    report = service.import_units(_engine(), file, deactivate_missing=deactivate_missing, dry_run=dry_run)
    _print_report(report, time.perf_counter() - started)


def _print_report(report: ImportReport, seconds: float) -> None:
    title = f"Nhập đơn vị từ {escape(report.file)}"
    if report.dry_run:
        title += " — CHẠY THỬ, không ghi vào cơ sở dữ liệu"
    table = Table(title=title)
    table.add_column("Kết quả")
    table.add_column("Số đơn vị", justify="right")
    table.add_column("Mã đơn vị")
    for label, codes in (
        ("Thêm mới", report.created),
        ("Cập nhật", report.updated),
        ("Di chuyển", report.moved),
        ("Ngừng hoạt động", report.deactivated),
        ("Không đổi", report.unchanged),
    ):
        shown = ", ".join(codes[:SHOWN_CODES]) + (
            f", … (+{len(codes) - SHOWN_CODES})" if len(codes) > SHOWN_CODES else ""
        )
        table.add_row(label, fmt_integer(len(codes)), shown)
    console.print(table)
    verb = "Sẽ thay đổi" if report.dry_run else "Đã thay đổi"
    console.print(f"{verb} {fmt_integer(report.changed)} đơn vị trong {fmt_seconds(seconds)}.")


@units_app.command("show")
@friendly
def show_cmd(
    code: str = typer.Argument(..., help="Mã đơn vị, ví dụ BDH."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Xem đơn vị như vào ngày này (dd/mm/yyyy)."),
) -> None:
    """Xem một đơn vị: thông tin, chuỗi cấp trên, số đơn vị trực thuộc theo cấp và lịch sử thay đổi."""
    from sqlmodel import Session

    engine = _engine()
    day = parse_cli_date(as_of)
    with Session(engine) as session:
        levels = service.load_level_index(session)
        if day is not None:
            _show_as_of(session, code, day, levels)
            return
        unit = service.get_unit(session, code)
        if unit is None:
            raise UserError(f"không có đơn vị mã '{code}'")
        chain = service.ancestors(session, unit.id)
        counts = service.subtree_level_counts(session, unit.id)
        versions = history.unit_versions(session, unit.id)

    info = Table(title=f"Đơn vị {unit.code}", show_header=False)
    info.add_column("Mục", style="bold")
    info.add_column("Giá trị")
    info.add_row("Mã đơn vị", unit.code)
    info.add_row("Tên đơn vị", escape(unit.name))
    info.add_row("Cấp", escape(levels.label(unit.level_code)))
    info.add_row("Khu vực", SECTOR_LABELS.get(unit.sector or "", "—"))
    info.add_row("E-mail", escape(", ".join(unit.emails)) or "—")
    info.add_row("Hoạt động", "có" if unit.active else "không (ngừng hoạt động)")
    info.add_row("Cụm/khối thi đua", escape(unit.cluster or "—"))
    info.add_row("Cập nhật lúc", fmt_datetime(unit.updated_at))
    console.print(info)

    parents = Table(title="Chuỗi cấp trên (từ cấp cao nhất)")
    parents.add_column("Cấp")
    parents.add_column("Mã")
    parents.add_column("Tên")
    for ancestor in chain:
        parents.add_row(escape(levels.label(ancestor.level_code)), ancestor.code, escape(ancestor.name))
    if not chain:
        parents.add_row("—", "—", "đơn vị gốc (không có cấp trên)")
    console.print(parents)

    below = Table(title="Đơn vị trực thuộc theo cấp")
    below.add_column("Cấp")
    below.add_column("Trực tiếp", justify="right")
    below.add_column("Toàn bộ", justify="right")
    for level_code, direct, total in counts:
        below.add_row(escape(levels.label(level_code)), str(direct), str(total))
    if not counts:
        below.add_row("—", "0", "0")
    console.print(below)
    if len(versions) > 1:
        _print_versions(versions, levels)


def _print_versions(versions, levels) -> None:  # noqa: ANN001
    table = Table(title="Lịch sử (theo ngày hiệu lực)")
    for column in ("Từ ngày", "Đến hết ngày", "Tên", "Cấp", "Cấp trên", "Hoạt động"):
        table.add_column(column)
    for v in versions:
        until = fmt_date(v.valid_to - timedelta(days=1)) if v.valid_to else "nay"
        table.add_row(
            fmt_date(v.valid_from) or "—",
            until,
            escape(v.name),
            escape(levels.label(v.level_code)),
            v.parent_code or "—",
            "có" if v.active else "không",
        )
    console.print(table)


def _show_as_of(session: Session, code: str, day: date, levels) -> None:  # noqa: ANN001
    unit = history.unit_as_of(session, code, day)
    if unit is None:
        raise UserError(f"đơn vị '{code}' chưa tồn tại vào ngày {fmt_date(day)}")
    chain = history.ancestors_as_of(session, unit, day)
    children = history.children_as_of(session, unit.id, day)
    info = Table(title=f"Đơn vị {unit.code} vào ngày {fmt_date(day)}", show_header=False)
    info.add_column("Mục", style="bold")
    info.add_column("Giá trị")
    info.add_row("Tên đơn vị", escape(unit.name))
    info.add_row("Cấp", escape(levels.label(unit.level_code)))
    info.add_row("Cấp trên", " → ".join(f"{a.code} ({escape(a.name)})" for a in chain) or "đơn vị gốc")
    info.add_row("Hoạt động", "có" if unit.active else "không (ngừng hoạt động)")
    info.add_row(
        "Đơn vị trực thuộc",
        f"{sum(1 for c in children if c.active)}: " + escape(", ".join(c.code for c in children if c.active)[:400]),
    )
    console.print(info)
    _print_versions(history.unit_versions(session, unit.id), levels)


@units_app.command("reorganise")
@friendly
def reorganise_cmd(
    file: Path = typer.Argument(..., help="Tệp thay đổi (.csv UTF-8 hoặc .xlsx), mỗi dòng một thao tác."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Chỉ kiểm tra và liệt kê mọi hệ quả, không ghi vào CSDL."),
    today: Optional[str] = typer.Option(None, "--today", help="Ngày hôm nay (dd/mm/yyyy; mặc định theo đồng hồ)."),
    limit: int = typer.Option(200, "--limit", help="Số dòng hệ quả tối đa in ra mỗi phần."),
) -> None:
    """Tái cấu trúc cây đơn vị theo ngày hiệu lực: tạo mới, đổi tên, chuyển, sáp nhập, chia tách, giải thể."""
    from thidua.services.reorganisation import reorganise

    started = time.perf_counter()
    report = reorganise(_engine(), file, dry_run=dry_run, today=parse_cli_date(today))
    print_reorganisation(report, time.perf_counter() - started, limit)


def print_reorganisation(report: ReorgReport, seconds: float, limit: int = 200) -> None:
    from thidua.models.reorganisation import OPERATION_LABELS

    title = f"Tái cấu trúc từ {escape(report.file)}"
    if report.dry_run:
        title += " — CHẠY THỬ, không ghi vào cơ sở dữ liệu"
    console.print(f"[bold]{title}[/]")
    table = Table(title=f"Hệ quả trên cây đơn vị ({len(report.consequences)})")
    table.add_column("Dòng", justify="right")
    table.add_column("Thao tác")
    table.add_column("Hệ quả")
    for item in report.consequences[:limit]:
        table.add_row(str(item.line), OPERATION_LABELS[item.operation], escape(item.text))
    console.print(table)
    if len(report.consequences) > limit:
        console.print(f"… và {len(report.consequences) - limit} hệ quả nữa (dùng --limit).")
    carried = Table(title="Công việc đang dở được chuyển theo")
    carried.add_column("Loại")
    carried.add_column("Số lượng", justify="right")
    for kind, count in sorted(report.carried_counts.items()):
        carried.add_row(CARRIED_LABELS.get(kind, kind), fmt_integer(count))
    if not report.carried_counts:
        carried.add_row("—", "0")
    console.print(carried)
    for item in report.carried[:limit]:
        console.print(f"  • {escape(item.text)}", highlight=False)
    if len(report.carried) > limit:
        console.print(f"  … và {len(report.carried) - limit} mục nữa (dùng --limit).")
    for warning in report.warnings:
        console.print(f"[yellow]Lưu ý:[/] {escape(warning)}", highlight=False)
    verb = "Sẽ áp dụng" if report.dry_run else "Đã áp dụng"
    console.print(
        f"{verb} {report.rows} dòng, hiệu lực đến ngày {fmt_date(report.effective_on)}; "
        f"{fmt_integer(report.units_versioned)} đơn vị được lưu phiên bản cũ; {fmt_seconds(seconds)}."
    )


CARRIED_LABELS = {
    "assignment.moved": "Nghĩa vụ chuyển sang đơn vị kế thừa",
    "assignment.closed": "Nghĩa vụ đóng (không còn áp dụng)",
    "assignment.reviewer": "Nghĩa vụ đổi đơn vị duyệt",
    "nomination": "Hồ sơ khen thưởng chuyển cấp xét",
    "campaign": "Chiến dịch đổi đơn vị chủ trì",
    "outbox": "Thư chờ gửi đổi người nhận / không gửi",
}


@units_app.command("generate-binh-dinh")
@friendly
def generate_binh_dinh_cmd(
    out: Path = typer.Option(BINH_DINH_CDCS_FILE, "--out", help="Tệp CSV sẽ ghi."),
    seed: int = typer.Option(2023, "--seed", help="Hạt giống ngẫu nhiên (cùng hạt giống, cùng kết quả)."),
    total: int = typer.Option(1200, "--total", min=1, help="Số CĐCS."),
) -> None:
    """Sinh danh sách CĐCS giả lập của tỉnh Bình Định (dưới 19 đơn vị cấp trên trực tiếp)."""
    count = unitgen.write_units_csv(unitgen.binh_dinh_cdcs(seed=seed, total=total), out)
    console.print(f"Đã ghi {count} CĐCS giả lập vào {escape(str(out))}.")


@units_app.command("generate-national")
@friendly
def generate_national_cmd(
    out: Path = typer.Option(..., "--out", help="Tệp CSV sẽ ghi."),
    seed: int = typer.Option(2025, "--seed", help="Hạt giống ngẫu nhiên."),
    provinces: int = typer.Option(63, "--provinces", min=1, max=99, help="Số LĐLĐ tỉnh."),
    cdcs: int = typer.Option(130_000, "--cdcs", min=1, help="Tổng số CĐCS."),
) -> None:
    """Sinh cây đơn vị toàn quốc giả lập (Tổng LĐLĐ → LĐLĐ tỉnh → cấp trên trực tiếp → CĐCS)."""
    count = unitgen.write_units_csv(unitgen.national_tree(seed, provinces=provinces, cdcs_total=cdcs), out)
    console.print(f"Đã ghi {fmt_integer(count)} đơn vị giả lập vào {escape(str(out))}.")
