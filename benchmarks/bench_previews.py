"""Previews over HTTP on the 300-slice synthetic chest CT, and Orthanc on the same files in the same run.

What runs: a real `yunying serve --workers 2` (one web process per core, each with a render pool of
2 processes; BENCH_PREVIEWS_WEB_WORKERS) on loopback with a
scratch data dir; the demo data is seeded, a hospital uploads the CT (uncompressed, and JPEG lossless
(imagecodecs), RLE and JPEG 2000 lossless copies) over STOW-RS and registers the patient, who is
张伟 of the demo, and the demo patient logs in through the WeChat simulator. All preview URLs come
from the API (study detail -> scrub layout -> frame URL templates), as the PWA gets them.

Figures (medians of BENCH_PREVIEWS_RUNS >= 3 runs, min/max alongside):
- prerender_seconds: ingest to "every series pre-rendered" (thumbnails, strips, 512 previews);
- cold_<variant>: images/s of 512-wide JPEG, window 40/400 (a window pre-rendering did not make),
  two concurrent clients, the cached files of that window deleted before each run; compressed frames
  that pre-rendering decoded are kept (previews/decoded.py) and read back instead of decoded again;
- cold_never_decoded_<variant> (compressed only): the same with the kept decoded frames deleted too,
  so every frame runs the decoder (what a frame nobody pre-rendered costs);
- hit_*: the same URLs again (cache hits): images/s and p50/p99 latency;
- bytes per 512 preview (JPEG q85, WebP q80) and the scrub strips' total bytes for the series;
- orthanc_cold_<variant>: Orthanc's /instances/{id}/rendered?width=512&window-center=40&window-width=400
  (Accept: image/jpeg), same clients, same files; and our/Orthanc ratios (goal >= 1.2 on every transfer
  syntax, issue 17). The reference is Orthanc as deployed, WITH its GDCM plugin (Debian orthanc-gdcm),
  which decodes every compressed syntax: the plugin's presence is checked on Orthanc's /plugins and a
  reference without it is never printed (a `skipped` line says why instead).
Variants: uncompressed, JPEG lossless (.57, imagecodecs), RLE, JPEG 2000 lossless, and JPEG baseline
(.50, 8-bit lossy, imagecodecs) when the encoder is installed.
Orthanc 1.10 listens on every interface whatever its configuration, so when it is installed the whole
benchmark re-runs itself inside a fresh network namespace that has only loopback (`unshare -n`), with
RemoteAccessAllowed false: both servers and all clients live there, and each run measures ours and then
Orthanc, so both see the same machine noise (ratios are medians of per-run ratios). Without Orthanc (or
without the rights for a namespace) a `skipped` reference line is printed instead. Every line carries
the 1-minute load average (`load1`): the machine is shared.

The client is benchmarks.httpload (for every figure, ours and Orthanc's): 2 forked processes with one
keep-alive socket each and pre-built requests, not httpx. The clients share the 2 cores with both
servers, so their own cost flattens every ratio: httpx in 2 threads of one process (GIL-bound) took most
of a core and got 153 cache hits/s where `wrk -t2 -c2` got 276/s from the same URL (a bare ASGI
hello-world under uvicorn does 12,000 req/s with wrk).

    python -m benchmarks.bench_previews        (env: BENCH_PREVIEWS_SLICES=300, BENCH_PREVIEWS_RUNS=3)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from benchmarks.ct_variants import VARIANTS as COPIES
from benchmarks.ct_variants import compressed_copy
from benchmarks.httpload import LoadResult, concurrent_get, cookie_header
from benchmarks.orthanc_ref import orthanc_server, store_instance

BENCH = "previews"
ROOT = Path(__file__).resolve().parents[1]
WINDOW = "c40w400"  # window 40/400 as a preview URL segment
VARIANTS = {"uncompressed": "1.2.840.10008.1.2.1", "rle": "1.2.840.10008.1.2.5", "j2k": "1.2.840.10008.1.2.4.90"}
KEPT = "*.v[0-9].*"  # kept decoded frames: <frame>.v1.zst (16-bit), <frame>.v2.lz4 (8-bit), previews/decoded.py
GOAL = 1.2  # ours / Orthanc+GDCM, cold 512 previews, every transfer syntax (issue 17)
# Connections per side, e.g. BENCH_PREVIEWS_CLIENTS=2,4. 2 is the comparison. With 2 web workers on
# one listening socket both connections land in one worker in about half the runs (docs/capacity.md); 4
# makes that rare, but measured no better (4 client processes, 2 cores: docs/capacity.md, round 3).
CLIENTS = [int(n) for n in os.environ.get("BENCH_PREVIEWS_CLIENTS", "2").split(",") if n.strip()]
# What issue 17 quotes when no reference can be measured here (Orthanc 1.10 + GDCM on this kind of machine).
QUOTED = "issue 17: Orthanc 1.10 + GDCM ~280 images/s JPEG-lossless, ~62 JPEG 2000 (ours ~272, ~60)"


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    load = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy it was
    web = int(os.environ.get("BENCH_PREVIEWS_WEB_WORKERS", "2"))
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra,
                      "load1": load, "web_workers": web}), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spread(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values), 1), "max": round(max(values), 1), "runs": len(values)}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the CT ---------------------------------------------------------------------------------------------
def wanted(name: str) -> bool:
    """BENCH_PREVIEWS_ONLY=jpeg_baseline,rle: a quick run of some (uncompressed always); unset: all."""
    only = os.environ.get("BENCH_PREVIEWS_ONLY", "")
    return not only or name == "uncompressed" or name in only.split(",")


def write_series(out: Path, slices: int) -> dict[str, list[Path]]:
    from tools.synthetic import UnsupportedEncoding, write_ct_series

    series: dict[str, list[Path]] = {}
    for n, (name, ts) in enumerate(VARIANTS.items()):
        if not wanted(name):
            continue
        try:
            series[name] = write_ct_series(out_dir=out / name, seed=101, slices=slices, transfer_syntax=ts,
                                           series_number=2 + n)
        except UnsupportedEncoding:
            emit(f"cold_{name}", 0, "images/s", skipped="encoder not installed")
        if name != "uncompressed":
            continue
        for copy in filter(wanted, COPIES):  # the copies pydicom cannot encode itself (ct_variants.py)
            paths = compressed_copy(series[name], out / copy, variant=copy)
            if paths:
                series[copy] = paths
            else:
                emit(f"cold_{copy}", 0, "images/s", skipped=f"imagecodecs' {COPIES[copy].codec} encoder not installed")
    return series


# -- our server -----------------------------------------------------------------------------------------
@contextmanager
def yunying_server(data_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "YUNYING_DATA_DIR": str(data_dir), "YUNYING_PUBLIC_URL": url, "YUNYING_ENV": "development"}
    env.pop("YUNYING_DATABASE_URL", None)
    cli = [sys.executable, "-m", "backend.cli"]
    for args in (["migrate"], ["demo", "seed"]):
        subprocess.run([*cli, *args], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603 - our CLI
    log = open(data_dir / "server.log", "wb")  # closed in finally
    process = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port),  # noqa: S603 - our CLI
                                "--workers", os.environ.get("BENCH_PREVIEWS_WEB_WORKERS", "2")],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield url, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def stow(url: str, key: str, paths: list[Path]) -> None:
    boundary = "bench-boundary-5f3a"
    with httpx.Client(timeout=300) as client:
        for start in range(0, len(paths), 50):
            body = bytearray()
            for p in paths[start:start + 50]:
                body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes() + b"\r\n"
            body += f"--{boundary}--\r\n".encode()
            r = client.post(f"{url}/dicomweb/studies", content=bytes(body), headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
            if r.status_code != 200:
                raise RuntimeError(f"STOW failed: {r.status_code} {r.text[:300]}")


def login(url: str, openid: str) -> httpx.Cookies:
    """The WeChat OAuth dance against the simulator (CONTRACT.md: sim_user=<openid>)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        start = client.get("/auth/wechat/start", params={"next": "/"})
        parts = urlsplit(start.headers["location"])
        query = urlencode([*parse_qsl(parts.query), ("sim_user", openid)])
        callback = client.get(urlunsplit(parts._replace(query=query)))
        client.get(callback.headers["location"])
        if "yy_session" not in " ".join(client.cookies.keys()) and not client.cookies:
            raise RuntimeError("login failed")
        return client.cookies


