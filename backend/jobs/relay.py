"""The relay and the in-process runners: what takes committed outbox rows and gets them done.

* With YUNYING_BROKER_URL set, every web node and every `yunying worker` runs a relay thread: it claims
  due rows (a short lease: several relays share the outbox), publishes each as a Celery task (publisher
  confirms: the broker has it) and deletes the row. A broker outage leaves the rows where they are and
  the relay tries again every few seconds: no job is lost, none is published before its change
  committed. A relay that dies between the broker's confirm and the delete publishes the row again
  later: jobs are idempotent (runners.py).
* Without a broker (the embedded default, `make run`), the web node runs the jobs itself: one lane
  (thread) per queue, each claiming its own kind with a long lease, running it and deleting the row;
  a job that raised is tried again later (MAX_ATTEMPTS). A node that dies mid-job leaves the lease to
  expire and any node picks the row up again.
* A clock thread asks for periodic work (the cache sweep) through the same outbox.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.db import session_scope

from . import service as outbox

log = logging.getLogger("yunying.jobs")

POLL_S = 1.0  # how often an idle lane or relay looks for due rows (one indexed read-only query)
PUBLISH_LEASE = timedelta(seconds=30)
RUN_LEASE = timedelta(minutes=15)  # longer than any in-process job; a dead node's rows wait this long
BROKER_RETRY = timedelta(seconds=2)
FAILED_RETRY = timedelta(seconds=30)
SWEEP_EVERY = timedelta(minutes=10)
CLOCK_S = 60.0
RELAY_THREAD = "yunying-relay"
LANE_THREAD_PREFIX = "yunying-jobs-"  # one lane per queue, and the clock
THREAD_NAME_PREFIXES = (RELAY_THREAD, LANE_THREAD_PREFIX)  # every thread Jobs starts (tests tell their SQL apart)


class Jobs:
    """The threads of one process. `publisher`: a Celery app (relay mode) or None (in-process lanes)."""

    def __init__(self, *, settings: Settings, engine: Engine, publisher: Any = None,
                 lanes: tuple[str, ...] = (), context: Callable[[], Any] | None = None,
                 clock: bool = True) -> None:
        self.settings, self.engine, self.publisher = settings, engine, publisher
        self.lanes, self._context, self._clock = lanes, context, clock
        self.stop_event = threading.Event()
        self.published = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        targets: list[tuple[str, Callable[[], None]]] = []
        if self.publisher is not None:
            targets.append((RELAY_THREAD, self._relay_loop))
        else:
            targets += [(f"{LANE_THREAD_PREFIX}{kind}", functools.partial(self._lane_loop, kind))
                        for kind in self.lanes]
        if self._clock:
            targets.append((f"{LANE_THREAD_PREFIX}clock", self._clock_loop))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    # -- relay mode ----------------------------------------------------------------------------------
    def relay_once(self) -> int:
        """Publish every due row once; returns how many were published. Stops at the first broker error."""
        from .celery_app import publish

        done = 0
        claimed = outbox.claim(self.engine, lease=PUBLISH_LEASE, limit=100)
        for n, job in enumerate(claimed):
            try:
                publish(self.publisher, kind=job.kind, key=job.key, job_id=f"{job.id}.{job.generation}")
            except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the rows simply wait
                log.warning("broker unavailable, %d jobs stay in the outbox: %s", len(claimed) - n,
                            type(exc).__name__)
                for rest in claimed[n:]:
                    outbox.release(self.engine, rest, retry_in=BROKER_RETRY, failed=False)
                break
            outbox.finish(self.engine, job)
            done += 1
        self.published += done
        return done

    def _relay_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                busy = self.relay_once()
            except Exception:  # e.g. the database briefly unavailable
                log.exception("outbox relay error")
                busy = 0
            if not busy:
                self.stop_event.wait(POLL_S)

    # -- in-process mode -----------------------------------------------------------------------------
    def run_once(self, kinds: tuple[str, ...]) -> int:
        """Run every due job of these kinds in this thread; returns how many ran (tests call this)."""
        from . import runners

        assert self._context is not None
        done = 0
        while not self.stop_event.is_set():
            claimed = outbox.claim(self.engine, kinds=kinds, lease=RUN_LEASE, limit=1)
            if not claimed:
                return done
            job = claimed[0]
            try:
                runners.run(self._context(), kind=job.kind, key=job.key)
            except Exception:  # one bad job must not stop its lane
                log.exception("%s job failed (attempt %d of %d)", job.kind, job.attempts + 1, outbox.MAX_ATTEMPTS)
                # 30 s, 1, 2, 4 min: a store or database outage of several minutes loses no job
                outbox.release(self.engine, job, retry_in=FAILED_RETRY * 2 ** job.attempts, failed=True)
            else:
                outbox.finish(self.engine, job)
            done += 1
        return done

    def _lane_loop(self, kind: str) -> None:
        while not self.stop_event.is_set():
            try:
                busy = self.run_once((kind,))
            except Exception:
                log.exception("%s lane error", kind)
                busy = 0
            if not busy:
                self.stop_event.wait(POLL_S)

    # -- periodic work -------------------------------------------------------------------------------
    def tick(self) -> None:
        with session_scope(self.engine) as session:
            outbox.enqueue_absent(session, kind=outbox.SWEEP, key="derived", delay=SWEEP_EVERY)

    def _clock_loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("jobs clock error")
            if self.stop_event.wait(CLOCK_S):
                return


def default_lanes(app: FastAPI) -> tuple[str, ...]:
    """In-process lanes of a web node. Under YUNYING_ENV=test only notices run unless a test switches a
    lane on: other domains' tests must not get renders competing for the CPU behind their back."""
    state, settings = app.state, app.state.settings
    lanes = getattr(state, "job_lanes", None)
    if lanes is not None:
        return tuple(lanes)
    background = settings.env != "test"
    chosen = []
    if getattr(state, "notify_dispatcher", True) is not False:
        chosen.append(outbox.NOTIFY)
    if getattr(state, "preview_dispatcher", background):
        chosen.append(outbox.PRERENDER)
    if background:
        chosen += [outbox.PDF, outbox.SWEEP]
    return tuple(chosen)


def install(app: FastAPI) -> None:
    """Start this web node's jobs threads with the app and stop them on shutdown."""

    def start() -> None:
        from backend.previews.service import runtime_for
        from backend.wechat.client import http_factory

        from .runners import Context

        settings = app.state.settings
        publisher = None
        if settings.broker_url:
            from .celery_app import make_celery

            publisher = make_celery(settings)
        made: list[Context] = []

        def context() -> Context:  # on first use: the previews runtime is made by its own start-up hook
            if not made:
                made.append(Context(settings=settings, engine=app.state.engine, runtime=runtime_for(app.state),
                                    http=http_factory(app.state)))
            return made[0]

        jobs = Jobs(settings=settings, engine=app.state.engine, publisher=publisher,
                    lanes=() if publisher is not None else default_lanes(app), context=context,
                    clock=settings.env != "test")
        app.state.jobs = jobs
        jobs.start()

    def shutdown() -> None:
        jobs = getattr(app.state, "jobs", None)
        if jobs is not None:
            jobs.stop()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(shutdown)
