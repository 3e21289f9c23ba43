"""Settings: development generates secrets once; production refuses unsafe configuration."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"public_url": "http://yy.example.cn"}, "YUNYING_PUBLIC_URL"),
        ({"wechat_simulator": True}, "YUNYING_WECHAT_SIMULATOR"),
        ({}, "YUNYING_SECRET_KEY"),
    ],
)
def test_production_refuses_unsafe_settings(tmp_path: Path, overrides: dict[str, object], named: str) -> None:
    base: dict[str, object] = {"env": "production", "data_dir": tmp_path, "public_url": "https://yy.example.cn"}
    with pytest.raises(ConfigError) as info:
        load_settings(**{**base, **overrides})
    assert named in str(info.value)


def test_production_starts_with_real_secrets(tmp_path: Path) -> None:
    key = "A" * 43
    settings = load_settings(
        env="production",
        data_dir=tmp_path,
        public_url="https://yy.example.cn",
        secret_key=key,
        encryption_key=key,
        blind_index_key=key,
        wechat_secret="real-secret",
    )
    assert settings.wechat_simulator is False
    assert settings.generated_secrets == ()


def test_unknown_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YUNYING_ENV"):
        load_settings(env="prod", data_dir=tmp_path)


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="YUNYING_SECRET_KEY"):
        load_settings(data_dir=tmp_path, secret_key="c2hvcnQ")


def test_unwritable_data_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="YUNYING_DATA_DIR"):
        load_settings(data_dir=blocker / "sub")
