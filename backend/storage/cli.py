"""``yunying storage sweep`` (the cache lifecycle, storage/sweep.py) and ``yunying storage check``."""

from __future__ import annotations

import json

import typer

from backend.cli_support import fail, settings_or_exit

storage_app = typer.Typer(no_args_is_help=True, help="The object store (YUNYING_STORAGE_URL).")


@storage_app.command("sweep")
def sweep_command(
    max_age_days: float = typer.Option(90.0, "--max-age-days", help="Previews and strips older than this go."),
    pdf_max_age_days: float = typer.Option(30.0, "--pdf-max-age-days", help="Rendered PDFs older than this go."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, delete nothing."),
) -> None:
    """Delete derived objects of older renderers and by age; originals are never touched. Prints one
    JSON object (what was examined and deleted, by reason)."""
    from backend.storage.errors import StorageUnavailable
    from backend.storage.sweep import DAY, current_derived_prefixes, sweep

    settings = settings_or_exit()
    try:
        report = sweep(storage=settings.storage, current=current_derived_prefixes(),
                       derived_max_age_s=max_age_days * DAY, pdf_max_age_s=pdf_max_age_days * DAY, dry_run=dry_run)
    except StorageUnavailable as exc:
        fail(f"the object store is unavailable: {exc.detail}")
    typer.echo(json.dumps({"examined": report.examined, "deleted": report.deleted, "bytes_freed": report.bytes_freed,
                           "by_reason": report.by_reason, "dry_run": dry_run}))


@storage_app.command("check")
def check_command() -> None:
    """Write, read back and list the object store (exit 1 when it is unavailable)."""
    from backend.storage.errors import StorageUnavailable

    settings = settings_or_exit()
    try:
        settings.storage.originals.check()
    except StorageUnavailable as exc:
        fail(f"the object store is unavailable: {exc.detail}", code=1)
    typer.echo(f"ok: {settings.storage.root.locator}")
