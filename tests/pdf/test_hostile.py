"""Scenario: a hospital sends report text full of HTML, file:// links and CSS imports (issue 9, bad input).

A canary file with a unique random string sits in a temp dir. Whatever route the text takes —
escaped report text, pre-escaped markup smuggled into the context, a template variable holding a
file:// URL, or raw HTML as if escaping had failed — the canary's content must never reach the PDF:
not its raw bytes, not an inflated stream, not its text, not an attachment.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from markupsafe import Markup

from backend.pdf import assets, render
from backend.pdf.render import UnsafeContext
from tests.pdf import poppler, samples


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    secret = f"CANARY-{uuid.uuid4().hex}"
    path = tmp_path / "secret" / "canary.txt"
    path.parent.mkdir()
    path.write_text(f"{secret}\nbody {{ content: '{secret}' }}\n", encoding="utf-8")
    return path, secret


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """URLs the fetcher actually served (a spy around the real one)."""
    served: list[str] = []
    real = assets.fetch_resource

    def spy(url: str) -> assets.FetchResult:
        result = real(url)
        served.append(url)
        return result

    monkeypatch.setattr(assets, "fetch_resource", spy)
    return served


def hostile_text(canary: Path) -> str:
    url = canary.as_uri()
    return (
        f"<script>alert('x')</script><img src={url}><img src=\"{url}\">"
        f'<link rel=attachment href="{url}"><a rel="attachment" href="{url}">附件</a>'
        f"<style>@import url({url}); @import url(http://127.0.0.1:9/x.css);</style>"
        f"<object data={url}></object><iframe src={url}></iframe></div></body>"
        "{{ 7*7 }}{% raw %}"
    )


def assert_canary_absent(pdf: bytes, secret: str, tmp_path: Path) -> None:
    needles = [secret.encode(), secret.encode("utf-16-be"), secret.encode().hex().encode()]
    for blob in [pdf, *poppler.decompressed_streams(pdf)]:
        for needle in needles:
            assert needle not in blob
    path = poppler.write(tmp_path, pdf, "hostile.pdf")
    assert secret not in poppler.text(path)
    assert poppler.attachments(path).strip() == "0 embedded files"
    assert b"/EmbeddedFile" not in pdf and b"/JavaScript" not in pdf


def test_hostile_report_text_is_escaped_inert_and_paged(
    canary: tuple[Path, str], fetched: list[str], tmp_path: Path
) -> None:
    poppler.require_poppler()
    path, secret = canary
    paragraph = "右肺上叶尖段见一磨玻璃结节，大小约6mm×5mm，边界清楚，内见小血管穿行。" * 3
    findings = hostile_text(path) + "\n" + "\n".join(f"{i}. {paragraph}" for i in range(1, 141))
    report = samples.imaging_report(findings=findings, impression=hostile_text(path), exam_item="<b>胸部CT</b>")
    pdf = render.render_imaging_report(report=report, doc=samples.doc_meta())

    assert_canary_absent(pdf, secret, tmp_path)
    # Only the bundled CSS and font and the data: images were loaded — nothing from the text.
    assert all(u.startswith("data:") or "/reports/" in u for u in fetched)
    assert not any(str(path) in u or "127.0.0.1" in u for u in fetched)

    out = poppler.write(tmp_path, pdf)
    pages = poppler.page_count(out)
    assert pages >= 10
    for number in range(1, pages + 1):
        page_text = re.sub(r"\s+", "", poppler.text(out, first=number, last=number))
        assert f"第{number}页/共{pages}页" in page_text
        if number > 1:  # running header: who and what, on every following page
            assert "南京市第一人民医院" in page_text and "张伟" in page_text
    text = re.sub(r"\s+", "", poppler.text(out))
    assert "<script>alert('x')</script>" in text  # printed as text, not executed or dropped
    assert "{{7*7}}{%raw%}" in text  # report text is data, never a template
    assert "<b>胸部CT</b>" in text
    assert "140.右肺上叶" in text  # the last paragraph made it to the last page


def test_markup_smuggled_in_the_context_is_refused(canary: tuple[Path, str]) -> None:
    path, _ = canary
    sneaky = Markup(f'<img src="{path.as_uri()}"><link rel="attachment" href="{path.as_uri()}">')
    with pytest.raises(UnsafeContext):
        render.render_imaging_report(report=samples.imaging_report(findings=sneaky), doc=samples.doc_meta())
    with pytest.raises(UnsafeContext):  # nested in a plain mapping too
        render.render_pdf(
            template="imaging_report.html",
            context={"report": {"findings": sneaky}, "doc": samples.doc_meta()},
        )


def test_template_variable_holding_a_file_url_is_refused_by_the_fetcher(
    canary: tuple[Path, str], tmp_path: Path
) -> None:
    """A caller misusing the mapping API puts a file:// URL where a key image's data: URI goes."""
    poppler.require_poppler()
    path, secret = canary
    report = samples.imaging_report(key_images=())
    fake = {name: getattr(report, name) for name in report.__dataclass_fields__}
    fake["key_images"] = [
        {"data_uri": path.as_uri(), "caption": "x"},
        {"data_uri": "http://127.0.0.1:9/a.png", "caption": None},
    ]
    context = {"report": fake, "doc": samples.doc_meta()}
    with pytest.raises(assets.ResourceRefused):
        render.render_pdf(template="imaging_report.html", context=context)

    refused: list[str] = []
    html = render.render_html(template="imaging_report.html", context=context)
    pdf = render.html_to_pdf(html, refused=refused)
    assert set(refused) == {path.as_uri(), "http://127.0.0.1:9/a.png"}
    assert_canary_absent(pdf, secret, tmp_path)


