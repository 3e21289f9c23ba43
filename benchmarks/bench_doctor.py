"""The doctor's viewer (issue 20): the hand-written workstation against the ecosystem candidates, on the
300-slice synthetic CT of the demo data, from a share link, in Debian's Chromium at 1440×900.

Candidates (docs/doctor-viewer.md says why these and what each one is):

- ``hand-written``: the PWA's own workstation (pwa/src/doctor/desk), ``/doctor?study=<the CT>``;
- ``cornerstone3d``: @cornerstonejs/core + tools + dicom-image-loader 5.14 (benchmarks/viewers/cornerstone,
  installed with ``npm ci`` and built with the PWA's own Vite), on the same data path as ours (share
  session, study detail, QIDO-RS instance list, WADO-RS metadata, WADO-RS frames);
- ``ohif``: the prebuilt OHIF app (npm ``@ohif/app`` 3.13.2, its ``dist``) with
  benchmarks/viewers/ohif/app-config.js, served at the root of a second origin that also carries the
  platform's own paths — what a hospital does when it puts OHIF next to Yunying.

All are served by ``benchmarks.viewers.serve`` (the app plus the candidate's files on one origin; the share
session is a cookie and DICOMweb CORS admits only the platform's origin). ``benchmarks/doctor_timings.mjs``
measures, per candidate (round robin, after the server has finished its start-up work), on loopback and on
emulated hospital Wi-Fi (CDP: 50 ms RTT, 10 Mbit/s down,
5 Mbit/s up, no CPU throttling): the first image time (navigation start → the CT's middle slice drawn)
and the JavaScript/CSS/WASM that crossed the wire by then (gzip as served); median of ``BENCH_DOCTOR_RUNS``
(5) fresh-context runs after one warm-up. On loopback it also drives each candidate's tools on the
phantom: a 300-pixel length (210 mm) and circles in air, lung and fat (-1000, -850, -100 HU).

Lines: ``{"bench": "doctor", "metric": ..., "value": ..., "unit": ..., "candidate": ..., "network": ...}``.
OHIF needs the registry once (``npm pack``, ~50 MB, cached under bench-results/viewers/): it is measured
when that cache exists or when asked for (``BENCH_DOCTOR_CANDIDATES=hand-written,cornerstone3d,ohif``);
if the download fails its line says ``skipped``. The Cornerstone candidate is installed with ``npm ci``
into benchmarks/viewers/cornerstone/node_modules on first use.

    python -m benchmarks.bench_doctor
"""

# ruff: noqa: S603, S607 - this benchmark starts our own CLI, python, node and npm (PATH)

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = "doctor"
ROOT = Path(__file__).resolve().parent.parent
YUNYING = ROOT / ".venv" / "bin" / "yunying"
VIEWERS = ROOT / "benchmarks" / "viewers"
CACHE = ROOT / "bench-results" / "viewers"
OHIF_VERSION = "3.13.2"
NETWORK = "CDP emulation: 50 ms RTT, 10 Mbit/s down, 5 Mbit/s up, no CPU throttling"
CT = "胸部CT增强"


def _emit(metric: str, value: object, unit: str, **extra: object) -> None:
    line = {"bench": BENCH, "metric": metric, "value": value, "unit": unit, **extra,
            "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(line, ensure_ascii=False), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-500:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base}/healthz did not answer within 90 s")
        time.sleep(0.2)


