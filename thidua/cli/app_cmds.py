"""CLI: long-running commands — `thidua serve` (the clock and the dispatch) and `thidua sink` (local SMTP)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from thidua.cli.common import UserError, console, friendly

if TYPE_CHECKING:
    from thidua.notifications.sink import RunningSink
    from thidua.settings import Settings


def _start_eml_sink(settings: Settings, directory: Path | None, port: int | None) -> RunningSink:
    from thidua.notifications.sink import EmlDirectoryHandler, start_sink

    directory = directory or settings.mail_dir
    try:
        return start_sink(EmlDirectoryHandler(directory), host=settings.smtp_host, port=port or settings.smtp_port)
    except OSError as exc:
        raise UserError(
            f"không mở được cổng SMTP {settings.smtp_host}:{port or settings.smtp_port}: {exc.strerror or exc}"
        ) from None


async def _run_until_signalled(settings: Settings, *, web_host: str | None, web_port: int) -> None:
    """The clock (unless Prefect holds the schedules) and, unless turned off, the web pages, in one event loop."""
    import asyncio

    from thidua.db import get_engine
    from thidua.scheduler import DispatchClock

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = get_engine(settings)
    clock = DispatchClock(engine, settings) if settings.scheduler_enabled else None
    if clock is not None:
        clock.start()
        console.print(
            f"Đồng hồ gửi nhắc việc chạy mỗi {settings.tick_seconds} giây (máy chủ thư "
            f"{settings.smtp_host}:{settings.smtp_port})."
        )
    else:
        console.print("Đồng hồ gửi nhắc việc tắt (THIDUA_SCHEDULER_ENABLED=false: lịch do Prefect giữ).")
    server = _web_server(settings, engine, web_host, web_port) if web_host else None
    served = asyncio.create_task(server.serve()) if server is not None else None
    try:
        if server is not None:
            while not server.started:  # say it runs only once it listens
                if served.done():
                    raise UserError(f"không mở được trang web tại {web_host}:{web_port} (cổng đang bận?)")
                await asyncio.sleep(0.05)
            console.print(f"Trang web chạy tại http://{web_host}:{web_port} (địa chỉ trong thư: {settings.base_url})")
        await stop.wait()
    finally:
        if served is not None:
            server.should_exit = True
            await asyncio.gather(served, return_exceptions=True)
        if clock is not None:
            clock.stop()


def _web_server(settings: Settings, engine, host: str, port: int):  # noqa: ANN001, ANN202
    import uvicorn

    from thidua.web.app import create_app

    # proxy_headers off: the application itself believes X-Forwarded-For only from THIDUA_TRUSTED_PROXIES.
    config = uvicorn.Config(
        create_app(settings, engine), host=host, port=port, proxy_headers=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # this command owns SIGINT/SIGTERM and stops the server itself
    return server


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly
    def serve(
        sink: bool = typer.Option(
            False, "--sink", help="Chạy kèm máy chủ SMTP cục bộ lưu thư thành tệp .eml (trong thư mục mail của dữ liệu)"
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ trang web"),
        port: int = typer.Option(8000, "--port", help="Cổng trang web"),
        no_web: bool = typer.Option(False, "--no-web", help="Không chạy trang web (chỉ đồng hồ nhắc việc)"),
    ) -> None:
        """Chạy hệ thống: trang web và đồng hồ gửi nhắc việc (và máy chủ thư cục bộ nếu có --sink)."""
        import asyncio

        from thidua.bootstrap import bootstrap
        from thidua.settings import get_settings

        settings = get_settings()
        settings.signing_key()  # refuses an example key before anything starts; creates the key file on first run
        bootstrap(settings)  # engine migrated once; the clock and the web server below share it
        running = _start_eml_sink(settings, None, None) if sink else None
        if running is not None:
            console.print(f"Máy chủ thư cục bộ {running.host}:{running.port}, lưu .eml vào {settings.mail_dir}")
        try:
            asyncio.run(_run_until_signalled(settings, web_host=None if no_web else host, web_port=port))
        finally:
            if running is not None:
                running.stop()
        console.print("Đã dừng.")

    @app.command("sink")
    @friendly
    def sink(
        directory: Optional[Path] = typer.Option(
            None, "--dir", help="Thư mục lưu .eml (mặc định: thư mục mail của dữ liệu)"
        ),
        port: Optional[int] = typer.Option(None, "--port", help="Cổng SMTP (mặc định: THIDUA_SMTP_PORT)"),
    ) -> None:
        """Máy chủ SMTP cục bộ: nhận thư và lưu thành tệp .eml (không gửi ra ngoài)."""
        from thidua.settings import get_settings

        settings = get_settings()
        running = _start_eml_sink(settings, directory, port)
        console.print(
            f"Máy chủ thư cục bộ {running.host}:{running.port}, lưu .eml vào {directory or settings.mail_dir} "
            "(Ctrl-C để dừng)"
        )
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
