"""Test fixtures: an isolated database per test, on SQLite by default and on the machine's real
PostgreSQL when ``YUNYING_TEST_DATABASE_URL`` is set; Redis when ``YUNYING_TEST_REDIS_URL`` is set.

SQLite: the schema is migrated once per session into a template file that each test copies.
PostgreSQL: one fresh database per session (created next to the given one, migrated), every table
truncated after each test.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

import backend.tables  # noqa: F401
from backend import migrate, plugins
from backend.config import Settings, load_settings
from backend.db import make_engine

plugins.install()  # as create_app and the CLI do: tests that call services directly link persons too
ROOT = Path(__file__).resolve().parents[1]
DICOM = ROOT / "tests" / "data" / "dicom"
PG_URL = os.environ.get("YUNYING_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("YUNYING_TEST_REDIS_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The PostgreSQL pass re-runs only the tests that touch a database.
    if PG_URL and os.environ.get("YUNYING_TEST_DB_ONLY") == "1":
        keep = [item for item in items if "engine" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def database_backend() -> str:
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    assert PG_URL
    admin_url = make_url(PG_URL)
    name = f"yunying_t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if PG_URL:
        url: str = request.getfixturevalue("_pg_database")
        return url
    template: Path = request.getfixturevalue("_sqlite_template")
    target = tmp_path / "yunying.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def _truncate_all(engine: Engine) -> None:
    """Empty every table between PostgreSQL tests. A test that cancels a streamed answer (a ZIP
    download) can leave the server's generator finishing a query while this runs; PostgreSQL then
    breaks the lock cycle by aborting the TRUNCATE (seen once in a full run: DeadlockDetected). The
    straggler ends on its own, so the TRUNCATE is retried a few times before it counts as a failure."""
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == 4:
                raise
            time.sleep(0.5)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=None,
        public_url="http://testserver",
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.effective_database_url)
    yield eng
    if PG_URL:
        _truncate_all(eng)
    eng.dispose()


@pytest.fixture
def app(settings: Settings, engine: Engine):  # type: ignore[no-untyped-def]
    from backend.main import create_app

    return create_app(settings, engine=engine)


@pytest.fixture
def client(app) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("YUNYING_TEST_REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def free_port() -> int:
    """A free loopback port: the kernel's choice, or one of YUNYING_TEST_PORTS (e.g. `9200-9299`) on a
    machine shared with others who keep to their own ranges."""
    span = os.environ.get("YUNYING_TEST_PORTS", "")
    if span:
        low, _, high = span.partition("-")
        candidates = list(range(int(low), int(high or low) + 1))
        random.shuffle(candidates)
        for port in candidates:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port in YUNYING_TEST_PORTS={span}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=15)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    # Generous: a server starting while the other database's pass loads both cores took over 30 s.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"live server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"live server did not become healthy:\n{log.read_text()[-3000:]}")


@contextmanager
def run_live_server(
    settings: Settings, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "YUNYING_ENV": "test",
        "YUNYING_DATA_DIR": str(settings.data_dir),
        "YUNYING_DATABASE_URL": settings.effective_database_url,
        "YUNYING_PUBLIC_URL": url,
        "YUNYING_SECRET_KEY": settings.secret_key or "",
        "YUNYING_ENCRYPTION_KEY": settings.encryption_key or "",
        "YUNYING_BLIND_INDEX_KEY": settings.blind_index_key or "",
        **(extra_env or {}),
    }
    if settings.redis_url:
        env["YUNYING_REDIS_URL"] = settings.redis_url
    log = settings.data_dir / f"live-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=url, process=process, env=env, log=log)
    try:
        _wait_healthy(url, process, log)
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(settings: Settings, engine: Engine) -> Iterator[LiveServer]:
    with run_live_server(settings) as server:
        yield server


@pytest.fixture
def live_server_factory(settings: Settings, engine: Engine) -> Callable[..., object]:
    return lambda **kw: run_live_server(settings, **kw)