def test_raw_html_as_if_escaping_failed_still_loads_nothing(
    canary: tuple[Path, str], fetched: list[str], tmp_path: Path
) -> None:
    poppler.require_poppler()
    path, secret = canary
    url = path.as_uri()
    traversal = assets.base_url() + "../" * 12 + str(path).lstrip("/")
    html = (
        f"<html><head><link rel=stylesheet href='{url}'><link rel=attachment href='{url}'>"
        f"<style>@import url('{url}'); @import url('{traversal}'); @font-face {{ font-family: x; src: url('{url}'); }}"
        f"body {{ background: url('{url}'); font-family: x; }}</style></head><body>"
        f"<img src='{url}'><img src='{traversal}'><img src='http://127.0.0.1:9/x.png'>"
        f"<a rel=attachment href='{url}'>a</a>"
        f"<object data='{url}'></object><embed src='{url}'><svg><image href='{url}'/></svg><p>正文</p></body></html>"
    )
    refused: list[str] = []
    pdf = render.html_to_pdf(html, refused=refused)
    assert_canary_absent(pdf, secret, tmp_path)
    assert url in refused and traversal in refused and "http://127.0.0.1:9/x.png" in refused
    assert fetched == []  # nothing at all was served


def test_symlink_inside_reports_cannot_lead_out(
    canary: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = canary
    fake_reports = tmp_path / "reports"
    fake_reports.mkdir()
    (fake_reports / "print.css").write_text("p {}", encoding="utf-8")
    (fake_reports / "evil.css").symlink_to(path)
    monkeypatch.setattr(assets, "REPORTS_DIR", fake_reports)
    assert assets.fetch_resource((fake_reports / "print.css").as_uri())["string"] == b"p {}"
    with pytest.raises(assets.ResourceRefused):
        assets.fetch_resource((fake_reports / "evil.css").as_uri())


def test_arbitrary_objects_are_refused_in_the_context() -> None:
    class Row:  # e.g. an ORM object whose property could return markup
        @property
        def findings(self) -> Markup:
            return Markup("<img src=file:///etc/passwd>")

    with pytest.raises(UnsafeContext):
        render.render_pdf(template="imaging_report.html", context={"report": Row(), "doc": samples.doc_meta()})
