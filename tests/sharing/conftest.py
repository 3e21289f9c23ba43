from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.sharing.world import ShareWorld, build


@pytest.fixture
def world(client: Any, engine: Any, settings: Any) -> ShareWorld:
    return build(client, engine, settings)


@pytest.fixture
def doctor(client: Any) -> Iterator[TestClient]:
    """A second browser (its own cookie jar) on the same app."""
    with TestClient(client.app, base_url="http://testserver") as c:
        yield c
