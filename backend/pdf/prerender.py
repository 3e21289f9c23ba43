"""The `pdf` job: when a report arrives for a matched study, its PDF (Chinese, the default language) is
rendered in the background, so the patient's first "download report" is a cache hit.

The document is built exactly as a patient's request builds it (service.imaging_report_job with the
person's own full access); nothing is disclosed to anyone, so no read is audited. The cache key names
every input, so a second run (a redelivered job) finds the document and renders nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine

from backend.access.principals import OperatorPrincipal
from backend.access.service import PersonAccess
from backend.config import Settings
from backend.db import session_scope
from backend.errors import NotFound
from backend.pdf import service
from backend.storage.base import ObjectStore
from backend.studies.models import Study

log = logging.getLogger("yunying.pdf")
LANG = "zh-CN"


def prerender_study(*, settings: Settings, engine: Engine, blobs: ObjectStore, study_id: str) -> bool:
    """Render and record the study's report PDF unless it is cached. False when there is nothing to render."""
    with session_scope(engine) as session:
        study = session.get(Study, study_id)
        if study is None or study.person_id is None:
            return False
        access = PersonAccess(person_id=study.person_id, principal=OperatorPrincipal(name="prerender"),
                              relation="operator")
        try:
            job = service.imaging_report_job(session=session, settings=settings, blobs=blobs, access=access,
                                             study_id=study_id, lang=LANG)
        except NotFound:  # no report yet, or not on the timeline yet: the next report or match enqueues again
            return False
        pdf = service.deliver(session=session, settings=settings, job=job)
    log.info("report PDF %s (%d bytes)", "was cached" if pdf.cached else "pre-rendered", len(pdf.data))
    return True