@contextmanager
def _serve(env: dict[str, str], tmp: Path, *args: str) -> Iterator[str]:
    """``benchmarks.viewers.serve`` with the given candidate arguments on a free loopback port."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.viewers.serve", "--port", str(port), *args],
                                cwd=ROOT, env={**env, "YUNYING_PUBLIC_URL": base}, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            _wait(base, proc, log_path)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _settle(data_dir: Path) -> None:
    """A freshly seeded server pre-renders the demo's previews in its worker processes (the
    ``prerender`` rows of the job outbox, backend/jobs/): wait until none is left (at
    most 5 minutes) and a little more, so that the work does not land on whichever candidate runs first."""
    deadline = time.monotonic() + 300
    with sqlite3.connect(data_dir / "yunying.db", timeout=30) as db:
        while time.monotonic() < deadline:
            (left,) = db.execute("SELECT count(*) FROM job_outbox WHERE kind = 'prerender'").fetchone()
            if not left:
                break
            time.sleep(2)
    time.sleep(5)


def _build_cornerstone() -> Path:
    folder = VIEWERS / "cornerstone"
    if not (folder / "node_modules" / "@cornerstonejs" / "core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, capture_output=True,
                       timeout=900)
    vite = ROOT / "pwa" / "node_modules" / "vite" / "bin" / "vite.js"
    subprocess.run(["node", str(vite), "build"], cwd=folder, check=True, capture_output=True, timeout=900)
    return folder / "dist"


def _ohif() -> Path | None:
    """The prebuilt OHIF app from npm (cached), with our app-config.js; None when it cannot be had."""
    dist = CACHE / f"ohif-{OHIF_VERSION}" / "dist"
    if not (dist / "index.html").is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(["npm", "pack", f"@ohif/app@{OHIF_VERSION}", "--pack-destination", str(CACHE)],
                                  cwd=CACHE, check=True, capture_output=True, text=True, timeout=900)
        except (subprocess.SubprocessError, OSError):
            return None
        with tarfile.open(CACHE / done.stdout.strip().splitlines()[-1]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/dist/")
                       and not m.name.endswith(".map") and m.isfile()]
            tar.extractall(CACHE / "tmp", members=members, filter="data")
        shutil.rmtree(dist.parent, ignore_errors=True)
        (CACHE / "tmp" / "package").rename(dist.parent)
        shutil.rmtree(CACHE / "tmp", ignore_errors=True)
    shutil.copy(VIEWERS / "ohif" / "app-config.js", dist / "app-config.js")
    return dist


def _share(base: str) -> tuple[str, dict[str, str]]:
    """As demo-patient: a share of every imaging study (CONTRACT.md), and the CT's ids and UIDs."""
    client = httpx.Client(base_url=base, timeout=60)
    authorize = client.get("/auth/wechat/start", params={"next": "/timeline"}).headers["location"]
    client.get(client.get(f"{authorize}&sim_user=demo-patient").headers["location"])
    person = client.get("/api/v1/me").json()["person"]["id"]
    items = client.get(f"/api/v1/people/{person}/timeline", params={"kind": "imaging_study", "limit": 50}).json()
    made = client.post(f"/api/v1/people/{person}/shares", headers={"X-CSRF-Token": client.cookies["yy_csrf"]},
                       json={"study_ids": [i["ref_id"] for i in items["items"]], "expires_in": "24h",
                             "with_access_code": False, "allow_download": False}).json()
    ct = next(i for i in items["items"] if i["title"] == CT)
    study = client.get(ct["detail_url"]).json()
    series = max(study["series"], key=lambda s: s.get("instance_count") or 0)
    token = made["url"].rsplit("/s/", 1)[1]
    return token, {"id": study["id"], "study": study["study_instance_uid"], "series": series["series_instance_uid"]}


def _sizes(dist: Path) -> dict[str, int]:
    """What a candidate's build holds (gzip -9 of JS/CSS, raw WASM): the ceiling of what it could load."""
    import gzip

    out = {"js": 0, "css": 0, "wasm": 0}
    for path in dist.rglob("*"):
        kind = {".js": "js", ".mjs": "js", ".css": "css", ".wasm": "wasm"}.get(path.suffix)
        if kind and path.is_file():
            data = path.read_bytes()
            out[kind] += len(data) if kind == "wasm" else len(gzip.compress(data, 9))
    return out


def _doctor_chunks() -> dict[str, int]:
    """The PWA's code that only the doctor's desk loads (the desk chunk and its CSS), gzip -9."""
    import gzip

    manifest = json.loads((ROOT / "pwa" / "dist" / ".vite" / "manifest.json").read_text())
    desk = manifest["src/doctor/desk/DoctorDesk.vue"]
    files = [desk["file"], *desk.get("css", [])]
    return {f: len(gzip.compress((ROOT / "pwa" / "dist" / f).read_bytes(), 9)) for f in files}


