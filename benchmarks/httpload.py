"""A light HTTP/1.1 load client for the benchmarks: send a list of requests (GETs of URLs, or uploads
with their bodies), split over worker processes, and report the client's own CPU beside the figures.

Why not httpx in threads: on the 2-core benchmark machine the client shares the cores with the servers it
measures. httpx in 2 threads of one process is capped by the GIL at one core and spends most of it on
itself: a cache-hit preview URL served 276 req/s to `wrk -t2 -c2` but 153/s to that client. Every ratio
between two servers was flattened by the client's own cost. Here each worker is a forked process with one
keep-alive socket, request bytes built before the clock starts, and a response parser that reads only
the status line, Content-Length / Transfer-Encoding and Connection (RFC 9112), counting body bytes
without decoding them.

    result = concurrent_get(base_url="http://127.0.0.1:8000", urls=[...], clients=2,
                            headers={"Cookie": "...", "Accept": "image/jpeg"})
    result = concurrent_requests(base_url=..., requests=[("label", build_request(method="POST", body=...))])

The client's CPU (``client_cpu``, seconds of every worker together) is printed beside each benchmark
figure: a client that needs a core of its own holds back whichever server it measures.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar
from multiprocessing.connection import Connection
from typing import NamedTuple
from urllib.parse import SplitResult, quote, urlsplit

_RECV = 256 * 1024
_MAX_HEAD = 64 * 1024  # a response head larger than this is not a server we benchmark
_START_TIMEOUT = 60.0  # seconds the workers wait for each other at the start barrier


class LoadResult(NamedTuple):
    rate: float  # requests/s over the wall time from the common start to the last response
    latencies: list[float]  # seconds, one per request
    total_bytes: int  # body bytes (after de-chunking)
    wall: float = 0.0  # seconds from the common start to the last response
    client_cpu: float = 0.0  # CPU seconds the workers used between the start and their last response


class HTTPLoadError(RuntimeError):
    pass


class _Closed(Exception):
    """The peer closed the connection."""


@dataclass(frozen=True)
class _Response:
    status: int
    body_bytes: int
    keep_alive: bool
    excerpt: bytes  # the first bytes of the body, kept for error messages


@dataclass
class _Outcome:
    start: float
    end: float
    latencies: list[float]
    total_bytes: int
    failures: int
    first_failure: tuple[float, str] | None  # (when, message)
    cpu: float


def cookie_header(*, jar: CookieJar, path: str) -> str:
    """The Cookie header a browser would send for `path` on the jar's (single) host: cookies whose Path
    path-matches (RFC 6265 §5.1.4) and that have not expired. Domain matching is left out: the benchmarks
    log in to the one loopback host they load."""
    now = time.time()
    pairs = []
    for cookie in jar:
        if cookie.is_expired(int(now)):
            continue
        scope = cookie.path or "/"
        if path == scope or (path.startswith(scope) and (scope.endswith("/") or path[len(scope)] == "/")):
            pairs.append(f"{cookie.name}={cookie.value or ''}")
    return "; ".join(pairs)


def build_request(*, target: str, host: str, headers: Mapping[str, str], method: str = "GET",
                  body: bytes = b"") -> bytes:
    """Request bytes (head and body), built once per request before the clock starts."""
    # Non-ASCII and spaces are percent-encoded as a browser would; reserved characters stay as given.
    target = quote(target, safe="/:?#[]@!$&'()*+,;=%-._~")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0") or name.lower() in ("host", "connection", "content-length"):
            raise ValueError(f"header not allowed in a load request: {name!r}")
        lines.append(f"{name}: {value}")
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection:
    """One keep-alive TCP connection, re-opened when the server closes it."""

    def __init__(self, *, host: str, port: int, timeout: float) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._received = False  # any byte of the current response arrived

    def open(self) -> None:
        self.close()
        sock = socket.create_connection(self._address, timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # the request is one small write
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()

    def send(self, request: bytes) -> _Response:
        """Send a request and read its response. A connection the server closed while idle (no byte of
        the response read yet) is re-opened and the request sent again: allowed for GET (idempotent, RFC
        9110 §9.2.2, RFC 9112 §9.3.1), and the benchmarks' uploads are idempotent too (storing the same
        instance twice leaves one)."""
        fresh = self._sock is None
        if fresh:
            self.open()
        try:
            return self._exchange(request)
        except (_Closed, ConnectionResetError, BrokenPipeError):
            if fresh or self._received:
                raise
        self.open()
        return self._exchange(request)

    def _exchange(self, request: bytes) -> _Response:
        assert self._sock is not None
        self._received = bool(self._buf)
        self._sock.sendall(request)
        while True:
            status, fields, http10 = self._head()
            if not 100 <= status < 200:  # interim 1xx responses precede the final one (RFC 9110 §15.2)
                break
        response = self._body(status, fields, http10)
        if not response.keep_alive:
            self.close()
        return response

    def _fill(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(_RECV)
        if not data:
            raise _Closed
        self._received = True
        self._buf += data

    def _head(self) -> tuple[int, dict[str, str], bool]:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise HTTPLoadError("response head too large")
            self._fill()
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[:end + 4]
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise HTTPLoadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            # Repeated fields are combined with commas (RFC 9110 §5.3); only a few are read anyway.
            fields[key] = f"{fields[key]}, {value.strip()}" if key in fields else value.strip()
        return int(rest[:3]), fields, version == "HTTP/1.0"

    def _body(self, status: int, fields: dict[str, str], http10: bool) -> _Response:
        tokens = {t.strip().lower() for t in fields.get("connection", "").split(",")}
        keep_alive = "keep-alive" in tokens if http10 else "close" not in tokens  # RFC 9112 §9.3
        if status in (204, 304):  # no content, whatever the fields say (RFC 9112 §6.3 rule 1)
            return _Response(status, 0, keep_alive, b"")
        if "chunked" in fields.get("transfer-encoding", "").lower():  # takes precedence (RFC 9112 §6.3 rule 4)
            size, excerpt = self._chunked()
            return _Response(status, size, keep_alive, excerpt)
        if "content-length" in fields:
            length = int(fields["content-length"])
            return _Response(status, length, keep_alive, self._skip(length))
        size, excerpt = self._until_close()  # neither: the body ends when the connection does (rule 8)
        return _Response(status, size, False, excerpt)

    def _skip(self, length: int) -> bytes:
        """Consume `length` body bytes, keeping only the first few for error messages."""
        excerpt = bytes(self._buf[:min(length, 200)])
        remaining = length
        while True:
            taken = min(remaining, len(self._buf))
            del self._buf[:taken]
            remaining -= taken
            if remaining == 0:
                return excerpt
            self._fill()
            if len(excerpt) < 200:
                excerpt += bytes(self._buf[:min(remaining, 200 - len(excerpt))])

    def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise HTTPLoadError("chunk line too long")
            self._fill()
        line = bytes(self._buf[:end])
        del self._buf[:end + 2]
        return line

    def _chunked(self) -> tuple[int, bytes]:
        """RFC 9112 §7.1: hex size [; extensions] CRLF, data CRLF, ..., 0 CRLF, trailer fields, CRLF."""
        total, excerpt = 0, b""
        while True:
            size = int(self._line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            chunk_excerpt = self._skip(size)
            if len(excerpt) < 200:
                excerpt += chunk_excerpt[:200 - len(excerpt)]
            total += size
            if self._line() != b"":
                raise HTTPLoadError("chunk data not followed by CRLF")
        while self._line() != b"":  # trailer fields, ignored
            pass
        return total, excerpt

    def _until_close(self) -> tuple[int, bytes]:
        total = 0
        excerpt = b""
        while True:
            if len(excerpt) < 200:
                excerpt += bytes(self._buf[:200 - len(excerpt)])
            total += len(self._buf)
            self._buf.clear()
            try:
                self._fill()
            except _Closed:
                return total, excerpt


def _worker(*, host: str, port: int, requests: list[tuple[str, bytes]], timeout: float,
            barrier: multiprocessing.synchronize.Barrier, out: Connection) -> None:
    conn = _Connection(host=host, port=port, timeout=timeout)
    setup_error = None
    try:
        conn.open()  # connected before the start, so the clock measures requests, not handshakes
    except OSError as exc:
        setup_error = f"cannot connect to {host}:{port}: {exc}"
    latencies: list[float] = []
    total = failures = 0
    first: tuple[float, str] | None = None
    barrier.wait(_START_TIMEOUT)
    start = time.perf_counter()
    cpu_start = time.process_time()
    if setup_error is not None:
        first, failures = (start, setup_error), 1
        requests = []
    for url, request in requests:
        t0 = time.perf_counter()
        try:
            response = conn.send(request)
        except (OSError, _Closed, HTTPLoadError, ValueError) as exc:
            # A transport failure ends this worker: its counts would no longer mean anything.
            failures += 1
            if first is None:
                first = (t0, f"{type(exc).__name__} {url} {exc}")
            break
        latencies.append(time.perf_counter() - t0)
        total += response.body_bytes
        if response.status != 200:
            failures += 1
            if first is None:
                first = (t0, f"{response.status} {url} {response.excerpt.decode('utf-8', 'replace')}")
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    conn.close()
    out.send(_Outcome(start, end, latencies, total, failures, first, cpu))
    out.close()


def concurrent_get(*, base_url: str, urls: Sequence[str], clients: int = 2, headers: Mapping[str, str] | None = None,
                   timeout: float = 120.0) -> LoadResult:
    """GET every URL of `urls` once (repeats in the list are fetched again), split round-robin over
    `clients` forked processes with one keep-alive connection each. `urls` are paths on `base_url`
    (http://host:port) or absolute URLs on that same origin. Raises HTTPLoadError naming the first
    failure (status other than 200, or a transport error)."""
    origin = _origin(base_url)
    requests = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme and (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            raise ValueError(f"{url} is not on {base_url}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        requests.append((url, build_request(target=target, host=origin.netloc, headers=headers or {})))
    return concurrent_requests(base_url=base_url, requests=requests, clients=clients, timeout=timeout)


def _origin(base_url: str) -> SplitResult:
    origin = urlsplit(base_url)
    if origin.scheme != "http" or not origin.hostname:
        raise ValueError(f"base_url must be http://host[:port], not {base_url!r}")
    return origin


def concurrent_requests(*, base_url: str, requests: Sequence[tuple[str, bytes]], clients: int = 2,
                        timeout: float = 120.0) -> LoadResult:
    """Send every prepared request (a label for messages, its bytes from :func:`build_request`) once,
    split round-robin over `clients` forked processes with one keep-alive connection each; every answer
    must be 200."""
    origin = _origin(base_url)
    if not requests:
        return LoadResult(0.0, [], 0)
    workers = max(1, min(clients, len(requests)))
    # fork: the workers start in milliseconds with the request bytes already in memory (Linux, like the
    # benchmarks); spawn would re-import the caller.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    readers, processes = [], []
    for i in range(workers):
        reader, writer = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_worker, daemon=True, kwargs={
            "host": origin.hostname, "port": origin.port or 80, "requests": requests[i::workers],
            "timeout": timeout, "barrier": barrier, "out": writer})
        process.start()
        writer.close()  # the child holds the only write end: a crash shows as EOF here, not a hang
        readers.append(reader)
        processes.append(process)
    outcomes: list[_Outcome] = []
    try:
        for reader in readers:
            try:
                outcomes.append(reader.recv())
            except EOFError:
                raise HTTPLoadError("a load worker died without reporting (see its traceback above)") from None
    finally:
        for reader in readers:
            reader.close()
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    # time.perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process of the machine.
    wall = max(o.end for o in outcomes) - min(o.start for o in outcomes)
    failures = sum(o.failures for o in outcomes)
    if failures:
        firsts = sorted(o.first_failure for o in outcomes if o.first_failure is not None)
        raise HTTPLoadError(f"{failures} failed requests, first: {firsts[0][1][:300]}")
    latencies = [lat for o in outcomes for lat in o.latencies]
    return LoadResult(len(latencies) / wall if wall > 0 else float("inf"), latencies,
                      sum(o.total_bytes for o in outcomes), wall, sum(o.cpu for o in outcomes))