def wait_prerendered(data_dir: Path, timeout: float) -> float:
    import sqlite3

    t0 = time.perf_counter()
    db = sqlite3.connect(data_dir / "yunying.db")
    try:
        while time.perf_counter() - t0 < timeout:
            (pending,) = db.execute("select count(*) from job_outbox where kind = 'prerender'").fetchone()
            if pending == 0:
                return time.perf_counter() - t0
            time.sleep(0.25)
    finally:
        db.close()
    raise RuntimeError("pre-rendering did not finish")


def wait_files(root: Path, pattern: str, count: int, timeout: float) -> float:
    """Seconds until `count` files match `pattern` under `root` (polled)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if sum(1 for _ in root.rglob(pattern)) >= count:
            return time.perf_counter() - t0
        time.sleep(0.5)
    raise RuntimeError(f"fewer than {count} {pattern} files after {timeout:g} s")


def setup_ours(url: str, env: dict[str, str], data_dir: Path, series: dict[str, list[Path]]) -> tuple[
        httpx.Cookies, dict[str, dict[str, Any]]]:
    created = subprocess.run([sys.executable, "-m", "backend.cli", "institution", "create", "基准医院",
                              "--json"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    key = json.loads(created.stdout)["api_key"]
    t0 = time.perf_counter()
    for paths in series.values():
        stow(url, key, paths)
    upload_s = time.perf_counter() - t0
    r = httpx.put(f"{url}/api/v1/institution/patients/NJ0001234", headers={"Authorization": f"Bearer {key}"},
                  json={"resident_id": "320106196203150013", "name": "张伟"})
    r.raise_for_status()
    slices = len(next(iter(series.values())))
    prerender = wait_prerendered(data_dir, timeout=900)
    # the outbox row goes when a job is handed over, not when it is done: wait for its last output too,
    # the decoded frame of every compressed frame (previews/decoded.py), so no run competes with it
    from backend.previews import decoded

    compressed = sum(len(paths) for name, paths in series.items() if name != "uncompressed")
    if decoded.enabled():
        prerender += wait_files(data_dir / "derived", KEPT, compressed, timeout=900)
    emit("prerender_after_upload", prerender, "s", frames=sum(len(p) for p in series.values()),
         upload_s=round(upload_s, 1),
         note="end of upload until every series is pre-rendered (default window) and its frames kept")
    cookies = login(url, "demo-patient")
    layouts: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, cookies=cookies, timeout=120) as c:
        # the registration answers no person id (it echoes only what was sent): the patient's own is in /me
        person = next(p["id"] for p in c.get("/api/v1/me").json()["people"] if p["relation"] == "self")
        timeline = c.get(f"/api/v1/people/{person}/timeline", params={"kind": "imaging_study", "limit": 50}).json()
        for item in timeline["items"]:
            detail = c.get(item["detail_url"] or f"/api/v1/people/{person}/studies/{item['ref_id']}")
            if detail.status_code != 200:
                continue
            for s in detail.json()["series"]:
                if "scrub" in s["previews"] and s["instance_count"] == slices:
                    layouts[s["description"] or s["id"]] = c.get(s["previews"]["scrub"]).json()
    return cookies, _match_layouts(layouts, series)


def measure(series: dict[str, list[Path]], runs: int, work: Path) -> None:
    data_dir = work / "yunying"
    data_dir.mkdir()
    with yunying_server(data_dir) as (url, env), orthanc_server(work) as orthanc:
        cookies, layouts = setup_ours(url, env, data_dir, series)

        def get_ours(urls: list[str], clients: int = 2) -> LoadResult:
            # the login cookies a browser would send for these URLs (all share one path prefix)
            cookie = cookie_header(jar=cookies.jar, path=urlsplit(urls[0]).path)
            return concurrent_get(base_url=url, urls=urls, clients=clients, headers={"Cookie": cookie})

        theirs_urls: dict[str, list[str]] = {}
        version, plugins = None, []
        if orthanc is not None:
            with httpx.Client(base_url=orthanc, timeout=120) as c:
                version = c.get("/system").json().get("Version")
                plugins = c.get("/plugins").json()
                if "gdcm" not in plugins:  # the reference is Orthanc as deployed: with GDCM, or none
                    for name in series:
                        emit(f"orthanc_cold_{name}", 0, "images/s", orthanc=version, plugins=plugins,
                             skipped="Orthanc's GDCM plugin (Debian orthanc-gdcm) is not loaded", reference=QUOTED)
                    orthanc = None
            for name, paths in series.items() if orthanc is not None else ():
                with httpx.Client(base_url=str(orthanc), timeout=120) as c:
                    ids = [store_instance(c, p) for p in paths]
                    urls = [f"/instances/{i}/rendered?width=512&window-center=40&window-width=400" for i in ids]
                    check = c.get(urls[0], headers={"Accept": "image/jpeg"})
                if check.status_code == 200 and check.headers.get("content-type") == "image/jpeg":
                    theirs_urls[name] = urls
                else:
                    emit(f"orthanc_cold_{name}", 0, "images/s", orthanc=version, plugins=plugins,
                         skipped=f"Orthanc with GDCM cannot render it: HTTP {check.status_code}")
        else:
            for name in series:
                emit(f"orthanc_cold_{name}", 0, "images/s", reference=QUOTED,
                     skipped="Orthanc + GDCM not installed or no network namespace")

        def get_theirs(urls: list[str], clients: int = 2) -> LoadResult:
            return concurrent_get(base_url=str(orthanc), urls=urls, clients=clients, headers={"Accept": "image/jpeg"})

        hit_rate = None
        for name, layout in layouts.items():
            urls = [t.format(window=WINDOW, width="512", ext="jpg") for t in layout["frame_urls"]]
            kept = name != "uncompressed"  # compressed frames pre-rendering decoded are kept (previews/decoded.py)
            shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in series[name]} if kept else set()
            for clients in CLIENTS:
                _measure_cold(name, urls, clients, get_ours=get_ours, get_theirs=get_theirs,
                              theirs_urls=theirs_urls.get(name), runs=runs, data_dir=data_dir, shas=shas,
                              kept=kept, version=version, plugins=plugins)
            if name != "uncompressed":
                continue
            emit("scrub_strip_bytes", layout["total_bytes"], "bytes", frames=layout["frame_count"],
                 sheets=len(layout["sheets"]), tile=layout["tile"], goal_bytes=2_500_000)
            hit_rates, lats, total = [], [], 0
            for _ in range(runs):
                rate, lat, total, *_ = get_ours(urls + urls)
                hit_rates.append(rate)
                lats += lat
            hit_rate = statistics.median(hit_rates)
            emit("hit_throughput", hit_rate, "images/s", clients=2, **_spread(hit_rates))
            emit("hit_latency_p50", _pct(lats, 50) * 1000, "ms", requests=len(lats))
            emit("hit_latency_p99", _pct(lats, 99) * 1000, "ms", requests=len(lats))
            emit("bytes_per_preview_512_jpeg", total / (2 * len(urls)), "bytes", quality=85)
            webp = [t.format(window=WINDOW, width="512", ext="webp") for t in layout["frame_urls"][::10]]
            emit("bytes_per_preview_512_webp", get_ours(webp).total_bytes / len(webp), "bytes", quality=80,
                 frames=len(webp))
            if "uncompressed" in theirs_urls:
                again = [get_theirs(theirs_urls[name]).rate for _ in range(runs)]
                emit("ratio_hit_vs_orthanc_cold", hit_rate / statistics.median(again), "x", goal=3.0)


def _measure_cold(name: str, urls: list[str], clients: int, *, get_ours: Callable[[list[str], int], LoadResult],
                  get_theirs: Callable[[list[str], int], LoadResult], theirs_urls: list[str] | None, runs: int,
                  data_dir: Path, shas: set[str], kept: bool, version: str | None, plugins: list[str]) -> None:
    """Cold renders of one series with ``clients`` connections each side, runs interleaved ours/Orthanc.
    Figures for 2 clients keep their names; other counts get a ``_c<N>`` suffix."""
    suffix = "" if clients == 2 else f"_c{clients}"
    ours_rates: list[float] = []
    their_rates: list[float] = []
    ours_cpu: list[float] = []
    their_cpu: list[float] = []
    first_rates: list[float] = []
    for _ in range(runs):  # interleaved, so both see the same machine noise
        for f in (data_dir / "derived").rglob(f"*-{WINDOW}-512-*"):
            f.unlink()
        result = get_ours(urls, clients)
        ours_rates.append(result.rate)
        ours_cpu.append(result.client_cpu)
        if kept:  # and frames never decoded before: the decoder's own speed, as Orthanc has it
            derived = data_dir / "derived"
            # this series' kept frames only (keys r<v>/px/<sha[:2]>/<sha>/…): the other series keep theirs
            for f in [*derived.rglob(f"*-{WINDOW}-512-*"),
                      *(g for sha in shas for g in derived.glob(f"r*/px/{sha[:2]}/{sha}/{KEPT}"))]:
                f.unlink()
            first_rates.append(get_ours(urls, clients).rate)
        if theirs_urls is not None:
            result = get_theirs(theirs_urls, clients)
            their_rates.append(result.rate)
            their_cpu.append(result.client_cpu)
    mine = statistics.median(ours_rates)
    emit(f"cold_{name}{suffix}", mine, "images/s", clients=clients, width=512, window="40/400",
         **_spread(ours_rates), client_cpu_s=round(statistics.median(ours_cpu), 3))
    if their_rates:
        theirs = statistics.median(their_rates)
        emit(f"orthanc_cold_{name}{suffix}", theirs, "images/s", clients=clients, orthanc=version,
             **_spread(their_rates), client_cpu_s=round(statistics.median(their_cpu), 3), plugins=plugins)
        ratios = [a / b for a, b in zip(ours_rates, their_rates, strict=True)]
        emit(f"ratio_cold_{name}{suffix}_vs_orthanc", statistics.median(ratios), "x", goal=GOAL,
             reference="Orthanc + GDCM", per_run=[round(r, 2) for r in ratios])
    if first_rates:
        emit(f"cold_never_decoded_{name}{suffix}", statistics.median(first_rates), "images/s", clients=clients,
             **_spread(first_rates), note="kept decoded frames deleted too: every frame decoded now")
    if first_rates and their_rates:
        ratios = [a / b for a, b in zip(first_rates, their_rates, strict=True)]
        emit(f"ratio_cold_never_decoded_{name}{suffix}_vs_orthanc", statistics.median(ratios), "x", goal=GOAL,
             reference="Orthanc + GDCM", per_run=[round(r, 2) for r in ratios])


def _match_layouts(layouts: dict[str, dict[str, Any]], series: dict[str, list[Path]]) -> dict[str, dict[str, Any]]:
    """Series descriptions of the synthetic CT name the transfer syntax of compressed copies."""
    out: dict[str, dict[str, Any]] = {}
    for description, layout in layouts.items():
        if "JPEG Lossless" in description:
            out["jpeg_lossless"] = layout
        elif "JPEG Baseline" in description:
            out["jpeg_baseline"] = layout
        elif "RLE" in description:
            out["rle"] = layout
        elif "2000" in description:
            out["j2k"] = layout
        elif "(" not in description:
            out["uncompressed"] = layout
    return {k: out[k] for k in series if k in out}


def run() -> None:
    """Re-runs itself inside a fresh network namespace with only loopback when Orthanc is installed
    (Orthanc 1.10 binds every interface whatever RemoteAccessAllowed says); both servers and all
    clients then live in that namespace, and runs alternate between them."""
    if shutil.which("Orthanc") and os.environ.get("BENCH_PREVIEWS_NETNS") is None:
        can = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0  # noqa: S607
        if can:
            env = {**os.environ, "BENCH_PREVIEWS_NETNS": "1"}
            done = subprocess.run(["unshare", "-n", sys.executable, "-m", "benchmarks.bench_previews"],  # noqa: S607
                                  cwd=ROOT, env=env, timeout=3600)
            if done.returncode != 0:
                raise RuntimeError(f"the benchmark inside the network namespace failed ({done.returncode})")
            return
        emit("netns", 0, "", skipped="no rights for a network namespace (unshare -n): measuring without Orthanc")
    if os.environ.get("BENCH_PREVIEWS_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # noqa: S607 - iproute2 from PATH
    slices = int(os.environ.get("BENCH_PREVIEWS_SLICES", "300"))
    runs = max(3, int(os.environ.get("BENCH_PREVIEWS_RUNS", "3")))
    with tempfile.TemporaryDirectory(prefix="yy-bench-previews-") as tmp:
        work = Path(tmp)
        measure(write_series(work / "ct", slices), runs, work)


if __name__ == "__main__":
    run()
