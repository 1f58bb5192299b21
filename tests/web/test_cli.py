"""`thidua users ...`: accounts from the command line, with Vietnamese errors and exit code 1 for bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from thidua.models.tables import User
from tests.web.conftest import World
from thidua.cli.main import app
from thidua.settings import get_settings
from thidua.web.models import ApiToken


@pytest.fixture
def cli_world(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("THIDUA_DATA_DIR", str(world.settings.data_dir))
    get_settings.cache_clear()
    yield world
    get_settings.cache_clear()


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args))


def test_users_add_import_and_token(cli_world: World) -> None:
    added = run("users", "add", "Chu.Tich@Example.vn", "--unit", "BDH.D2", "--role", "reviewer", "--name", "Lê Văn C")
    assert added.exit_code == 0, added.output
    assert "Đã thêm chu.tich@example.vn (reviewer) cho đơn vị BDH.D2" in added.output
    bad = run("users", "add", "x@example.vn", "--unit", "KHONG-CO", "--role", "sep")
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert "không có đơn vị mã 'KHONG-CO'" in bad.output and "vai trò 'sep' không có" in bad.output
    imported = run("users", "import-from-units", "--root", "BDH.D1")
    assert imported.exit_code == 0 and "Đã tạo 4 tài khoản" in imported.output
    assert run("users", "import-from-units", "--root", "BDH.D1").output.startswith("Đã tạo 0 tài khoản; 4 địa chỉ")
    token = run("users", "token", "chu.tich@example.vn", "--unit", "BDH.D2", "--label", "báo cáo tự động")
    assert token.exit_code == 0 and "tdk_" in token.output
    with Session(cli_world.engine) as session:
        user = session.execute(select(User).where(User.email == "chu.tich@example.vn")).scalars().one()
        assert (user.role, user.full_name) == ("reviewer", "Lê Văn C")
        assert session.execute(select(ApiToken.user_id)).scalar_one() == user.id
    missing = run("users", "token", "ai@example.vn", "--unit", "BDH.D2")
    assert missing.exit_code == 1 and "không có tài khoản 'ai@example.vn' ở đơn vị 'BDH.D2'" in missing.output
