"""`yunying worker`: a Celery worker for the background work, reading the same settings as `serve`.

It consumes every queue unless told otherwise (`--queues prerender,notify`), and its main process also
runs an outbox relay (relay.py), so jobs committed while every web node is down still reach the broker.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit

from . import service as outbox

log = logging.getLogger("yunying.jobs")


def worker(
    concurrency: int = typer.Option(2, min=1, max=64, help="Job processes (prefork children)."),
    queues: str = typer.Option(",".join(outbox.KINDS), help="Kinds of work to take, comma separated."),
    name: str = typer.Option("", help="Worker name (default: yunying@<host>-<pid>)."),
) -> None:
    """A background worker (Celery) for the jobs the web nodes publish; needs YUNYING_BROKER_URL."""
    settings = settings_or_exit()
    if not settings.broker_url:
        fail("YUNYING_BROKER_URL is not set: without a broker the web nodes (`yunying serve`) run background "
             "work themselves. Set it to amqp://USER:PASSWORD@HOST:5672/VHOST to run workers.")
    kinds = [k.strip() for k in queues.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in outbox.KINDS]
    if unknown or not kinds:
        fail(f"unknown queue {', '.join(unknown) or '(none)'}: choose from {', '.join(outbox.KINDS)}")
    engine = engine_or_exit(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from celery import signals

    from .celery_app import make_celery, warm_child
    from .relay import Jobs

    app = make_celery(settings)
    relay = Jobs(settings=settings, engine=engine, publisher=app, clock=settings.env != "test")

    def ready(**_: Any) -> None:
        relay.start()

    def stopping(**_: Any) -> None:
        relay.stop(timeout=5)

    def child_started(**_: Any) -> None:
        engine.dispose(close=False)  # the parent's pooled connections are not the child's to use or close
        warm_child()  # settings, database, decoders and encoders ready before the first job, not during it

    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(stopping, weak=False)
    signals.worker_process_init.connect(child_started, weak=False)
    node = name or f"yunying@{socket.gethostname()}-{os.getpid()}"
    app.worker_main(argv=["worker", "--loglevel=INFO", f"--concurrency={concurrency}", f"--hostname={node}",
                          "--queues=" + ",".join(outbox.QUEUES[k] for k in kinds),
                          "--without-gossip", "--without-mingle", "--pool=prefork"])
