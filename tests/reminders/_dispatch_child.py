"""Child process of test_crash.py: one dispatch pass with a short lease, to be killed mid-batch.

Usage: python -m tests.reminders._dispatch_child DB_URL DATA_DIR SMTP_PORT NOW_ISO [LEASE_SECONDS]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

from thidua.notifications.transport import SmtpSettings
from thidua.db import make_engine
from thidua.services import reminders as service
from thidua.settings import Settings

LEASE = timedelta(seconds=2)


def main(db_url: str, data_dir: str, port: str, now: str, lease_seconds: str | None = None) -> None:
    settings = Settings(data_dir=data_dir, database_url=db_url)
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=int(port),
        sender="thidua@ldld.binhdinh.vn",
        timeout_s=10,
        local_hostname="child.thidua.test",
    )
    print("started", flush=True)
    asyncio.run(
        service.run_dispatch(
            make_engine(db_url),
            settings,
            now=datetime.fromisoformat(now),
            smtp=smtp,
            lease=timedelta(seconds=float(lease_seconds)) if lease_seconds else LEASE,
        )
    )
    print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
