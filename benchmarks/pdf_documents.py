"""Benchmark: render a 2-page imaging report with 4 key images (issue 9 goal: cold ≤ 500 ms).

``python -m benchmarks.pdf_documents [--runs 5]`` prints one JSON object per line (CONTRACT.md ``make bench``):

- ``pdf_render_first_in_process``: the first render in a fresh interpreter (fonts decompressed and
  registered, templates compiled) — what the first request of a new worker pays; the import of
  the modules is excluded and reported separately as ``pdf_import``;
- ``pdf_render_after_warm_up``: the first render in a fresh interpreter after ``render.warm_up()``;
- ``pdf_render_uncached``: a new document rendered by a warm worker (the usual "cold" PDF, i.e.
  not in the PDF cache).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
_PARAGRAPH = "右肺上叶尖段见一磨玻璃结节，大小约6mm×5mm，边界清楚，内见小血管穿行，邻近胸膜未见牵拉。"


def _phantom_jpeg(seed: int) -> bytes:
    """A 512² grey disc with a few brighter blobs, JPEG-encoded like a preview (no fixture I/O)."""
    y, x = np.mgrid[-256:256, -256:256].astype(np.float32)
    image = np.where(x**2 + y**2 < 220**2, 90.0, 0.0)
    rng = np.random.default_rng(seed)
    for cx, cy, r in rng.integers(-120, 120, size=(5, 3)):
        image += np.where((x - cx) ** 2 + (y - cy) ** 2 < (abs(r) // 3 + 8) ** 2, 80.0, 0.0)
    out = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), mode="L").save(out, format="JPEG", quality=85)
    return out.getvalue()


def render_two_page_report() -> bytes:
    from backend.pdf.documents import DocumentMeta, ImagingReport, KeyImage, PatientInfo
    from backend.pdf.render import render_imaging_report
    from backend.pdf.verification import make_code

    findings = "\n".join(f"{i}. {_PARAGRAPH * 2}" for i in range(1, 26))
    report = ImagingReport(
        hospital_name="南京市第一人民医院",
        exam_item="胸部CT平扫",
        modality="CT",
        body_part="胸部",
        exam_time=datetime(2026, 11, 20, 9, 12),
        report_time=datetime(2026, 11, 20, 10, 41),
        patient=PatientInfo(name="张伟", sex="M", age="064Y", masked_resident_id="3201**********0013"),
        findings=findings,
        impression="右肺上叶磨玻璃结节，建议复查。",
        reporting_physician="李明",
        reviewing_physician="王建国",
        mutual_recognition_mark="苏HR",
        key_images=tuple(KeyImage(data=_phantom_jpeg(i), caption=f"Im{i}") for i in range(4)),
    )
    code = make_code(key=b"bench-key", content_hash="sha256:bench")
    doc = DocumentMeta(
        verification_code=code, verification_url=f"https://yunying.example.cn/v/{code}", generated_at=datetime.now()
    )
    return render_imaging_report(report=report, doc=doc)


def _child(*, warm: bool) -> None:
    start = time.perf_counter()
    from backend.pdf import render  # import cost measured separately

    imported = time.perf_counter()
    if warm:
        render.warm_up()
        imported = time.perf_counter()
    pdf = render_two_page_report()
    done = time.perf_counter()
    print(json.dumps({"import": imported - start, "render": done - imported, "bytes": len(pdf)}))


def _fresh_process(*, warm: bool) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    result = subprocess.run(  # noqa: S603 -- fixed argv: this interpreter, this module
        [sys.executable, "-m", "benchmarks.pdf_documents", "--child", *(["--warm"] if warm else [])],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - start
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return wall, data


def _line(name: str, samples: list[float], **extra: object) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return json.dumps(
        {
            "bench": name,
            "metric": "p50",
            "value": round(statistics.median(samples) * 1000, 1),
            "unit": "ms",
            "p95": round(p95 * 1000, 1),
            "runs": len(samples),
            **extra,
        },
        ensure_ascii=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(warm=args.warm)
        return
    first, imports, walls, after_warm_up = [], [], [], []
    for _ in range(args.runs):
        wall, data = _fresh_process(warm=False)
        walls.append(wall)
        first.append(data["render"])
        imports.append(data["import"])
        after_warm_up.append(_fresh_process(warm=True)[1]["render"])
    print(_line("pdf_render_first_in_process", first, pages=2, key_images=4))
    print(_line("pdf_render_after_warm_up", after_warm_up, pages=2, key_images=4))
    print(_line("pdf_import", imports))
    print(_line("pdf_process_wall", walls))
    render_two_page_report()  # warm up
    warm = []
    for _ in range(args.runs):
        start = time.perf_counter()
        render_two_page_report()
        warm.append(time.perf_counter() - start)
    print(_line("pdf_render_uncached", warm, pages=2, key_images=4))


if __name__ == "__main__":
    main()
