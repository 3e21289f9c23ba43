"""Parse uploaded instances in worker processes, so a STOW-RS request uses more than one core.

Parsing a header (pydicom) and extracting the index fields is pure-Python CPU work: in the web
process it competes for the GIL with the multipart reader that is receiving the next parts. A small
process pool (``parse_processes`` workers) parses files that are already on disk and sends back only
what the index needs — the data set itself stays in the worker (it is
replaced by an empty one), so nothing large crosses the process boundary.

A worker that dies (a file that crashes the parser, the OOM killer) breaks the pool: the instance
being parsed fails with 0x0110 Processing failure, and the next call starts a fresh pool.
The setting ``parse_processes`` (``YUNYING_PARSE_PROCESSES``) says how many; 0 (the default) parses in
the web process's thread pool instead, which starts nothing (the embedded default, the tests). On the
quiet 2-core machine one process measured better than threads (docs/ingest.md, round 2: 0.74 -> 0.86x
Orthanc at one client, 0.46 -> 0.57x at four, 1.5 cores instead of 1.2: the parse threads no longer
fight the event loop for the GIL), so an ingest node sets it to 1 per ``yunying serve`` worker. The pool
uses the ``forkserver`` start method: forking a multi-threaded web server is unsafe.

No worker outlives its web process: the app's shutdown stops the pool and waits for it (``install``), and
each worker watches the process that started it (:func:`_watch_parent`), so a ``kill -9`` of the server
does not leave the workers, and the resource tracker they hold open, behind as orphans (issue 21: 171 of
them after a day of benchmarks).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydicom.dataset import Dataset

from backend.dicom.dicomjson import dataset_to_json
from backend.dicom.errors import DicomRejected, FailureReason
from backend.dicom.metadata import InstanceMetadata, extract_metadata
from backend.dicom.parse import ParsedInstance, ParseLimits, parse_fast, parse_instance
from backend.ingest.stages import StageClock

log = logging.getLogger("yunying.ingest")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Either ``parsed`` + ``meta`` (``parsed.dataset`` emptied), or a failure ``code`` + ``reason``."""

    parsed: ParsedInstance | None = None
    meta: InstanceMetadata | None = None
    code: int | None = None
    reason: str | None = None
    dicom_json: dict[str, Any] | None = None  # for the series metadata document (studies/seriesdoc.py)


def parse_file(path: Path, limits: ParseLimits) -> ParseResult:
    """Runs in a worker process (or inline). Never raises. Explicit VR Little Endian files take the fast
    header reader (parse.parse_fast: one pass over the bytes to DICOM JSON, the index fields read from
    that; docs/ingest.md round 3); anything else, and any file that reader is unsure of, pydicom."""
    fast = parse_fast(path=path, limits=limits)
    if fast is not None:
        parsed, view = fast
        try:
            meta = extract_metadata(view, transfer_syntax_uid=parsed.transfer_syntax_uid)
        except Exception as exc:  # noqa: BLE001 - as below
            return ParseResult(parsed=parsed, code=FailureReason.CANNOT_UNDERSTAND, reason=str(exc)[:200])
        return ParseResult(parsed=parsed, meta=meta, dicom_json=view.model)
    try:
        parsed = parse_instance(path=path, limits=limits)
    except DicomRejected as exc:
        return ParseResult(code=exc.code, reason=exc.reason)
    slim = dataclasses.replace(parsed, dataset=Dataset())
    try:
        meta = extract_metadata(parsed.dataset, transfer_syntax_uid=parsed.transfer_syntax_uid)
    except Exception as exc:  # noqa: BLE001 - metadata extraction is tolerant; belt and braces
        return ParseResult(parsed=slim, code=FailureReason.CANNOT_UNDERSTAND, reason=str(exc)[:200])
    try:  # made here, while the data set is at hand: WADO-RS metadata then never re-reads the original
        dicom_json = dataset_to_json(parsed.dataset, bulk_data_uri=None)
    except Exception:  # noqa: BLE001 - the document is completed from the original on first read instead
        dicom_json = None
    return ParseResult(parsed=slim, meta=meta, dicom_json=dicom_json)


def _executor(processes: int) -> ProcessPoolExecutor | None:
    global _pool
    if processes <= 0:
        return None
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("forkserver"),
                                        initializer=_watch_parent, initargs=(os.getpid(),))
        return _pool


def _reset(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def _timed(path: Path, limits: ParseLimits, clock: StageClock) -> ParseResult:
    with clock.stage("parse"):
        return parse_file(path, limits)


async def parse_async(path: Path, limits: ParseLimits, clock: StageClock | None = None, *,
                      processes: int = 0) -> ParseResult:
    """Parse in the web process's threads (``processes`` 0: the setting ``parse_processes``) or in a pool of
    that many processes, started on first use."""
    executor = _executor(processes)
    loop = asyncio.get_running_loop()
    if executor is None:
        if clock is not None:
            return await loop.run_in_executor(None, _timed, path, limits, clock)
        return await loop.run_in_executor(None, parse_file, path, limits)
    try:
        return await loop.run_in_executor(executor, parse_file, path, limits)
    except BrokenProcessPool:
        log.error("a parser process died; starting a fresh pool")
        _reset(executor)
        return ParseResult(code=FailureReason.PROCESSING_FAILURE, reason="the parser failed on this file")


def shutdown(*, wait: bool = False) -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)


def install(app: FastAPI) -> None:
    """Stop the pool, and wait for its workers to exit, when the app shuts down (SIGTERM, Ctrl-C)."""
    app.router.on_shutdown.append(lambda: shutdown(wait=True))


def _watch_parent(server_pid: int) -> None:
    """Worker initializer: exit when the web process that started the pool is gone, however it ended.

    A forkserver worker's parent is the fork server, not the web process, and the call queue's pipe it
    blocks on stays open in the worker itself, so nothing else would tell it (PR_SET_PDEATHSIG watches the
    wrong process). A pidfd becomes readable when its process exits (pidfd_open(2)); without one the
    thread looks once a second."""
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
