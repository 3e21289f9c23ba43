"""Parse uploaded instances in parse processes, so a STOW-RS request uses more than one core.

Why processes: parsing a header is pure-Python CPU work; in the web process it competes for the GIL with
the multipart reader receiving the next parts (docs/ingest.md, rounds 2 and 4: one process per web
worker measured better than threads at one client). And the parse reads hostile input: a file that
crashes the parser (pydicom's fallback, a C extension) or makes it run for ever takes down or stops a
parse process, not the web server. The setting ``parse_processes`` (``YUNYING_PARSE_PROCESSES``) says how
many per web process; 0 (the default) parses in the web process's thread pool instead, which starts
nothing (the embedded default, the tests). An ingest node sets 1 per ``yunying serve`` worker.

How (round 5; rounds 2–4 used ``ProcessPoolExecutor``, whose hand-over — pickling, its manager and
feeder threads, a thread hop per call and per reply — was 29–37 % of the profile against 4–5 % for the
parse it carried): each parse process (backend/ingest/parseworker.py) is started once with
``subprocess`` (exec, never a fork of the threaded web server) and has one pipe in and one out. The event
loop writes a request frame (the spool file's path and the limits: the process reads the file itself,
from the page cache) and reads the replies when its pipe is readable; no thread, no pickle
(backend/ingest/parsewire.py). A process parses one file at a time, in order, so:

- a process that dies (a file that crashes the parser, the OOM killer) fails the file it was parsing
  with 0x0110 Processing failure; the files queued behind it go to a fresh process;
- a file that takes longer than ``time_limit`` (``PARSE_TIME_LIMIT``) has its process killed and fails
  the same way.

While a web process has two uploads or more in progress (:func:`uploading`), a header that lies within
the file's first 64 KiB, with native pixels, is parsed on the event loop instead: the hand-over costs
more CPU than that parse, and the cores are busy anyway (docs/ingest.md round 9). Its work is bounded
whatever the file (parse.parse_fast ``bounded``: one read, pure Python, no pydicom); anything longer or
unusual still goes to a process, where a crash or a hang costs only that process.

No parse process outlives its web process: the app's shutdown closes their pipes and waits for them
(:func:`install`); the end of its input ends a parse process, and a thread in it watches the web
process, so a ``kill -9`` of the server does not leave it behind (issue 21: ProcessPoolExecutor's
workers had, 171 orphans after a day of benchmarks).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from backend.dicom.errors import FailureReason
from backend.dicom.parse import ParseLimits
from backend.ingest.parsewire import HEADER, MAX_FRAME, decode_result, encode_request
from backend.ingest.parsing import ParseResult, parse_fast_only, parse_file
from backend.ingest.stages import StageClock

__all__ = ["PARSE_TIME_LIMIT", "ParseResult", "install", "parse_async", "parse_file", "shutdown", "start", "uploading",
           "uploads_in_progress"]

log = logging.getLogger("yunying.ingest")

# Seconds one file may take in a parse process (its header is at most ParseLimits.max_header_bytes, 64 MiB:
# the fast reader takes ~0.3 ms for a CT slice's, pydicom well under a second for the largest). Counted
# from the moment the process turns to the file; the first file also waits for the process to start.
PARSE_TIME_LIMIT = 60.0
_READ_SIZE = 256 * 1024

_pool: _Pool | None = None
INLINE_FROM = 2  # uploads in progress in a web process from which small headers are parsed inline (uploading())
_uploads = 0  # uploads in progress in this web process (uploading())


@dataclass(slots=True)
class _Request:
    path: Path
    limits: ParseLimits
    time_limit: float
    future: asyncio.Future[ParseResult]

    def answer(self, result: ParseResult) -> None:
        if not self.future.done():  # the request may have been cancelled (the client went away)
            self.future.set_result(result)


def _failure(reason: str) -> ParseResult:
    return ParseResult(code=FailureReason.PROCESSING_FAILURE, reason=reason)


@dataclass(eq=False)
class _ParseProcess:
    """One parse process and its two pipes, driven from the event loop ``loop``."""

    pool: _Pool
    loop: asyncio.AbstractEventLoop
    proc: subprocess.Popen[bytes]
    pending: deque[_Request] = field(default_factory=deque)  # sent, not answered, oldest first
    _buffer: bytearray = field(default_factory=bytearray)
    _unsent: bytearray = field(default_factory=bytearray)
    _timer: asyncio.TimerHandle | None = None
    closed: bool = False

    @classmethod
    def start(cls, pool: _Pool) -> _ParseProcess:
        # exec'd, not forked from this multi-threaded process; the web process's id so it can watch us
        command = [sys.executable, "-m", "backend.ingest.parseworker", str(os.getpid())]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)  # noqa: S603
        assert proc.stdin is not None
        assert proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        os.set_blocking(proc.stdout.fileno(), False)
        child = cls(pool=pool, loop=pool.loop, proc=proc)
        pool.loop.add_reader(proc.stdout.fileno(), child._readable)
        return child

    @property
    def pid(self) -> int:
        return self.proc.pid

    def submit(self, request: _Request) -> None:
        self.pending.append(request)
        self._write(encode_request(request.path, request.limits))
        if len(self.pending) == 1:
            self._arm()

    # -- the pipes ------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.closed:
            return
        if self._unsent:  # keep the frames in order behind what the pipe did not take yet
            self._unsent += data
            return
        try:
            written = os.write(self._stdin_fd, data)
        except BlockingIOError:
            written = 0
        except OSError:  # the process is gone: its reader sees the end of the pipe and settles the rest
            return
        if written < len(data):
            self._unsent += data[written:]
            self.loop.add_writer(self._stdin_fd, self._writable)

    def _writable(self) -> None:
        try:
            written = os.write(self._stdin_fd, self._unsent)
        except BlockingIOError:
            return
        except OSError:
            self.loop.remove_writer(self._stdin_fd)
            return
        del self._unsent[:written]
        if not self._unsent:
            self.loop.remove_writer(self._stdin_fd)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._stdout_fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost("the parser failed on this file")
            return
        buffer = self._buffer
        buffer += chunk
        while len(buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(buffer)
            if length > MAX_FRAME or not self.pending:
                self._lost("the parser sent a reply that is not one")
                return
            end = HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[HEADER.size:end])
            del buffer[:end]
            request = self.pending.popleft()
            try:
                result = decode_result(payload)
            except Exception:  # noqa: BLE001 - any malformed reply fails that one file, never the server
                log.error("a parser reply did not decode; failing the instance")
                result = _failure("the parser failed on this file")
            request.answer(result)
            self._arm()

    @property
    def _stdin_fd(self) -> int:
        assert self.proc.stdin is not None
        return self.proc.stdin.fileno()

    @property
    def _stdout_fd(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    # -- the time limit and failures --------------------------------------------------------------------
    def _arm(self) -> None:
        """The oldest request is the file being parsed: its time limit runs from now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pending:
            self._timer = self.loop.call_later(self.pending[0].time_limit, self._overrun)

    def _overrun(self) -> None:
        self._timer = None
        log.error("a parse took longer than its time limit; stopping its process")
        self._lost("the parser took too long on this file")

    def _lost(self, reason: str) -> None:
        """The process died, overran or broke the protocol: the file it was on fails, the rest move on."""
        if self.closed:
            return
        log.error("parse process %d stopped (%s); the files queued behind it go to a fresh one", self.pid, reason)
        self.close(kill=True)
        if self.pending:
            self.pending.popleft().answer(_failure(reason))
        queued, self.pending = self.pending, deque()
        self.pool.forget(self)
        for request in queued:
            if not request.future.done():
                self.pool.submit(request)

    def close(self, *, kill: bool) -> None:
        """Stop reading, close the pipes (the end of its input ends the process) and reap it."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.loop.is_closed():
            self.loop.remove_reader(self._stdout_fd)
            self.loop.remove_writer(self._stdin_fd)
        if kill:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # deaf to the end of its input: a parse stuck in a hostile file
            self.proc.kill()
            self.proc.wait()


@dataclass(eq=False)
class _Pool:
    loop: asyncio.AbstractEventLoop
    size: int
    children: list[_ParseProcess] = field(default_factory=list)

    def submit(self, request: _Request) -> None:
        """To the least busy process; a new one while fewer than ``size`` run and all are busy."""
        idle = min(self.children, key=lambda child: len(child.pending), default=None)
        if idle is None or (idle.pending and len(self.children) < self.size):
            idle = _ParseProcess.start(self)
            self.children.append(idle)
        idle.submit(request)

    def forget(self, child: _ParseProcess) -> None:
        if child in self.children:
            self.children.remove(child)

    def close(self, *, kill: bool) -> None:
        children, self.children = self.children, []
        for child in children:
            child.close(kill=kill)
            for request in child.pending:
                if not self.loop.is_closed():
                    request.answer(_failure("the server is stopping"))
            child.pending.clear()


def _pool_for(loop: asyncio.AbstractEventLoop, processes: int) -> _Pool:
    """This event loop's pool (a web process has one loop; a test may run several one after the other)."""
    global _pool
    if _pool is None or _pool.loop is not loop:
        if _pool is not None:
            _pool.close(kill=True)
        _pool = _Pool(loop=loop, size=processes)
    _pool.size = processes
    return _pool


