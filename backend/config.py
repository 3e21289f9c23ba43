"""One typed Settings object for the whole service (env prefix ``YUNYING_``).

The variables and defaults are part of the outside contract (CONTRACT.md, "Settings"). Development
generates its secrets once and keeps them in the data dir, so a fresh clone runs with no
configuration; production refuses every unsafe default (see :func:`_production_problems`) and says
which setting is wrong.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.storage import private

if TYPE_CHECKING:
    from backend.storage.service import Storage

Environment = Literal["development", "test", "production"]

# Names of the secrets the service needs; each is 32 random bytes, base64url-encoded.
SECRET_NAMES = ("secret_key", "encryption_key", "blind_index_key")


class ConfigError(Exception):
    """Start-up configuration is unusable; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YUNYING_", extra="ignore", validate_default=True)

    env: Environment = "development"
    data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    wechat_simulator: bool | None = None

    # WeChat Official Account credentials (the simulator accepts its own defaults).
    wechat_appid: str = "wx-yunying-dev"
    wechat_secret: str = "dev-secret-not-for-production"  # noqa: S105 - refused in production
    wechat_token: str = "yunying-dev-token"  # noqa: S105 - the simulator's default
    wechat_aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    wechat_api_base: str | None = None

    # Secrets: generated in development (data dir), required in production.
    secret_key: str | None = None
    encryption_key: str | None = None
    blind_index_key: str | None = None

    # Limits on untrusted input.
    max_request_bytes: int = Field(default=4 * 1024**3, gt=0)
    max_instance_bytes: int = Field(default=2 * 1024**3, gt=0)
    max_pixels: int = Field(default=512 * 1024 * 1024, gt=0)
    max_json_bytes: int = Field(default=1024 * 1024, gt=0)

    # STOW-RS: processes that parse uploaded headers beside each web process (backend/ingest/parsepool.py);
    # 0 parses in the web process's threads (issue 21 measured both: docs/ingest.md).
    parse_processes: int = Field(default=0, ge=0, le=64)

    # /docs and /openapi.json: on in development and tests, off in production unless switched on.
    api_docs: bool | None = None

    # Background work: unset runs it in-process (embedded default); amqp://… sends it to Celery workers
    # (`yunying worker`, backend/jobs). The hard time limit of one job, in seconds: a job stuck in a
    # decoder is killed with the worker's child process, which is replaced.
    broker_url: str | None = None
    job_time_limit_s: float = Field(default=600.0, gt=0)

    # PostgreSQL: the audit events of pure reads are written by one group writer per process, many reads
    # to one chain write (access/audit_group.py). Off: each read writes its own (the benchmark's reference).
    audit_group_commit: bool = True

    # Reverse proxies whose X-Forwarded-For is believed (IPs / CIDRs, comma or space separated): proxies.py.
    trusted_proxies: str = ""

    # Where blobs live (storage/service.py): unset = the data dir; a directory; or s3://BUCKET[/prefix]
    # with endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    # AWS_DEFAULT_REGION.
    storage_url: str | None = None
    # A node-local copy of derived objects (previews, strips) read from or written to an S3 store
    # (storage/nodecache.py): its directory (unset: <data dir>/derived-cache) and size; 0 turns it off.
    # A local store gets none (it is a disk already).
    derived_cache_dir: Path | None = None
    derived_cache_mb: int = Field(default=1024, ge=0)

    # Set by load_settings(): which secrets were generated rather than configured.
    generated_secrets: tuple[str, ...] = ()

    @field_validator("public_url")
    @classmethod
    def _public_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _storage_url_shape(cls, value: str | None) -> str | None:
        from backend.storage.service import parse_url

        if value:
            parse_url(value, data_dir=Path("."))  # ValueError says what is wrong
        return value or None

    @property
    def storage(self) -> Storage:
        """The object store and its areas (one per process and locator)."""
        from backend.storage.service import storage_for

        return storage_for(storage_url=self.storage_url, data_dir=self.data_dir)

    @field_validator("broker_url")
    @classmethod
    def _broker_url_shape(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("amqp://", "amqps://", "pyamqp://")):
            raise ValueError("must be an amqp:// or amqps:// URL (RabbitMQ), or unset for in-process work")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_shape(cls, value: str) -> str:
        from backend.proxies import parse_trusted

        parse_trusted(value)  # ValueError names the entry
        return value

    @property
    def trusted_networks(self) -> tuple[Any, ...]:
        from backend.proxies import parse_trusted

        return parse_trusted(self.trusted_proxies)

    @model_validator(mode="after")
    def _defaults_by_env(self) -> Settings:
        if self.wechat_simulator is None:
            self.wechat_simulator = self.env != "production"
        if self.api_docs is None:
            self.api_docs = self.env != "production"
        return self

    @property
    def sqlite_default(self) -> bool:
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'yunying.db').resolve()}"

    @property
    def effective_wechat_api_base(self) -> str:
        """Where the WeChat client sends its requests: the simulator in development."""
        if self.wechat_api_base:
            return self.wechat_api_base.rstrip("/")
        if self.wechat_simulator:
            return f"{self.public_url}/_sim/wechat"
        return "https://api.weixin.qq.com"

    def secret_bytes(self, name: str) -> bytes:
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"YUNYING_{name.upper()} is not set")
        return _decode_secret(name, value)


