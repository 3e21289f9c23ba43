"""The PWA on a phone (issue 10, "Speed"). Goals: Lighthouse performance ≥ 90, accessibility ≥ 95;
first-load JS ≤ 200 KB gzip; under 4G, first slice ≤ 1.0 s and the whole series scrubbable ≤ 3 s.

Against a live ``yunying serve`` on loopback with the demo data (scratch data dir, migrate + demo seed),
driving Debian's Chromium (``$CHROMIUM``, default /usr/bin/chromium):

- Lighthouse 12 (npm ``lighthouse``, a PWA devDependency; its CLI with the default mobile preset:
  simulated slow 4G and 4x CPU slowdown) on the timeline and on the viewer of the 300-slice demo CT,
  signed in as ``demo-patient`` by passing the session cookie in ``--extra-headers``: performance,
  accessibility and best-practices scores, with FCP/LCP/TBT. Median of ``BENCH_PWA_RUNS`` (3) runs per page.
- ``benchmarks/pwa_timings.mjs`` (playwright-core): a fresh browser context per run (empty cache, no
  service worker), the network shaped by Chromium's own emulation (CDP
  ``Network.emulateNetworkConditions``: 150 ms round trip, 9 Mbit/s down and up; no CPU throttling):
  open /timeline → tap the CT → its report shown → tap its series →
  ``first_slice_4g``: the viewer's canvas receives its first image (the middle slice's preview or a
  scrub tile), measured from the tap's pointerdown;
  ``series_scrubbable_4g``: every scrub sheet of the series (all slices as tiles, default window)
  downloaded and decoded (``img.decode()`` resolved), from the same tap — from then on any slice
  can be drawn without the network.
  The first run meets cold server-side caches (scrub sheets rendered on first view); it is reported as
  ``cold_server_ms`` and left out of the medians of the ``BENCH_PWA_TIMING_RUNS`` (5) runs after it.
- First-load JavaScript: the scripts the browser actually fetches when it opens /timeline (and the
  viewer by a deep link) in a fresh context, each gzip -9 compressed, summed.

Every line carries ``load1`` (the machine's load average at the time): the numbers are noisy on a
shared 2-core machine. ``BENCH_PWA_LIGHTHOUSE=0`` skips Lighthouse.

    python -m benchmarks.bench_pwa
"""

# ruff: noqa: S603, S607 - this benchmark starts our own CLI, node (PATH) and the Lighthouse CLI of pwa/node_modules

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BENCH = "pwa"
ROOT = Path(__file__).resolve().parent.parent
PWA = ROOT / "pwa"
YUNYING = ROOT / ".venv" / "bin" / "yunying"
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --disable-sync --no-first-run --disable-quic")
CATEGORIES = {"performance": 90, "accessibility": 95, "best-practices": None}  # goals (issue 10)
LH_METRICS = {"first-contentful-paint": "fcp", "largest-contentful-paint": "lcp", "total-blocking-time": "tbt",
              "speed-index": "speed_index"}
NETWORK = "CDP emulation: 150 ms RTT, 9 Mbit/s down/up, no CPU throttling"


