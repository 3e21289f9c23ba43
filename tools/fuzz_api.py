"""Schemathesis over every operation of the API, once per kind of caller (issue 15): nobody, a patient, a
relative with a grant, a doctor's share session and a hospital key. The check is "not a server error":
every answer to generated, malformed or hostile input must be a 4xx problem or a success.

    .venv/bin/python -m tools.fuzz_api [--max-examples 30] [--identities none,patient,...] [--workers 2]

Starts its own server (a fresh data directory, the demo data, development mode so the description is
served), makes the five credentials the way people get them (the WeChat simulator's login, an
invitation accepted, a share opened, `yunying institution create`), runs `st run` for each and prints
one JSON line per identity and a total: operations, test cases, server errors. Exit 1 on any server error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IDENTITIES = ("none", "patient", "relative", "share", "hospital")
ENDING = ("/auth/logout", "/auth/refresh", "/api/v1/me/binding")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(client: httpx.Client, openid: str) -> None:
    start = client.get("/auth/wechat/start", params={"next": "/"})
    authorize = start.headers["location"].split("#", 1)[0] + f"&sim_user={openid}"
    callback = client.get(authorize).headers["location"]
    parts = urlsplit(callback)
    client.get(f"{parts.path}?{parts.query}")


def _cookie_headers(client: httpx.Client) -> list[str]:
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return [f"Cookie: {cookie}", f"X-CSRF-Token: {client.cookies.get('yy_csrf', '')}"]


def _credentials(url: str, env: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"none": []}
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as patient:
        _login(patient, "demo-patient")
        csrf = {"X-CSRF-Token": patient.cookies.get("yy_csrf") or ""}
        person = patient.get("/api/v1/me").json()["person"]["id"]
        out["patient"] = _cookie_headers(patient)
        invitation = patient.post(f"/api/v1/people/{person}/invitations", headers=csrf,
                                  json={"relationship": "child", "may_share": True}).json()
        studies = [i["ref_id"] for i in patient.get(f"/api/v1/people/{person}/timeline",
                                                    params={"kind": "imaging_study"}).json()["items"]]
        share = patient.post(f"/api/v1/people/{person}/shares", headers=csrf,
                             json={"study_ids": studies[:2], "expires_in": "24h"}).json()
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as relative:
        _login(relative, "demo-relative")
        relative.post(f"/api/v1/invitations/{invitation['token']}/accept",
                      headers={"X-CSRF-Token": relative.cookies.get("yy_csrf") or ""})
        out["relative"] = _cookie_headers(relative)
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as doctor:
        token = re.search(r"/s/([^/?#]+)$", share["url"]).group(1)  # type: ignore[union-attr]
        doctor.post(f"/s/{token}/session", json={})
        out["share"] = [f"Cookie: yy_share={doctor.cookies.get('yy_share', '')}"]
    created = subprocess.run([str(BIN / "yunying"), "institution", "create", "模糊测试医院", "--json"], env=env,
                             capture_output=True, text=True, check=True)
    out["hospital"] = [f"Authorization: Bearer {json.loads(created.stdout)['api_key']}"]
    return out


def _run(url: str, identity: str, headers: list[str], args: argparse.Namespace, reports: Path) -> dict[str, Any]:
    junit = reports / f"{identity}.xml"
    cmd = [str(BIN / "st"), "run", f"{url}/openapi.json", "--checks", "not_a_server_error",
           "--max-examples", str(args.max_examples), "--workers", str(args.workers), "--no-color",
           "--request-timeout", "60", "--continue-on-failure", "--seed", str(args.seed),
           "--report", "junit", "--report-junit-path", str(junit),
           # the simulator is development-only scaffolding, not the product's API
           "--exclude-path-regex", "^/_sim/"]
    # Operations that end the caller's own session or binding (logout, a reused refresh token, unbinding)
    # would leave every later operation answering 401: they get a pass of their own, last.
    cmd += [a for path in ENDING for a in ("--exclude-path", path)] if identity != "ending" else [
        a for path in ENDING for a in ("--include-path", path)]
    for header in headers:
        cmd += ["-H", header]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    text = done.stdout + done.stderr
    (reports / f"{identity}.log").write_text(text)
    operations = re.search(r"(\d+) (?:selected|operations)", text)
    cases = re.search(r"(\d+) generated", text)
    failures = text.count("Server error")
    return {"identity": identity, "exit": done.returncode, "server_errors": failures,
            "operations": int(operations.group(1)) if operations else None,
            "test_cases": int(cases.group(1)) if cases else None, "seconds": round(time.monotonic() - started)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--identities", default=",".join(IDENTITIES))
    parser.add_argument("--reports", default=str(ROOT / "test-artifacts" / "fuzz-api"))
    args = parser.parse_args(argv)
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yunying-fuzz-") as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")}
        env.update(YUNYING_DATA_DIR=tmp, YUNYING_ENV="development", YUNYING_PUBLIC_URL=url)
        subprocess.run([str(BIN / "yunying"), "migrate"], env=env, check=True, capture_output=True)
        subprocess.run([str(BIN / "yunying"), "demo", "seed"], env=env, check=True, capture_output=True)
        server = subprocess.Popen([str(BIN / "yunying"), "serve", "--port", str(port), "--workers", "2"], env=env,
                                  stdout=open(reports / "server.log", "wb"), stderr=subprocess.STDOUT)
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            credentials = _credentials(url, env)
            results = [_run(url, name, credentials[name], args, reports) for name in args.identities.split(",")]
            results.append(_run(url, "ending", credentials["patient"], args, reports))
        finally:
            server.terminate()
            server.wait(timeout=30)
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    total = sum(r["server_errors"] for r in results)
    print(json.dumps({"identity": "all", "server_errors": total,
                      "test_cases": sum(r["test_cases"] or 0 for r in results)}))
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
