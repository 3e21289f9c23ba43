"""A read cut off by a database restart is answered from a fresh connection, not with a 503 (issue 18).

When PostgreSQL restarts, the requests in flight lose their connection. A GET or HEAD whose failure
``db.retryable`` calls safe — the connection failed to open or died on a statement before the commit,
so nothing of the request was committed — is run again from the start after a short wait, for up to
RETRY_WITHIN_S; then the 503 + Retry-After (api/problems.py) goes out as before. The handler marks the
request retryable; this middleware holds that 503 back and replays the request. Other methods are never
replayed: their client sees the 503 and retries what it knows was not done.

Replaying a GET re-runs its earlier committed steps too — on this service these are counters that only
make limits stricter (a share page's failure count, sharing/entry.py), never an effect a user sees.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

RETRYABLE = "yunying_db_retryable"  # request.state flag set by api/problems.py
RETRY_WITHIN_S = 5.0
FIRST_WAIT_S = 0.2
MAX_WAIT_S = 1.0
_SAFE = frozenset({"GET", "HEAD"})


class DatabaseRetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _SAFE:
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + RETRY_WITHIN_S
        wait = FIRST_WAIT_S
        replay = _Replay(receive)
        while True:
            held = await self._run(scope, replay.for_run(), send)
            if not held:
                return
            if time.monotonic() + wait > deadline:
                for message in held:
                    await send(message)
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, MAX_WAIT_S)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> list[Message]:
        """Run the request once; the answer goes out unless it is a retryable 503, which is returned."""
        state = scope.setdefault("state", {})
        state.pop(RETRYABLE, None)
        held: list[Message] = []

        async def hold_retryable(message: Message) -> None:
            if held or (message["type"] == "http.response.start" and message["status"] == 503
                        and state.get(RETRYABLE)):
                held.append(message)
                return
            await send(message)

        await self.app(scope, receive, hold_retryable)
        return held


class _Replay:
    """The request's first message (a GET's empty body), handed to every run once; after it each run
    waits on the client as usual (a streaming answer listens for the disconnect)."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.first: Message | None = None

    def for_run(self) -> Receive:
        given = False

        async def receive() -> Message:
            nonlocal given
            if given:
                return await self.receive()
            given = True
            if self.first is None:
                self.first = await self.receive()
            return self.first

        return receive