def _emit(metric: str, value: object, unit: str, **extra: object) -> None:
    line = {"bench": BENCH, "metric": metric, "value": value, "unit": unit, **extra,
            "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(line, ensure_ascii=False), flush=True)


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server() -> Iterator[str]:
    """A scratch data dir with the demo data and ``yunying serve`` on a free loopback port."""
    tmp = Path(tempfile.mkdtemp(prefix="yunying-bench-pwa-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("YUNYING_DATABASE_URL", "YUNYING_REDIS_URL")}
    env.update(YUNYING_DATA_DIR=str(tmp / "data"), YUNYING_ENV="development", YUNYING_PUBLIC_URL=base)
    log = (tmp / "server.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        for args in (["migrate"], ["demo", "seed"]):
            subprocess.run([str(YUNYING), *args], env=env, check=True, capture_output=True, timeout=600)
        proc = subprocess.Popen([str(YUNYING), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"yunying serve exited: {(tmp / 'server.log').read_text()[-500:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("yunying serve did not answer /healthz within 90 s")
            time.sleep(0.2)
        yield base
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _login(base: str, openid: str = "demo-patient") -> httpx.Client:
    """Signs in through the WeChat simulator (CONTRACT.md: the authorize URL accepts ``sim_user=``)."""
    client = httpx.Client(base_url=base, timeout=60)
    authorize = client.get("/auth/wechat/start", params={"next": "/timeline"}).headers["location"]
    callback = client.get(f"{authorize}&sim_user={openid}").headers["location"]
    client.get(callback)
    client.get("/api/v1/me").raise_for_status()
    return client


def _viewer_path(client: httpx.Client) -> str:
    """The viewer URL of the demo's 300-slice CT (the newest imaging study of 张伟)."""
    person = client.get("/api/v1/me").json()["person"]["id"]
    items = client.get(f"/api/v1/people/{person}/timeline", params={"kind": "imaging_study"}).json()["items"]
    ct = next(i for i in items if i["title"] == "胸部CT增强")
    study = client.get(ct["detail_url"]).json()
    series = max(study["series"], key=lambda s: s.get("instance_count") or 0)
    return f"/people/{person}/studies/{study['id']}/series/{series['id']}"


def _chromium() -> str:
    return os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def _lighthouse_once(url: str, cookie: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="yunying-lh-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [str(PWA / "node_modules" / ".bin" / "lighthouse"), url, "--quiet", f"--chrome-flags={CHROME_FLAGS}",
               "--extra-headers", json.dumps({"Cookie": cookie}),
               "--only-categories=performance,accessibility,best-practices",
               "--output=json", f"--output-path={report}"]
        env = {**os.environ, "CHROME_PATH": _chromium()}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=PWA)
        if done.returncode != 0 or not report.is_file():
            raise RuntimeError(f"lighthouse exit {done.returncode}: {done.stderr.strip()[-400:]}")
        answer: dict[str, Any] = json.loads(report.read_text())
    if answer.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {answer['runtimeError']}")
    return answer


def _lighthouse(*, base: str, name: str, path: str, runs: int) -> None:
    scores: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    metrics: dict[str, list[float]] = {m: [] for m in LH_METRICS}
    failing: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    for _ in range(runs):
        client = _login(base)  # a fresh session per run (sessions are short-lived)
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        client.close()
        try:
            report = _lighthouse_once(base + path, cookie)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            _emit("lighthouse_error", type(exc).__name__, "", page=name, detail=str(exc)[:500])
            return
        final = report.get("finalDisplayedUrl", "")
        if "/login" in final or "/bind" in final:
            _emit("lighthouse_error", "not signed in", "", page=name, detail=f"ended on {final}")
            return
        for category, data in report["categories"].items():
            scores[category].append(round(data["score"] * 100))
            for ref in data["auditRefs"]:
                audit = report["audits"][ref["id"]]
                if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                    failing[category].add(ref["id"])
        for audit_id in LH_METRICS:
            metrics[audit_id].append(report["audits"][audit_id]["numericValue"])
    for category, goal in CATEGORIES.items():
        _emit(f"lighthouse_{category.replace('-', '_')}", _median(scores[category]), "score", page=name,
              runs=runs, samples=scores[category], goal=goal, below_full_marks=sorted(failing[category]),
              preset="mobile (simulated slow 4G, 4x CPU)")
    for audit_id, short in LH_METRICS.items():
        _emit(f"lighthouse_{short}", _median(metrics[audit_id]), "ms", page=name, runs=runs,
              samples=[round(v) for v in metrics[audit_id]])


def _timings(*, base: str, viewer: str, runs: int) -> None:
    env = {**os.environ, "BASE_URL": base, "RUNS": str(runs + 1), "VIEWER_PATH": viewer, "CHROMIUM": _chromium()}
    done = subprocess.run(["node", str(ROOT / "benchmarks" / "pwa_timings.mjs")], env=env, capture_output=True,
                          text=True, timeout=1200, cwd=ROOT)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode != 0:
        _emit("timings_error", "node exit " + str(done.returncode), "", detail=done.stderr.strip()[-500:])
    measured = [x for x in lines if x["kind"] == "run" and x["n"] > 0]
    cold = next((x for x in lines if x["kind"] == "run" and x["n"] == 0), None)
    for key, metric, goal in (("first_slice_ms", "first_slice_4g", 1000),
                              ("scrubbable_ms", "series_scrubbable_4g", 3000),
                              ("timeline_ms", "timeline_first_visit_4g", None),
                              ("study_ms", "study_report_shown_4g", None)):
        if not measured:
            break
        samples = [float(x[key]) for x in measured]
        _emit(metric, _median(samples), "ms", runs=len(samples), samples=samples, goal=goal,
              cold_server_ms=cold[key] if cold else None, network=NETWORK,
              **({"sheets": measured[0]["sheets"]} if key == "scrubbable_ms" else {}))
    for x in lines:
        if x["kind"] == "js":
            page = "timeline" if x["page"] == "/timeline" else "viewer (deep link)"
            _emit("first_load_js_gzip", round(x["gzip_bytes"] / 1024, 1), "KB", page=page, files=x["files"],
                  raw_kb=round(x["raw_bytes"] / 1024, 1), served_encoding=x["encoded"], goal=200)


def _missing() -> str | None:
    if not Path(_chromium()).is_file():
        return f"Chromium not found at {_chromium()} (set CHROMIUM)"
    if shutil.which("node") is None:
        return "node not found"
    for need in ("lighthouse", "playwright-core"):
        if not (PWA / "node_modules" / need).is_dir():
            return f"pwa/node_modules/{need} missing (npm ci in pwa/)"
    if not (PWA / "dist" / "index.html").is_file():
        return "pwa/dist missing (npm run build in pwa/)"
    if not YUNYING.is_file():
        return ".venv/bin/yunying missing (make install)"
    return None


def run() -> None:
    missing = _missing()
    if missing:
        _emit("skipped", missing, "")
        return
    runs = int(os.environ.get("BENCH_PWA_RUNS", "3"))
    with _server() as base:
        client = _login(base)
        viewer = _viewer_path(client)
        client.close()
        _timings(base=base, viewer=viewer, runs=int(os.environ.get("BENCH_PWA_TIMING_RUNS", "5")))
        if os.environ.get("BENCH_PWA_LIGHTHOUSE", "1") != "0":
            _lighthouse(base=base, name="timeline", path="/timeline", runs=runs)
            _lighthouse(base=base, name="viewer", path=viewer, runs=runs)


if __name__ == "__main__":
    run()
    sys.exit(0)
