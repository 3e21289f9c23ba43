"""The Celery application: one durable queue per kind of work, tasks that are safe to run twice.

Delivery (RabbitMQ, AMQP 0-9-1): a task message is acknowledged only after the task finished
(`acks_late`), and a task whose worker process died is handed back to the broker
(`task_reject_on_worker_lost`), so a worker killed with -9 loses nothing: RabbitMQ redelivers the
unacknowledged messages when the connection drops. Queues are durable and messages persistent, and the
relay publishes with publisher confirms (`confirm_publish`): a job leaves the outbox only once the broker
has taken responsibility for it. `worker_prefetch_multiplier=1`: a worker holds one message per process,
so a long pre-render never hides other jobs from an idle worker.

The hard `time_limit` (YUNYING_JOB_TIME_LIMIT_S; notices and sweeps have their own) kills the worker child
running a job that is stuck, e.g. inside a decoder's C code, and the pool starts a fresh child. Such a
job is not retried (acknowledged as failed): the same bytes would get stuck again; its previews are
rendered, or refused with a stated reason, when a patient asks (the web node's budget, previews/pool.py).

A web node makes the app only to publish; the task bodies import what they run (runners.py) when a
worker runs them.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from kombu import Exchange, Queue

from backend.config import Settings

from . import service as outbox

log = logging.getLogger("yunying.jobs")

EXCHANGE = Exchange("yunying", type="direct", durable=True)
TASKS = {kind: f"yunying.{kind}" for kind in outbox.KINDS}
# Seconds; prerender and pdf take the setting (YUNYING_JOB_TIME_LIMIT_S). A notice is one HTTP call; a
# sweep walks a directory tree.
SHORT_LIMITS = {outbox.NOTIFY: 60, outbox.SWEEP: 1800}
MAX_REDELIVERIES = 3  # runs of one message whose worker process died, before it is given up (logged)
RETRIES = 5  # a job that raised (e.g. the database briefly unreachable) is retried this often, backing off


def make_celery(settings: Settings) -> Celery:
    app = Celery("yunying", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_queues=[Queue(name, EXCHANGE, routing_key=name, durable=True) for name in outbox.QUEUES.values()],
        task_default_queue=outbox.QUEUES[outbox.PRERENDER],
        task_default_exchange=EXCHANGE.name,
        task_routes={TASKS[kind]: {"queue": outbox.QUEUES[kind], "routing_key": outbox.QUEUES[kind]}
                     for kind in outbox.KINDS},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=4,
        broker_transport_options={"confirm_publish": True},
        broker_heartbeat=30,
        task_time_limit=settings.job_time_limit_s,
        worker_proc_alive_timeout=60,  # a child warms up before it says it is alive (warm_child)
    )
    for kind in outbox.KINDS:
        app.task(name=TASKS[kind], bind=True, shared=False, acks_late=True, reject_on_worker_lost=True,
                 time_limit=SHORT_LIMITS.get(kind, settings.job_time_limit_s),
                 max_retries=RETRIES)(_task_body(kind))
    return app


def _task_body(kind: str) -> Any:
    def body(self: Task, key: str) -> None:
        from . import runners

        ctx = _context()
        if not _may_run_again(self, ctx):
            log.error("%s job %s given up: its worker process died %d times running it", kind, self.request.id,
                      MAX_REDELIVERIES)
            return
        try:
            runners.run(ctx, kind=kind, key=key)
        except Exception as exc:
            retries = int(getattr(self.request, "retries", 0) or 0)
            log.warning("%s job failed (attempt %d): %s", kind, retries + 1, type(exc).__name__)
            if retries >= RETRIES:
                raise
            raise self.retry(exc=exc, countdown=min(300, 5 * 2 ** retries)) from exc

    body.__name__ = f"run_{kind}"
    return body


def _may_run_again(task: Task, ctx: Any) -> bool:
    """A message redelivered because the process running it died (kill -9, OOM, a segfault in a codec) is
    run again (no job lost) — at most MAX_REDELIVERIES times: bytes that crash a decoder every time must
    not take a worker child down forever. Counted in the shared state (Redis, else the database)."""
    if not (getattr(task.request, "delivery_info", None) or {}).get("redelivered"):
        return True
    from backend.shared_state import shared_state

    state = shared_state(redis_url=ctx.settings.redis_url, engine=ctx.engine)
    return state.hit(f"job-redelivered:{task.request.id}", window=timedelta(days=1), limit=MAX_REDELIVERIES)


def publish(app: Celery, *, kind: str, key: str, job_id: str) -> None:
    """Hand one job to the broker; returns once the broker confirmed it (raises when it could not)."""
    app.send_task(TASKS[kind], args=(key,), queue=outbox.QUEUES[kind], routing_key=outbox.QUEUES[kind],
                  task_id=job_id, retry=True,
                  retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 1})


# -- the worker's child processes: one context each, made on first use after the fork ---------------
_CONTEXTS: dict[int, Any] = {}


def _context() -> Any:
    from backend import plugins
    from backend.config import load_settings
    from backend.db import make_engine

    from . import runners

    pid = os.getpid()
    ctx = _CONTEXTS.get(pid)
    if ctx is None:
        settings = load_settings()
        plugins.install()
        ctx = runners.worker_context(settings, make_engine(settings.effective_database_url))
        _CONTEXTS.clear()  # a context inherited through fork belongs to the parent
        _CONTEXTS[pid] = ctx
    return ctx


def warm_child() -> None:
    """Called in each new worker child: its context, and the renderer's first-call caches."""
    from backend.previews.jobs import warm

    _context()
    warm()
