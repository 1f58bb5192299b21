"""CLI: long-running commands — `thidua serve` (the clock and the dispatch) and `thidua sink` (local SMTP)."""
from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Optional

import typer

from notifications.sink import EmlDirectoryHandler, RunningSink, start_sink
from thidua.cli.common import UserError, console, friendly
from thidua.db import create_schema, get_engine
from thidua.settings import Settings, get_settings


def _start_eml_sink(settings: Settings, directory: Path | None, port: int | None) -> RunningSink:
    directory = directory or settings.mail_dir
    try:
        return start_sink(EmlDirectoryHandler(directory), host=settings.smtp_host, port=port or settings.smtp_port)
    except OSError as exc:
        raise UserError(f"không mở được cổng SMTP {settings.smtp_host}:{port or settings.smtp_port}: {exc.strerror or exc}") from None


async def _run_until_signalled(settings: Settings) -> None:
    from thidua.scheduler import DispatchClock

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = get_engine(settings)
    clock = DispatchClock(engine, settings) if settings.scheduler_enabled else None
    if clock is not None:
        clock.start()
        console.print(f"Đồng hồ gửi nhắc việc chạy mỗi {settings.tick_seconds} giây (máy chủ thư "
                      f"{settings.smtp_host}:{settings.smtp_port}).")
    else:
        console.print("Đồng hồ gửi nhắc việc tắt (THIDUA_SCHEDULER_ENABLED=false: lịch do Prefect giữ).")
    try:
        await stop.wait()
    finally:
        if clock is not None:
            clock.stop()


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly
    def serve(
        sink: bool = typer.Option(False, "--sink", help="Chạy kèm máy chủ SMTP cục bộ lưu thư thành tệp .eml "
                                                          "(trong thư mục mail của dữ liệu)"),
    ) -> None:
        """Chạy hệ thống: đồng hồ gửi nhắc việc (và máy chủ thư cục bộ nếu có --sink)."""
        settings = get_settings()
        create_schema(get_engine(settings))
        running = _start_eml_sink(settings, None, None) if sink else None
        if running is not None:
            console.print(f"Máy chủ thư cục bộ {running.host}:{running.port}, lưu .eml vào {settings.mail_dir}")
        try:
            asyncio.run(_run_until_signalled(settings))
        finally:
            if running is not None:
                running.stop()
        console.print("Đã dừng.")

    @app.command("sink")
    @friendly
    def sink(
        directory: Optional[Path] = typer.Option(None, "--dir", help="Thư mục lưu .eml (mặc định: thư mục mail của dữ liệu)"),
        port: Optional[int] = typer.Option(None, "--port", help="Cổng SMTP (mặc định: THIDUA_SMTP_PORT)"),
    ) -> None:
        """Máy chủ SMTP cục bộ: nhận thư và lưu thành tệp .eml (không gửi ra ngoài)."""
        settings = get_settings()
        running = _start_eml_sink(settings, directory, port)
        console.print(f"Máy chủ thư cục bộ {running.host}:{running.port}, lưu .eml vào {directory or settings.mail_dir} "
                      "(Ctrl-C để dừng)")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
