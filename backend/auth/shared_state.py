"""State every worker process must share: cached values with an expiry, leases (locks), "once"
markers and rate-limit counters. Redis when ``YUNYING_REDIS_URL`` is set, the database otherwise —
the same four operations either way, so callers never know which.

A lease is never held across a database transaction that the guarded work needs (the work may call
the WeChat simulator, which writes to the same SQLite file): acquiring and releasing are each their
own short transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.auth.models import Lease, RateEvent, SharedValue
from backend.db import session_scope
from backend.ids import utcnow

_PREFIX = "yy:"
# Redis: delete the lock only if we still hold it (the lease may have expired and been re-taken).
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class SharedState(Protocol):
    def get(self, name: str) -> tuple[str, datetime] | None: ...

    def put(self, name: str, value: str, *, expires_at: datetime) -> None: ...

    def acquire(self, name: str, *, ttl: timedelta) -> str | None: ...

    def release(self, name: str, holder: str) -> None: ...

    def claim_once(self, name: str, *, ttl: timedelta) -> bool: ...

    def hit(self, key: str, *, window: timedelta, limit: int, session: Session | None = None) -> bool:
        """Count one action; False when ``limit`` actions already happened within ``window``.
        ``session``: the caller's open transaction — the database fallback counts inside it (a second
        write transaction on SQLite would wait for the caller's own lock)."""
        ...


class DatabaseState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, name: str) -> tuple[str, datetime] | None:
        with session_scope(self.engine, readonly=True) as session:
            row = session.get(SharedValue, name)
            if row is None or _aware(row.expires_at) <= utcnow():
                return None
            return row.value, _aware(row.expires_at)

    def put(self, name: str, value: str, *, expires_at: datetime) -> None:
        with session_scope(self.engine) as session:
            row = session.get(SharedValue, name)
            if row is None:
                session.add(SharedValue(name=name, value=value, expires_at=expires_at))
            else:
                row.value, row.expires_at = value, expires_at
                session.add(row)

    def acquire(self, name: str, *, ttl: timedelta) -> str | None:
        holder = secrets.token_hex(16)
        now = utcnow()
        try:
            with session_scope(self.engine) as session:
                # Conditional UPDATE: of two workers racing for an expired lease exactly one matches.
                taken = session.execute(
                    update(Lease)
                    .where(Lease.name == name, Lease.expires_at <= now)  # type: ignore[arg-type]
                    .values(holder=holder, expires_at=now + ttl)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return holder
                if session.get(Lease, name) is not None:
                    return None
                session.execute(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl))
        except IntegrityError:
            return None
        return holder

    def release(self, name: str, holder: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))  # type: ignore[arg-type]

    def claim_once(self, name: str, *, ttl: timedelta) -> bool:
        return self.acquire(f"once:{name}", ttl=ttl) is not None

    def hit(self, key: str, *, window: timedelta, limit: int, session: Session | None = None) -> bool:
        if session is None:
            with session_scope(self.engine) as own:
                return self._hit(own, key, window, limit)
        return self._hit(session, key, window, limit)

    @staticmethod
    def _hit(session: Session, key: str, window: timedelta, limit: int) -> bool:
        now = utcnow()
        count = session.exec(
            select(func.count()).select_from(RateEvent).where(RateEvent.key == key, RateEvent.at > now - window)
        ).one()
        if count >= limit:
            return False
        session.add(RateEvent(key=key, at=now))
        return True


class RedisState:
    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)

    def get(self, name: str) -> tuple[str, datetime] | None:
        raw = self.redis.get(_PREFIX + "v:" + name)
        if raw is None:
            return None
        value, _, expires = raw.decode().rpartition("|")
        return value, datetime.fromisoformat(expires)

    def put(self, name: str, value: str, *, expires_at: datetime) -> None:
        seconds = max(1, int((expires_at - utcnow()).total_seconds()))
        self.redis.set(_PREFIX + "v:" + name, f"{value}|{expires_at.isoformat()}", ex=seconds)

    def acquire(self, name: str, *, ttl: timedelta) -> str | None:
        holder = secrets.token_hex(16)
        ok = self.redis.set(_PREFIX + "lock:" + name, holder, nx=True, px=int(ttl.total_seconds() * 1000))
        return holder if ok else None

    def release(self, name: str, holder: str) -> None:
        self.redis.eval(_RELEASE_LUA, 1, _PREFIX + "lock:" + name, holder)

    def claim_once(self, name: str, *, ttl: timedelta) -> bool:
        return bool(self.redis.set(_PREFIX + "once:" + name, "1", nx=True, ex=int(ttl.total_seconds())))

    def hit(self, key: str, *, window: timedelta, limit: int, session: Session | None = None) -> bool:
        del session
        # Fixed window: INCR, and start the window's clock on the first hit.
        name = _PREFIX + "rate:" + key
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, int(window.total_seconds()), nx=True)
        count = int(pipe.execute()[0])
        return count <= limit


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


_redis_states: dict[str, RedisState] = {}


def shared_state(*, redis_url: str | None, engine: Engine) -> SharedState:
    if redis_url:
        if redis_url not in _redis_states:
            _redis_states[redis_url] = RedisState(redis_url)
        return _redis_states[redis_url]
    return DatabaseState(engine)
