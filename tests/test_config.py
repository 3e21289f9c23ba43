"""Settings: development generates secrets once; production refuses unsafe configuration."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from backend.config import ConfigError, load_settings


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path)
    second = load_settings(data_dir=tmp_path)
    assert first.generated_secrets == ("secret_key", "encryption_key", "blind_index_key")
    assert first.secret_key == second.secret_key
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["secret_key"] == first.secret_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_simulator_on_in_development_and_wechat_base_points_at_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, public_url="http://127.0.0.1:8000/")
    assert settings.wechat_simulator is True
    assert settings.effective_wechat_api_base == "http://127.0.0.1:8000/_sim/wechat"


def _secret(seed: int) -> str:
    """A fixed but random-looking 32-byte secret (every test run the same; distinct per seed)."""
    import random

    return base64.urlsafe_b64encode(random.Random(seed).randbytes(32)).decode().rstrip("=")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# A production configuration that starts; each case below spoils one setting.
PRODUCTION: dict[str, object] = {
    "env": "production", "public_url": "https://yy.example.cn",
    "secret_key": _secret(1), "encryption_key": _secret(2), "blind_index_key": _secret(3),
    "wechat_appid": "wx4f0c3a9b2e1d7c65", "wechat_secret": "9b1e6f0d3c2a4b5e8f7a6d5c4b3a2918",
    "wechat_token": "Kq3xVh8TzL1nRw5p", "wechat_aes_key": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx",
    "database_url": "postgresql+psycopg://yunying@db.internal/yunying",
}
ZERO = _b64(bytes(32))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"public_url": "http://yy.example.cn"}, "YUNYING_PUBLIC_URL"),
        ({"wechat_simulator": True}, "YUNYING_WECHAT_SIMULATOR"),
        ({"secret_key": None}, "YUNYING_SECRET_KEY"),
        ({"wechat_secret": None}, "YUNYING_WECHAT_SECRET"),
        # The public defaults: a forged but correctly signed push to /wechat/callback (issue 15, item 5).
        ({"wechat_token": None}, "YUNYING_WECHAT_TOKEN"),
        ({"wechat_aes_key": None}, "YUNYING_WECHAT_AES_KEY"),
        ({"wechat_appid": None}, "YUNYING_WECHAT_APPID"),
        # One value for three purposes, or two: a leak of one is a leak of all.
        ({"secret_key": _secret(9), "encryption_key": _secret(9), "blind_index_key": _secret(9)},
         "YUNYING_ENCRYPTION_KEY"),
        ({"blind_index_key": _secret(1)}, "YUNYING_BLIND_INDEX_KEY"),
        # Degenerate secrets: all zero, one repeated byte, a short cycle (fewer than 16 distinct bytes).
        ({"secret_key": ZERO}, "YUNYING_SECRET_KEY"),
        ({"encryption_key": _b64(b"A" * 32)}, "YUNYING_ENCRYPTION_KEY"),
        ({"blind_index_key": _b64(bytes(range(15)) * 3)}, "YUNYING_BLIND_INDEX_KEY"),
        # SQLite is the embedded default, not a province's database.
        ({"database_url": None}, "YUNYING_DATABASE_URL"),
        ({"database_url": "sqlite:////srv/yunying/yunying.db"}, "YUNYING_DATABASE_URL"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path: Path, overrides: dict[str, object], named: str) -> None:
    config = {**PRODUCTION, "data_dir": tmp_path, **overrides}
    with pytest.raises(ConfigError) as info:
        load_settings(**{k: v for k, v in config.items() if v is not None})
    assert named in str(info.value)
    assert "\n" not in str(info.value)  # one line (the command prints it and exits 2)


def test_three_identical_all_zero_secrets_are_named_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**{**PRODUCTION, "data_dir": tmp_path, "secret_key": ZERO, "encryption_key": ZERO,
                         "blind_index_key": ZERO})
    for name in ("YUNYING_SECRET_KEY", "YUNYING_ENCRYPTION_KEY", "YUNYING_BLIND_INDEX_KEY"):
        assert name in str(info.value)


def test_production_starts_with_real_secrets(tmp_path: Path) -> None:
    settings = load_settings(**{**PRODUCTION, "data_dir": tmp_path})
    assert settings.wechat_simulator is False
    assert settings.generated_secrets == ()
    assert settings.api_docs is False


def test_development_keeps_its_defaults(tmp_path: Path) -> None:
    """The checks are production's: development and tests still start on SQLite and the defaults."""
    settings = load_settings(data_dir=tmp_path, secret_key=ZERO)
    assert settings.sqlite_default and settings.api_docs is True


@pytest.mark.parametrize(("env", "api_docs", "open_"), [
    ("production", None, False), ("production", True, True), ("development", None, True),
    ("development", False, False),
])
def test_api_docs_are_off_in_production_unless_switched_on(
    tmp_path: Path, env: str, api_docs: bool | None, open_: bool
) -> None:
    from fastapi.testclient import TestClient

    from backend.db import make_engine
    from backend.main import create_app

    config = {**PRODUCTION, "env": env, "data_dir": tmp_path}
    if env != "production":
        config = {"env": env, "data_dir": tmp_path}
    if api_docs is not None:
        config["api_docs"] = api_docs
    settings = load_settings(**config)
    engine = make_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    client = TestClient(create_app(settings, engine=engine))  # not entered: no startup, no database
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        res = client.get(path)
        if open_ and path != "/redoc":
            assert res.status_code == 200, path
        else:
            assert res.status_code == 404, path
            assert res.headers["content-type"].startswith("application/problem+json"), path
    engine.dispose()


def test_unknown_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YUNYING_ENV"):
        load_settings(env="prod", data_dir=tmp_path)


def test_storage_url_is_a_directory_or_an_s3_bucket(tmp_path: Path) -> None:
    for bad in ("http://example.com/x", "s3://", "s3://Upper", "s3://under_score", "s3://a"):
        with pytest.raises(ConfigError, match="YUNYING_STORAGE_URL"):
            load_settings(data_dir=tmp_path, storage_url=bad)
    assert load_settings(data_dir=tmp_path).storage.root.locator == str(tmp_path.resolve())
    local = load_settings(data_dir=tmp_path, storage_url=str(tmp_path / "objects")).storage
    assert local.originals.locator == str((tmp_path / "objects" / "blobs").resolve())
    s3 = load_settings(data_dir=tmp_path, storage_url="s3://yunying-prod/nj/").storage
    assert (s3.root.locator, s3.derived.locator) == ("s3://yunying-prod/nj", "s3://yunying-prod/nj/derived")


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YUNYING_SECRET_KEY"):
        load_settings(data_dir=tmp_path, secret_key="c2hvcnQ")


def test_unwritable_data_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="YUNYING_DATA_DIR"):
        load_settings(data_dir=blocker / "sub")
