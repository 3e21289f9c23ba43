"""A bounded pool of render worker PROCESSES with a per-job time budget and priorities.

Why not concurrent.futures.ProcessPoolExecutor: a job that exceeds its decode-time budget must be
abandoned *and its CPU reclaimed*; an executor cannot kill one task. Here every slot is a thread
that owns one worker process: it sends a job over a pipe and waits at most `timeout` seconds; on
timeout (or a crash: segfault in a codec, OOM kill) it kills that process, fails the job with a
stated reason and starts a fresh process for the next job. Processes, not threads: pydicom parsing
holds the GIL, so only processes make both cores work.

Priorities: interactive requests (0) go before background pre-rendering (10) in one queue, so a
patient's click never waits behind a whole series being pre-rendered (only behind the chunk a
worker is on). Processes start on their first job ("spawn": no fork of a threaded web server).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from backend.imaging.rendering import RenderError

log = logging.getLogger("yunying.previews")

INTERACTIVE = 0
BACKGROUND = 10


class RenderTimeout(RenderError):
    reason = "render_timeout"


class WorkerCrashed(RenderError):
    reason = "worker_crashed"


def _worker_main(conn: Connection) -> None:
    """Loop of a worker process: (fn, args) in, ("ok", value) | ("render_error", reason, en, zh) out."""
    from . import jobs

    jobs.warm()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        try:
            reply: tuple[Any, ...] = ("ok", fn(*args))
        except RenderError as exc:
            reply = ("render_error", exc.reason, exc.message_en, exc.message_zh)
        except Exception as exc:  # noqa: BLE001 - a bug in one job must not kill the worker
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        conn.send(reply)


class _Slot:
    def __init__(self, ctx: Any, name: str) -> None:
        self._ctx, self._name = ctx, name
        self._proc: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> Connection:
        if self._proc is None or not self._proc.is_alive() or self._conn is None:
            self.kill()
            parent, child = self._ctx.Pipe()
            self._proc = self._ctx.Process(target=_worker_main, args=(child,), name=self._name, daemon=True)
            self._proc.start()
            child.close()
            self._conn = parent
        return self._conn

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> tuple[Any, ...]:
        conn = self._ensure()
        try:
            conn.send((fn, args))
            if not conn.poll(timeout):
                self.kill()
                raise RenderTimeout(message_en=f"rendering took longer than {timeout:g} s and was abandoned",
                                    message_zh=f"渲染超过 {timeout:g} 秒，已放弃")
            reply: tuple[Any, ...] = conn.recv()
            return reply
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            raise WorkerCrashed(message_en="the render worker stopped unexpectedly",
                                message_zh="渲染进程意外退出") from None

    def kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.pid is not None:  # pid is None when start() itself failed
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)


class RenderPool:
    def __init__(self, *, size: int, timeout: float) -> None:
        self.size, self.timeout = max(1, size), timeout
        self._ctx = multiprocessing.get_context("spawn")
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._slots: list[_Slot] = []
        self._closed = False
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._threads or self._closed:
                return
            for n in range(self.size):
                slot = _Slot(self._ctx, f"yunying-render-{n}")
                thread = threading.Thread(target=self._loop, args=(slot,), name=f"yunying-render-slot-{n}",
                                          daemon=True)
                self._slots.append(slot)
                self._threads.append(thread)
                thread.start()

    def _loop(self, slot: _Slot) -> None:
        try:
            while True:
                _, _, item = self._queue.get()
                if item is None:
                    return
                fn, args, timeout, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    reply = slot.run(fn, args, timeout)
                except RenderError as exc:
                    future.set_exception(exc)
                    continue
                except Exception as exc:  # e.g. a worker process cannot be started: fail this job, keep the slot
                    log.exception("render slot failed")
                    slot.kill()
                    future.set_exception(WorkerCrashed(message_en=f"render worker unavailable: {exc}"[:300],
                                                       message_zh="渲染进程不可用"))
                    continue
                if reply[0] == "ok":
                    future.set_result(reply[1])
                elif reply[0] == "render_error":
                    future.set_exception(RenderError(reason=reply[1], message_en=reply[2], message_zh=reply[3]))
                else:
                    log.error("render job %s failed: %s", getattr(fn, "__name__", fn), reply[1])
                    future.set_exception(RuntimeError(reply[1]))
        finally:
            slot.kill()

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = INTERACTIVE,
               timeout: float | None = None) -> Future[Any]:
        if self._closed:
            raise RuntimeError("render pool is closed")
        self._start()
        future: Future[Any] = Future()
        self._queue.put((priority, next(self._seq), (fn, args, timeout or self.timeout, future)))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put((1 << 30, next(self._seq), None))
        for thread in threads:
            thread.join(timeout=10)
