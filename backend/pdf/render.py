"""WeasyPrint adapter: Jinja2 templates from ``reports/`` → PDF bytes.

Report text is untrusted (it comes from hospitals); three layers keep it inert:
1. Jinja2 with ``autoescape=True`` for every template whatever its name (``select_autoescape``
   would leave a ``.txt``/``.xml`` include unescaped) and ``StrictUndefined`` (a missing field is an
   error, not a silently blank line on a medical document).
2. The context is refused if it carries pre-escaped markup (anything with ``__html__``, e.g.
   ``markupsafe.Markup``): that is the one way to get raw HTML past autoescaping.
3. The URL fetcher (``assets.fetch_resource``) loads only ``data:`` images and bundled files.
   WeasyPrint logs and skips a failed fetch, so refusals are recorded and turned into an error.
   This layer alone would stop file/network access even if escaping failed (tested).
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from backend.clock import CST
from backend.pdf.assets import FONTS_DIR, REPORTS_DIR, ResourceRefused, base_url, fetch_resource, recording_fetcher
from backend.pdf.documents import CheckupReport, DocumentMeta, HealthSummary, ImagingReport, LabReport
from backend.pdf.verification import display_code
from backend.qr import qr_svg_data_uri

LANGS = ("zh-CN", "en")
TEMPLATES = frozenset({"imaging_report.html", "lab_report.html", "health_summary.html", "checkup_report.html"})
_MAX_DEPTH = 12
# China Standard Time, UTC+8 all year (no daylight saving since 1991): a fixed offset needs no tzdata.
_SUPERSCRIPT_RUN = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")


# One FontConfiguration for the process: registering the 2 × 2.8 MB bundled font with fontconfig is
# ~40 % of an uncached render when done per document (WeasyPrint's default). Pango/fontconfig
# objects are not thread-safe, and WeasyPrint is GIL-bound anyway, so renders take a lock.
_render_lock = threading.Lock()
_font_config: FontConfiguration | None = None


class UnsafeContext(TypeError):
    """The context carries something that could bypass escaping."""


def css_string(value: object) -> Markup:
    """A quoted CSS string for ``content:`` in ``<style>`` (CSS Syntax 3 §4.3.7 escapes).

    Everything but ASCII letters, digits and CJK is written as ``\\HHHHHH``, so no quote,
    backslash, ``<`` (``</style>``) or newline can end the string or the element. Spaces are
    escaped too: a literal space right after a hex escape would be swallowed as its terminator.
    """
    out = []
    for ch in str(value):
        if (ch.isascii() and ch.isalnum()) or "\u4e00" <= ch <= "\u9fff":
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):06x}")
    return Markup('"' + "".join(out) + '"')  # noqa: S704 -- every character above is escaped or inert


def superscripts(value: object) -> Markup:
    """Escape ``value``, then set superscript digits (``×10⁹/L``) as ``<sup>`` with plain digits.

    Noto Sans CJK has ¹ ² ³ ⁴ but no ⁵–⁹, which lab units need; without this they would come
    from whatever system font has them (or print as nothing on a machine without one).
    Safe: the text is escaped first; only fixed tags and ASCII digits/signs are inserted.
    """
    text = str(escape(str(value)))
    marked = _SUPERSCRIPT_RUN.sub(lambda m: f"<sup>{m.group(0).translate(_SUPERSCRIPT_DIGITS)}</sup>", text)
    return Markup(marked)  # noqa: S704 -- built from escaped text


def _format_datetime(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(CST)  # aware times print as Beijing time; naive ones as given
    if not isinstance(value, datetime):
        fmt = "%Y-%m-%d"
    return value.strftime(fmt)


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((REPORTS_DIR / "labels.json").read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORTS_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["css_string"] = css_string
    env.filters["dt"] = _format_datetime
    env.filters["sup"] = superscripts
    return env


def _check_plain(value: Any, depth: int = 0) -> None:
    """Walk the context; refuse markup objects that autoescaping would pass through unescaped.

    Accepted: str/bytes/numbers/bool/None/date(time) (enums of str count as str), dataclasses,
    mappings, lists, tuples and sets of these.
    """
    if depth > _MAX_DEPTH:
        raise UnsafeContext("context nested too deeply")
    if hasattr(value, "__html__"):
        raise UnsafeContext(f"context must hold plain data, not {type(value).__name__}")
    if isinstance(value, str | bytes | int | float | bool | date | type(None)):
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _check_plain(getattr(value, f.name), depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_plain(key, depth + 1)
            _check_plain(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_plain(item, depth + 1)
    else:
        # An arbitrary object (an ORM row, a model) could hand the template markup through a
        # property this walk cannot see: only the documented plain types are accepted.
        raise UnsafeContext(f"context must hold plain data, not {type(value).__name__}")


def render_html(*, template: str, context: Mapping[str, Any], lang: str = "zh-CN") -> str:
    """The HTML that ``render_pdf`` would print (for tests and debugging)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}")
    _check_plain(context)
    doc = context["doc"]
    if not isinstance(doc, DocumentMeta):
        raise TypeError("context['doc'] must be a DocumentMeta")
    extra = {
        "lang": lang,
        "t": labels()[lang],
        "qr_uri": qr_svg_data_uri(url=doc.verification_url),
        "code_display": display_code(doc.verification_code),
    }
    return environment().get_template(template).render({**context, **extra})