def _timed(path: Path, limits: ParseLimits, clock: StageClock) -> ParseResult:
    with clock.stage("parse"):
        return parse_file(path, limits)


async def parse_async(path: Path, limits: ParseLimits, clock: StageClock | None = None, *,
                      processes: int = 0, time_limit: float = PARSE_TIME_LIMIT) -> ParseResult:
    """Parse in the web process's threads (``processes`` 0: the setting ``parse_processes``) or in up to
    that many parse processes, started on first use — or, while this process has ``INLINE_FROM`` uploads
    or more in progress, on the event loop when the header is small (:func:`uploading`). Never raises
    for a bad file."""
    loop = asyncio.get_running_loop()
    if processes > 0 and _uploads >= INLINE_FROM:
        with clock.stage("parse") if clock is not None else nullcontext():
            inline = parse_fast_only(path, limits, bounded=True)
        if inline is not None:
            return inline
    if processes <= 0:
        if clock is not None:
            return await loop.run_in_executor(None, _timed, path, limits, clock)
        return await loop.run_in_executor(None, parse_file, path, limits)
    request = _Request(path=path, limits=limits, time_limit=time_limit, future=loop.create_future())
    _pool_for(loop, processes).submit(request)
    return await request.future


@contextmanager
def uploading() -> Iterator[None]:
    """Counts an upload in progress in this web process (its event loop: no lock), from its first byte
    to its response, flushes included.

    With one upload, its parses go to the parse process: the event loop receives while another core
    parses. With two or more, both cores are already busy with this process's uploads and the other
    workers', and handing a part over costs more than parsing it here: a request frame, the file's
    header read again, the reply encoded and decoded, two wake-ups — so a small header (the first
    64 KiB, native pixels: parse.parse_fast ``bounded``) is parsed on the event loop, and only the rest
    goes to the process. Measured on two cores with two workers (docs/ingest.md round 9)."""
    global _uploads
    _uploads += 1
    try:
        yield
    finally:
        _uploads -= 1


def uploads_in_progress() -> int:
    """The uploads in progress in this web process (:func:`uploading`)."""
    return _uploads


async def start(processes: int) -> list[int]:
    """Start this loop's parse processes now rather than on the first upload; their process ids."""
    pool = _pool_for(asyncio.get_running_loop(), processes)
    while len(pool.children) < processes:
        pool.children.append(_ParseProcess.start(pool))
    return [child.pid for child in pool.children]


def shutdown(*, wait: bool = False) -> None:
    """Stop the parse processes: ``wait`` lets each finish its file (the end of its input ends it),
    otherwise they are killed. Either way they are reaped before this returns."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.close(kill=not wait)


def install(app: FastAPI, *, processes: int) -> None:
    """Start ``processes`` parse processes with the app (the first upload after a restart then does not
    wait for one to import the parser), and stop them, waiting for them to exit, when it shuts down."""

    async def started() -> None:
        if processes > 0:
            await start(processes)

    app.router.on_startup.append(started)
    app.router.on_shutdown.append(lambda: shutdown(wait=True))

