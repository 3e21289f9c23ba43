"""``yunying reminders due``: queue the WeChat notices of follow-ups that fell due (cron-able, daily).

Safe to run any number of times: the outbox keeps one notice per study."""

from __future__ import annotations

from datetime import date

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit

reminders_app = typer.Typer(no_args_is_help=True, help="Follow-up reminders from reports.")


@reminders_app.command("due")
def due(day: str = typer.Option("", "--day", help="YYYY-MM-DD (China Standard Time); default today.")) -> None:
    """Queue one notice per follow-up due by that day and not yet done."""
    from backend.reminders.service import send_due

    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--day must be YYYY-MM-DD, not {day!r}")
    added = send_due(engine=engine_or_exit(settings_or_exit()), today=chosen)
    typer.echo(f"follow-up notices queued: {added}")
