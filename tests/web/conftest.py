"""Fixtures of the web tests: a seeded campaign with accounts, a TestClient signed in as anyone, and for the
browser tests a live server (uvicorn in a thread) driven by headless Chromium through Playwright."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.tables import Unit, User
from tests.conftest import BINH_DINH_CAMPAIGN, fresh_postgres_schema
from tests.factories import small_binh_dinh
from thidua.db import create_schema, make_engine
from thidua.services.campaigns import load_campaign
from thidua.settings import REPO_ROOT, Settings
from thidua.web.app import create_app
from thidua.web.auth import SESSION_COOKIE, WebSession, encode_session

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

# 05/06/2023 10:00 in Bình Định: round 1 is over and its report is due on 10/06/2023.
CAMPAIGN_NOW = datetime(2023, 6, 5, 3, 0, tzinfo=timezone.utc)

# (key, e-mail, unit code, role): the cast of every web test.
PEOPLE = [
    ("officer_d1_1", "cdcs-d1-1@example.vn", "BDH.D1.1", "unit_officer"),
    ("officer_d1_2", "cdcs-d1-2@example.vn", "BDH.D1.2", "unit_officer"),
    ("officer_d1", "huyen1-canbo@example.vn", "BDH.D1", "unit_officer"),
    ("reviewer_d1", "huyen1@example.vn", "BDH.D1", "reviewer"),
    ("reviewer_d2", "huyen2@example.vn", "BDH.D2", "reviewer"),
    ("reviewer_bdh", "tinh-duyet@example.vn", "BDH", "reviewer"),
    ("office", "ban.cspl@example.vn", "BDH", "office"),
]


@dataclass
class World:
    settings: Settings
    engine: Engine
    units: dict[str, Unit]
    users: dict[str, User]
    clock: list[datetime] = field(default_factory=lambda: [CAMPAIGN_NOW])

    def now(self) -> datetime:
        return self.clock[0]

    def assignment_id(self, unit_code: str, obligation_code: str) -> int:
        from sqlalchemy import select

        from thidua.models.tables import Assignment, ObligationDef

        with Session(self.engine) as session:
            return session.execute(
                select(Assignment.id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .join(Unit, Unit.id == Assignment.unit_id)
                .where(Unit.code == unit_code, ObligationDef.code == obligation_code)
            ).scalar_one()


def _seed(settings: Settings) -> tuple[dict[str, Unit], dict[str, User]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    create_schema(engine)
    with Session(engine, expire_on_commit=False) as session:
        units = small_binh_dinh(session)
        users = {}
        for key, email, unit_code, role in PEOPLE:
            users[key] = User(email=email, unit_id=units[unit_code].id, role=role, full_name=f"Người thử {key}")
            session.add(users[key])
        session.commit()
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    engine.dispose()  # the last connection closing folds the WAL into the file, which can then be copied
    return units, users


@dataclass(frozen=True)
class Template:
    db_file: Path
    units: dict[str, Unit]
    users: dict[str, User]


@pytest.fixture(scope="session")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The seeded database, built once per test session (loading the campaign file costs half a second;
    copying the database file a millisecond)."""
    folder = tmp_path_factory.mktemp("mau")
    units, users = _seed(Settings(data_dir=folder))
    return Template(folder / "thidua.db", units, users)


def build_world(template: Template, data_dir: Path, base_url: str = "http://testserver") -> World:
    """A fresh copy of the seeded database."""
    settings = Settings(data_dir=data_dir, base_url=base_url, secret_key="khoa-bi-mat-cua-bo-kiem-thu")
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template.db_file, data_dir / "thidua.db")
    return World(settings=settings, engine=make_engine(settings.db_url), units=template.units, users=template.users)


