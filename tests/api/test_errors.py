"""Every error is application/problem+json with type, title, status, detail; nothing internal leaks."""

from __future__ import annotations

import errno

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from backend.errors import Conflict


class Payload(BaseModel):
    name: str
    age: int


def _add_probe_routes(app: FastAPI) -> None:
    router = APIRouter()

    @router.post("/_probe/json")
    def probe(body: Payload) -> dict[str, str]:
        return {"name": body.name}

    @router.get("/_probe/conflict")
    def conflict() -> None:
        raise Conflict("Already there.", code="already")

    @router.get("/_probe/crash")
    def crash() -> None:
        raise RuntimeError("secret internals: patient 张三 /var/lib/x")

    @router.get("/_probe/data")
    def data_error() -> None:
        raise DataError("INSERT … 张三", {}, ValueError("NUL"))

    @router.get("/_probe/integrity")
    def integrity_error() -> None:
        raise IntegrityError("INSERT … 张三", {}, ValueError("duplicate key"))

    @router.get("/_probe/database-down")
    def database_down() -> None:
        raise OperationalError("SELECT … 张三", {}, ConnectionRefusedError("connection refused"))

    @router.get("/_probe/pool-exhausted")
    def pool_exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    @router.get("/_probe/disk-full")
    def disk_full() -> None:
        raise OSError(errno.ENOSPC, "No space left on device: /data/张三")

    @router.get("/_probe/io-error")
    def io_error() -> None:
        raise OSError(errno.EIO, "Input/output error")

    for route in router.routes:
        app.router.routes.insert(0, route)


def _assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_unknown_api_route_is_a_problem(client: TestClient) -> None:
    _assert_problem(client.get("/api/v1/does-not-exist"), 404)


def test_malformed_json_is_400(app: FastAPI, client: TestClient) -> None:
    _add_probe_routes(app)
    body = _assert_problem(
        client.post("/_probe/json", content=b"{not json", headers={"content-type": "application/json"}), 400
    )
    assert body["type"].endswith("malformed-json")


def test_wrong_types_are_422_without_echoing_input(app: FastAPI, client: TestClient) -> None:
    _add_probe_routes(app)
    response = client.post("/_probe/json", json={"name": "x", "age": "SECRET-VALUE"})
    body = _assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "age"]
    assert "SECRET-VALUE" not in response.text


def test_typed_errors_keep_their_status(app: FastAPI, client: TestClient) -> None:
    _add_probe_routes(app)
    body = _assert_problem(client.get("/_probe/conflict"), 409)
    assert body["type"].endswith("/already")


def test_unexpected_errors_leak_nothing(app: FastAPI) -> None:
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/_probe/crash")
    body = _assert_problem(response, 500)
    assert "张三" not in response.text and "/var/lib" not in response.text
    assert body["detail"] == "An internal error occurred; it has been logged."


def test_wrong_method_is_405_problem(client: TestClient) -> None:
    _assert_problem(client.post("/healthz"), 405)


def test_database_refusals_are_4xx_without_the_statement(app: FastAPI) -> None:
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        data = c.get("/_probe/data")
        conflict = c.get("/_probe/integrity")
    assert _assert_problem(data, 400)["type"].endswith("/invalid-value")
    assert _assert_problem(conflict, 409)["type"].endswith("/conflict")
    assert "张三" not in data.text + conflict.text and "INSERT" not in data.text + conflict.text


def test_a_database_that_is_briefly_gone_is_a_503_to_retry(app: FastAPI) -> None:
    """PostgreSQL restarting (issue 18): a clear 503 with Retry-After, not a 500; nothing of the statement."""
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/_probe/database-down")
    assert _assert_problem(response, 503)["type"].endswith("/database-unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert "张三" not in response.text and "SELECT" not in response.text


def test_an_exhausted_connection_pool_is_a_503_busy(app: FastAPI) -> None:
    """Found by the standard load run (issue 18): 200 users logging in at once kept every connection of a
    node busy past the pool's timeout, and those requests answered 500."""
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/_probe/pool-exhausted")
    assert _assert_problem(response, 503)["type"].endswith("/busy")
    assert int(response.headers["retry-after"]) > 0


def test_a_full_disk_is_a_503_to_retry_and_other_os_errors_stay_500(app: FastAPI) -> None:
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        full = c.get("/_probe/disk-full")
        broken = c.get("/_probe/io-error")
    assert _assert_problem(full, 503)["type"].endswith("/out-of-resources")
    assert int(full.headers["retry-after"]) > 0 and "张三" not in full.text
    _assert_problem(broken, 500)
