"""Previews over HTTP on the 300-slice synthetic chest CT, and Orthanc on the same files in the same run.

What runs: a real `yunying serve` (one web process, its render pool of 2 processes) on loopback with a
scratch data dir; the demo data is seeded, a hospital uploads the CT (uncompressed, RLE and JPEG 2000
lossless copies; pydicom cannot write JPEG lossless) over STOW-RS and registers the patient, who is
张伟 of the demo, and the demo patient logs in through the WeChat simulator. All preview URLs come
from the API (study detail -> scrub layout -> frame URL templates), as the PWA gets them.

Figures (medians of BENCH_PREVIEWS_RUNS >= 3 runs, min/max alongside):
- prerender_seconds: ingest to "every series pre-rendered" (thumbnails, strips, 512 previews);
- cold_<variant>: images/s of 512-wide JPEG, window 40/400 (a window pre-rendering did not make),
  two concurrent clients, the cached files of that window deleted before each run;
- hit_*: the same URLs again (cache hits): images/s and p50/p99 latency;
- bytes per 512 preview (JPEG q85, WebP q80) and the scrub strips' total bytes for the series;
- orthanc_cold_<variant>: Orthanc's /instances/{id}/rendered?width=512&window-center=40&window-width=400
  (Accept: image/jpeg), same clients, same files; and our/Orthanc ratios.
Orthanc 1.10 listens on every interface whatever its configuration, so it runs inside a fresh network
namespace that has only loopback (`unshare -n`), with RemoteAccessAllowed false; the clients measuring
it run inside that namespace too. Without Orthanc (or without the rights for a namespace) a
`skipped` reference line is printed instead.

    python -m benchmarks.bench_previews        (env: BENCH_PREVIEWS_SLICES=300, BENCH_PREVIEWS_RUNS=3)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

BENCH = "previews"
ROOT = Path(__file__).resolve().parents[1]
WINDOW = "c40w400"  # window 40/400 as a preview URL segment
VARIANTS = {"uncompressed": "1.2.840.10008.1.2.1", "rle": "1.2.840.10008.1.2.5", "j2k": "1.2.840.10008.1.2.4.90"}


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    load = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy it was
    print(json.dumps({"bench": BENCH, "metric": metric, "value": round(value, 2), "unit": unit, **extra,
                      "load1": load}), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spread(values: list[float]) -> dict[str, Any]:
    return {"min": round(min(values), 1), "max": round(max(values), 1), "runs": len(values)}


def concurrent_get(make_client: Callable[[], httpx.Client], urls: list[str], *, clients: int = 2,
                   headers: dict[str, str] | None = None) -> tuple[float, list[float], int]:
    """GET every URL once, split over `clients` threads. Returns (images/s, latencies s, bytes)."""
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(part: list[str]) -> None:
        with make_client() as client:
            for url in part:
                t0 = time.perf_counter()
                r = client.get(url, headers=headers)
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {url} {r.text[:200]}")
                    latencies.append(dt)
                    sizes.append(len(r.content))

    threads = [threading.Thread(target=work, args=(urls[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return len(urls) / wall, latencies, sum(sizes)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the CT ---------------------------------------------------------------------------------------------
def write_series(out: Path, slices: int) -> dict[str, list[Path]]:
    from backend.imaging.synthetic import UnsupportedEncoding, write_ct_series

    series: dict[str, list[Path]] = {}
    for n, (name, ts) in enumerate(VARIANTS.items()):
        try:
            series[name] = write_ct_series(out_dir=out / name, seed=101, slices=slices, transfer_syntax=ts,
                                           series_number=2 + n)
        except UnsupportedEncoding:
            emit(f"cold_{name}", 0, "images/s", skipped="encoder not installed")
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
    process = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],  # noqa: S603 - our CLI
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
            (pending,) = db.execute("select count(*) from preview_pending").fetchone()
            if pending == 0:
                return time.perf_counter() - t0
            time.sleep(0.25)
    finally:
        db.close()
    raise RuntimeError("pre-rendering did not finish")


def ours(series: dict[str, list[Path]], runs: int, work: Path) -> dict[str, float]:
    data_dir = work / "yunying"
    data_dir.mkdir()
    rates: dict[str, float] = {}
    with yunying_server(data_dir) as (url, env):
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
        person = r.json()["person_id"]
        frames = sum(len(p) for p in series.values())
        slices = len(next(iter(series.values())))
        prerender = wait_prerendered(data_dir, timeout=900)
        emit("prerender_after_upload", prerender, "s", frames=frames, upload_s=round(upload_s, 1),
             note="time from the end of the upload until every series was pre-rendered (default window)")
        cookies = login(url, "demo-patient")

        def client() -> httpx.Client:
            return httpx.Client(base_url=url, cookies=cookies, timeout=60)

        with client() as c:
            studies = c.get(f"/api/v1/people/{person}/timeline", params={"kind": "imaging_study", "limit": 50}).json()
            layouts: dict[str, dict[str, Any]] = {}
            for item in studies["items"]:
                detail = c.get(item["detail_url"] or f"/api/v1/people/{person}/studies/{item['ref_id']}")
                if detail.status_code != 200:
                    continue
                for s in detail.json()["series"]:
                    if "scrub" in s["previews"] and s["instance_count"] == slices:
                        layout = c.get(s["previews"]["scrub"]).json()
                        layouts[s["description"] or s["id"]] = layout
        by_variant = _match_layouts(layouts, series)
        for name, layout in by_variant.items():
            urls = [t.format(window=WINDOW, width="512", ext="jpg") for t in layout["frame_urls"]]
            derived = data_dir / "derived"
            run_rates = []
            for _ in range(runs):
                for f in derived.rglob(f"*-{WINDOW}-512-*"):
                    f.unlink()
                rate, _, _ = concurrent_get(client, urls)
                run_rates.append(rate)
            rates[f"cold_{name}"] = statistics.median(run_rates)
            emit(f"cold_{name}", rates[f"cold_{name}"], "images/s", clients=2, width=512, window="40/400",
                 **_spread(run_rates))
            if name == "uncompressed":
                emit("scrub_strip_bytes", layout["total_bytes"], "bytes", frames=layout["frame_count"],
                     sheets=len(layout["sheets"]), tile=layout["tile"], goal_bytes=2_500_000)
                hit_rates, lats = [], []
                total = 0
                for _ in range(runs):
                    rate, lat, total = concurrent_get(client, urls + urls)
                    hit_rates.append(rate)
                    lats += lat
                rates["hit"] = statistics.median(hit_rates)
                emit("hit_throughput", rates["hit"], "images/s", clients=2, **_spread(hit_rates))
                emit("hit_latency_p50", _pct(lats, 50) * 1000, "ms", requests=len(lats))
                emit("hit_latency_p99", _pct(lats, 99) * 1000, "ms", requests=len(lats))
                emit("bytes_per_preview_512_jpeg", total / (2 * len(urls)), "bytes", quality=85)
                webp = [t.format(window=WINDOW, width="512", ext="webp") for t in layout["frame_urls"][::10]]
                _, _, wbytes = concurrent_get(client, webp)
                emit("bytes_per_preview_512_webp", wbytes / len(webp), "bytes", quality=80, frames=len(webp))
    return rates


def _match_layouts(layouts: dict[str, dict[str, Any]], series: dict[str, list[Path]]) -> dict[str, dict[str, Any]]:
    """Series descriptions of the synthetic CT name the transfer syntax of compressed copies."""
    out: dict[str, dict[str, Any]] = {}
    for description, layout in layouts.items():
        if layout.get("frame_count") != len(next(iter(series.values()))):
            continue
        if "RLE" in description:
            out["rle"] = layout
        elif "2000" in description:
            out["j2k"] = layout
        elif "(" not in description:
            out["uncompressed"] = layout
    return {k: out[k] for k in series if k in out}


# -- Orthanc ----------------------------------------------------------------------------------------------
def orthanc_child(config: dict[str, Any]) -> None:
    """Runs inside the network namespace: start Orthanc, upload, measure, print JSON lines."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)  # noqa: S607 - iproute2 from PATH
    work = Path(config["work"])
    port = 8042
    cfg = {"Name": "bench", "StorageDirectory": str(work / "orthanc-db"), "IndexDirectory": str(work / "orthanc-db"),
           "HttpPort": port, "DicomPort": 4242, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
           "AuthenticationEnabled": False, "Plugins": [], "StorageCompression": False, "HttpThreadsCount": 50,
           "ConcurrentJobs": 2}
    (work / "orthanc.json").write_text(json.dumps(cfg))
    log = open(work / "orthanc.log", "wb")  # closed in finally
    proc = subprocess.Popen(["Orthanc", str(work / "orthanc.json")],  # noqa: S603,S607 - the Debian package
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/system", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(json.dumps({"version": httpx.get(f"{base}/system").json().get("Version")}), flush=True)
        with httpx.Client(base_url=base, timeout=60) as c:
            for name, paths in config["series"].items():
                ids = [c.post("/instances", content=Path(p).read_bytes()).json()["ID"] for p in paths]
                urls = [f"/instances/{i}/rendered?width=512&window-center=40&window-width=400" for i in ids]
                check = c.get(urls[0], headers={"Accept": "image/jpeg"})
                if check.status_code != 200:  # e.g. RLE / JPEG 2000 without the GDCM plugin
                    print(json.dumps({"variant": name, "error": f"HTTP {check.status_code} {check.text[:120]}"}),
                          flush=True)
                    continue
                rates = []
                for _ in range(config["runs"]):
                    rate, _, _ = concurrent_get(lambda: httpx.Client(base_url=base, timeout=60), urls,
                                                headers={"Accept": "image/jpeg"})
                    rates.append(rate)
                print(json.dumps({"variant": name, "rates": rates, "content_type": check.headers.get("content-type"),
                                  "bytes": len(check.content)}), flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def orthanc(series: dict[str, list[Path]], runs: int, work: Path, rates: dict[str, float]) -> None:
    if shutil.which("Orthanc") is None or shutil.which("unshare") is None:
        emit("orthanc_cold_uncompressed", 0, "images/s", skipped="Orthanc or unshare not installed",
             reference="issue 4: Orthanc 1.10 ~950/s uncompressed, ~550 JPEG-lossless, ~80 J2K")
        return
    config = {"work": str(work), "runs": runs, "series": {k: [str(p) for p in v] for k, v in series.items()}}
    (work / "orthanc-bench.json").write_text(json.dumps(config))
    done = subprocess.run(["unshare", "-n", sys.executable,  # noqa: S603,S607 - util-linux from PATH
                           "-m", "benchmarks.bench_previews", "--orthanc-child", str(work / "orthanc-bench.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        emit("orthanc_run", 0, "", skipped=f"Orthanc run failed: {done.stderr[-300:]}")
    version = None
    for line in done.stdout.splitlines():
        row = json.loads(line)
        if "version" in row:
            version = row["version"]
            continue
        if "error" in row:
            emit(f"orthanc_cold_{row['variant']}", 0, "images/s", orthanc=version,
                 skipped=f"Orthanc cannot render it: {row['error']}")
            continue
        name, values = row["variant"], row["rates"]
        theirs = statistics.median(values)
        emit(f"orthanc_cold_{name}", theirs, "images/s", clients=2, orthanc=version, bytes_512=row["bytes"],
             content_type=row["content_type"], **_spread(values))
        if f"cold_{name}" in rates and theirs:
            goal = 1.5 if name == "uncompressed" else 1.0
            emit(f"ratio_cold_{name}_vs_orthanc", rates[f"cold_{name}"] / theirs, "x", goal=goal)
        if name == "uncompressed" and "hit" in rates and theirs:
            emit("ratio_hit_vs_orthanc_cold", rates["hit"] / theirs, "x", goal=3.0)


def run() -> None:
    slices = int(os.environ.get("BENCH_PREVIEWS_SLICES", "300"))
    runs = max(3, int(os.environ.get("BENCH_PREVIEWS_RUNS", "3")))
    with tempfile.TemporaryDirectory(prefix="yy-bench-previews-") as tmp:
        work = Path(tmp)
        series = write_series(work / "ct", slices)
        rates = ours(series, runs, work)
        orthanc(series, runs, work, rates)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--orthanc-child":
        orthanc_child(json.loads(Path(sys.argv[2]).read_text()))
    else:
        run()
