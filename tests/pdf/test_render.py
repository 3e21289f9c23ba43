"""Scenario: a patient downloads reports as PDF — Chinese text exact, bundled font, A4, both languages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from backend.pdf import render
from backend.pdf.documents import DocumentMeta, KeyImage, PatientInfo
from backend.pdf.hashing import content_hash, document_hash, templates_fingerprint
from tests.pdf import poppler, samples

REPO = Path(__file__).resolve().parents[2]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def imaging_pdf() -> bytes:
    return render.render_imaging_report(report=samples.imaging_report(), doc=samples.doc_meta())


def test_imaging_report_text_contains_the_chinese_findings_exactly(imaging_pdf: bytes, tmp_path: Path) -> None:
    poppler.require_poppler()
    text = poppler.text(poppler.write(tmp_path, imaging_pdf))
    for line in (*samples.FINDINGS.splitlines(), *samples.IMPRESSION.splitlines()):
        assert line in text.splitlines(), line
    assert _squash(samples.FINDINGS) in _squash(text)
    for label in (
        "南京市第一人民医院",
        "医学影像检查报告单",
        "检查所见",
        "诊断意见",
        "苏HR",
        "张伟",
        "3201**********0013",
    ):
        assert label in text
    assert "第1页/共1页" in _squash(text)  # pdftotext drops the spaces between CJK glyphs
    assert "云影 验证码 K7QX-2M3P-A4RT-Z5BH-J3VC-W6ND-LE7F-QY2S" in text  # footer, grouped by four
    assert f"/v/{samples.CODE}" in text  # the verification address, for readers without a scanner


def test_bundled_font_is_embedded_as_subset_and_is_the_only_font(imaging_pdf: bytes, tmp_path: Path) -> None:
    poppler.require_poppler()
    rows = poppler.fonts(poppler.write(tmp_path, imaging_pdf))
    assert {row.name.split("+", 1)[1] for row in rows} == {"Yunying-Sans-SC", "Yunying-Sans-SC-Bold"}
    assert all(row.embedded and row.subset for row in rows)
    # Subset tags ("ABCDEF+") are what makes the 4 MB font cost ~100 kB per document.
    assert len(imaging_pdf) < 400_000


def test_renders_with_no_system_font_at_all(tmp_path: Path) -> None:
    """Fontconfig pointed at an empty configuration: only the bundled font can produce the glyphs."""
    poppler.require_poppler()
    conf = tmp_path / "fonts.conf"
    conf.write_text(f"<?xml version='1.0'?><fontconfig><cachedir>{tmp_path}/cache</cachedir></fontconfig>")
    out = tmp_path / "nofonts.pdf"
    script = (
        "import sys; from tests.pdf import samples; from backend.pdf import render; "
        "open(sys.argv[1], 'wb').write(render.render_imaging_report("
        "report=samples.imaging_report(key_images=()), doc=samples.doc_meta()))"
    )
    env = {**os.environ, "FONTCONFIG_FILE": str(conf), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=REPO, timeout=120)
    assert {row.name.split("+", 1)[1] for row in poppler.fonts(out)} == {"Yunying-Sans-SC", "Yunying-Sans-SC-Bold"}
    assert _squash(samples.FINDINGS) in _squash(poppler.text(out))


def test_english_variant_uses_english_labels(tmp_path: Path) -> None:
    poppler.require_poppler()
    pdf = render.render_imaging_report(report=samples.imaging_report(), doc=samples.doc_meta(), lang="en")
    text = poppler.text(poppler.write(tmp_path, pdf))
    for label in ("Medical Imaging Report", "Findings", "Impression", "Reported by", "Page 1 of 1", "64 y"):
        assert label in text
    assert "检查所见" not in text
    assert _squash(samples.FINDINGS) in _squash(text)  # the report itself stays as written


def test_lab_report_shows_flags_as_text_and_colour(tmp_path: Path) -> None:
    poppler.require_poppler()
    pdf = render.render_lab_report(report=samples.lab_report(), doc=samples.doc_meta())
    path = poppler.write(tmp_path, pdf)
    text = poppler.text(path, first=1, last=1)
    assert "↑ H" in text and "↓ L" in text and "↑↑ 危急" in text and "↓↓ 危急" in text
    assert "3.5-9.5" in text and "mmol/L" in text
    # "×10⁹/L": ⁹ is not in the CJK font; without the sup filter a system font would fill in.
    assert {row.name.split("+", 1)[1] for row in poppler.fonts(path)} == {"Yunying-Sans-SC", "Yunying-Sans-SC-Bold"}
    html = render.render_html(
        template="lab_report.html", context={"report": samples.lab_report(), "doc": samples.doc_meta()}
    )
    assert 'class="flag flag-HH"' in html and 'class="flag flag-L"' in html
    css = (REPO / "reports" / "print.css").read_text(encoding="utf-8")
    assert re.search(r"\.flag-H, \.flag-HH \{ color: #c00000; \}", css)


def test_health_summary_groups_by_year_newest_first(tmp_path: Path) -> None:
    poppler.require_poppler()
    pdf = render.render_health_summary(summary=samples.health_summary(), doc=samples.doc_meta())
    text = poppler.text(poppler.write(tmp_path, pdf))
    years = [int(y) for y in re.findall(r"^(\d{4})年$", text, re.MULTILINE)]
    assert years == [2026, 2025, 2023, 2016]
    assert "腰椎MR平扫" in text and "个人健康档案摘要" in text


def test_missing_field_is_an_error_not_a_blank() -> None:
    report = {"hospital_name": "某医院"}  # a mapping lacking every other field
    with pytest.raises(jinja2.UndefinedError):
        render.render_html(template="imaging_report.html", context={"report": report, "doc": samples.doc_meta()})


def test_only_known_templates_and_languages() -> None:
    ctx = {"report": samples.imaging_report(), "doc": samples.doc_meta()}
    with pytest.raises(ValueError, match="unknown template"):
        render.render_pdf(template="_base.html", context=ctx)
    with pytest.raises(ValueError, match="lang"):
        render.render_pdf(template="imaging_report.html", context=ctx, lang="fr")


def test_autoescape_is_forced_for_every_template() -> None:
    env = render.environment()
    assert env.autoescape is True
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_full_resident_id_is_refused() -> None:
    with pytest.raises(ValueError, match="masked"):
        PatientInfo(name="张伟", masked_resident_id="320106196203150013")


def test_key_images_must_be_images_and_at_most_four() -> None:
    with pytest.raises(ValueError, match="key image URI"):
        KeyImage.from_data_uri("file:///etc/passwd")
    with pytest.raises(ValueError, match="type"):
        KeyImage(data=b"<svg/>", media_type="image/svg+xml")
    with pytest.raises(ValueError, match="at most 4"):
        samples.imaging_report(key_images=samples.ct_key_images() * 2)


def test_css_string_cannot_break_out_of_the_style_element() -> None:
    out = str(render.css_string('张伟"; } </style><script>x</script> \\'))
    assert out.startswith('"张伟\\') and out.endswith('"')
    assert "<" not in out and '"' not in out[1:-1] and "\\\\" not in out and " " not in out


def test_output_is_deterministic_and_hashes_track_content() -> None:
    doc = samples.doc_meta()
    a = render.render_lab_report(report=samples.lab_report(), doc=doc)
    b = render.render_lab_report(report=samples.lab_report(), doc=doc)
    assert document_hash(a) == document_hash(b)
    assert content_hash(samples.imaging_report()) == content_hash(samples.imaging_report())
    amended = samples.imaging_report(impression="1. 右肺上叶磨玻璃结节（约7mm）。")
    assert content_hash(amended) != content_hash(samples.imaging_report())
    assert re.fullmatch(r"[0-9a-f]{16}", templates_fingerprint())


def test_qr_code_is_required_to_be_http() -> None:
    generated_at = samples.doc_meta().generated_at
    bad = DocumentMeta(
        verification_code=samples.CODE, verification_url="javascript:alert(1)", generated_at=generated_at
    )
    with pytest.raises(ValueError, match="http"):
        render.render_html(template="imaging_report.html", context={"report": samples.imaging_report(), "doc": bad})


def test_superscript_digits_are_escaped_then_set_as_sup() -> None:
    assert str(render.superscripts("×10⁹/L")) == "×10<sup>9</sup>/L"
    assert str(render.superscripts("<b>10¹²</b>")) == "&lt;b&gt;10<sup>12</sup>&lt;/b&gt;"


def test_aware_times_print_in_beijing_time() -> None:
    html = render.render_html(
        template="health_summary.html", context={"summary": samples.health_summary(), "doc": samples.doc_meta()}
    )
    assert "2026-11-27 16:00" in html  # generated_at is 08:00 UTC


def test_warm_up_prepares_fonts_and_templates() -> None:
    from backend.pdf import assets

    assets._font_bytes.cache_clear()
    render.warm_up()
    assert assets._font_bytes.cache_info().currsize == 2  # both weights decompressed once


def test_absurdly_long_text_is_refused_before_rendering() -> None:
    with pytest.raises(ValueError, match="findings longer"):
        samples.imaging_report(findings="肺" * 200_001)


def test_concurrent_renders_share_the_font_setup_safely() -> None:
    from concurrent.futures import ThreadPoolExecutor

    doc = samples.doc_meta()
    expected = render.render_lab_report(report=samples.lab_report(), doc=doc)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: render.render_lab_report(report=samples.lab_report(), doc=doc), range(3)))
    assert all(pdf == expected for pdf in results)
