"""Reusing access decisions while nothing they depend on has changed (the preview hot path).

A cached value (a `PersonAccess`, or facts about an image) carries the access epoch read before it
was computed (access/epoch.py) and the policy clocks at that moment. It is served only while

* the epoch is unchanged: no binding, grant, session, share, person or study row that can narrow
  access was written since (revocation acts on the very next request), and
* less than TTL_S has passed on every clock the policy reads: time alone ends grants (expiry, the
  ward's 14th and 18th birthday), sessions and shares, so a decision is never older than TTL_S.
  The family clock is read too, so tests that travel in time see fresh decisions.

Only positive answers are cached: a refusal is recomputed (and answered by the ordinary route).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from backend.clock import utcnow
from backend.family import rules as family_rules

TTL_S = 2.0
MAX_ENTRIES = 20_000

V = TypeVar("V")


def clocks_now() -> tuple[float, float, float]:
    """The policy's clocks: monotonic time, the wall clock, the family rules' clock (time travel)."""
    return time.monotonic(), utcnow().timestamp(), family_rules.now().timestamp()


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    epoch: int
    clocks: tuple[float, float, float]


class DecisionCache(Generic[V]):
    """A bounded map key -> value, each valid for one epoch and TTL_S (see the module docstring)."""

    def __init__(self, *, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl, self._max = ttl_s, max_entries
        self._entries: dict[object, _Entry[V]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, *, epoch: int | None) -> V | None:
        if epoch is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.epoch != epoch:
            return None
        now = clocks_now()
        if any(not 0.0 <= b - a < self._ttl for a, b in zip(entry.clocks, now, strict=True)):
            return None
        return entry.value

    def put(self, key: object, value: V, *, epoch: int | None, clocks: tuple[float, float, float]) -> None:
        """`epoch` and `clocks` as read *before* the value was computed (clocks_now() then)."""
        if epoch is None:
            return
        entry = _Entry(value=value, epoch=epoch, clocks=clocks)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # crude but bounded; a refill costs one policy run per key
            self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
