"""The PWA's typed client is generated from pwa/src/api/openapi.json: the committed file must be what
the code describes today (regenerate with ``npm run gen:api`` in pwa/; src/api/schema.test.ts checks
the TypeScript types against this JSON in turn)."""

from __future__ import annotations

import json
from pathlib import Path

from tools import openapi_spec


def test_the_committed_openapi_json_is_the_codes() -> None:
    committed = openapi_spec.COMMITTED.read_text(encoding="utf-8")
    fresh = openapi_spec.render(openapi_spec.spec())
    if committed != fresh:
        old, new = json.loads(committed), json.loads(fresh)

        def differing(a: dict[str, object], b: dict[str, object]) -> list[str]:
            return sorted(k for k in {*a, *b} if a.get(k) != b.get(k))

        changed = differing(old["paths"], new["paths"])
        schemas = differing(old["components"]["schemas"], new["components"]["schemas"])
        raise AssertionError(f"pwa/src/api/openapi.json is stale (run `npm run gen:api` in pwa/): "
                             f"paths {changed[:8]}, schemas {schemas[:8]}")


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi_spec.COMMITTED.read_text(encoding="utf-8").replace('"TimelineResponse"', '"Old"', 1))
    assert openapi_spec.main(["--check", "--out", str(stale)]) == 1
    assert openapi_spec.main(["--out", str(stale)]) == 0
    assert openapi_spec.main(["--check", "--out", str(stale)]) == 0