@pytest.fixture
def world(world_template: Template, tmp_path: Path) -> Iterator[World]:
    w = build_world(world_template, tmp_path / "data")
    yield w
    w.engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_world(request, world_template: Template, tmp_path: Path) -> Iterator[World]:
    """The seeded campaign of the web tests on SQLite (a copy of the template) or on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        w = build_world(world_template, tmp_path / "data")
        yield w
        w.engine.dispose()
        return
    with fresh_postgres_schema() as engine:
        with Session(engine, expire_on_commit=False) as session:
            units = small_binh_dinh(session)
            users = {}
            for key, email, unit_code, role in PEOPLE:
                users[key] = User(email=email, unit_id=units[unit_code].id, role=role, full_name=f"Người thử {key}")
                session.add(users[key])
            session.commit()
        load_campaign(engine, BINH_DINH_CAMPAIGN)
        settings = Settings(data_dir=tmp_path / "data", secret_key="khoa-bi-mat-cua-bo-kiem-thu")
        yield World(settings=settings, engine=engine, units=units, users=users)


def make_client(w: World, *, send_mail: bool = False) -> TestClient:
    """A client of a fresh app. Mail stays in the outbox unless `send_mail` (then the test runs an SMTP sink
    at w.settings.smtp_port)."""
    app = create_app(w.settings, w.engine, clock=w.now)
    if not send_mail:
        app.state.send_mail_now = None
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


@pytest.fixture
def client(world: World) -> TestClient:
    return make_client(world)


def sign_in(client: TestClient, w: World, who: str | None) -> None:
    """Give the client the session cookie of a person (None: an anonymous visitor)."""
    client.cookies.clear()
    if who is None:
        return
    user = w.users[who]
    # A fresh session id each time, as a real sign-in makes: a signed-out id stays revoked.
    data = WebSession(
        sid=f"phien-thu-{who}-{secrets.token_hex(4)}", issued_at=w.now(), user_id=user.id, email=user.email
    )
    client.cookies.set(SESSION_COOKIE, encode_session(w.settings, data))


def csrf_of(client: TestClient, w: World) -> str:
    """The CSRF token of the client's current session, as a page would carry it."""
    from thidua.web.auth import decode_session
    from thidua.web.security import csrf_token

    data = decode_session(w.settings, client.cookies.get(SESSION_COOKIE), now=w.now())
    assert data is not None, "the client has no session yet"
    return csrf_token(w.settings, data)


# ---------------------------------------------------------------------------------------------------
# Browser
# ---------------------------------------------------------------------------------------------------
@dataclass
class LiveServer:
    world: World
    url: str
    app: object
    mailbox: Path  # .eml files the test SMTP server received

    def mails(self) -> list[Path]:
        return sorted(self.mailbox.glob("*.eml"))


@pytest.fixture
def live_server(world_template: Template, tmp_path: Path) -> Iterator[LiveServer]:
    """The application on 127.0.0.1 (uvicorn in a thread), sending its mail to a test SMTP server."""
    import uvicorn

    from thidua.notifications.sink import EmlDirectoryHandler, free_port, start_sink

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    w = build_world(world_template, tmp_path / "data", base_url=url)
    sink = start_sink(EmlDirectoryHandler(tmp_path / "mailbox"))
    w.settings = w.settings.model_copy(update={"smtp_port": sink.port})
    app = create_app(w.settings, w.engine, clock=w.now)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("máy chủ web thử nghiệm không khởi động được")
        time.sleep(0.02)
    yield LiveServer(world=w, url=url, app=app, mailbox=tmp_path / "mailbox")
    server.should_exit = True
    thread.join(timeout=10)
    sink.stop()
    w.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        reason = f"Không có Chromium tại {CHROMIUM} (cài bằng: apt-get install -y chromium)"
        print(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):  # noqa: ANN001
    context = browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport={"width": 412, "height": 915}
    )
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


@pytest.fixture
def screenshot(request) -> Callable[..., Path]:  # noqa: ANN001
    """screenshot(page, name): a full-page PNG under test-artifacts/screenshots/<test>/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    counter = [0]

    def take(pg, name: str) -> Path:  # noqa: ANN001
        counter[0] += 1
        path = folder / f"{counter[0]:02d}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take