def warm_up() -> None:
    """Do once per worker what the first render would: decompress the fonts, compile templates.

    Call it at application start-up (in a thread: it takes ~0.3 s): the first PDF of a fresh worker
    then costs what any uncached PDF costs (see ``python -m benchmarks.pdf_documents``).
    """
    labels()
    for name in TEMPLATES:
        environment().get_template(name)
    for font in sorted(FONTS_DIR.glob("*.woff2")):
        fetch_resource(font.as_uri())
    # A tiny document registers both weights in the shared FontConfiguration and warms Pango.
    html_to_pdf('<link rel="stylesheet" href="print.css"><p>云影 <b>云影</b></p>', refused=[])


def html_to_pdf(html: str, *, refused: list[str]) -> bytes:
    """Print HTML with the locked-down fetcher; URLs it refused are appended to ``refused``."""
    global _font_config
    document = HTML(string=html, base_url=base_url(), url_fetcher=recording_fetcher(refused))
    with _render_lock:
        if _font_config is None:
            _font_config = FontConfiguration()
        pdf: bytes = document.write_pdf(font_config=_font_config)
    return pdf


def render_pdf(*, template: str, context: Mapping[str, Any], lang: str = "zh-CN") -> bytes:
    """Render one of ``TEMPLATES`` with ``context`` (see reports/README.md) to PDF bytes.

    Raises ValueError/TypeError for a bad context, ``ResourceRefused`` if the document tried to
    load anything but data: images and bundled assets (then no PDF is returned at all).
    """
    html = render_html(template=template, context=context, lang=lang)
    refused: list[str] = []
    pdf = html_to_pdf(html, refused=refused)
    if refused:
        raise ResourceRefused(f"document referenced {len(refused)} disallowed resource(s)")
    return pdf


def render_imaging_report(*, report: ImagingReport, doc: DocumentMeta, lang: str = "zh-CN") -> bytes:
    return render_pdf(template="imaging_report.html", context={"report": report, "doc": doc}, lang=lang)


def render_lab_report(*, report: LabReport, doc: DocumentMeta, lang: str = "zh-CN") -> bytes:
    return render_pdf(template="lab_report.html", context={"report": report, "doc": doc}, lang=lang)


def render_health_summary(*, summary: HealthSummary, doc: DocumentMeta, lang: str = "zh-CN") -> bytes:
    return render_pdf(template="health_summary.html", context={"summary": summary, "doc": doc}, lang=lang)


def render_checkup_report(*, report: CheckupReport, doc: DocumentMeta, lang: str = "zh-CN") -> bytes:
    return render_pdf(template="checkup_report.html", context={"report": report, "doc": doc}, lang=lang)
