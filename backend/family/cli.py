"""``yunying family digest``: enqueue the daily digest of relatives' views (cron-able, e.g. 08:00 CST).

Safe to run any number of times a day: the outbox keeps one digest per person per day."""

from __future__ import annotations

from datetime import date

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit

family_app = typer.Typer(no_args_is_help=True, help="Family proxy access.")


@family_app.command("digest")
def digest(day: str = typer.Option("", "--day", help="YYYY-MM-DD (China Standard Time); default yesterday.")) -> None:
    """Queue one WeChat digest per person whose records relatives viewed on that day."""
    from backend.family.notices import send_daily_digest

    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--day must be YYYY-MM-DD, not {day!r}")
    engine = engine_or_exit(settings_or_exit())
    added = send_daily_digest(engine=engine, day=chosen)
    typer.echo(f"digest notices queued: {added}")
