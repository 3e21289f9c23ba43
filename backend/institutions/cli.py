"""``yunying institution …``: create hospitals and manage their API keys."""

from __future__ import annotations

import json

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit
from backend.db import session_scope
from backend.errors import AppError

app = typer.Typer(no_args_is_help=True, help="Hospitals and their API keys.")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The hospital's name, e.g. 江苏省人民医院"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with id and api_key."),
) -> None:
    """Create a hospital and print its API key (shown only this once)."""
    from backend.institutions.service import create_institution

    engine = engine_or_exit(settings_or_exit())
    try:
        with session_scope(engine) as session:
            issued = create_institution(session=session, name=name)
    except AppError as exc:
        fail(exc.detail)
    if as_json:
        typer.echo(json.dumps({"id": issued.institution_id, "name": name, "api_key": issued.api_key}))
    else:
        typer.echo(f"institution {name} created: id {issued.institution_id}")
        typer.echo(f"API key (shown once, store it in the PACS): {issued.api_key}")


@app.command("rotate-key")
def rotate(
    institution: str = typer.Argument(..., help="Institution id or name"),
    revoke_old: bool = typer.Option(False, "--revoke-old", help="Revoke every previous key at once."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a new API key (old keys keep working unless --revoke-old)."""
    from backend.institutions.service import find_institution, rotate_key

    engine = engine_or_exit(settings_or_exit())
    try:
        with session_scope(engine) as session:
            inst = find_institution(session=session, ref=institution)
            issued = rotate_key(session=session, institution_id=inst.id, revoke_old=revoke_old)
    except AppError as exc:
        fail(exc.detail)
    if as_json:
        typer.echo(json.dumps({"id": issued.institution_id, "key_id": issued.key_id, "api_key": issued.api_key}))
    else:
        typer.echo(f"new API key {issued.key_id} (shown once): {issued.api_key}")


@app.command("revoke-key")
def revoke(key_id: str = typer.Argument(..., help="The key's id")) -> None:
    """Revoke one API key immediately."""
    from backend.institutions.service import revoke_key

    engine = engine_or_exit(settings_or_exit())
    try:
        with session_scope(engine) as session:
            revoke_key(session=session, key_id=key_id)
    except AppError as exc:
        fail(exc.detail)
    typer.echo(f"key {key_id} revoked")
