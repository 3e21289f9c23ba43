"""What every ``yunying`` command shares: settings and the database, or one clear line and an exit.

Kept apart from ``backend/cli.py`` so the domains' command modules (institutions, imaging, family,
wechat), which ``cli.py`` assembles, do not import it back. Heavy modules (the app, pydicom, the
plugins) are imported inside the commands that need them: ``yunying upload`` is a client and starts
in about 1 s instead of 3 s.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from backend.config import ConfigError, Settings, load_settings


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"yunying: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(f"configuration error: {exc}")


def engine_or_exit(settings: Settings) -> Engine:
    """The database, checked; and the plugins (record kinds, MPI hooks) every command that works on the
    data needs exactly as the server has them."""
    from backend import plugins
    from backend.db import check_database, make_engine

    plugins.install()
    engine = make_engine(settings.effective_database_url)
    try:
        check_database(engine)
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        fail(f"the database at YUNYING_DATABASE_URL is unreachable: {reason}")
    return engine
