"""`thidua demo`: the whole 2023 Bình Định campaign as a one-command simulation on the embedded default."""

from __future__ import annotations

import gc
import os
from contextlib import ExitStack
import time as clock
from datetime import date
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.cli.common import UserError, console, friendly, parse_cli_date
from thidua.models.vnformat import fmt_number, fmt_seconds, fmt_share


def register(app: typer.Typer) -> None:
    app.command("demo", help="Mô phỏng cả năm 2023 của chiến dịch Bình Định trên SQLite nhúng (thư lưu thành .eml).")(
        demo
    )


@friendly
def demo(
    fresh: bool = typer.Option(False, "--fresh", help="Xoá dữ liệu mô phỏng cũ và chạy lại từ đầu"),
    resume: bool = typer.Option(False, "--resume", help="Chạy tiếp lần mô phỏng bị dừng"),
    seed: int = typer.Option(2023, "--seed", help="Hạt giống ngẫu nhiên (cùng hạt giống, cùng kết quả)"),
    start: Optional[str] = typer.Option(
        None, "--start", help="Ngày bắt đầu (dd/mm/yyyy; mặc định ngày ban hành kế hoạch)"
    ),
    end: str = typer.Option("31/12/2023", "--end", help="Ngày kết thúc (dd/mm/yyyy)"),
    cdcs: Optional[int] = typer.Option(None, "--cdcs", min=1, help="Số CĐCS sinh giả lập (mặc định: danh sách có sẵn)"),
    no_prefect: bool = typer.Option(False, "--no-prefect", help="Gọi thẳng dịch vụ thay vì luồng Prefect"),
    year: int = typer.Option(
        2023,
        "--year",
        help="2023: chiến dịch Bình Định 2023; 2025: chiến dịch 2025 qua đợt sắp xếp "
        "tổ chức 01/07/2025 (hợp nhất hai tỉnh, kết thúc LĐLĐ cấp huyện)",
    ),
) -> None:
    if year == 2025:
        from thidua.cli.demo_2025 import demo_2025

        return demo_2025(
            seed=seed if seed != 2023 else 2025, end=parse_cli_date(end) if end != "31/12/2023" else None, cdcs=cdcs
        )
    if year != 2023:
        raise UserError("chỉ có kịch bản --year 2023 và --year 2025")
    if fresh and resume:
        raise UserError("chọn một trong --fresh hoặc --resume")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from thidua.notifications.sink import SinkProcess, free_port
    from thidua.settings import configure_prefect_environment, get_settings

    settings = get_settings()
    settings.signing_key()  # a refused key stops here, before --fresh deletes the last run
    port = free_port()
    # Every part of the engine (services, Prefect flows) reads the one Settings object: point it at the sink.
    os.environ["THIDUA_DATA_DIR"] = str(settings.data_dir)
    os.environ["THIDUA_SMTP_HOST"] = "127.0.0.1"
    os.environ["THIDUA_SMTP_PORT"] = str(port)
    os.environ["THIDUA_SMTP_SECURITY"] = "none"
    get_settings.cache_clear()
    settings = get_settings()
    configure_prefect_environment(settings)

    from thidua.simulation import DemoOptions, Simulation

    options = DemoOptions(
        seed=seed,
        start=parse_cli_date(start),
        end=parse_cli_date(end) or date(2023, 12, 31),
        cdcs=cdcs,
        fresh=fresh,
        resume=resume,
        use_prefect=not no_prefect,
    )
    console.print(
        f"[bold]Mô phỏng phong trào thi đua 2023 — LĐLĐ tỉnh Bình Định[/] (dữ liệu: {escape(str(settings.data_dir))})"
    )
    started = clock.perf_counter()
    with ExitStack() as children:  # the child processes stop however the year ends
        prefect_server = None
        if options.use_prefect and not os.environ.get("PREFECT_API_URL"):
            from thidua.prefect_server import PrefectServerProcess

            # Prefect's temporary server, started as a child here: it starts beside the set-up and the first days,
            # and this process does not import Prefect's server to start it. Named before `prefect` is imported.
            prefect_server = PrefectServerProcess(free_port())
            prefect_server.start()
            children.callback(prefect_server.stop)
            os.environ["PREFECT_API_URL"] = prefect_server.api_url
        # The mail goes to a real SMTP server in its own process (as in production), not to a thread of this one.
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        sink = SinkProcess(settings.mail_dir, host="127.0.0.1", port=port)
        children.callback(sink.stop)
        with Progress(
            TextColumn("[bold blue]Ngày mô phỏng"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("days", total=None)

            def on_day(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            simulation = Simulation(
                settings,
                options,
                lambda line: progress.console.print(escape(line), highlight=False),
                on_day,
                prefect_server=prefect_server,
            )
            # The year allocates many short-lived objects and keeps few: collect the young generation less often
            # and leave what is loaded by now (modules, settings) out of every collection. The process ends after.
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, *gc.get_threshold()[1:])
            summary = simulation.run()
    print_plan_and_status(settings, options.end)
    print_summary(summary, clock.perf_counter() - started)


def print_plan_and_status(settings, end: date) -> None:  # noqa: ANN001
    """The campaign's plan and where every level stands at the end of the simulated period."""
    from datetime import datetime, time

    from sqlmodel import Session

    from thidua.models.clock import local_to_utc
    from thidua.cli.campaign import print_status, show_campaign
    from thidua.db import get_engine
    from thidua.services.status import status_report

    with Session(get_engine(settings)) as session:
        console.rule("[bold]Kế hoạch chiến dịch")
        show_campaign(session, "bd-2023")
        console.rule("[bold]Tình hình thực hiện")
        report = status_report(session, "bd-2023", now=local_to_utc(datetime.combine(end, time(23, 0))))
        print_status(report, "Asia/Ho_Chi_Minh")


def print_summary(summary, seconds: float) -> None:  # noqa: ANN001
    console.rule("[bold]Tổng kết mô phỏng")
    console.print(
        f"{summary.days} ngày mô phỏng trong {fmt_seconds(seconds)} · {summary.submissions} lần nộp báo cáo · "
        f"duyệt {summary.reviews.get('accept', 0)}, trả lại {summary.reviews.get('return', 0)}"
    )
    mail = Table(title="Thư nhắc việc đã gửi theo bậc")
    mail.add_column("Bậc nhắc")
    mail.add_column("Số thư", justify="right")
    for rung, count in sorted(summary.reminders_by_rung.items(), key=lambda kv: _rung_order(kv[0])):
        mail.add_row(rung, str(count))
    for kind, count in sorted(summary.mail_by_kind.items()):
        if kind != "reminder":
            mail.add_row(f"({kind})", str(count))
    console.print(mail)
    console.print(
        f"Thư lỗi: {summary.mail_failed} · chưa rõ kết quả: {summary.mail_unknown} · tệp .eml trong hộp thư: {summary.eml_files}"
    )
    console.print(
        f"Thư còn chờ gửi khi kết thúc: {summary.mail_pending} · hẹn gửi sau ngày cuối mô phỏng: "
        f"{summary.mail_after_end} · thư gửi ngoài giờ, ngày làm việc: {summary.mail_outside_working_hours}"
    )
    for title, groups in summary.compliance.items():
        table = Table(title=f"Thực hiện: {title}")
        for column in ("Đơn vị", "Phải nộp", "Đúng hạn", "Trễ hạn", "% đúng hạn"):
            table.add_column(column, justify="left" if column == "Đơn vị" else "right")
        for name, (owed, on_time, late) in groups.items():
            table.add_row(name, str(owed), str(on_time), str(late), fmt_share(on_time, owed))
        console.print(table)
    targets = Table(title="Chỉ tiêu")
    for column in ("Chỉ tiêu", "Tính đến", "Đạt", "Mục tiêu"):
        targets.add_column(column)
    for title, reached, goal, unit, at in summary.targets:
        targets.add_row(title, at.strftime("%d/%m/%Y"), fmt_number(reached), f"{fmt_number(goal)} {unit}")
    console.print(targets)
    awards = Table(title="Khen thưởng")
    awards.add_column("Hình thức / trạng thái")
    awards.add_column("Số hồ sơ", justify="right")
    for name, count in summary.awards_decided.items():
        awards.add_row(f"Đã quyết định: {name}", str(count))
    for status, count in summary.nominations.items():
        awards.add_row(f"Trạng thái: {status}", str(count))
    console.print(awards)
    if summary.commendation:
        steps = Table(title="Khen thưởng theo luật: người, minh chứng, công khai, Hội đồng, quyết định")
        steps.add_column("Bước")
        steps.add_column("Kết quả")
        for label, text in summary.commendation.items():
            steps.add_row(label, text)
        console.print(steps)
    console.print("[bold]Tệp kết quả:[/]")
    for label, path in summary.files.items():
        console.print(f"  • {escape(label)}: {escape(str(path))}", highlight=False)


def _rung_order(rung: str) -> int:
    order = ("truoc", "qua-han")
    return next((i for i, prefix in enumerate(order) if rung.startswith(prefix)), 9) * 100 - len(rung)
