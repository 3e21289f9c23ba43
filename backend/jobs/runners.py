"""What each kind of job does, given a Context (settings, database, previews runtime). The same
functions run in a web node (embedded default, no broker) and in a Celery worker's child process.

Every job is idempotent — a job may run twice (a redelivery after a worker was killed, a relay that
published and died before deleting its row):
* `prerender`: outputs are content-addressed and written atomically; what exists is skipped;
* `notify`: the notification row's status and a compare-and-set claim (notify/service.py send_one);
* `pdf`: the document cache key names every input; a second run finds the document;
* `sweep`: deleting what is old is the same the second time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from backend.clock import utcnow
from backend.config import Settings
from backend.db import session_scope
from backend.previews import service as previews
from backend.storage.base import ObjectStore

from . import service as outbox

log = logging.getLogger("yunying.jobs")
DERIVED_SWEEP_EVERY = timedelta(hours=23)
RENDER_THREADS = 4  # per worker child: see ThreadedRuntime


@dataclass
class Context:
    settings: Settings
    engine: Engine
    runtime: previews.Runtime
    http: Any = None  # the WeChat HTTP session factory (tests inject one); None: requests.Session
    counts: dict[str, int] = field(default_factory=dict)  # jobs run by kind (tests, diagnostics)


def blob_store(settings: Settings) -> ObjectStore:
    """The originals, as the web app opens them (main.py): the object store's originals area."""
    return settings.storage.originals


@dataclass
class ThreadedRuntime(previews.Runtime):
    """A Celery worker child's previews runtime: the chunks of a series render on a few threads of the
    child itself, no render processes (the task's hard time limit replaces a stuck decoder by replacing
    the whole child). Threads, because with an object store most of a chunk is waiting on reads of
    originals and writes of previews; decoding and encoding release the GIL for much of the rest."""

    threads: ThreadPoolExecutor | None = None

    def run(self, fn: Callable[..., Any], *args: Any, priority: int = 0, timeout: float | None = None,
            direct: bool = False) -> Future[Any]:
        if self.threads is None:
            return super().run(fn, *args, priority=priority, timeout=timeout, direct=direct)
        return self.threads.submit(fn, *args)


def worker_context(settings: Settings, engine: Engine, *, threads: int = RENDER_THREADS) -> Context:
    """A Celery worker child's context (celery_app._context), made after the fork."""
    plain = previews.make_runtime(data_dir=settings.data_dir, blobs=blob_store(settings),
                                  max_pixels=settings.max_pixels, pool_size=None)
    runtime = ThreadedRuntime(cache=plain.cache, blobs=plain.blobs, pool=None, limits=plain.limits,
                              threads=ThreadPoolExecutor(threads, thread_name_prefix="yunying-render")
                              if threads > 1 else None)
    return Context(settings=settings, engine=engine, runtime=runtime)


def run(ctx: Context, *, kind: str, key: str) -> None:
    """Run one job. Raises what the job raised (the caller retries or records the failure)."""
    if kind == outbox.PRERENDER:
        from backend.previews.worker import prerender_series

        prerender_series(engine=ctx.engine, runtime=ctx.runtime, series_id=key)
    elif kind == outbox.NOTIFY:
        from backend.notify.service import send_one

        send_one(settings=ctx.settings, engine=ctx.engine, notification_id=key, http=ctx.http)
    elif kind == outbox.PDF:
        from backend.pdf.prerender import prerender_study

        prerender_study(settings=ctx.settings, engine=ctx.engine, blobs=ctx.runtime.blobs, study_id=key)
    elif kind == outbox.SWEEP:
        sweep(ctx)
    else:
        raise ValueError(f"unknown job kind {kind!r}")
    ctx.counts[kind] = ctx.counts.get(kind, 0) + 1


def sweep(ctx: Context) -> None:
    """The periodic housekeeping job (the jobs clock asks for it every few minutes).

    Every time: leftovers of interrupted writes in the derived cache, the short-lived rows of the shared
    state's database fallback (auth/housekeeping.py), and the notices to relatives whose grant ran out
    (family/notices.py). Once a day, on one node: the derived and PDF areas by renderer version and age
    (storage/sweep.py, as `yunying storage sweep`) and the notices of follow-ups that fell due
    (reminders/service.py, as `yunying reminders due`). Originals are never touched."""
    from backend.auth.housekeeping import prune
    from backend.family.notices import expired_grants
    from backend.shared_state import shared_state
    from backend.storage.sweep import current_derived_prefixes
    from backend.storage.sweep import sweep as sweep_store

    removed = ctx.runtime.cache.sweep_temp()
    pruned = prune(engine=ctx.engine)
    with session_scope(ctx.engine) as session:  # relatives whose grant just ran out are told (family/notices.py)
        ended = expired_grants(session, now=utcnow())
    if ended:
        log.info("grants ended by time, relatives told: %d", ended)
    log.info("sweep: %d temporary files, %d expired rows (pid %d)", removed, pruned, os.getpid())
    state = shared_state(redis_url=ctx.settings.redis_url, engine=ctx.engine)
    if state.claim_once("sweep-derived", ttl=DERIVED_SWEEP_EVERY):  # one node a day walks the derived area
        report = sweep_store(storage=ctx.settings.storage, current=current_derived_prefixes())
        log.info("sweep of the derived cache: %d of %d objects deleted, %s", report.deleted, report.examined,
                 report.by_reason)
    if state.claim_once("reminders-due", ttl=DERIVED_SWEEP_EVERY):  # the daily follow-up notices, one node
        from backend.reminders.service import send_due

        log.info("follow-up notices queued: %d", send_due(engine=ctx.engine))
