"""Engine and session handling for SQLite (default) and PostgreSQL (scale-out), and the transaction convention.

Write use cases own their unit of work: a service function that changes state either takes an Engine and opens
`session_scope` itself, or takes a Session and is decorated with `owns_transaction` (it commits when it returns,
rolls back when it raises). Callers that combine several writes in one transaction wrap them in `session_scope`
or `unit_of_work`; the use cases inside then leave the commit to that outer scope. Queries take a Session and
never commit.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from thidua.errors import UnavailableError
from thidua.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlmodel import Session, SQLModel


DEFAULT_BUSY_TIMEOUT_S = 30.0


def make_engine(url: str, *, echo: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """busy_timeout_s: how long a SQLite write waits for another program's write lock before giving up (then
    `storage_failure` turns the error into a Vietnamese message)."""
    if url.startswith("sqlite"):
        # The same pool as PostgreSQL's: the web's request limit (web/capacity.py) is derived from it.
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            pool_size=10,
            max_overflow=20,
        )
        busy_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_first_savepoint(conn, _name) -> None:  # noqa: ANN001
            # pysqlite (legacy transaction control) opens no transaction before SAVEPOINT, so a savepoint taken
            # before the first write becomes the transaction itself and its RELEASE commits: a refused action
            # would keep the work done before the refusal. Open the real transaction first; IMMEDIATE because a
            # savepoint is taken to write, and a read-then-write transaction cannot wait for a busy writer.
            raw = conn.connection.dbapi_connection
            if not raw.in_transaction:
                raw.execute("BEGIN IMMEDIATE")

        return engine
    # No server-side prepared statements: PostgreSQL would switch a repeated bulk statement to a generic
    # plan, which cannot see that a subtree range is selective and may pick a nested-loop anti-join.
    connect_args = {"prepare_threshold": None} if url.startswith("postgresql+psycopg") else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


@lru_cache
def _engine_for(url: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    return make_engine(url, busy_timeout_s=busy_timeout_s)


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    if settings.db_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return _engine_for(settings.db_url, settings.sqlite_busy_timeout_s)


_LOCKED = ("database is locked", "database table is locked", "could not obtain lock", "lock timeout")
_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk full")


def storage_failure(exc: BaseException, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> UnavailableError | None:
    """A database error that is the machine's state, not a bug, as the Vietnamese message to show: the database
    held by another program's write lock past the busy timeout, or a full disk (SQLite "database or disk is
    full", PostgreSQL "could not extend file", an OSError ENOSPC/EDQUOT). None for anything else. The
    transaction was rolled back, so the message can promise that nothing changed."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" tệp {exc.filename}" if exc.filename else ""
        return UnavailableError(
            f"Không ghi được{where}: ổ đĩa đã đầy (hết dung lượng). Hãy giải phóng dung lượng "
            "rồi chạy lại lệnh; dữ liệu trong cơ sở dữ liệu không bị thay đổi."
        )
    text = str(getattr(exc, "orig", None) or exc).lower()
    if any(marker in text for marker in _FULL):
        return UnavailableError(
            "Không ghi được vào cơ sở dữ liệu: ổ đĩa đã đầy (hoặc cơ sở dữ liệu đã chạm giới hạn "
            "kích thước). Thao tác đã được huỷ, không có gì thay đổi; hãy giải phóng dung lượng "
            "rồi chạy lại lệnh."
        )
    if any(marker in text for marker in _LOCKED):
        seconds = f"{busy_timeout_s:g}".replace(".", ",")
        return UnavailableError(
            f"Cơ sở dữ liệu đang bị một chương trình khác khoá để ghi (đã chờ {seconds} giây). "
            "Thao tác đã được huỷ, không có gì thay đổi; hãy chạy lại lệnh khi thao tác kia xong "
            "(ví dụ một lệnh thidua khác hoặc máy chủ web đang ghi)."
        )
    return None


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema (Alembic migrations)."""
    from thidua.migrate import upgrade

    upgrade(engine)


UNIT_OF_WORK = "thidua.unit_of_work"  # session.info flag: an outer scope will commit
F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """One transaction on an existing session: commit on success, roll back on any error. Nested scopes (and the
    write use cases called inside) leave the commit to the outermost one."""
    outer = bool(session.info.get(UNIT_OF_WORK))
    session.info[UNIT_OF_WORK] = True
    try:
        yield session
        if not outer:
            session.commit()
    except BaseException:
        if not outer:
            session.rollback()
        raise
    finally:
        session.info[UNIT_OF_WORK] = outer


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A short transaction on a new session: commit on success, roll back on any error."""
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session, unit_of_work(session):
        yield session


def owns_transaction(func: F) -> F:
    """A write use case taking a Session (first argument) owns its unit of work: it commits when it returns and
    rolls back when it raises, so nothing half-done stays; inside an outer unit of work or a savepoint
    (`begin_nested`) it leaves the commit to the caller."""

    @functools.wraps(func)
    def wrapper(session: Session, *args: Any, **kwargs: Any) -> Any:
        if session.info.get(UNIT_OF_WORK) or session.in_nested_transaction():
            return func(session, *args, **kwargs)
        with unit_of_work(session):
            return func(session, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def all_metadata() -> "SQLModel.metadata.__class__":
    from sqlmodel import SQLModel

    import thidua.models.tables  # noqa: F401  (registers every table)

    return SQLModel.metadata
