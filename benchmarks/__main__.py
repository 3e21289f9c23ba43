"""Run every benchmark module in turn. Each prints JSON lines: {"bench", "metric", "value", "unit", ...}."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time

import benchmarks


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    failed = 0
    for name in names:
        started = time.monotonic()
        try:
            importlib.import_module(f"benchmarks.{name}").run()
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
            failed += 1
            line = {"bench": name, "metric": "error", "value": type(exc).__name__, "unit": "", "detail": str(exc)[:300]}
            print(json.dumps(line))
        print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    if not names:
        print(json.dumps({"bench": "none", "metric": "benchmarks", "value": 0, "unit": "count"}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