def _timings(candidates: list[dict[str, str]], token: str, runs: int) -> list[dict[str, Any]]:
    env = {**os.environ, "CANDIDATES": json.dumps(candidates), "SHARE_TOKEN": token, "RUNS": str(runs)}
    done = subprocess.run(["node", str(ROOT / "benchmarks" / "doctor_timings.mjs")], env=env, capture_output=True,
                          text=True, timeout=3600, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def run() -> None:
    default = "hand-written,cornerstone3d" + (",ohif" if (CACHE / f"ohif-{OHIF_VERSION}").is_dir() else "")
    wanted = set(os.environ.get("BENCH_DOCTOR_CANDIDATES", default).split(","))
    runs = int(os.environ.get("BENCH_DOCTOR_RUNS", "5"))
    tmp = Path(tempfile.mkdtemp(prefix="yunying-bench-doctor-"))
    env = {k: v for k, v in os.environ.items() if k not in ("YUNYING_DATABASE_URL", "YUNYING_REDIS_URL")}
    env.update(YUNYING_DATA_DIR=str(tmp / "data"), YUNYING_ENV="development")
    try:
        for args in (["migrate"], ["demo", "seed"]):
            subprocess.run([str(YUNYING), *args], env=env, check=True, capture_output=True, timeout=900)
        cornerstone = _build_cornerstone() if "cornerstone3d" in wanted else None
        ohif = _ohif() if "ohif" in wanted else None
        if "ohif" in wanted and ohif is None:
            _emit("first_image_ms", None, "ms", candidate="ohif", skipped="npm pack @ohif/app failed (no registry?)")
        with ExitStack() as stack:
            main_args = ["--candidate", str(cornerstone)] if cornerstone else []
            base = stack.enter_context(_serve(env, tmp, *main_args))
            token, ct = _share(base)
            candidates = []
            if "hand-written" in wanted:
                candidates.append({"name": "hand-written", "base": base, "url": f"/doctor?study={ct['id']}"})
            if cornerstone:
                candidates.append({"name": "cornerstone3d", "base": base,
                                   "url": f"/bench-viewers/cornerstone/?study={ct['id']}"})
            if ohif:
                other = stack.enter_context(_serve(env, tmp, "--root", str(ohif)))
                candidates.append({"name": "ohif", "base": other, "url": f"/viewer?StudyInstanceUIDs={ct['study']}"})
            _settle(tmp / "data")
            lines = _timings(candidates, token, runs)
        _report(lines, cornerstone=cornerstone, ohif=ohif)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kb(n: int) -> float:
    return round(n / 1024, 1)


def _report(lines: list[dict[str, Any]], *, cornerstone: Path | None, ohif: Path | None) -> None:
    runs = [r for r in lines if r["kind"] == "run"]
    for line in lines:
        if line["kind"] == "error":
            _emit("error", line["error"], "", candidate=line["candidate"], network=line["network"], n=line["n"])
    for name in sorted({r["candidate"] for r in runs}):
        for network in ("loopback", "wifi"):
            mine = [r for r in runs if r["candidate"] == name and r["network"] == network]
            times = [r["first_image_ms"] for r in mine if r["n"] > 0]
            if not times:
                continue
            warmup = next((r["first_image_ms"] for r in mine if r["n"] == 0), None)
            _emit("first_image_ms", round(statistics.median(times)), "ms", candidate=name, network=network,
                  runs=len(times), samples=times, warmup_ms=warmup,
                  conditions=NETWORK if network == "wifi" else "loopback")
        first = next(r for r in runs if r["candidate"] == name)
        total = first["js_bytes"] + first["css_bytes"] + first["wasm_bytes"]
        _emit("transferred_to_first_image_kb", _kb(total), "KB", candidate=name, js_kb=_kb(first["js_bytes"]),
              css_kb=_kb(first["css_bytes"]), wasm_kb=_kb(first["wasm_bytes"]))
    for line in lines:
        if line["kind"] == "check":
            _emit(f"check_{line['what']}", line["value"], line.get("unit", ""), candidate=line["candidate"],
                  expected=line.get("expected"))
    chunks = _doctor_chunks()
    _emit("doctor_only_code_kb", _kb(sum(chunks.values())), "KB", candidate="hand-written", files=sorted(chunks),
          note="gzip -9; loaded only by the desk layout, on top of the PWA's entry")
    for name, dist in (("cornerstone3d", cornerstone), ("ohif", ohif)):
        if dist is not None:
            sizes = _sizes(dist)
            _emit("build_kb", _kb(sum(sizes.values())), "KB", candidate=name, js_gzip_kb=_kb(sizes["js"]),
                  css_gzip_kb=_kb(sizes["css"]), wasm_kb=_kb(sizes["wasm"]))


if __name__ == "__main__":
    run()
