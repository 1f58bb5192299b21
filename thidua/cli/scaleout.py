"""CLI: `thidua scaleout …` — production mode on PostgreSQL with a Prefect server (docs/operations.md).

check             is every part configured for this mode (database, clock, Prefect API, SMTP)?
migrate           bring the database to the current schema (run once per release, before the rest)
deployments       the deployments `serve` would register (nothing is contacted)
serve             register the deployments with the Prefect server and run their flow runs (long-running)
dispatch-workers  one dispatch pass now with N sending processes, without Prefect
prefect-server    `prefect server start`, made to schedule runs with SQLAlchemy 2.1 (long-running)
"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from thidua.models.clock import fmt_datetime, local_to_utc, utcnow
from thidua.models.vnformat import fmt_number, fmt_seconds
from thidua.cli.common import UserError, console, friendly, parse_cli_now

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from thidua.models.tables import Lease
    from thidua.settings import Settings

scaleout_app = typer.Typer(
    help="Chế độ mở rộng: PostgreSQL, máy chủ Prefect, nhiều tiến trình gửi.", no_args_is_help=True
)

WORKERS_HELP = "Số tiến trình gửi thư song song (nhiều hơn 1 cần PostgreSQL)"
CAMPAIGN_HELP = "Mã chiến dịch có lịch chuyển danh sách khen thưởng (lặp lại được; mặc định: mọi chiến dịch đang chạy)"


def register(app: typer.Typer) -> None:
    app.add_typer(scaleout_app, name="scaleout")


def _where(settings: Settings) -> str:
    from thidua.db import get_engine

    return get_engine(settings).url.render_as_string(hide_password=True)


def _schema_ready(engine: Engine) -> bool:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return inspect(engine).has_table("outbox")
    except SQLAlchemyError as exc:
        raise UserError(
            f"không kết nối được cơ sở dữ liệu {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.__class__.__name__}"
        ) from None


def _embedded_clock(engine: Engine) -> Lease | None:
    """The lease of a `thidua serve` process whose APScheduler clock is ticking, if one is alive."""
    from sqlmodel import Session

    from thidua.models.tables import Lease
    from thidua.scheduler import DISPATCHER_LEASE

    with Session(engine) as session:
        lease = session.get(Lease, DISPATCHER_LEASE)
    return lease if lease is not None and lease.expires_at > utcnow() else None


def _prefect_api_url(settings: Settings) -> str | None:
    from thidua.settings import configure_prefect_environment

    configure_prefect_environment(settings)
    from prefect.settings import Settings as PrefectSettings

    return PrefectSettings().api.url  # read now: environment, then the Prefect profile


def _active_campaigns(engine: Engine) -> list[str]:
    from sqlalchemy import select
    from sqlmodel import Session

    from thidua.models.tables import Campaign

    with Session(engine) as session:
        return list(
            session.execute(
                select(Campaign.code)  # type: ignore[call-overload]
                .where(Campaign.status == "active")
                .order_by(Campaign.code)
            ).scalars()
        )


# ---------------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------------
def _checks(settings: Settings) -> list[tuple[str, bool | None, str]]:
    """(what, ok: True / False / None for a warning, detail)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from thidua.db import get_engine

    out: list[tuple[str, bool | None, str]] = []
    engine = get_engine(settings)
    where = _where(settings)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        reachable = True
    except SQLAlchemyError as exc:
        reachable = False
        out.append(("Cơ sở dữ liệu", False, f"không kết nối được {where}: {exc.__class__.__name__}"))
    if reachable:
        if engine.dialect.name == "postgresql":
            out.append(("Cơ sở dữ liệu", True, f"PostgreSQL {where}"))
        else:
            out.append(
                (
                    "Cơ sở dữ liệu",
                    None,
                    f"{engine.dialect.name} {where}: chỉ một tiến trình gửi; "
                    "chế độ mở rộng dùng PostgreSQL (THIDUA_DATABASE_URL)",
                )
            )
        ready = _schema_ready(engine)
        out.append(("Lược đồ", ready, "đã có các bảng" if ready else "chưa có bảng: chạy thidua scaleout migrate"))
        if ready:
            clock = _embedded_clock(engine)
            out.append(
                (
                    "Đồng hồ nhúng đang chạy",
                    clock is None,
                    "không có"
                    if clock is None
                    else f"tiến trình {clock.holder} (thidua serve) đang gửi nhắc việc đến "
                    f"{fmt_datetime(clock.expires_at, settings.timezone)}: dừng nó hoặc đặt "
                    "THIDUA_SCHEDULER_ENABLED=false cho nó",
                )
            )
    out.append(
        (
            "THIDUA_SCHEDULER_ENABLED",
            not settings.scheduler_enabled,
            "false: lịch do Prefect giữ"
            if not settings.scheduler_enabled
            else "true: đồng hồ APScheduler của thidua serve sẽ chạy song song với lịch Prefect; đặt false",
        )
    )
    api = _prefect_api_url(settings)
    if not api:
        out.append(("PREFECT_API_URL", False, "chưa đặt (ví dụ http://127.0.0.1:4200/api)"))
    else:
        import httpx

        try:
            healthy = httpx.get(api.rstrip("/") + "/health", timeout=5).status_code == 200
            out.append(("PREFECT_API_URL", healthy, f"{api} " + ("trả lời" if healthy else "trả lời lỗi")))
        except httpx.HTTPError as exc:
            out.append(("PREFECT_API_URL", False, f"{api} không trả lời: {exc.__class__.__name__}"))
    try:
        with socket.create_connection((settings.smtp_host, settings.smtp_port), timeout=5):
            out.append(("Máy chủ thư", True, f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_security})"))
    except OSError as exc:
        out.append(
            (
                "Máy chủ thư",
                None,
                f"{settings.smtp_host}:{settings.smtp_port} không kết nối được: {exc.strerror or exc}",
            )
        )
    return out