def _decode_secret(name: str, value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"YUNYING_{name.upper()} must be base64url") from exc
    if len(raw) < 32:
        raise ConfigError(f"YUNYING_{name.upper()} must decode to at least 32 bytes")
    return raw


def _load_or_generate_secrets(data_dir: Path) -> dict[str, str]:
    """Development secrets live in ``<data dir>/secrets.json`` (mode 0600), created once."""
    path = data_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is unreadable: {exc}") from exc
    missing = [name for name in SECRET_NAMES if name not in stored]
    if missing:
        for name in missing:
            stored[name] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        tmp = path.with_suffix(".tmp")
        fd = private.create_file(tmp, exclusive=False)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return stored


def _check_data_dir(data_dir: Path) -> None:
    try:
        private.private_dir(data_dir)  # 0700, also when it existed before (storage/private.py)
        probe = data_dir / ".write-probe"
        probe.unlink(missing_ok=True)
        fd = private.create_file(probe)
        os.write(fd, b"ok")
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"YUNYING_DATA_DIR={data_dir} is not writable: {exc.strerror or exc}") from exc


# Settings whose development defaults are public (they are in this repository): a push to
# /wechat/callback signed with the default token and AES key would be accepted as WeChat's.
PUBLIC_DEFAULTS = ("wechat_appid", "wechat_secret", "wechat_token", "wechat_aes_key")
MIN_DISTINCT_BYTES = 16  # 32 random bytes have ~30 distinct values; fewer than 16 is not random (p < 1e-15)


def _secret_problems(settings: Settings) -> list[str]:
    """Each secret must be set, not degenerate, and used for one purpose only."""
    problems: list[str] = []
    seen: dict[bytes, str] = {}
    for name in SECRET_NAMES:
        env = f"YUNYING_{name.upper()}"
        value = getattr(settings, name)
        if not value:
            problems.append(f"{env} must be set in production (generated secrets are refused)")
            continue
        try:
            raw = _decode_secret(name, value)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if len(set(raw)) < MIN_DISTINCT_BYTES:
            problems.append(f"{env} is not random (fewer than {MIN_DISTINCT_BYTES} distinct bytes): "
                            f"use 32 bytes from a CSPRNG, e.g. `openssl rand -base64 32`")
        if raw in seen:
            problems.append(f"{env} must differ from YUNYING_{seen[raw].upper()} (one secret per purpose)")
        seen.setdefault(raw, name)
    return problems


def _production_problems(settings: Settings) -> list[str]:
    problems = []
    if settings.wechat_simulator:
        problems.append("YUNYING_WECHAT_SIMULATOR must be off in production")
    if not settings.public_url.startswith("https://"):
        problems.append("YUNYING_PUBLIC_URL must be an https:// URL in production")
    problems += _secret_problems(settings)
    for name in PUBLIC_DEFAULTS:
        if getattr(settings, name) == Settings.model_fields[name].default:
            problems.append(f"YUNYING_{name.upper()} must be set in production (the default is public)")
    url = settings.database_url
    if not url or url.lower().startswith("sqlite"):
        problems.append("YUNYING_DATABASE_URL must name PostgreSQL in production (SQLite is the embedded default)")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read the environment, validate, and fill development secrets. Raises ConfigError.
    Every process of the service loads its settings first: this is where its umask becomes 077."""
    private.restrict_umask()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]) or "settings"
            parts.append(f"YUNYING_{loc.upper()}: {err['msg']}")
        raise ConfigError("; ".join(parts)) from None
    if settings.env == "production":
        problems = _production_problems(settings)
        if problems:
            raise ConfigError("; ".join(problems))
    _check_data_dir(settings.data_dir)
    generated: list[str] = []
    if any(not getattr(settings, name) for name in SECRET_NAMES):
        stored = _load_or_generate_secrets(settings.data_dir)
        for name in SECRET_NAMES:
            if not getattr(settings, name):
                setattr(settings, name, stored[name])
                generated.append(name)
    settings.generated_secrets = tuple(generated)
    for name in SECRET_NAMES:
        settings.secret_bytes(name)  # validates shape and length
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
