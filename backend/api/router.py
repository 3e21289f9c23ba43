"""Router aggregation: the only module that imports the domain routers."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from backend.access import router as access_router
from backend.api import health
from backend.api.deps import PrincipalResolver
from backend.auth import router as auth_router
from backend.auth.web import resolve_account
from backend.checkups import router as checkups_router
from backend.config import Settings
from backend.dicomweb import compression as dicomweb_gzip
from backend.dicomweb import frames_router as imaging_frames
from backend.dicomweb import rendered as imaging_rendered
from backend.dicomweb import router as imaging_router
from backend.family import router as family_router
from backend.fhir import router as fhir_router
from backend.ingest import parsepool
from backend.institutions.deps import principal_from_api_key
from backend.jobs import relay as jobs_relay
from backend.labs import router as labs_router
from backend.pdf import router as pdf_router
from backend.people import router as people_router
from backend.previews import router as previews_router
from backend.previews import worker as previews_worker
from backend.records import router as records_router
from backend.reminders import router as reminders_router
from backend.reports import router as reports_router
from backend.sharing import cors as share_cors
from backend.sharing import pages as share_pages
from backend.sharing import router as sharing_router
from backend.sharing.web import resolve_share
from backend.studies import router as imaging_record_router
from backend.wechat import router as wechat_router

# Principal resolvers in order of precedence (a hospital's bearer key, a browser session …).
PRINCIPAL_RESOLVERS: list[PrincipalResolver] = [
    principal_from_api_key,
    resolve_share,  # only on the shared person's routes, /api/v1/share/ and DICOMweb (sharing/web.py)
    resolve_account,
]


def include_routers(app: FastAPI, settings: Settings) -> None:
    app.include_router(health.router)
    app.include_router(imaging_rendered.router)  # before the WADO-RS routes: more specific paths
    app.include_router(imaging_frames.router)  # WADO-RS frames (a new module: see its docstring)
    app.include_router(imaging_router.router)
    previews_worker.install(app)  # render worker pool for interactive renders (startup/shutdown)
    parsepool.install(app, processes=settings.parse_processes)  # STOW parse processes: with the app
    app.include_router(pdf_router.public_router)  # GET /v/{code}: PDF verification (public)
    pdf_router.install(app)  # PDF renderer warm-up in a background thread at startup
    _include_wechat(app, settings)
    jobs_relay.install(app)  # background work: in-process lanes, or the relay to Celery (backend/jobs)
    api_v1 = APIRouter(prefix="/api/v1")
    api_v1.include_router(people_router.router)
    api_v1.include_router(people_router.patient_router)
    api_v1.include_router(records_router.router)
    api_v1.include_router(reports_router.router)
    api_v1.include_router(imaging_record_router.router)
    api_v1.include_router(previews_router.router)
    api_v1.include_router(labs_router.router)
    api_v1.include_router(pdf_router.router)
    api_v1.include_router(checkups_router.router)
    api_v1.include_router(fhir_router.router)
    api_v1.include_router(auth_router.api_router)
    api_v1.include_router(family_router.router)
    api_v1.include_router(reminders_router.router)
    api_v1.include_router(access_router.router)
    api_v1.include_router(wechat_router.api_router)
    api_v1.include_router(sharing_router.router)
    app.include_router(share_pages.router)
    share_cors.install(app, settings)  # DICOMweb CORS for the platform's viewer origin only
    dicomweb_gzip.install(app)  # DICOM JSON and uncompressed frames gzipped for clients that ask
    app.include_router(api_v1)


def _include_wechat(app: FastAPI, settings: Settings) -> None:
    """WeChat login, the message endpoint, and (never in production: config refuses it) the WeChat
    simulator."""
    app.include_router(auth_router.web_router)
    app.include_router(wechat_router.callback_router)
    if settings.wechat_simulator:
        from backend.auth.simulator import router as simulator_router

        app.include_router(simulator_router.router)