@scaleout_app.command("check")
@friendly
def check_cmd() -> None:
    """Kiểm tra cấu hình chế độ mở rộng: cơ sở dữ liệu, đồng hồ, máy chủ Prefect, máy chủ thư."""
    from thidua.settings import get_settings

    marks = {True: "[green]đạt[/]", False: "[bold red]lỗi[/]", None: "[yellow]lưu ý[/]"}
    table = Table("Hạng mục", "Kết quả", "Chi tiết")
    results = _checks(get_settings())
    for what, ok, detail in results:
        table.add_row(what, marks[ok], escape(detail))
    console.print(table)
    if any(ok is False for _, ok, _ in results):
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------------------------
# migrate
# ---------------------------------------------------------------------------------------------------
@scaleout_app.command("migrate")
@friendly
def migrate_cmd() -> None:
    """Đưa cơ sở dữ liệu lên lược đồ hiện hành (chạy một lần mỗi phiên bản, trước mọi tiến trình khác)."""
    from sqlalchemy import inspect, text

    from thidua.db import create_schema, get_engine
    from thidua.settings import get_settings

    settings = get_settings()
    engine = get_engine(settings)
    _schema_ready(engine)  # a clear message when the database is unreachable
    create_schema(engine)
    revision = None
    if inspect(engine).has_table("alembic_version"):
        with engine.connect() as conn:
            revision = conn.execute(text("select version_num from alembic_version")).scalar()
    console.print(
        f"Cơ sở dữ liệu {escape(_where(settings))} đã ở lược đồ hiện hành"
        + (f" (phiên bản {revision})." if revision else "."),
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------------
# deployments and serve
# ---------------------------------------------------------------------------------------------------
def _options(settings: Settings, workers: int, campaigns: list[str] | None, engine: Engine | None) -> Any:
    from thidua.flows.deployments import DeploymentOptions

    codes = campaigns if campaigns else (_active_campaigns(engine) if engine is not None else [])
    return DeploymentOptions.from_settings(settings, dispatch_workers=workers, campaigns=tuple(codes))


def _build(options: Any) -> list[Any]:
    from thidua.flows.deployments import build_deployments

    return build_deployments(options)


def _describe_schedule(schedule: Any) -> str:
    inner = schedule.schedule
    if getattr(inner, "interval", None) is not None:
        text_ = f"mỗi {int(inner.interval.total_seconds())} giây"
    elif getattr(inner, "cron", None):
        text_ = f"cron '{inner.cron}' ({inner.timezone})"
    else:
        text_ = str(inner)
    return text_ + (f" {_parameters(schedule.parameters)}" if schedule.parameters else "")


def _parameters(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in values.items())


def _print_deployments(deployments: list[Any]) -> None:
    table = Table("Deployment", "Lịch", "Tham số", "Đồng thời")
    for d in deployments:
        schedules = "; ".join(_describe_schedule(s) for s in d.schedules) or "theo yêu cầu"
        limit = "1 (bỏ lượt trùng)" if d.concurrency_limit == 1 else "—"
        table.add_row(f"{d.flow_name}/{d.name}", escape(schedules), escape(_parameters(d.parameters)), limit)
    console.print(table)


@scaleout_app.command("deployments")
@friendly
def deployments_cmd(
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    campaigns: Optional[list[str]] = typer.Option(None, "--campaign", help=CAMPAIGN_HELP),
) -> None:
    """Các deployment Prefect mà `serve` sẽ đăng ký (không kết nối máy chủ nào)."""
    from thidua.db import get_engine
    from thidua.settings import get_settings

    settings = get_settings()
    engine = get_engine(settings)
    listed = None if campaigns else (engine if _schema_ready(engine) else None)
    _print_deployments(_build(_options(settings, workers, campaigns, listed)))


@scaleout_app.command("serve")
@friendly
def serve_cmd(
    workers: int = typer.Option(1, "--workers", help=WORKERS_HELP),
    limit: Optional[int] = typer.Option(
        None, "--limit", min=1, help="Số lượt chạy đồng thời tối đa của tiến trình này (mặc định: đủ cho --workers)"
    ),
    campaigns: Optional[list[str]] = typer.Option(None, "--campaign", help=CAMPAIGN_HELP),
) -> None:
    """Đăng ký các deployment với máy chủ Prefect và chạy chúng (chạy mãi, Ctrl-C để dừng)."""
    from thidua.db import get_engine
    from thidua.services.dispatch_workers import check_pool_size
    from thidua.settings import get_settings

    settings = get_settings()
    if settings.scheduler_enabled:
        raise UserError(
            "THIDUA_SCHEDULER_ENABLED đang bật: trong chế độ mở rộng lịch do Prefect giữ; "
            "đặt THIDUA_SCHEDULER_ENABLED=false cho mọi tiến trình (kể cả thidua serve, thidua web)"
        )
    engine = get_engine(settings)
    if not _schema_ready(engine):
        raise UserError(f"cơ sở dữ liệu {_where(settings)} chưa có bảng: chạy thidua scaleout migrate trước")
    clock = _embedded_clock(engine)
    if clock is not None:
        raise UserError(
            f"đồng hồ nhúng của tiến trình {clock.holder} (thidua serve) đang gửi nhắc việc trên cơ sở "
            "dữ liệu này; dừng nó hoặc đặt THIDUA_SCHEDULER_ENABLED=false để chỉ còn một đồng hồ"
        )
    check_pool_size(settings.db_url, workers)
    api = _prefect_api_url(settings)
    if not api:
        raise UserError(
            "chưa đặt PREFECT_API_URL (ví dụ http://127.0.0.1:4200/api): chế độ mở rộng cần máy chủ "
            "Prefect chạy riêng (thidua scaleout prefect-server, xem docs/operations.md)"
        )
    options = _options(settings, workers, campaigns, engine)
    deployments = _build(options)

    import asyncio

    import httpx

    from thidua.flows.deployments import retire_other_dispatch_variant, runner_limit, serve_deployments

    try:
        retired = asyncio.run(retire_other_dispatch_variant(options))
    except (httpx.HTTPError, OSError) as exc:  # refused, timed out, or an error answer: no usable server there
        raise UserError(f"không kết nối được máy chủ Prefect {api}: {exc.__class__.__name__}: {exc}") from None
    if retired:
        console.print(f"Đã xoá deployment {retired} (số tiến trình gửi đổi): chỉ còn một đồng hồ gửi nhắc việc.")
    _print_deployments(deployments)
    slots = limit or runner_limit(options)
    if workers > 1 and slots < workers + 1:
        console.print(f"[yellow]--limit {slots} < {workers + 1}: các lượt gửi song song cần thêm tiến trình serve.[/]")
    console.print(
        f"Phục vụ {len(deployments)} deployment với máy chủ Prefect {escape(api)}, tối đa {slots} lượt "
        f"chạy đồng thời; cơ sở dữ liệu {escape(_where(settings))} (Ctrl-C để dừng).",
        highlight=False,
    )
    serve_deployments(deployments, limit=slots)
    console.print("Đã dừng.")


# ---------------------------------------------------------------------------------------------------
# dispatch-workers
# ---------------------------------------------------------------------------------------------------
def _now(text_: str | None, settings: Settings) -> datetime:
    local = parse_cli_now(text_)
    return utcnow() if local is None else local_to_utc(local, settings.timezone)


@scaleout_app.command("dispatch-workers")
@friendly
def dispatch_workers_cmd(
    workers: int = typer.Argument(..., help=WORKERS_HELP),
    campaign: Optional[str] = typer.Option(None, "--campaign", help="Chỉ một chiến dịch (mặc định: mọi chiến dịch)"),
    now: Optional[str] = typer.Option(
        None, "--now", help="Thời điểm giả lập (giờ địa phương): dd/mm/yyyy hoặc 'dd/mm/yyyy HH:MM'. Mặc định: bây giờ."
    ),
    batch: Optional[int] = typer.Option(
        None, "--batch", min=1, help="Số thư mỗi lô (mặc định THIDUA_DISPATCH_BATCH_SIZE)"
    ),
) -> None:
    """Một lượt gửi ngay: lập lịch một lần rồi N tiến trình cùng nhận lô và gửi (không cần Prefect)."""
    from thidua.db import get_engine
    from thidua.services.dispatch_workers import run_dispatch_workers
    from thidua.settings import get_settings

    settings = get_settings()
    engine = get_engine(settings)
    if not _schema_ready(engine):
        raise UserError(f"cơ sở dữ liệu {_where(settings)} chưa có bảng: chạy thidua scaleout migrate trước")
    summary = run_dispatch_workers(settings, workers, now=_now(now, settings), campaign_code=campaign, batch_size=batch)
    plan, totals = summary.plan, summary.totals
    console.print(
        f"Lượt gửi lúc {fmt_datetime(summary.now, settings.timezone)}: lập lịch {plan.reminders} thư nhắc, "
        f"{plan.escalations} thư báo cấp trên, {plan.office_digests} thư tổng hợp."
    )
    table = Table(
        "Tiến trình", "Số lô", "Nhận", "Đã gửi", "Bỏ qua", "Lỗi", "Chờ thử lại", "Thời gian (giây)", "Ghi chú"
    )
    for report in summary.reports:
        t = report.totals
        table.add_row(
            str(report.index + 1),
            str(report.batches),
            str(t.claimed),
            str(t.sent),
            str(t.skipped),
            str(t.failed + t.partial + t.unknown),
            str(t.retried),
            fmt_number(report.seconds),
            escape(report.error or ("máy chủ thư không trả lời" if report.stopped_early else "")),
        )
    console.print(table)
    console.print(
        f"Tổng: đã gửi {totals.sent}, một phần {totals.partial}, thất bại {totals.failed}, chưa rõ {totals.unknown}, "
        f"bỏ qua {totals.skipped}, chờ thử lại {totals.retried} — {fmt_seconds(summary.seconds)}, "
        f"{fmt_number(summary.rate, 0)} thư/giây với {workers} tiến trình."
    )
    if summary.failure_reports:
        console.print(f"Đã gửi {summary.failure_reports} thư báo lỗi cho văn phòng chiến dịch.")
    if summary.failed_workers or totals.failed or totals.unknown:
        raise typer.Exit(2)


# ---------------------------------------------------------------------------------------------------
# prefect-server
# ---------------------------------------------------------------------------------------------------
@scaleout_app.command("prefect-server", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def prefect_server_cmd(ctx: typer.Context) -> None:
    """Máy chủ Prefect (như `prefect server start`, cùng tham số), dùng cơ sở dữ liệu PREFECT_API_DATABASE_CONNECTION_URL."""
    from thidua.flows.deployments import run_prefect_server

    run_prefect_server(ctx.args)
