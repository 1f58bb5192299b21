"""How many requests the application works on at once: never more than its connection pool can serve.

A request uses at most two pooled connections at a time (its own session, and a service that opens one of
its own). Were more requests let in than the pool can serve, each would hold one connection while waiting
for a second that only another waiting request could give back: all of them wait for the pool timeout and
answer 500 (issue 10: 20 concurrent readers on SQLite, 8 × 500). Requests beyond the limit wait here, on the
event loop, holding nothing; they are answered in turn.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

CONNECTIONS_PER_REQUEST = 2
RESERVED_CONNECTIONS = 2  # background work of the process: WAL checkpoints, figure refreshes


def request_slots(engine: Engine) -> int:
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if not callable(size):  # a pool without a fixed size (SQLite in memory): one request at a time is safe
        return 1
    capacity = size() + max(overflow, 0)
    return max(1, (capacity - RESERVED_CONNECTIONS) // CONNECTIONS_PER_REQUEST)


class RequestLimitMiddleware:
    """At most `slots` requests inside the application at once (static files do not count)."""

    def __init__(self, app: ASGIApp, *, slots: int):
        self.app = app
        self.slots = slots
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/static/"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # one per serving loop (a test client may start several loops)
            self._semaphore, self._loop = asyncio.Semaphore(self.slots), loop
        async with self._semaphore:  # type: ignore[union-attr]
            await self.app(scope, receive, send)
