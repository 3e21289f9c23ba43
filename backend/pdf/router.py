"""PDF routes: the four documents of a person (``/api/v1/people/{person_id}/…pdf``) and the public
verification page ``/v/{code}`` (CONTRACT.md).

Delivery headers: ``Content-Disposition`` with the Chinese file name as RFC 6266 §4.3 recommends —
``filename*=UTF-8''<RFC 5987 percent-encoding>`` for current browsers plus an ASCII ``filename=``
for old ones; ``Cache-Control: no-store`` (health data, DESIGN rule 5); a strong ETag (SHA-256 of the
bytes) so a client holding the same PDF gets 304.
"""

from __future__ import annotations

import threading
from datetime import UTC, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from backend.access import audit
from backend.access.context import current_request
from backend.access.principals import Anonymous
from backend.api.deps import BlobsDep, ReadablePerson, SessionDep, SettingsDep, SharedStateDep
from backend.clock import CST
from backend.pdf import naming, pages, render, service
from backend.pdf.schemas import DownloadQuery, Lang, LangQuery, PagesOut
from backend.pdf.verification import display_code

router = APIRouter(tags=["pdf"])
public_router = APIRouter(tags=["pdf verification"])
RecordId = Annotated[str, PathParam(min_length=1, max_length=64)]
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The PDF (Content-Disposition names it)."},
    304: {"description": "If-None-Match matched the ETag."},
}


_warm_up_started = threading.Event()


def install(app: FastAPI) -> None:
    """Warm the renderer (fonts, templates: ~0.3 s) in the background once the app starts, so the
    first PDF of a worker costs what any uncached PDF costs (reports/README.md)."""

    def start() -> None:
        if getattr(app.state, "pdf_warm_up", True) is False or _warm_up_started.is_set():
            return  # once per process: fonts and templates are process-wide (a test suite makes many apps)
        _warm_up_started.set()
        threading.Thread(target=render.warm_up, name="yunying-pdf-warm-up", daemon=True).start()

    app.router.on_startup.append(start)


