"""The login rush (issue 18): N people's first WeChat logins at the same moment against a running server,
each through the whole OAuth dance of CONTRACT.md (/auth/wechat/start → the simulator's authorize with
``sim_user`` → /auth/wechat/callback) and then ``/api/v1/me``. Prints the statuses of the callbacks and
the p50/p95 of a whole login (the three requests), one JSON object.

    python -m benchmarks.login_rush --url http://127.0.0.1:8000 --people 200 [--prefix rush-a]

Every person is a new WeChat user (``<prefix>-<n>``) unless the prefix is reused. The clients are threads
released together by a barrier, so the server sees the rush within a few milliseconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True, slots=True)
class Outcome:
    step: str  # "start", "authorize", "callback" or "me": the step that answered ``status``
    status: int  # 0: no answer (timeout or connection error)
    seconds: float  # the whole login, start to callback
    detail: str = ""


def one_login(url: str, openid: str, barrier: threading.Barrier | None = None, timeout: float = 60.0) -> Outcome:
    with httpx.Client(base_url=url, follow_redirects=False, timeout=timeout) as client:
        if barrier is not None:
            barrier.wait()
        began = time.perf_counter()
        try:
            start = client.get("/auth/wechat/start", params={"next": "/"})
            if start.status_code != 302:
                return Outcome("start", start.status_code, time.perf_counter() - began)
            authorize = client.get(start.headers["location"].split("#", 1)[0] + f"&sim_user={openid}")
            if authorize.status_code != 302:
                return Outcome("authorize", authorize.status_code, time.perf_counter() - began)
            parts = urlsplit(authorize.headers["location"])
            callback = client.get(f"{parts.path}?{parts.query}")
            took = time.perf_counter() - began
            if callback.status_code != 302:
                kind = callback.text.partition('data-problem="')[2].partition('"')[0]
                return Outcome("callback", callback.status_code, took, kind or callback.text[:120])
            me = client.get("/api/v1/me")
            if me.status_code != 200:
                return Outcome("me", me.status_code, took, me.text[:120])
            return Outcome("callback", 302, took)
        except httpx.HTTPError as exc:
            return Outcome("error", 0, time.perf_counter() - began, type(exc).__name__)


def rush(url: str, *, people: int, prefix: str | None = None, timeout: float = 60.0) -> list[Outcome]:
    prefix = prefix or f"rush-{secrets.token_hex(3)}"
    barrier = threading.Barrier(people)
    with ThreadPoolExecutor(people) as pool:
        return list(pool.map(lambda n: one_login(url, f"{prefix}-{n}", barrier, timeout), range(people)))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(outcomes: list[Outcome], *, wall: float, cpu: float) -> dict[str, object]:
    seconds = [o.seconds for o in outcomes]
    return {
        "people": len(outcomes),
        "statuses": dict(Counter(f"{o.step} {o.status}" + (f" {o.detail}" if o.detail else "")
                                 for o in outcomes)),
        "ok": sum(1 for o in outcomes if o.step == "callback" and o.status == 302),
        "login_p50_ms": round(statistics.median(seconds) * 1000, 1),
        "login_p95_ms": round(_percentile(seconds, 0.95) * 1000, 1),
        "wall_s": round(wall, 2),
        "client_cpu_s": round(cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--prefix", default=None, help="openid prefix (reuse it for a rush of returning users)")
    args = parser.parse_args()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    outcomes = rush(args.url.rstrip("/"), people=args.people, prefix=args.prefix)
    wall = time.perf_counter() - began
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps(summary(outcomes, wall=wall, cpu=cpu), ensure_ascii=False))


if __name__ == "__main__":
    main()
