"""``GET /healthz``: 200 when the database and the blob store answer, 503 otherwise."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from backend.api.deps import BlobsDep, get_engine
from backend.db import check_database
from backend.storage.errors import StorageUnavailable

log = logging.getLogger("yunying.health")
router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "error"]
    storage: Literal["ok", "error"]


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(engine: Annotated[Engine, Depends(get_engine)], blobs: BlobsDep) -> JSONResponse:
    """Checks that the database answers a query and the blob store writes and reads back."""
    database = storage = "ok"
    try:
        check_database(engine)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        log.warning("health: database check failed: %s", type(exc).__name__)
        database = "error"
    try:
        blobs.check()
    except (OSError, StorageUnavailable) as exc:
        log.warning("health: storage check failed: %s", type(exc).__name__)
        storage = "error"
    ok = database == storage == "ok"
    body = Health(status="ok" if ok else "degraded", database=database, storage=storage)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503, headers={"Cache-Control": "no-store"})
