"""``yunying reminders due``: queue the WeChat notices of follow-ups that fell due (cron-able, daily).

Safe to run any number of times: the outbox keeps one notice per study. ``yunying reminders rebuild``
rewrites the stored reminder rows the due job reads (after the upgrade that added them)."""

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


@reminders_app.command("rebuild")
def rebuild() -> None:
    """Rewrite every person's follow-up reminder rows from their reports (once after upgrading to the
    release that stores them; safe to run again)."""
    from backend.reminders.service import rebuild as rebuild_rows

    kept = rebuild_rows(engine=engine_or_exit(settings_or_exit()))
    typer.echo(f"follow-up reminders stored: {kept}")
