"""CLI: `thidua reminders …` — preview, render, send what is due, status, and decisions on unknown outcomes."""

from __future__ import annotations

import getpass
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.models.clock import fmt_datetime, local_to_utc, utcnow
from thidua.cli.common import UserError, console, friendly, parse_cli_now, ready_engine
from thidua.lazyimport import lazy_module

if TYPE_CHECKING:
    from thidua.services.reminders import DispatchSummary

service = lazy_module("thidua.services.reminders")

reminders_app = typer.Typer(help="Nhắc việc qua e-mail: xem trước, gửi, theo dõi.", no_args_is_help=True)

KIND_TITLES = {"reminder": "Nhắc hạn", "escalation": "Báo cấp trên", "office_digest": "Tổng hợp văn phòng"}

NOW_HELP = "Thời điểm giả lập (giờ địa phương): dd/mm/yyyy hoặc 'dd/mm/yyyy HH:MM'. Mặc định: bây giờ."


def _now(text: str | None) -> datetime:
    from thidua.settings import get_settings

    local = parse_cli_now(text)
    return utcnow() if local is None else local_to_utc(local, get_settings().timezone)


@reminders_app.command("preview")
@friendly
def preview_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch, ví dụ bd-2023"),
    days: int = typer.Option(30, "--days", min=1, max=400, help="Số ngày tới cần xem"),
    unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ xem một đơn vị (và các đơn vị trực thuộc)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    detail: bool = typer.Option(False, "--detail", help="Liệt kê từng thư (mặc định: khi có --unit)"),
) -> None:
    """Mọi thư nhắc sẽ gửi trong N ngày tới (chưa gửi gì)."""

    result = service.preview(ready_engine(), code, now=_now(now), days=days, unit_code=unit)
    tz = result.campaign.timezone
    console.print(f"[bold]{result.campaign.title}[/]")
    console.print(
        f"Từ {fmt_datetime(result.start, tz)} đến {fmt_datetime(result.end, tz)}: "
        f"[bold]{result.mail_count}[/] thư (giả định chưa đơn vị nào nộp thêm)."
    )
    table = Table("Thời điểm gửi", "Loại", "Nghĩa vụ", "Bậc nhắc", "Đơn vị", "Thư", show_lines=False)
    for batch in result.batches:
        occurrence = batch.occurrence
        table.add_row(
            fmt_datetime(batch.send_at, tz),
            KIND_TITLES.get(batch.kind, batch.kind),
            batch.obligation_title or "—",
            occurrence.occurrence_id if occurrence else "—",
            str(len(batch.units)),
            str(batch.mail_count),
        )
    console.print(table)
    if detail or unit:
        listing = Table("Thời điểm gửi", "Loại", "Nghĩa vụ", "Đơn vị", "Người nhận")
        for batch in result.batches:
            for item in batch.units:
                listing.add_row(
                    fmt_datetime(batch.send_at, tz),
                    KIND_TITLES.get(batch.kind, batch.kind),
                    batch.obligation_title or "—",
                    f"{item.name} ({item.code})",
                    ", ".join(item.recipients),
                )
        console.print(listing)
    if result.units_without_email:
        console.print(
            f"[yellow]{len(result.units_without_email)} đơn vị không có địa chỉ e-mail, sẽ không nhận được nhắc:[/]"
        )
        for item in result.units_without_email[:50]:
            console.print(f"  • {item.name} ({item.code})", highlight=False)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@reminders_app.command("render")
