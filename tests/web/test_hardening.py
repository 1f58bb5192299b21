"""Safe by default (issue 10, part A): the secret key, sign-out, refused bulk actions, forwarded addresses.
Everything that touches the database runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from tests.web.conftest import World, csrf_of, make_client, sign_in
from thidua.models.tables import Assignment, AuditLog
from thidua.services.submissions import submit_report
from thidua.settings import EXAMPLE_SECRET_KEYS, SecretKeyRefused, Settings, get_settings
from thidua.web.auth import (
    LINK_SALT,
    SESSION_COOKIE,
    SESSION_SALT,
    WebSession,
    decode_session,
    encode_session,
    read_link,
)
from thidua.web.errors import LinkTampered
from thidua.web.security import csrf_token

TEST_KEY = "khoa-bi-mat-cua-bo-kiem-thu"


# ---------------------------------------------------------------------------------------------------
# 1. The secret key
# ---------------------------------------------------------------------------------------------------
def test_without_a_configured_key_a_random_one_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "data")
    key = first.signing_key()
    path = tmp_path / "data" / "secret_key"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and key not in EXAMPLE_SECRET_KEYS
    assert Settings(data_dir=tmp_path / "data").signing_key() == key  # the next start reads the same key
    assert Settings(data_dir=tmp_path / "other").signing_key() != key


@pytest.mark.parametrize("key", sorted(EXAMPLE_SECRET_KEYS) + ["ngan-qua"])
def test_an_example_or_short_key_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(SecretKeyRefused, match="Khoá bí mật"):
        Settings(data_dir=tmp_path, secret_key=key).signing_key()


def test_web_refuses_to_start_with_the_documented_example_key(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from thidua.cli.main import app

    monkeypatch.setenv("THIDUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("THIDUA_SECRET_KEY", "doi-chuoi-ngau-nhien-dai-nay")
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        for command in (["web", "--port", "1"], ["serve", "--port", "1"]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 1, result.output
            assert "khoá ví dụ" in result.output and "Traceback" not in result.output
    finally:
        get_settings.cache_clear()
    assert not (tmp_path / "thidua.db").exists()  # refused before anything was created


def test_a_cookie_or_link_forged_with_the_old_built_in_key_is_refused(world: World, tmp_path: Path) -> None:
    from itsdangerous import URLSafeSerializer

    settings = Settings(data_dir=tmp_path / "fresh")  # no key configured: a generated one
    office = world.users["office"]
    old_key = "doi-khoa-nay-khi-trien-khai"
    forged_cookie = URLSafeSerializer(old_key, salt=SESSION_SALT).dumps(
        {"s": "gia-mao", "t": int(world.now().timestamp()), "u": office.id, "e": office.email}
    )
    assert decode_session(settings, forged_cookie, now=world.now()) is None
    forged_link = URLSafeSerializer(old_key, salt=LINK_SALT).dumps(
        {"j": "x", "p": "obligation", "e": office.email, "x": int(world.now().timestamp()) + 3600, "u": 1, "a": 1}
    )
    with pytest.raises(LinkTampered):
        read_link(settings, forged_link, now=world.now())
    world.settings = settings
    client = make_client(world)
    client.cookies.set(SESSION_COOKIE, forged_cookie)
    assert client.get("/van-phong").status_code == 303  # sent to the sign-in page


# ---------------------------------------------------------------------------------------------------
# 3. Sign-out ends the session on the server
# ---------------------------------------------------------------------------------------------------
def test_a_cookie_copied_before_sign_out_no_longer_works(any_world: World) -> None:
    w = any_world
    client = make_client(w)
    sign_in(client, w, "office")
    copied = client.cookies.get(SESSION_COOKIE)
    assert client.get("/van-phong").status_code == 200
    out = client.post("/dang-xuat", data={"_csrf": csrf_of(client, w)})
    assert out.status_code == 303
    thief = make_client(w)
    thief.cookies.set(SESSION_COOKIE, copied)
    assert thief.get("/van-phong").status_code == 303
    assert thief.get("/api/v1/me").status_code == 401
    with Session(w.engine) as session:
        actions = session.execute(select(AuditLog.action).where(AuditLog.action == "auth.signed_out")).scalars().all()
    assert actions == ["auth.signed_out"]
    other = make_client(w)  # another session of the same person is untouched
    office = w.users["office"]
    other.cookies.set(
        SESSION_COOKIE,
        encode_session(
            w.settings, WebSession(sid="phien-khac", issued_at=w.now(), user_id=office.id, email=office.email)
        ),
    )
    assert other.get("/van-phong").status_code == 200


# ---------------------------------------------------------------------------------------------------
# 4. A refused bulk accept changes nothing
# ---------------------------------------------------------------------------------------------------
def test_a_refused_bulk_accept_keeps_nothing_it_had_already_accepted(any_world: World) -> None:
    w = any_world
    with Session(w.engine) as session:
        for code in ("BDH.D1.1", "BDH.D2.1"):
            submit_report(
                session,
                campaign_code="bd-2023",
                obligation_code="so-ket-dot-1",
                unit_code=code,
                raw={"so_sang_kien": 3, "so_doan_vien_moi": 4},
                actor="test",
                now=w.now(),
            )
        session.commit()
    own, foreign = (w.assignment_id(code, "so-ket-dot-1") for code in ("BDH.D1.1", "BDH.D2.1"))

    def versions() -> dict[int, tuple[str, int]]:
        with Session(w.engine) as session:
            return {
                a.id: (a.status, a.version)
                for a in session.execute(select(Assignment).where(Assignment.id.in_([own, foreign]))).scalars()
            }

    before = versions()
    client = make_client(w)
    sign_in(client, w, "reviewer_d1")
    items = [f"{own}:{before[own][1]}", f"{foreign}:{before[foreign][1]}"]
    page = client.post("/duyet/hang-loat", data={"chon": items, "_csrf": csrf_of(client, w)})
    assert page.status_code == 403
    api = client.post("/api/v1/review/bulk-accept", json={"items": items}, headers={"X-CSRF-Token": csrf_of(client, w)})
    assert api.status_code == 403
    assert versions() == before


# ---------------------------------------------------------------------------------------------------
# 5. X-Forwarded-For is believed only from configured proxies
# ---------------------------------------------------------------------------------------------------
def _ask_for_links(w: World, count: int) -> list[int]:
    """Sign-in link requests from 127.0.0.1, each claiming another address in X-Forwarded-For, sent to the
    server exactly as `thidua serve` runs it."""
    import httpx

    from thidua.cli.app_cmds import _web_server
    from thidua.notifications.sink import free_port

    port = free_port()
    server = _web_server(w.settings, w.engine, "127.0.0.1", port)
    server.config.lifespan = "off"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the web server did not start"
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.get("/dang-nhap")
            token = csrf_token(w.settings, decode_session(w.settings, client.cookies[SESSION_COOKIE], now=w.now()))
            return [
                client.post(
                    "/dang-nhap",
                    data={"email": f"nguoi{i}@example.vn", "_csrf": token},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                ).status_code
                for i in range(count)
            ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_rotating_x_forwarded_for_does_not_escape_the_sign_in_rate_limit(world: World) -> None:
    answers = _ask_for_links(world, 21)
    assert answers[:20] == [200] * 20 and answers[20] == 429


def test_a_configured_proxy_passes_the_client_address_on(world: World) -> None:
    world.settings = world.settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    assert _ask_for_links(world, 21) == [200] * 21  # 21 different clients behind the proxy
