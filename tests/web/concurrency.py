"""Many people at once on one object (issue 10, point 6): shared by the CI test (small) and bench/ (full size).

`hammer` sends `readers` concurrent GET /duyet and `writers` concurrent approvals of one report to a running
server and counts the answers by status."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from thidua.settings import Settings
from thidua.web.auth import SESSION_COOKIE, WebSession, encode_session
from thidua.web.security import csrf_token


@dataclass
class Hammered:
    readers: Counter
    writers: Counter
    seconds: float

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in (self.readers + self.writers).items() if status >= 500)


def reviewer_cookie(settings: Settings, user_id: int, email: str, now, sid: str) -> tuple[str, str]:  # noqa: ANN001
    session = WebSession(sid=sid, issued_at=now, user_id=user_id, email=email)
    return encode_session(settings, session), csrf_token(settings, session)


async def _hammer(
    base_urls: list[str], cookie: str, csrf: str, assignment_id: int, readers: int, writers: int, timeout: float
) -> Hammered:
    limits = httpx.Limits(max_connections=readers + writers + 10, max_keepalive_connections=0)
    clients = [
        httpx.AsyncClient(base_url=url, cookies={SESSION_COOKIE: cookie}, timeout=timeout, limits=limits)
        for url in base_urls
    ]
    try:
        page = await clients[0].get(f"/duyet/bai-nop/{assignment_id}")
        assert page.status_code == 200, page.status_code
        version = re.search(r'name="_phien_ban" value="(\d+)"', page.text).group(1)
        form = {"hanh_dong": "duyet", "y_kien": "", "_csrf": csrf, "_phien_ban": version}
        start = asyncio.get_running_loop().time()

        async def read(i: int) -> int:
            return (await clients[i % len(clients)].get("/duyet")).status_code

        async def write(i: int) -> int:
            return (await clients[i % len(clients)].post(f"/duyet/bai-nop/{assignment_id}", data=form)).status_code

        answers = await asyncio.gather(*[read(i) for i in range(readers)], *[write(i) for i in range(writers)])
        seconds = asyncio.get_running_loop().time() - start
    finally:
        for client in clients:
            await client.aclose()
    return Hammered(readers=Counter(answers[:readers]), writers=Counter(answers[readers:]), seconds=seconds)


def hammer(
    base_urls: list[str],
    cookie: str,
    csrf: str,
    assignment_id: int,
    *,
    readers: int,
    writers: int,
    timeout: float = 120,
) -> Hammered:
    """All requests start together (one connection each); several base URLs: requests spread over the servers."""
    # A thread of its own: the caller's thread may already run an event loop (left by an earlier test).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(
            asyncio.run, _hammer(base_urls, cookie, csrf, assignment_id, readers, writers, timeout)
        ).result()
