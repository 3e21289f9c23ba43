"""Blocking work called from async endpoints, each kind under a limiter of its own.

Sync endpoints share anyio's default pool (40 threads per worker). Work that mostly waits — on WeChat,
or on a lock every login takes — would fill that pool and starve every other request, so it runs in
threads counted by a named limiter instead; beyond the limit, callers wait in the event loop holding
no thread and no database connection (issue 18: a rush of first logins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

T = TypeVar("T")

_limiters: RunVar[dict[str, CapacityLimiter]] = RunVar("yunying_thread_limiters")


async def run_limited(name: str, size: int, call: Callable[[], T]) -> T:
    """Run ``call`` in a worker thread, at most ``size`` at once per event loop for this ``name``."""
    try:
        limiters = _limiters.get()
    except LookupError:
        limiters = {}
        _limiters.set(limiters)
    limiter = limiters.get(name)
    if limiter is None:
        limiter = limiters[name] = CapacityLimiter(size)
    return await anyio.to_thread.run_sync(call, limiter=limiter)
