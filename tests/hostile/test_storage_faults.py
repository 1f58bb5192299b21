"""The machine's state, not a bug (issue 10 point 9): a SQLite database held by another program's write lock and a
full disk give a Vietnamese message and exit code 1, never a traceback, and change nothing."""

from __future__ import annotations

import errno
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import event

from tests.hostile.conftest import Corpus, fingerprint
from thidua.db import get_engine
from thidua.settings import REPO_ROOT, get_settings

MINIMAL = REPO_ROOT / "tests" / "campaigns" / "minimal.yaml"


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("THIDUA_SQLITE_BUSY_TIMEOUT_S", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("THIDUA_SQLITE_BUSY_TIMEOUT_S")
    get_settings.cache_clear()


def test_a_database_locked_by_another_program_gives_a_message_after_the_busy_timeout(
    corpus: Corpus, short_busy_timeout: None
) -> None:
    before = fingerprint(corpus.engine)
    holder = sqlite3.connect(corpus.data_dir / "thidua.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program's write transaction, never finished during the command
    try:
        started = time.monotonic()
        code, out, result = corpus.run("campaign", "load", str(MINIMAL))
        seconds = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1, out
    assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
    assert "đang bị một chương trình khác khoá" in out and "đã chờ 1 giây" in out, out
    assert "không có gì thay đổi" in out, out
    assert seconds >= 1, seconds  # it waited for the lock before giving up
    assert fingerprint(corpus.engine) == before


def test_the_busy_timeout_is_the_setting_and_thirty_seconds_by_default(tmp_path: Path) -> None:
    from thidua.settings import Settings

    assert Settings.model_fields["sqlite_busy_timeout_s"].default == 30
    engine = get_engine(Settings(sqlite_busy_timeout_s=2.5, data_dir=tmp_path))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500


def test_a_full_database_disk_gives_a_message_and_changes_nothing(corpus: Corpus) -> None:
    """SQLite refuses to grow past `max_page_count`, exactly as it does when the disk is full (SQLITE_FULL)."""
    get_settings.cache_clear()
    engine = get_engine(get_settings())

    def no_room_to_grow(dbapi_conn, _record) -> None:  # noqa: ANN001
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    event.listen(engine, "connect", no_room_to_grow)
    before = fingerprint(corpus.engine)
    try:
        code, out, result = corpus.run("campaign", "load", str(MINIMAL))
    finally:
        event.remove(engine, "connect", no_room_to_grow)
        engine.dispose()
    assert code == 1, out
    assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
    assert "ổ đĩa đã đầy" in out and "không có gì thay đổi" in out, out
    assert fingerprint(corpus.engine) == before


def test_a_full_disk_while_writing_a_file_names_the_file(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    out_file = corpus.work / "mau.xlsx"

    def disk_full(self, filename) -> None:  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device", str(filename))

    monkeypatch.setattr("openpyxl.Workbook.save", disk_full)
    before = fingerprint(corpus.engine)
    code, out, result = corpus.run(
        "forms", "template", "bd-2023", "--obligation", "so-ket-dot-1", "--for", "BDH.D1", "--out", str(out_file)
    )
    assert code == 1, out
    assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
    assert f"Không ghi được tệp {out_file}: ổ đĩa đã đầy" in out, out
    assert fingerprint(corpus.engine) == before
    assert not Path(out_file).exists()