def content_disposition(filename: str, *, attachment: bool) -> str:
    """RFC 6266 §4.1/§4.3: ASCII fallback first, then ``filename*`` (RFC 5987 §3.2: UTF-8, every byte
    outside attr-char percent-encoded; ``quote(safe="")`` leaves only ALPHA DIGIT ``-._~``)."""
    kind = "attachment" if attachment else "inline"
    fallback = naming.ascii_fallback(filename)
    if not any(ch.isalpha() for ch in fallback.rsplit(".", 1)[0]):
        fallback = "report_" + fallback  # an all-Chinese name would fall back to a bare date
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _answer(request: Request, pdf: service.PdfFile, *, download: bool) -> Response:
    headers = {"Cache-Control": "no-store", "ETag": pdf.etag,
               "Content-Disposition": content_disposition(pdf.row.filename, attachment=download)}
    match = request.headers.get("if-none-match", "")
    if pdf.etag in [tag.strip().removeprefix("W/") for tag in match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(content=pdf.data, media_type="application/pdf", headers=headers)


def _audit(access: Any, session: Any, pdf: service.PdfFile, *, event_type: str, object_type: str) -> None:
    access.audit(session, event_type=event_type, object_type=object_type, object_id=pdf.row.object_id,
                 detail={"document": pdf.row.id, "version": pdf.row.version, "lang": pdf.row.lang,
                         "cached": pdf.cached})


@router.get("/people/{person_id}/studies/{study_id}/report.pdf", response_class=Response, responses=PDF_RESPONSES)
def imaging_report_pdf(access: ReadablePerson, study_id: RecordId, session: SessionDep, settings: SettingsDep,
                       blobs: BlobsDep, request: Request, lang: LangQuery = "zh-CN",
                       download: DownloadQuery = False) -> Response:
    """The study's diagnostic report as a PDF (医学影像检查报告单) with key images; 404 without a report."""
    job = service.imaging_report_job(session=session, settings=settings, blobs=blobs, access=access,
                                     study_id=study_id, lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="study.report.pdf", object_type=AUDIT_OBJECT_TYPES[service.IMAGING])
    return _answer(request, pdf, download=download)


@router.get("/people/{person_id}/studies/{study_id}/report/pages", response_model=PagesOut)
def imaging_report_pages(access: ReadablePerson, study_id: RecordId, session: SessionDep, settings: SettingsDep,
                         blobs: BlobsDep, response: Response, lang: LangQuery = "zh-CN") -> PagesOut:
    """The report PDF's pages as images (WeChat's browser blocks PDF downloads): how many, and their URLs."""
    job = service.imaging_report_job(session=session, settings=settings, blobs=blobs, access=access,
                                     study_id=study_id, lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="study.report.pages", object_type=AUDIT_OBJECT_TYPES[service.IMAGING])
    response.headers["Cache-Control"] = "no-store"
    return _pages(f"/api/v1/people/{access.person_id}/studies/{study_id}/report/pages", pdf, lang)


def _pages(base: str, pdf: service.PdfFile, lang: str) -> PagesOut:
    tag = pdf.etag.strip('"')[:16]  # a new version of the document gets new page URLs
    return PagesOut(count=(n := pages.page_count(pdf.data)),
                    pages=[f"{base}/{i}.png?lang={lang}&v={tag}" for i in range(1, n + 1)])


@router.get("/people/{person_id}/studies/{study_id}/report/pages/{page}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def imaging_report_page(access: ReadablePerson, study_id: RecordId, page: Annotated[int, PathParam(ge=1, le=50)],
                        session: SessionDep, settings: SettingsDep, blobs: BlobsDep,
                        lang: LangQuery = "zh-CN") -> Response:
    """One page of the report PDF as a PNG image (the access policy decides on every request; audited)."""
    job = service.imaging_report_job(session=session, settings=settings, blobs=blobs, access=access,
                                     study_id=study_id, lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    image = pages.page_png(pdf.data, page)
    _audit(access, session, pdf, event_type="study.report.page", object_type=AUDIT_OBJECT_TYPES[service.IMAGING])
    return Response(content=image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/people/{person_id}/labs/{lab_id}/report.pdf", response_class=Response, responses=PDF_RESPONSES)
def lab_report_pdf(access: ReadablePerson, lab_id: RecordId, session: SessionDep, settings: SettingsDep,
                   request: Request, lang: LangQuery = "zh-CN", download: DownloadQuery = False) -> Response:
    """A lab panel as a PDF (检验报告单)."""
    job = service.lab_report_job(session=session, settings=settings, access=access, lab_id=lab_id, lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="lab.report.pdf", object_type=AUDIT_OBJECT_TYPES[service.LAB])
    return _answer(request, pdf, download=download)


@router.get("/people/{person_id}/checkups/{checkup_id}/report.pdf", response_class=Response, responses=PDF_RESPONSES)
def checkup_report_pdf(access: ReadablePerson, checkup_id: RecordId, session: SessionDep, settings: SettingsDep,
                       request: Request, lang: LangQuery = "zh-CN", download: DownloadQuery = False) -> Response:
    """A checkup as a PDF (健康体检报告): who may read the checkup may read this; others get 404."""
    job = service.checkup_report_job(session=session, settings=settings, access=access, checkup_id=checkup_id,
                                     lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="checkup.report.pdf", object_type=AUDIT_OBJECT_TYPES[service.CHECKUP])
    return _answer(request, pdf, download=download)


@router.get("/people/{person_id}/checkups/{checkup_id}/report/pages", response_model=PagesOut)
def checkup_report_pages(access: ReadablePerson, checkup_id: RecordId, session: SessionDep, settings: SettingsDep,
                         response: Response, lang: LangQuery = "zh-CN") -> PagesOut:
    """The checkup PDF's pages as images (for WeChat's browser, as the study report's)."""
    job = service.checkup_report_job(session=session, settings=settings, access=access, checkup_id=checkup_id,
                                     lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="checkup.report.pages", object_type=AUDIT_OBJECT_TYPES[service.CHECKUP])
    response.headers["Cache-Control"] = "no-store"
    return _pages(f"/api/v1/people/{access.person_id}/checkups/{checkup_id}/report/pages", pdf, lang)


@router.get("/people/{person_id}/checkups/{checkup_id}/report/pages/{page}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def checkup_report_page(access: ReadablePerson, checkup_id: RecordId, page: Annotated[int, PathParam(ge=1, le=50)],
                        session: SessionDep, settings: SettingsDep, lang: LangQuery = "zh-CN") -> Response:
    """One page of the checkup PDF as a PNG image (decided and audited on every request)."""
    job = service.checkup_report_job(session=session, settings=settings, access=access, checkup_id=checkup_id,
                                     lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    image = pages.page_png(pdf.data, page)
    _audit(access, session, pdf, event_type="checkup.report.page", object_type=AUDIT_OBJECT_TYPES[service.CHECKUP])
    return Response(content=image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/people/{person_id}/summary.pdf", response_class=Response, responses=PDF_RESPONSES)
def health_summary_pdf(access: ReadablePerson, session: SessionDep, settings: SettingsDep, request: Request,
                       lang: LangQuery = "zh-CN", download: DownloadQuery = False) -> Response:
    """The person's timeline as a PDF (个人健康档案摘要), limited to what the access may read."""
    job = service.health_summary_job(session=session, settings=settings, access=access, lang=lang)
    pdf = service.deliver(session=session, settings=settings, job=job)
    _audit(access, session, pdf, event_type="summary.pdf", object_type=AUDIT_OBJECT_TYPES[service.SUMMARY])
    return _answer(request, pdf, download=download)


# -- /v/{code} --------------------------------------------------------------------------------------
# Codes carry 80 random bits, so guessing is hopeless anyway; the limit keeps scripted probing and
# scraping expensive. Counted in the shared state (Redis when configured, else the database), so the
# limit holds across workers. Setting candidates: YUNYING_VERIFY_RATE_LIMIT / _WINDOW.
VERIFY_RATE_LIMIT = 30
# The record kind each document is about, as the other audit events name it (the access log titles it).
AUDIT_OBJECT_TYPES = {service.IMAGING: "imaging_study", service.LAB: "lab_result", service.SUMMARY: "person",
                      service.CHECKUP: "checkup"}
VERIFY_RATE_WINDOW = timedelta(minutes=1)


LABELS: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "platform": "云影", "title": "报告真伪查验", "switch": "English",
        "valid": "有效：此验证码由云影平台签发，以下为平台留存的报告关键信息，请与纸质报告逐项核对。",
        "superseded": "注意：该报告已更正，当前最新为第 {v} 版。此验证码对应较早版本，请以最新报告为准。",
        "invalid": "未找到或已被篡改：平台没有与此验证码相符的报告。",
        "invalid_note": "请核对验证码是否输入正确（不区分大小写，可省略连字符）。"
                        "如仍无法查验，此报告可能不是云影平台出具的，或内容已被修改。",
        "limited": "查询过于频繁，请稍后再试。",
        "code": "验证码", "institution": "出具机构", "document": "检查/检验项目", "date": "日期",
        "patient": "患者", "version": "版本", "issued": "平台生成时间",
        "compare": "本页仅显示用于核对的关键信息；查看完整报告须由患者本人登录或授权。",
        "statuses": {"preliminary": "初步报告", "final": "正式报告", "amended": "更正报告"},
    },
    "en": {
        "platform": "Yunying", "title": "Report verification", "switch": "中文",
        "valid": "Valid: this code was issued by the Yunying platform. Below is the platform's copy of the "
                 "report's key facts; compare them with the paper, item by item.",
        "superseded": "Note: this report was amended; the latest is version {v}. This code belongs to an "
                      "earlier version — rely on the latest report.",
        "invalid": "Not found or altered: the platform has no report matching this code.",
        "invalid_note": "Check that the code was typed correctly (case and hyphens do not matter). If it still "
                        "fails, the report was not issued by Yunying or its content was changed.",
        "limited": "Too many lookups. Please try again in a minute.",
        "code": "Code", "institution": "Issued by", "document": "Exam / test", "date": "Date",
        "patient": "Patient", "version": "Version", "issued": "Generated",
        "compare": "Only the key facts for comparison are shown here; the full report needs the patient's login "
                   "or permission.",
        "statuses": {"preliminary": "preliminary", "final": "final", "amended": "amended"},
    },
}


@lru_cache(maxsize=1)
def _page() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, auto_reload=False)
    return env.get_template("verify.html")


def _verify_page(*, status: str, lang: Lang, code: int = 200, **context: Any) -> HTMLResponse:
    html = _page().render(status=status, lang=lang, t=LABELS[lang], other_lang="en" if lang != "en" else "zh-CN",
                          **context)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
    return HTMLResponse(html, status_code=code, headers=headers)


@public_router.get("/v/{code:path}", response_class=HTMLResponse, responses={404: {"content": {"text/html": {}}},
                                                                         429: {"content": {"text/html": {}}}})
def verify_page(code: str, session: SessionDep, settings: SettingsDep, state: SharedStateDep,
                lang: Annotated[str, Query(description="en: English; anything else: Chinese")] = "zh-CN",
                ) -> HTMLResponse:
    """Anyone holding a printed report: is this code genuine, and what does the platform say the report is?
    Always an HTML page (a person reads it), never a JSON error: an unknown ``lang`` is Chinese."""
    page_lang: Lang = "en" if lang == "en" else "zh-CN"
    client = current_request().network_address or "unknown"
    if not state.hit(f"pdf-verify:{client}", window=VERIFY_RATE_WINDOW, limit=VERIFY_RATE_LIMIT, session=session):
        return _verify_page(status="limited", lang=page_lang, code=429)
    found = service.verify(session=session, settings=settings, code=code)
    if found is None:
        return _verify_page(status="invalid", lang=page_lang, code=404)
    doc = found.document
    created = doc.created_at if doc.created_at.tzinfo else doc.created_at.replace(tzinfo=UTC)
    # Printing the facts to an anonymous reader is a disclosure of (masked) health data: the patient's
    # access log shows that the report was checked.
    audit.record(session, principal=Anonymous(), action=audit.READ, event_type="pdf.verify",
                 person_id=doc.person_id, object_type=AUDIT_OBJECT_TYPES.get(doc.kind, doc.kind),
                 object_id=doc.object_id,
                 detail={"document": doc.id, "version": doc.version})
    return _verify_page(status="valid", lang=page_lang, doc=doc, code_display=display_code(doc.id + doc.signature),
                        superseded=found.superseded, latest_version=found.latest_version,
                        issued=created.astimezone(CST).strftime("%Y-%m-%d %H:%M"))
