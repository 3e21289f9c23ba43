"""State every worker process must share: cached values with an expiry, leases (locks), "once"
markers and rate-limit counters. Redis when ``YUNYING_REDIS_URL`` is set, the database otherwise —
the same four operations either way, so callers never know which.

A lease is never held across a database transaction that the guarded work needs (the work may call
the WeChat simulator, which writes to the same SQLite file): acquiring and releasing are each their
own short transaction.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar

from sqlalchemy import delete, func, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.auth.models import Lease, RateEvent, SharedValue
from backend.clock import aware, utcnow
from backend.db import session_scope
from backend.errors import ServiceUnavailable

_PREFIX = "yy:"
# Redis: delete the lock only if we still hold it (the lease may have expired and been re-taken).
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Redis: give one hit back only while the window lasts (a DECR of an expired key would create one
# without an expiry).
_UNHIT_LUA = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) else return 0 end"


RETRY_AFTER_S = 15
_P = ParamSpec("_P")
_T = TypeVar("_T")


class SharedStateUnavailable(ServiceUnavailable):
    """Redis cannot be reached (issue 18: Redis stopped). Logins, one-time codes and rate-limited actions
    answer this clear 503 with Retry-After instead of a 500; nothing is counted or claimed, so the
    retry is whole. Reads that need no shared state (timeline, images) never meet it."""

    code = "shared-state-unavailable"

    def __init__(self) -> None:
        super().__init__("Sign-in and verification are briefly unavailable; retry shortly.",
                         zh="登录与验证服务暂时不可用，请稍后再试")
        self.headers = {"Retry-After": str(RETRY_AFTER_S)}


class SharedState(Protocol):
    def get(self, name: str) -> tuple[str, datetime] | None: ...

    def put(self, name: str, value: str, *, expires_at: datetime) -> None: ...

    def acquire(self, name: str, *, ttl: timedelta) -> str | None: ...

    def release(self, name: str, holder: str) -> None: ...

    def claim_once(self, name: str, *, ttl: timedelta) -> bool: ...

    def hit(self, key: str, *, window: timedelta, limit: int, session: Session | None = None) -> bool:
        """Count one action; False when ``limit`` actions already happened within ``window``.
        Atomic: of any number of simultaneous hits on one key, at most ``limit`` answer True (an
        attempt can be reserved with it before the work it limits, e.g. checking an access code).
        ``session``: the caller's open transaction — the database fallback counts inside it (a second
        write transaction on SQLite would wait for the caller's own lock)."""
        ...

    def unhit(self, key: str) -> None:
        """Give one counted action back (a reserved attempt that turned out not to count)."""
        ...


class DatabaseState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, name: str) -> tuple[str, datetime] | None:
        with session_scope(self.engine, readonly=True) as session:
            row = session.get(SharedValue, name)
            if row is None or aware(row.expires_at) <= utcnow():
                return None
            return row.value, aware(row.expires_at)

    def put(self, name: str, value: str, *, expires_at: datetime) -> None:
        # An upsert: two workers putting the same name at once (a lock both saw missing) must not
        # collide on the primary key (PostgreSQL: a 409 for the loser).
        with session_scope(self.engine) as session:
            upsert = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(SharedValue)
            session.execute(upsert.values(name=name, value=value, expires_at=expires_at).on_conflict_do_update(
                index_elements=["name"], set_={"value": value, "expires_at": expires_at}))

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

    def unhit(self, key: str) -> None:
        with session_scope(self.engine) as session:
            # Under the key's lock, as a hit: two give-backs at once (doctors opening one share with the
            # right code) must not both pick the same newest row — one delete would be lost and the
            # reservation kept, and five such collisions lock the share against the right code.
            _lock_key(session, key)
            newest = session.exec(select(RateEvent.id).where(RateEvent.key == key)
                                  .order_by(col(RateEvent.at).desc()).limit(1)).first()
            if newest is not None:
                session.execute(delete(RateEvent).where(col(RateEvent.id) == newest))

    @staticmethod
    def _hit(session: Session, key: str, window: timedelta, limit: int) -> bool:
        # Count-then-insert must not interleave with another hit on the same key. SQLite: every write
        # transaction holds the database's write lock from BEGIN IMMEDIATE (db.py). PostgreSQL (READ
        # COMMITTED): a transaction-scoped advisory lock on the key serialises the hits, and the count
        # after it sees every hit committed before it.
        _lock_key(session, key)
        now = utcnow()
        count = session.exec(
            select(func.count()).select_from(RateEvent).where(RateEvent.key == key, RateEvent.at > now - window)
        ).one()
        if count >= limit:
            return False
        session.add(RateEvent(key=key, at=now))
        return True


def _reachable(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn a Redis connection failure into SharedStateUnavailable (a 503), whatever the command."""
    import redis

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise SharedStateUnavailable() from exc

    return wrapper


class RedisState:
    def __init__(self, url: str) -> None:
        import redis

        # Short timeouts: with Redis gone a login must answer its 503 at once, not hold a worker thread.
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)

    @_reachable
    def get(self, name: str) -> tuple[str, datetime] | None:
        raw = self.redis.get(_PREFIX + "v:" + name)
        if raw is None:
            return None
        value, _, expires = raw.decode().rpartition("|")
        return value, datetime.fromisoformat(expires)

    @_reachable
    def put(self, name: str, value: str, *, expires_at: datetime) -> None:
        seconds = max(1, int((expires_at - utcnow()).total_seconds()))
        self.redis.set(_PREFIX + "v:" + name, f"{value}|{expires_at.isoformat()}", ex=seconds)

    @_reachable
    def acquire(self, name: str, *, ttl: timedelta) -> str | None:
        holder = secrets.token_hex(16)
        ok = self.redis.set(_PREFIX + "lock:" + name, holder, nx=True, px=int(ttl.total_seconds() * 1000))
        return holder if ok else None

    @_reachable
    def release(self, name: str, holder: str) -> None:
        self.redis.eval(_RELEASE_LUA, 1, _PREFIX + "lock:" + name, holder)

    @_reachable
    def claim_once(self, name: str, *, ttl: timedelta) -> bool:
        return bool(self.redis.set(_PREFIX + "once:" + name, "1", nx=True, ex=int(ttl.total_seconds())))

    @_reachable
    def hit(self, key: str, *, window: timedelta, limit: int, session: Session | None = None) -> bool:
        del session
        # Fixed window: INCR (atomic), and start the window's clock on the first hit.
        name = _PREFIX + "rate:" + key
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, int(window.total_seconds()), nx=True)
        count = int(pipe.execute()[0])
        return count <= limit

    @_reachable
    def unhit(self, key: str) -> None:
        self.redis.eval(_UNHIT_LUA, 1, _PREFIX + "rate:" + key)


def _lock_key(session: Session, key: str) -> None:
    """Serialise the writers of one rate-limit key until the transaction ends: PostgreSQL (READ
    COMMITTED) takes a transaction-scoped advisory lock; SQLite's write transactions hold the database's
    write lock from BEGIN IMMEDIATE already (db.py)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(key)})


def _lock_id(key: str) -> int:
    """A PostgreSQL advisory lock id (signed 64-bit) for a rate-limit key."""
    return int.from_bytes(hashlib.sha256(b"yy-rate:" + key.encode()).digest()[:8], "big", signed=True)




_redis_states: dict[str, RedisState] = {}


def shared_state(*, redis_url: str | None, engine: Engine) -> SharedState:
    if redis_url:
        if redis_url not in _redis_states:
            _redis_states[redis_url] = RedisState(redis_url)
        return _redis_states[redis_url]
    return DatabaseState(engine)
