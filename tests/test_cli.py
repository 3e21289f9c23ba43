"""The command line fails fast with one clear line on bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("YUNYING_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    result = _run(
        ["migrate"], YUNYING_DATA_DIR=str(tmp_path), YUNYING_DATABASE_URL="postgresql+psycopg://x@127.0.0.1:1/none"
    )
    assert result.returncode == 2
    assert "YUNYING_DATABASE_URL is unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_secrets_refuses_to_serve(tmp_path: Path) -> None:
    result = _run(["serve"], YUNYING_DATA_DIR=str(tmp_path), YUNYING_ENV="production")
    assert result.returncode == 2
    assert "YUNYING_PUBLIC_URL must be an https:// URL" in result.stderr


def test_migrate_then_verify_on_a_fresh_data_dir(tmp_path: Path) -> None:
    assert _run(["migrate"], YUNYING_DATA_DIR=str(tmp_path)).returncode == 0
    result = _run(["audit", "verify"], YUNYING_DATA_DIR=str(tmp_path))
    assert result.returncode == 0
    assert "intact: 0 events" in result.stdout


def test_production_with_public_wechat_defaults_refuses_in_one_line(tmp_path: Path) -> None:
    import base64
    import secrets

    def key() -> str:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    result = _run(["serve"], YUNYING_DATA_DIR=str(tmp_path), YUNYING_ENV="production",
                  YUNYING_PUBLIC_URL="https://yy.example.cn", YUNYING_SECRET_KEY=key(), YUNYING_ENCRYPTION_KEY=key(),
                  YUNYING_BLIND_INDEX_KEY=key(), YUNYING_WECHAT_SECRET="a-real-secret",
                  YUNYING_DATABASE_URL="postgresql+psycopg://x@127.0.0.1:1/none")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "YUNYING_WECHAT_TOKEN" in lines[0] and "YUNYING_WECHAT_AES_KEY" in lines[0]
    assert "YUNYING_WECHAT_APPID" in lines[0] and "Traceback" not in result.stderr
