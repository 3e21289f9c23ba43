"""A bounded pool of render worker PROCESSES with a per-job time budget and priorities.

Why not concurrent.futures.ProcessPoolExecutor: a job that exceeds its decode-time budget must be
abandoned *and its CPU reclaimed*; an executor cannot kill one task. Here every slot owns one worker
process: its holder sends a job over a pipe and waits at most `timeout` seconds; on timeout (or a
crash: segfault in a codec, OOM kill) it kills that process, fails the job with a stated reason and
the next job on that slot starts a fresh process. Processes, not threads: pydicom parsing holds the
GIL, so only processes make both cores work; and a decoder fed hostile bytes must not run in the web
process.

Who holds a slot: a dispatcher thread serving the priority queue, or (`direct=True`) the thread of
an interactive caller that found a slot idle and runs its job without the queue. Priorities:
interactive requests (0) go before background pre-rendering (10) in one queue, so a patient's click
never waits behind a whole series being pre-rendered (only behind the chunk each worker is on).
Processes start on their first job ("spawn": no fork of a threaded web server).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from backend.rendering import RenderError

log = logging.getLogger("yunying.previews")

INTERACTIVE = 0
BACKGROUND = 10


class RenderTimeout(RenderError):
    reason = "render_timeout"


class WorkerCrashed(RenderError):
    reason = "worker_crashed"


class RenderStarved(RenderError):
    """Abandoned after STARVED_FACTOR × its budget of wall time without having used its CPU budget: the
    machine was too busy, the file is not to blame (never remembered; a 503 the client retries)."""

    reason = "render_busy"


STARVED_FACTOR = 4.0


# glibc mallopt(3) parameters (malloc.h) and the values a worker sets: see tune_malloc.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_MMAP_THRESHOLD = 16 << 20
_TRIM_THRESHOLD = 32 << 20
_ARENA_MAX = 2


def tune_malloc() -> bool:
    """Keep a worker's freed render buffers for the next job (glibc only; elsewhere a no-op).

    A 512x512 render allocates several 0.5-2 MB numpy buffers. glibc serves blocks above its mmap
    threshold (128 KiB at start, raised only after such a block is freed) with fresh mmap()s and
    returns the top of the heap above its trim threshold to the kernel, so a young worker took
    ~160 (native CT) to ~700 (RLE) page faults per preview: measured 5.0 ms in a worker against 2.5 ms
    in the web process for the same RLE render, 2.5 ms of it system time. With these thresholds
    the buffers are reused (0 faults, render time as in the web process); a worker keeps at most
    ~32 MB of freed memory, and frames larger than 16 MB per buffer still get their own mmap().

    That bound is per malloc arena, and glibc gives each new thread an arena of its own, up to 8 per
    core: a web process (it calls this too, for its inline renders) whose thread pool filled during a
    fault — 40 requests waiting out a Redis, PostgreSQL or object-store timeout at once — kept up to
    32 MB in each of 16 arenas, a step in its resident set that it never gave back (issue 18). Two
    arenas: Python allocates under the GIL, so threads rarely contend for one."""
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                    and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
                    and libc.mallopt(_M_ARENA_MAX, _ARENA_MAX))
    except (OSError, AttributeError):
        return False


def _worker_main(conn: Connection) -> None:
    """Loop of a worker process: (fn, args) in, ("ok", value) | ("render_error", reason, en, zh) out."""
    from . import jobs

    tune_malloc()
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
    """One worker process and its pipe. Whoever holds the slot (a dispatcher thread, or a caller on the
    direct path) is the only one using it: the pool hands a slot to one holder at a time."""

    def __init__(self, ctx: Any, name: str) -> None:
        self._ctx, self._name = ctx, name
        self._proc: Any = None
        self._conn: Connection | None = None

    @property
    def started(self) -> bool:
        return self._proc is not None

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
        answered = False
        try:
            cpu_at_start = _cpu_seconds(self._proc.pid)
            conn.send((fn, args))
            self._await_reply(conn, budget=timeout, cpu_at_start=cpu_at_start)
            reply: tuple[Any, ...] = conn.recv()
            answered = True
            return reply
        except (EOFError, OSError):
            raise WorkerCrashed(message_en="the render worker stopped unexpectedly",
                                message_zh="渲染进程意外退出") from None
        finally:
            # Anything but a received reply (timeout, crash, an unpicklable job, an exception raised in
            # the waiting thread) may leave a reply in flight that the next job would read as its own:
            # the process goes, the next job starts a fresh one.
            if not answered:
                self.kill()

    def _await_reply(self, conn: Connection, *, budget: float, cpu_at_start: float | None) -> None:
        """Wait until the job answers, it has used `budget` seconds of its own CPU (RenderTimeout: the
        data keeps the decoder busy), or STARVED_FACTOR × budget of wall time has passed without that
        (RenderStarved). Why CPU, not wall time: on a machine at load 12 (the standard load run, issue 18)
        healthy renders ran out of a wall-clock budget, and render_timeout is remembered as the file's
        failure — good images answered 422 for an hour. Without /proc, wall time stands in for CPU."""
        started = time.monotonic()
        while True:
            waited = time.monotonic() - started
            now_cpu = _cpu_seconds(self._proc.pid) if cpu_at_start is not None else None
            used = waited if now_cpu is None or cpu_at_start is None else now_cpu - cpu_at_start
            if used >= budget:
                raise RenderTimeout(message_en=f"rendering took longer than {budget:g} s and was abandoned",
                                    message_zh=f"渲染超过 {budget:g} 秒，已放弃")
            left = budget * STARVED_FACTOR - waited
            if left <= 0:
                raise RenderStarved(message_en="the server is busy and the image could not be rendered in time; "
                                               "try again shortly",
                                    message_zh="服务器繁忙，图像未能及时生成，请稍后重试")
            # The job cannot use more CPU than the wall time that passes: sleep until it could have used all.
            if conn.poll(min(max(budget - used, 0.01), left)):
                return

    def kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.pid is not None:  # pid is None when start() itself failed
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process (proc(5): fields 14 and 15 of /proc/PID/stat), None where there is
    no /proc. The command name (field 2) may contain spaces and parentheses: split after the last ')'."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def _execute(slot: _Slot, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """Run one job on `slot` (held by the caller); its value, or the exception the caller should see."""
    try:
        reply = slot.run(fn, args, timeout)
    except RenderError:
        raise
    except Exception as exc:  # e.g. a worker process cannot be started: fail this job, keep the pool
        log.exception("render slot failed")
        slot.kill()
        raise WorkerCrashed(message_en=f"render worker unavailable: {exc}"[:300],
                            message_zh="渲染进程不可用") from None
    if reply[0] == "ok":
        return reply[1]
    if reply[0] == "render_error":
        raise RenderError(reason=reply[1], message_en=reply[2], message_zh=reply[3])
    log.error("render job %s failed: %s", getattr(fn, "__name__", fn), reply[1])
    raise RuntimeError(reply[1])


_Item = tuple[Callable[..., Any], tuple[Any, ...], float, Future[Any]]


class RenderPool:
    """`size` slots (one worker process each, started on first use) shared by two kinds of holder:

    * queued jobs (`submit`): a priority heap served by `size` dispatcher threads;
    * direct jobs (`submit(..., direct=True)`, interactive only): when a slot is idle, the calling
      thread itself sends the job on that slot's pipe and waits for the reply with the job's budget.
      This skips the hand-offs caller -> dispatcher -> caller; measured on this machine (2 vCPUs) it
      saves ~0.07 ms of a trivial job's ~0.2 ms round trip and ~0.15 ms of a 512 render's ~0.9 ms.
      Most of what is left is the two cross-process wake-ups (caller -> worker -> caller) of a CPU
      that idled during the job, which only spinning would avoid: not worth a core here.

    Fairness: a slot that becomes idle while jobs are queued is handed to the head of the queue at
    once, under the lock (`_dispatch_locked`), so a caller can only take the direct path when nothing is
    waiting: the direct path never overtakes a queued job, and queued jobs (background ones too)
    keep strict priority order, as with the queue alone.
    """

    def __init__(self, *, size: int, timeout: float) -> None:
        self.size, self.timeout = max(1, size), timeout
        self._ctx = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._pending: list[tuple[int, int, _Item]] = []  # heap: (priority, arrival, job)
        self._ready: list[tuple[_Slot, _Item]] = []  # queued jobs already given a slot, for a dispatcher
        # Idle slots; the most recently used last, never-started (or killed) ones first, so that one
        # busy caller keeps reusing a warm process and a second process starts only under concurrency.
        self._idle = [_Slot(self._ctx, f"yunying-render-{n}") for n in reversed(range(self.size))]
        self._threads: list[threading.Thread] = []
        self._closed = False  # no new jobs; dispatchers drain what is queued
        self._stopped = False  # close() is done: every slot released from now on is killed
        self.counts = {"direct": 0, "queued": 0}  # how jobs were run (tests, diagnostics)

    # -- under self._cond ----------------------------------------------------------------------------
    def _start_locked(self) -> None:
        if self._threads:
            return
        for n in range(self.size):
            thread = threading.Thread(target=self._loop, name=f"yunying-render-slot-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _dispatch_locked(self) -> None:
        while self._pending and self._idle:
            _, _, item = heapq.heappop(self._pending)
            self._ready.append((self._idle.pop(), item))
            self._cond.notify_all()  # dispatchers, and close() waiting for slots (few waiters: cheap)

    def _release(self, slot: _Slot) -> None:
        with self._cond:
            stopped = self._stopped
            if not stopped:
                if slot.started:
                    self._idle.append(slot)
                else:
                    self._idle.insert(0, slot)
                self._dispatch_locked()
                if self._closed:
                    self._cond.notify_all()  # close() waits for every slot to come back
        if stopped:
            slot.kill()

    # -- dispatcher threads ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._stopped and not (self._closed and not self._pending):
                    self._cond.wait()
                if not self._ready:
                    return
                slot, (fn, args, timeout, future) = self._ready.pop(0)
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(_execute(slot, fn, args, timeout))
                    except Exception as exc:  # noqa: BLE001 - delivered to whoever waits on the future
                        future.set_exception(exc)
            finally:
                self._release(slot)

    # -- public ----------------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = INTERACTIVE,
               timeout: float | None = None, direct: bool = False) -> Future[Any]:
        """Queue `fn(*args)` for a worker process; the future holds its value or its RenderError.

        `direct=True` (interactive jobs whose caller is about to wait for the result anyway): if a
        worker is idle, the job runs now from the calling thread and the returned future is already
        done; otherwise it is queued like any other. Callers that submit several jobs and then wait
        (series chunks) must not ask for it: they would run their jobs one after the other."""
        budget = timeout or self.timeout
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("render pool is closed")
            self._start_locked()
            slot = self._idle.pop() if direct and priority <= INTERACTIVE and self._idle else None
            if slot is None:
                self.counts["queued"] += 1
                heapq.heappush(self._pending, (priority, next(self._seq), (fn, args, budget, future)))
                self._dispatch_locked()
                return future
            self.counts["direct"] += 1
        try:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(_execute(slot, fn, args, budget))
            except Exception as exc:  # noqa: BLE001 - delivered through the future, like a queued job
                future.set_exception(exc)
        finally:
            self._release(slot)
        return future

    def close(self) -> None:
        """Stop: no new jobs; queued ones still run (bounded by their budgets, up to ~10 s per
        dispatcher) and direct callers finish theirs (up to ~10 s), then every worker process is
        killed. A holder still running after that kills its process itself when its job ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)
        with self._cond:
            deadline = time.monotonic() + 10
            while len(self._idle) + len(self._ready) < self.size and time.monotonic() < deadline:
                self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))
            self._stopped = True
            self._cond.notify_all()
            idle, self._idle = self._idle, []
            left = [item for _, _, item in self._pending] + [item for _, item in self._ready]
            idle += [slot for slot, _ in self._ready]
            self._pending, self._ready = [], []
        for slot in idle:
            slot.kill()
        for *_, future in left:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("render pool is closed"))
