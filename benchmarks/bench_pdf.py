"""PDF documents (issue 9). Goal: cold ≤ 500 ms, cache hit ≤ 10 ms.

1. The renderer alone (benchmarks/pdf_documents.py): a 2-page imaging report with 4 key images.
2. Through the delivery service on the demo data (SQLite, scratch data dir): 张伟's report of the
   300-slice synthetic chest CT with 4 key images decoded from it.
   - ``pdf_cold``: ``service.imaging_report_job`` + ``service.deliver`` with the PDF not cached (its
     row and file removed before each run): DB reads, 4 key images, render, write, record;
   - ``pdf_cache_hit``: the same calls when cached (DB reads + indexed lookup + file read + hash check);
   - ``pdf_cache_hit_http``: ``GET …/report.pdf`` in process (TestClient): access policy, audit
     event, commit, response — what a browser waits for minus the network.

    python -m benchmarks.bench_pdf      (env: BENCH_PDF_RUNS=5 cold runs, BENCH_PDF_HITS=50)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _line(name: str, samples: list[float], **extra: object) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(json.dumps({"bench": name, "metric": "p50", "value": round(statistics.median(samples) * 1000, 2),
                      "unit": "ms", "p95": round(p95 * 1000, 2), "runs": len(samples),
                      "load1": round(os.getloadavg()[0], 2), **extra}, ensure_ascii=False), flush=True)


def _timed(fn: Callable[[], object], runs: int, before: Callable[[], object] | None = None) -> list[float]:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def service_bench(*, cold_runs: int, hits: int) -> None:
    from fastapi.testclient import TestClient
    from sqlmodel import SQLModel, col, delete, select

    import backend.tables  # noqa: F401 -- every table in the metadata
    from backend import demo
    from backend.access.principals import AccountPrincipal
    from backend.access.service import authorize_person
    from backend.api.deps import get_principal
    from backend.auth.models import Account, Binding
    from backend.config import load_settings
    from backend.db import make_engine, session_scope
    from backend.main import create_app
    from backend.pdf import render, service
    from backend.pdf.models import PdfDocument
    from backend.studies.models import Study

    root = Path(tempfile.mkdtemp(prefix="yy-bench-pdf-"))
    try:
        settings = load_settings(env="development", data_dir=root, redis_url=None)
        engine = make_engine(settings.effective_database_url)
        SQLModel.metadata.create_all(engine)
        demo.seed(settings=settings, engine=engine)
        with session_scope(engine) as s:
            account_id = s.exec(select(Account.id).where(Account.openid == "demo-patient")).one()
            person_id = s.exec(select(Binding.person_id).where(Binding.account_id == account_id)).one()
            study_id = s.exec(select(Study.id).where(Study.person_id == person_id)
                              .order_by(col(Study.instance_count).desc())).first()
        assert study_id is not None
        principal = AccountPrincipal(account_id=account_id)
        app = create_app(settings, engine=engine)
        blobs = app.state.blobs
        render.warm_up()  # what the app's startup does in the background

        def deliver() -> service.PdfFile:
            with session_scope(engine) as s:
                access = authorize_person(session=s, principal=principal, person_id=person_id)
                job = service.imaging_report_job(session=s, settings=settings, blobs=blobs, access=access,
                                                  study_id=study_id, lang="zh-CN")
                return service.deliver(session=s, settings=settings, job=job)

        def uncache() -> None:
            with session_scope(engine) as s:
                s.exec(delete(PdfDocument))
            shutil.rmtree(settings.data_dir / "pdf", ignore_errors=True)

        deliver()  # key images' header facts parsed once (the previews' info cache), as after ingest
        cold = _timed(deliver, cold_runs, before=uncache)
        pdf = deliver()
        _line("pdf_cold", cold, key_images=4, slices=300, bytes=len(pdf.data))
        _line("pdf_cache_hit", _timed(deliver, hits))

        app.dependency_overrides[get_principal] = lambda: principal
        app.state.preview_pool_size = 0  # the demo's pre-render queue is not what is measured here
        app.state.preview_dispatcher = False
        app.state.notify_dispatcher = False
        url = f"/api/v1/people/{person_id}/studies/{study_id}/report.pdf"
        with TestClient(app) as client:
            assert client.get(url).status_code == 200
            _line("pdf_cache_hit_http", _timed(lambda: client.get(url), hits))
        engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run() -> None:
    from benchmarks import pdf_documents as bench

    argv, sys.argv = sys.argv, ["bench_pdf", "--runs", "5"]
    try:
        bench.main()
    finally:
        sys.argv = argv
    _service_from_env()


def _service_from_env() -> None:
    runs, hits = int(os.environ.get("BENCH_PDF_RUNS", "5")), int(os.environ.get("BENCH_PDF_HITS", "50"))
    service_bench(cold_runs=runs, hits=hits)


if __name__ == "__main__":
    if "--service-only" in sys.argv:
        _service_from_env()
    else:
        run()
