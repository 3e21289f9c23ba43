"""The API description the PWA's typed client is generated from, written from the code (no server).

    .venv/bin/python -m tools.openapi_spec            # writes pwa/src/api/openapi.json
    .venv/bin/python -m tools.openapi_spec --check    # exit 1 when the committed file is stale

``npm run gen:api`` (pwa/scripts/gen-api.mjs) runs this, then openapi-typescript for schema.d.ts;
tests/api/test_openapi_committed.py fails when the committed JSON differs from the code's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "pwa" / "src" / "api" / "openapi.json"


def spec() -> dict[str, Any]:
    """``create_app().openapi()`` with fixed settings, so the environment never changes the answer."""
    from backend.config import load_settings
    from backend.main import create_app

    with tempfile.TemporaryDirectory(prefix="yunying-openapi-") as tmp:
        settings = load_settings(env="development", data_dir=Path(tmp), database_url="sqlite://",
                                 redis_url=None, public_url="http://127.0.0.1:8000")
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.engine.dispose()


def render(description: dict[str, Any]) -> str:
    return json.dumps(description, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    parser.add_argument("--out", type=Path, default=COMMITTED)
    args = parser.parse_args(argv)
    text = render(spec())
    if args.check:
        if not args.out.is_file() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is stale: run `npm run gen:api` in pwa/", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"({len(json.loads(text)['paths'])} paths)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
