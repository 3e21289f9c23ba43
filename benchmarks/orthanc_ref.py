"""Orthanc as bench_previews' reference: the Debian package with its GDCM plugin, started only inside the
loopback-only network namespace the benchmark re-runs itself in (Orthanc 1.10 binds every interface
whatever its configuration says)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Orthanc as deployed renders compressed transfer syntaxes through its GDCM plugin (Debian orthanc-gdcm);
# without it, RLE and JPEG 2000 answer 415 and only uncompressed is compared (issue 17).
GDCM_PLUGIN = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
ORTHANC_PLUGINS = [GDCM_PLUGIN] if Path(GDCM_PLUGIN).exists() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def orthanc_server(work: Path) -> Iterator[str | None]:
    """Orthanc from the Debian package, only ever started inside the loopback-only namespace."""
    if shutil.which("Orthanc") is None or os.environ.get("BENCH_PREVIEWS_NETNS") != "1":
        yield None
        return
    port = free_port()
    cfg = {"Name": "bench", "StorageDirectory": str(work / "orthanc-db"), "IndexDirectory": str(work / "orthanc-db"),
           "HttpPort": port, "DicomPort": free_port(), "DicomServerEnabled": False, "RemoteAccessAllowed": False,
           "AuthenticationEnabled": False, "Plugins": ORTHANC_PLUGINS, "StorageCompression": False,
           "HttpThreadsCount": 50}
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
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()



def store_instance(client: httpx.Client, path: Path) -> str:
    """POST /instances, resent on Orthanc 1.10's occasional 500 when two requests race to create one
    storage folder (a known quirk of a fresh storage directory)."""
    for _ in range(3):
        answer = client.post("/instances", content=path.read_bytes())
        if answer.status_code == 200:
            return str(answer.json()["ID"])
    answer.raise_for_status()
    raise RuntimeError("Orthanc refused an instance")
