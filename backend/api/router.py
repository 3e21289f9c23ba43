"""Router aggregation: the only module that imports the domain routers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from backend.api import health
from backend.api.deps import PrincipalResolver
from backend.config import Settings
from backend.institutions.deps import principal_from_api_key
from backend.people import router as people_router

# Principal resolvers in order of precedence (a hospital's bearer key, a browser session …).
PRINCIPAL_RESOLVERS: list[PrincipalResolver] = [
    principal_from_api_key,
]


def include_routers(app: FastAPI, settings: Settings) -> None:
    app.include_router(health.router)
    api_v1 = APIRouter(prefix="/api/v1")
    api_v1.include_router(people_router.router)
    app.include_router(api_v1)
