"""CLI: run the web application; manage accounts (`thidua users ...`).

The web stack is imported inside the commands, so that every other `thidua` command starts without it."""

from __future__ import annotations

from typing import Optional

import typer

from thidua.models.clock import utcnow
from thidua.cli.common import UserError, console, friendly
from thidua.cli.common import ready_engine as _ready_engine

users_app = typer.Typer(help="Tài khoản người dùng trang web.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("web", help="Chạy trang web (đơn vị, người duyệt, văn phòng chiến dịch).")(web)
    app.add_typer(users_app, name="users")


@friendly
def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ lắng nghe"),
    port: int = typer.Option(8000, "--port", help="Cổng"),
) -> None:
    import uvicorn

    from thidua.settings import get_settings
    from thidua.web.app import create_app

    settings = get_settings()
    settings.signing_key()  # refuses an example key before anything starts
    app = create_app(settings, _ready_engine())
    console.print(f"Trang web chạy tại http://{host}:{port} (địa chỉ trong thư: {settings.base_url})")
    uvicorn.run(
        app, host=host, port=port, proxy_headers=False, log_level="warning"
    )  # the app applies THIDUA_TRUSTED_PROXIES


@users_app.command("add", help="Thêm một người dùng cho một đơn vị.")
@friendly
def add(
    email: str = typer.Argument(..., help="Địa chỉ e-mail"),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị"),
    role: str = typer.Option("unit_officer", "--role", help="unit_officer | reviewer | office"),
    name: str = typer.Option("", "--name", help="Họ và tên"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.accounts import add_user

    with session_scope(_ready_engine()) as session:
        user = add_user(session, email=email, unit_code=unit, role=role, full_name=name, actor="cli", now=utcnow())
    console.print(f"Đã thêm {user.email} ({user.role}) cho đơn vị {unit}.")


@users_app.command("import-from-units", help="Tạo tài khoản cho mọi e-mail trong danh sách đơn vị.")
@friendly
def import_from_units_cmd(
    root: Optional[str] = typer.Option(None, "--root", help="Chỉ các đơn vị thuộc đơn vị này"),
) -> None:
    from thidua.db import session_scope
    from thidua.services.accounts import import_from_units

    with session_scope(_ready_engine()) as session:
        result = import_from_units(session, actor="cli", now=utcnow(), root_code=root)
    console.print(
        f"Đã tạo {result.created} tài khoản; {result.already} địa chỉ đã có tài khoản; "
        f"{result.units_without_email} đơn vị không có e-mail hợp lệ."
    )


@users_app.command("token", help="Tạo mã truy cập API (bearer) cho một người dùng; mã chỉ hiện một lần.")
@friendly
def token(
    email: str = typer.Argument(..., help="Địa chỉ e-mail"),
    unit: str = typer.Option(..., "--unit", help="Mã đơn vị của tài khoản"),
    label: str = typer.Option("", "--label", help="Ghi chú (dùng vào việc gì)"),
) -> None:
    from sqlalchemy import func, select

    from thidua.db import session_scope
    from thidua.models.tables import Unit, User
    from thidua.services.accounts import create_api_token

    with session_scope(_ready_engine()) as session:
        user = (
            session.execute(
                select(User)
                .join(Unit, Unit.id == User.unit_id)
                .where(func.lower(User.email) == email.strip().lower(), Unit.code == unit)
            )
            .scalars()
            .first()
        )
        if user is None:
            raise UserError(f"không có tài khoản '{email}' ở đơn vị '{unit}'")
        secret = create_api_token(session, user, label=label, actor="cli", now=utcnow())
    console.print(f"Mã truy cập (lưu lại ngay, sẽ không hiện lần nữa): {secret}", highlight=False)