@friendly
def render_cmd(
    code: str = typer.Argument(..., help="Mã chiến dịch"),
    out: Path = typer.Option(..., "--out", help="Thư mục ghi các tệp .eml"),
    days: int = typer.Option(1, "--days", min=1, max=400, help="Số ngày tới cần dựng thư"),
    unit: Optional[str] = typer.Option(None, "--unit", help="Chỉ dựng thư của một đơn vị (và đơn vị trực thuộc)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    limit: int = typer.Option(1000, "--limit", min=1, help="Số tệp tối đa"),
) -> None:
    """Dựng các thư sẽ gửi thành tệp .eml để xem trước (không gửi, không ghi sổ)."""
    from thidua.settings import get_settings

    settings = get_settings()
    files = service.render_preview(
        ready_engine(settings), settings, code, now=_now(now), days=days, unit_code=unit, limit=limit
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, raw in files:
        (out / (_UNSAFE.sub("_", name)[:150] + ".eml")).write_bytes(raw)
    console.print(f"Đã ghi {len(files)} tệp .eml vào {out}")


def _print_summary(summary: DispatchSummary, tz: str) -> None:
    totals = summary.totals
    console.print(
        f"Lượt gửi lúc {fmt_datetime(summary.now, tz)}: lập lịch {summary.plan.reminders} thư nhắc, "
        f"{summary.plan.escalations} thư báo cấp trên, {summary.plan.office_digests} thư tổng hợp."
    )
    console.print(
        f"Đã gửi {totals.sent}, một phần {totals.partial}, thất bại {totals.failed}, chưa rõ {totals.unknown}, "
        f"bỏ qua {totals.skipped} (đơn vị đã nộp...), chờ thử lại {totals.retried}."
    )
    if summary.recovery.unknown or summary.recovery.returned:
        console.print(
            f"[yellow]Khôi phục sau sự cố: {summary.recovery.returned} thư trả về hàng chờ, "
            f"{summary.recovery.unknown} thư chưa rõ kết quả (xem: thidua reminders status).[/]"
        )
    if summary.stopped_early:
        from thidua.settings import get_settings

        console.print(f"[yellow]{escape(service.stop_reason(summary.totals, get_settings()))}[/]", highlight=False)


@reminders_app.command("send-due")
@friendly
def send_due_cmd(
    code: Optional[str] = typer.Argument(None, help="Mã chiến dịch (bỏ trống: mọi chiến dịch và mọi thư chờ)"),
    now: Optional[str] = typer.Option(None, "--now", help=NOW_HELP),
    via_prefect: bool = typer.Option(False, "--via-prefect", help="Chạy bằng luồng Prefect (chậm hơn khi khởi động)"),
) -> None:
    """Một lượt gửi: lập lịch những gì đến hạn rồi gửi."""
    import asyncio

    from thidua.settings import get_settings

    settings = get_settings()
    moment = _now(now)
    if via_prefect:
        from thidua.flows.reminders import dispatch_reminders_flow

        result = asyncio.run(dispatch_reminders_flow(now=moment.isoformat(), campaign_code=code))
        console.print(f"Luồng Prefect xong: {result}")
        return
    summary = asyncio.run(service.run_dispatch(ready_engine(settings), settings, now=moment, campaign_code=code))
    _print_summary(summary, settings.timezone)
    if summary.totals.failed or summary.totals.unknown:
        raise typer.Exit(2)


@reminders_app.command("status")
@friendly
def status_cmd(
    code: Optional[str] = typer.Argument(None, help="Mã chiến dịch (bỏ trống: tất cả)"),
    limit: int = typer.Option(10, "--limit", min=1, help="Số lỗi gần nhất cần hiện"),
) -> None:
    """Số thư theo trạng thái, các lỗi gần nhất và thư chưa rõ kết quả."""
    from thidua.settings import get_settings

    settings = get_settings()
    report = service.status_report(ready_engine(settings), code, limit=limit)
    tz = settings.timezone
    table = Table("Trạng thái", "Số thư")
    for status in ("sent", "pending", "claimed", "partial", "failed", "unknown", "skipped"):
        table.add_row(service.STATUS_LABELS[status], str(report.counts.get(status, 0)))
    console.print(table)
    if report.next_due is not None:
        console.print(f"Thư chờ gửi sớm nhất: {fmt_datetime(report.next_due, tz)}")
    if report.latest_failures:
        failures = Table("Khóa", "Người nhận", "Đơn vị", "Trạng thái", "Lỗi", title="Lỗi gần nhất")
        for row in report.latest_failures:
            failures.add_row(
                row.key, row.recipient, row.unit_code or "—", service.STATUS_LABELS[row.status], row.last_error or ""
            )
        console.print(failures)
    if report.unknown:
        unknown = Table("Khóa", "Người nhận", "Đơn vị", "Lỗi", title="Thư chưa rõ kết quả (không tự gửi lại)")
        for row in report.unknown:
            unknown.add_row(row.key, row.recipient, row.unit_code or "—", row.last_error or "")
        console.print(unknown)
        console.print("Quyết định: thidua reminders resolve-unknown --resend | --mark-sent [--key KHÓA ...]")


@reminders_app.command("resolve-unknown")
@friendly
def resolve_unknown_cmd(
    resend: bool = typer.Option(False, "--resend", help="Cho gửi lại (người nhận có thể nhận hai lần)"),
    mark_sent: bool = typer.Option(False, "--mark-sent", help="Ghi nhận là đã gửi (không gửi lại)"),
    keys: Optional[list[str]] = typer.Option(None, "--key", help="Khóa thư (lặp lại được); bỏ trống: mọi thư chưa rõ"),
    actor: Optional[str] = typer.Option(None, "--actor", help="Người quyết định (mặc định: tài khoản hệ điều hành)"),
) -> None:
    """Quyết định cho thư 'chưa rõ kết quả' (mất kết nối sau khi đã gửi nội dung thư)."""

    if resend == mark_sent:
        raise UserError("chọn đúng một trong hai: --resend hoặc --mark-sent")
    who = actor or f"cli:{getpass.getuser()}"
    count = service.resolve_unknown(ready_engine(), action="resend" if resend else "mark-sent", actor=who, keys=keys)
    if keys and count < len(keys):
        console.print(f"[yellow]{len(keys) - count} khóa không ở trạng thái 'chưa rõ kết quả' nên không đổi.[/]")
    console.print(f"Đã cập nhật {count} thư ({'cho gửi lại' if resend else 'ghi nhận đã gửi'}).")


def register(app: typer.Typer) -> None:
    app.add_typer(reminders_app, name="reminders")
