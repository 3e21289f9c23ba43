from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.sharing.world import ShareWorld, build


@pytest.fixture
def world(client: Any, engine: Any, settings: Any) -> ShareWorld:
    return build(client, engine, settings)


@contextmanager
def browser(app: Any) -> Iterator[TestClient]:
    """Another browser (its own cookie jar) on the same app. The TestClient is deliberately not
    entered: entering runs the app's startup a second time (a second set of background workers that
    the first shutdown does not stop, still holding locks when the test database is truncated)."""
    c = TestClient(app, base_url="http://testserver")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def doctor(client: Any) -> Iterator[TestClient]:
    with browser(client.app) as c:
        yield c
