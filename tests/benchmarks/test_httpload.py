"""benchmarks.httpload against a small stdlib HTTP/1.1 server in a thread that logs what it served."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.httpload import HTTPLoadError, build_request, concurrent_get, concurrent_requests, cookie_header


@dataclass
class Log:
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(log: Log) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless a response says otherwise

        def setup(self) -> None:  # one handler per TCP connection
            super().setup()
            with log.lock:
                log.connections += 1

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with log.lock:
                log.paths.append(self.path)
                log.headers.append(dict(self.headers.items()))
            kind, _, arg = self.path.strip("/").partition("/")
            size = int(arg.split("?")[0]) if arg[:1].isdigit() else 0
            body = bytes(i % 251 for i in range(size))
            if kind == "img":
                self._send(200, body)
            elif kind == "chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, size, 1000):  # uneven chunks, one with an extension, then a trailer
                    piece = body[start:start + 1000]
                    self.wfile.write(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            elif kind == "close":  # announced: Connection: close
                self._send(200, body, close=True)
            elif kind == "drop":  # unannounced: the connection just ends after the response
                self._send(200, body)
                self.close_connection = True
            else:
                self._send(404, b"no such thing")

        def do_POST(self) -> None:  # answers the length of the body it read
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with log.lock:
                log.paths.append(self.path)
                log.bodies.append(body)
            self._send(200, str(len(body)).encode())

        def _send(self, status: int, body: bytes, *, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Log]]:
    log = Log()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(log))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", log
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_every_url_once_bytes_counted_and_one_connection_per_client(server: tuple[str, Log]) -> None:
    base, log = server
    urls = [f"/img/{100 + 37 * i}" for i in range(40)]
    rate, latencies, total, wall, cpu = concurrent_get(base_url=base, urls=urls, clients=2)
    assert wall > 0 and cpu > 0  # the client's own CPU is reported beside every figure
    assert Counter(log.paths) == Counter(urls) and len(log.paths) == 40
    assert total == sum(100 + 37 * i for i in range(40))
    assert len(latencies) == 40 and all(lat > 0 for lat in latencies)
    assert rate > 0
    assert log.connections == 2  # keep-alive: one connection per worker, reused for its 20 requests


def test_repeats_are_fetched_again_and_absolute_urls_on_the_origin_work(server: tuple[str, Log]) -> None:
    base, log = server
    urls = [f"{base}/img/10", "/img/20", f"{base}/img/10?x=1"]
    result = concurrent_get(base_url=base, urls=urls + urls, clients=3)
    assert Counter(log.paths) == Counter({"/img/10": 2, "/img/20": 2, "/img/10?x=1": 2})
    assert result.total_bytes == 80
    with pytest.raises(ValueError, match="not on"):
        concurrent_get(base_url=base, urls=["http://example.invalid:1/img/1"])


def test_headers_are_sent(server: tuple[str, Log]) -> None:
    base, log = server
    concurrent_get(base_url=base, urls=["/img/1", "/img/2"], clients=1,
                   headers={"Cookie": "a=1; b=2", "Accept": "image/jpeg"})
    for sent in log.headers:
        assert sent["Cookie"] == "a=1; b=2" and sent["Accept"] == "image/jpeg"
        assert sent["Host"] == base.removeprefix("http://")


def test_chunked_bodies_are_parsed(server: tuple[str, Log]) -> None:
    base, log = server
    urls = ["/chunked/0", "/chunked/999", "/chunked/2500", "/img/7", "/chunked/4001"]
    _, latencies, total, _, _ = concurrent_get(base_url=base, urls=urls, clients=1)
    assert total == 999 + 2500 + 7 + 4001 and len(latencies) == 5
    assert log.connections == 1  # the connection stayed usable after each chunked body


def test_a_404_raises_naming_the_url(server: tuple[str, Log]) -> None:
    base, _ = server
    with pytest.raises(HTTPLoadError, match=r"1 failed requests, first: 404 /missing/here no such thing"):
        concurrent_get(base_url=base, urls=["/img/5", "/missing/here", "/img/6", "/img/7"], clients=2)


def test_a_refused_connection_raises() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HTTPLoadError, match="cannot connect"):
        concurrent_get(base_url=f"http://127.0.0.1:{port}", urls=["/a", "/b"], clients=2)


@pytest.mark.parametrize("kind", ["close", "drop"])
def test_reconnects_when_the_server_closes(server: tuple[str, Log], kind: str) -> None:
    base, log = server
    urls = [f"/{kind}/{50 + i}" for i in range(10)] + ["/img/3"]
    _, latencies, total, _, _ = concurrent_get(base_url=base, urls=urls, clients=1)
    assert Counter(log.paths) == Counter(urls) and len(latencies) == 11
    assert total == sum(50 + i for i in range(10)) + 3
    assert log.connections == 11  # a new connection after each of the 10 closes


def _cookie(name: str, value: str, path: str, expires: int | None = None) -> Cookie:
    return Cookie(0, name, value, None, False, "127.0.0.1", False, False, path, True, False, expires, False,
                  None, None, {})


def test_cookie_header_keeps_the_cookies_a_browser_sends_for_the_path() -> None:
    jar = CookieJar()
    for cookie in (_cookie("yy_session", "s1", "/"), _cookie("yy_refresh", "r1", "/auth"),
                   _cookie("yy_csrf", "c1", "/"), _cookie("old", "x", "/", expires=1),
                   _cookie("api", "a1", "/api")):
        jar.set_cookie(cookie)
    header = cookie_header(jar=jar, path="/api/v1/previews/x.jpg")
    assert sorted(header.split("; ")) == ["api=a1", "yy_csrf=c1", "yy_session=s1"]
    assert "api=" not in cookie_header(jar=jar, path="/apixyz")  # path-match is by segment (RFC 6265 §5.1.4)


def test_uploads_carry_their_prepared_bodies(server: tuple[str, Log]) -> None:
    base, log = server
    host = base.removeprefix("http://")
    bodies = [bytes([i]) * (1000 + 4096 * i) for i in range(6)]
    requests = [(f"upload {i}", build_request(method="POST", target=f"/up/{i}", host=host, body=body,
                                              headers={"Content-Type": "application/dicom"}))
                for i, body in enumerate(bodies)]
    result = concurrent_requests(base_url=base, requests=requests, clients=2)
    assert sorted(log.bodies) == sorted(bodies)  # every byte arrived, each body once
    assert result.total_bytes == sum(len(str(len(b))) for b in bodies) and len(result.latencies) == 6
    with pytest.raises(ValueError, match="not allowed"):
        build_request(target="/x", host=host, headers={"Content-Length": "5"}, method="POST", body=b"abc")
