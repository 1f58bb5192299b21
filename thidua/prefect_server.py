"""Prefect's temporary API server as a child process that thidua starts itself.

Prefect starts the same server (uvicorn serving `prefect.server.api.server:create_app`, UI off, the services of a
temporary server) on first use through `SubprocessASGIServer`, but that class lives in `prefect.server.api.server`,
whose import costs the calling process ~1 s of CPU: in `thidua demo` that second holds the interpreter lock the
simulated year needs. Started from here, the server costs the caller a `Popen`; the flows find it through
`PREFECT_API_URL`, which must be set before `prefect` is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from thidua.errors import UnavailableError

# What SubprocessASGIServer gives its server: no UI, the temporary server's services, the final app.
_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


class PrefectServerError(UnavailableError):
    """The Prefect server did not start (it exited, or did not answer in time)."""


class PrefectServerProcess:
    """`start` launches the server on 127.0.0.1:`port` without waiting; `wait_ready` waits until it answers
    `/api/health` (the first flow needs it); `stop` ends it. The Prefect home and settings come from the
    environment (`configure_prefect_environment`)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "prefect.server.api.server:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env={**os.environ, **_SERVER_ENV},
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        if self.ready:
            return
        if self.process is None:
            raise PrefectServerError("máy chủ Prefect chưa được khởi động")
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                raise PrefectServerError(f"máy chủ Prefect đã dừng khi đang khởi động (mã thoát {code})")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:  # noqa: S310 - local
                    if response.status == 200:
                        self.ready = True
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise PrefectServerError(f"máy chủ Prefect không trả lời sau {timeout_s:.0f} giây ({self.api_url})")
            time.sleep(0.1)

    def stop(self) -> None:
        process, self.process = self.process, None
        self.ready = False
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
