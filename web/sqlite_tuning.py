"""SQLite under the web application's write load: WAL checkpoints off the request path.

By default the connection whose commit pushes the write-ahead log past 1,000 pages copies it back into the
database file (and syncs it) before its request can answer: a pause of a few hundred milliseconds, every
second or so at 50 submissions per second. While the application runs, its connections never checkpoint on
commit; one background thread does it (PASSIVE: it neither waits for nor blocks readers and writers) twice
a second. Started and stopped with the application (its lifespan), so a process that does not serve the
web keeps SQLite's default behaviour.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("thidua.web")
INTERVAL_SECONDS = 0.5


def _no_checkpoint_on_commit(dbapi_conn, _record) -> None:  # noqa: ANN001
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def start_background_checkpoints(engine: Engine) -> Callable[[], None] | None:
    """Returns the function that stops it again, or None when the database is not SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    event.listen(engine, "connect", _no_checkpoint_on_commit)
    engine.dispose()  # connections opened before would still checkpoint on commit
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(INTERVAL_SECONDS):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # a busy database: try again at the next turn
                log.debug("Chưa ghi được nhật ký WAL vào tệp cơ sở dữ liệu", exc_info=True)

    thread = threading.Thread(target=run, daemon=True, name="sqlite-checkpoint")
    thread.start()

    def stop_checkpoints() -> None:
        stop.set()
        thread.join(timeout=10)
        event.remove(engine, "connect", _no_checkpoint_on_commit)
        engine.dispose()

    return stop_checkpoints
