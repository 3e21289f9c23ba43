"""A parse process: ``python -m backend.ingest.parseworker <web process id>``, started by parsepool.

It reads request frames on its standard input, parses each file (backend/ingest/parsing.py) and writes
one reply frame per request, in order, on its standard output (backend/ingest/parsewire.py). It does one
file at a time, so the web process knows which file a crash or an overrun belongs to: the first one it
has no reply for.

It never outlives the web process: the end of its input (the web process closed the pipe, or died and
the kernel closed it) ends it, and while a parse runs a thread watches the web process itself
(:func:`_watch_parent`), so a parse stuck in a hostile file does not keep it alive either.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from typing import BinaryIO

from backend.dicom.errors import FailureReason
from backend.ingest.parsewire import HEADER, MAX_FRAME, decode_request, encode_result
from backend.ingest.parsing import ParseResult, parse_file


def main(argv: list[str]) -> None:
    server_pid = int(argv[1]) if len(argv) > 1 else os.getppid()
    # The frames get private descriptors; fd 0 and 1 then point elsewhere, so a stray print() or a library
    # writing to stdout cannot corrupt a reply.
    requests = os.fdopen(os.dup(0), "rb", buffering=64 * 1024)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the web process's to handle; its exit ends us
    _watch_parent(server_pid)
    serve(requests, replies)
    os._exit(0)


def serve(requests: BinaryIO, replies: int) -> None:
    """Answer requests until the input ends (or a frame cannot be a request: the pipe is not ours)."""
    while True:
        header = requests.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        (length,) = HEADER.unpack(header)
        if length > MAX_FRAME:
            return
        payload = requests.read(length)
        if len(payload) < length:
            return
        _write_all(replies, encode_result(_answer(payload)))


def _answer(payload: bytes) -> ParseResult:
    try:
        path, limits = decode_request(payload)
        return parse_file(path, limits)
    except Exception as exc:  # noqa: BLE001 - parse_file never raises; a bad request fails that one file
        return ParseResult(code=FailureReason.PROCESSING_FAILURE, reason=f"parser error: {type(exc).__name__}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _watch_parent(server_pid: int) -> None:
    """Exit when the web process is gone, however it ended, even while a parse is running.

    A pidfd becomes readable when its process exits (pidfd_open(2)); without one the thread looks once a
    second."""
    threading.Thread(target=_await_exit, args=(server_pid,), name="yunying-parse-parent", daemon=True).start()


def _await_exit(server_pid: int) -> None:
    try:
        fd = os.pidfd_open(server_pid)
    except (AttributeError, OSError):  # no pidfd (an old kernel), or the server is already gone
        while _alive(server_pid):
            time.sleep(1.0)
    else:
        select.select([fd], [], [])
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: alive, another user's (not ours to signal)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


if __name__ == "__main__":
    main(sys.argv)
