"""The ``yunying`` command: serve, migrate, demo data, audit verification, and (from other domains)
institutions, uploads and the background worker. Start-up problems print one clear line and exit non-zero."""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Yunying 云影 server command line.")
demo_app = typer.Typer(no_args_is_help=True, help="Demo dataset.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")


def _register_domain_commands() -> None:
    from backend.institutions.cli import app as institution_app

    app.add_typer(institution_app, name="institution")
    from backend.wechat.cli import wechat_app

    app.add_typer(wechat_app, name="wechat")
    from backend.dicomweb.cli import imaging_app, upload

    app.command("upload")(upload)
    app.add_typer(imaging_app, name="imaging")
    from backend.family.cli import family_app

    app.add_typer(family_app, name="family")
    from backend.jobs.cli import worker

    app.command("worker")(worker)
    from backend.storage.cli import storage_app

    app.add_typer(storage_app, name="storage")
    from backend.reminders.cli import reminders_app

    app.add_typer(reminders_app, name="reminders")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from backend import migrate as migrations

    settings = settings_or_exit()
    engine_or_exit(settings)
    migrations.upgrade(settings.effective_database_url)
    typer.echo("database schema is up to date")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve the API, the PWA and (in development) the WeChat simulator."""
    import uvicorn

    settings = settings_or_exit()
    engine_or_exit(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.generated_secrets:
        logging.getLogger("yunying").info("development secrets in use (%s)", settings.data_dir / "secrets.json")
    options: dict[str, Any] = {
        "app": "backend.main:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "proxy_headers": False,
        "server_header": False,
        # Access logs carry URLs, and share tokens travel in URLs: the app logs requests itself.
        "access_log": False,
        "log_config": _log_config(),
    }
    if workers == 1:
        uvicorn.run(**options)
        return
    # Not uvicorn's --workers: one accepting parent deals connections to the workers in turn, so two
    # keep-alive connections never share one worker while another idles (backend/web/workers.py).
    from backend.web import workers as web_workers

    web_workers.serve(options, workers=workers)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging plus the app's own loggers at INFO. Applied in every worker process: with
    ``--workers`` > 1 the workers are fresh interpreters that never ran the basicConfig above."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["yunying"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["yunying"] = {"class": "logging.StreamHandler", "formatter": "yunying",
                                     "stream": "ext://sys.stderr"}
    config["loggers"]["yunying"] = {"handlers": ["yunying"], "level": "INFO", "propagate": False}
    return config


@demo_app.command("seed")
def demo_seed() -> None:
    """Load the demo dataset (idempotent)."""
    from backend.demo import seed

    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    summary = seed(settings=settings, engine=engine)
    typer.echo(summary)


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit hash chain; exit 1 if any row was changed, removed or inserted."""
    from backend.access.audit import verify_chain
    from backend.db import session_scope

    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    with session_scope(engine, readonly=True) as session:
        report = verify_chain(session)
    if not report.ok:
        fail(f"audit chain BROKEN after {report.events} good events: {report.problem}", code=1)
    typer.echo(f"audit chain intact: {report.events} events")


_register_domain_commands()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
