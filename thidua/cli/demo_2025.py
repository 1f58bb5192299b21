"""`thidua demo --year 2025`: the 2025 campaign across the reorganisation of 01/07/2025 (thidua.simulation_2025)."""

from __future__ import annotations

import os
import time as clock
from datetime import date, datetime, time

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session

from thidua.cli.campaign import print_status
from thidua.cli.common import console
from thidua.models.clock import local_to_utc
from thidua.settings import get_settings

LABELS = {
    "assignment.moved": "nghĩa vụ chuyển sang đơn vị kế thừa",
    "assignment.closed": "nghĩa vụ đóng (không còn áp dụng)",
    "assignment.reviewer": "nghĩa vụ đổi đơn vị duyệt",
    "nomination": "hồ sơ khen thưởng chuyển cấp xét",
    "campaign": "chiến dịch đổi đơn vị chủ trì",
    "outbox": "thư chờ gửi đổi người nhận / không gửi",
}


def demo_2025(*, seed: int = 2025, end: date | None = None, cdcs: int | None = None) -> None:
    from thidua.notifications.sink import EmlDirectoryHandler, free_port, start_sink
    from thidua.simulation_2025 import CAMPAIGN, END, Simulation2025

    port = free_port()
    settings = get_settings()
    settings.signing_key()  # a refused key stops here, before anything is built
    os.environ["THIDUA_DATA_DIR"] = str(settings.data_dir)
    os.environ["THIDUA_SMTP_HOST"] = "127.0.0.1"
    os.environ["THIDUA_SMTP_PORT"] = str(port)
    os.environ["THIDUA_SMTP_SECURITY"] = "none"
    get_settings.cache_clear()
    settings = get_settings()
    end = end or END
    console.print(
        "[bold]Mô phỏng phong trào thi đua 2025 qua đợt sắp xếp tổ chức 01/07/2025[/] "
        f"(dữ liệu: {escape(str(settings.data_dir))})"
    )
    started = clock.perf_counter()
    sink = start_sink(EmlDirectoryHandler(settings.mail_dir), host="127.0.0.1", port=port)
    try:
        with Progress(
            TextColumn("[bold blue]Ngày mô phỏng"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("days", total=None)
            simulation = Simulation2025(
                settings,
                seed=seed,
                cdcs_per_union=cdcs or 6,
                end=end,
                report=lambda line: progress.console.print(escape(line), highlight=False),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
            summary = simulation.run()
    finally:
        sink.stop()

    from thidua.db import get_engine
    from thidua.services.status import status_report

    console.rule("[bold]Sắp xếp tổ chức 01/07/2025")
    for line in summary.consequences:
        console.print(f"  • {escape(line)}", highlight=False)
    for kind, count in sorted(summary.carried.items()):
        console.print(f"  → {count} {LABELS.get(kind, kind)}")
    with Session(get_engine(settings)) as session:
        moment = local_to_utc(datetime.combine(end, time(23, 0)))
        console.rule("[bold]Tình hình theo cơ cấu cuối kỳ")
        print_status(status_report(session, CAMPAIGN, now=moment), "Asia/Ho_Chi_Minh")
        console.rule("[bold]Cùng số liệu theo cơ cấu ngày 30/06/2025")
        print_status(status_report(session, CAMPAIGN, now=moment, tree_on=date(2025, 6, 30)), "Asia/Ho_Chi_Minh")
    console.rule("[bold]Tổng kết mô phỏng")
    console.print(
        f"{summary.units} đơn vị · {summary.assignments} nghĩa vụ · {summary.submissions} lần nộp · duyệt "
        f"{summary.reviews.get('accept', 0)}, trả lại {summary.reviews.get('return', 0)} · "
        f"{clock.perf_counter() - started:.0f} giây"
    )
    console.print(
        f"Thư đã gửi theo loại: {summary.mail_by_kind} · trước sắp xếp {summary.mail_sent_before}, sau "
        f"{summary.mail_sent_after} · khóa sổ gửi thư trùng: {summary.duplicate_keys} · tệp .eml: {summary.eml_files}"
    )
    console.print(f"Nhật ký kiểm toán: {summary.audit_carried} mục công việc được chuyển theo đơn vị kế thừa")
    for label, path in summary.files.items():
        console.print(f"  • {escape(label)}: {escape(str(path))}", highlight=False)
