"""A background thread per server process that runs the outbox dispatcher every few seconds.
Several workers may run it at once: rows are claimed before they are sent (service.py)."""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from backend.auth.housekeeping import prune
from backend.notify.service import dispatch_pending
from backend.wechat.client import http_factory

log = logging.getLogger("yunying.notify")
INTERVAL_SECONDS = 3.0


PRUNE_EVERY = 200  # rounds (~10 minutes)


def _loop(app: FastAPI, stop: threading.Event) -> None:
    rounds = 0
    while not stop.wait(INTERVAL_SECONDS):
        rounds += 1
        try:
            dispatch_pending(settings=app.state.settings, engine=app.state.engine, http=http_factory(app.state))
            if rounds % PRUNE_EVERY == 0:
                prune(engine=app.state.engine)
        except Exception:  # keep the loop alive; the next round retries
            log.exception("notification dispatch failed")


def install(app: FastAPI) -> None:
    """Start the dispatcher with the app and stop it on shutdown (TestClient and uvicorn alike)."""
    stop = threading.Event()

    def start() -> None:
        if getattr(app.state, "notify_dispatcher", True) is False:
            return  # tests that drive dispatch_pending themselves switch the thread off
        thread = threading.Thread(target=_loop, args=(app, stop), name="yunying-notify", daemon=True)
        thread.start()

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop.set)
