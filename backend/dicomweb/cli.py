"""``yunying upload`` (a STOW-RS client for a hospital's IT) and ``yunying imaging delays`` (the
12-hour rule report for the operator).

Upload: walks files and folders, skips what is not DICOM (no "DICM" at byte 128 — files without
the preamble are sent anyway if their name ends in .dcm), sends batches as
``multipart/related; type="application/dicom"`` streamed from disk (PS3.18 §10.5), retries
transient failures (connection errors, 429, 502/503/504) with backoff, prints every failed file
with the server's reason, and exits 0 only if every file was accepted.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import typer

from backend.cli_support import engine_or_exit, settings_or_exit

upload_app = typer.Typer(add_completion=False)
imaging_app = typer.Typer(no_args_is_help=True, help="Imaging operations (12-hour upload rule).")

TRANSIENT = {429, 502, 503, 504}
_CHUNK = 1024 * 1024


def looks_like_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    return path.suffix.lower() == ".dcm" and len(head) >= 8


def walk(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(DICOM files, skipped files) in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
    dicom = [p for p in files if looks_like_dicom(p)]
    skipped = [p for p in files if p not in set(dicom)]
    return dicom, skipped


def batches(files: list[Path], *, max_files: int, max_bytes: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if batch and (len(batch) >= max_files or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def _body(files: list[Path], boundary: str, progress: Any = None) -> Iterator[bytes]:
    for path in files:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if progress is not None:
                    progress(len(chunk))
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


@dataclass
class BatchResult:
    accepted: list[tuple[Path, str | None]] = field(default_factory=list)  # (file, note)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _reason(item: dict[str, Any]) -> str:
    code = item.get("00081197", {}).get("Value", [None])[0]
    note = item.get("00091001", {}).get("Value", [""])[0]
    return f"0x{code:04X} {note}".strip() if isinstance(code, int) else note or "failed"


def interpret(files: list[Path], uids: list[str | None], status: int, body: Any) -> BatchResult:
    """Map the STOW-RS response back to files by SOP Instance UID (parts without one: by order)."""
    result = BatchResult()
    if not isinstance(body, dict) or (status >= 400 and status != 409):
        detail = body.get("detail") if isinstance(body, dict) else None
        result.failed = [(f, f"HTTP {status}: {detail or 'request failed'}") for f in files]
        return result
    ok = {i["00081155"]["Value"][0]: i.get("00091001", {}).get("Value", [None])[0]
          for i in body.get("00081199", {}).get("Value", []) if i.get("00081155", {}).get("Value")}
    failed_items = body.get("00081198", {}).get("Value", [])
    by_uid = {i["00081155"]["Value"][0]: _reason(i) for i in failed_items if i.get("00081155", {}).get("Value")}
    anonymous = [_reason(i) for i in failed_items if not i.get("00081155", {}).get("Value")]
    for path, uid in zip(files, uids, strict=True):
        if uid is not None and uid in ok:
            result.accepted.append((path, ok[uid]))
        elif uid is not None and uid in by_uid:
            result.failed.append((path, by_uid[uid]))
        else:
            result.failed.append((path, anonymous.pop(0) if anonymous else "not in the server's response"))
    return result


def sop_instance_uid(path: Path) -> str | None:
    try:
        from pydicom import dcmread

        return str(dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    except Exception:  # noqa: BLE001 - the server will say why the file is bad
        return None


def send_batch(client: httpx.Client, url: str, files: list[Path], *, retries: int, progress: Any = None) -> BatchResult:
    """Send one request; files repeating a SOP Instance UID of the batch go in a later request, so
    that every answer maps back to exactly one file."""
    uids = [sop_instance_uid(p) for p in files]
    seen: set[str] = set()
    first: list[tuple[Path, str | None]] = []
    later: list[Path] = []
    for path, uid in zip(files, uids, strict=True):
        if uid is not None and uid in seen:
            later.append(path)
        else:
            first.append((path, uid))
            if uid is not None:
                seen.add(uid)
    result = _send(client, url, [p for p, _ in first], [u for _, u in first], retries=retries, progress=progress)
    if later:
        more = send_batch(client, url, later, retries=retries, progress=progress)
        result.accepted += more.accepted
        result.failed += more.failed
    return result


def _send(client: httpx.Client, url: str, files: list[Path], uids: list[str | None], *, retries: int,
          progress: Any) -> BatchResult:
    delay = 1.0
    for attempt in range(retries + 1):
        boundary = f"yunying-upload-{secrets.token_hex(12)}"
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": "application/dicom+json"}
        try:
            response = client.post(url, content=_body(files, boundary, progress), headers=headers)
        except httpx.TransportError as exc:
            if attempt == retries:
                return BatchResult(failed=[(f, f"network error: {type(exc).__name__}") for f in files])
        else:
            if response.status_code not in TRANSIENT or attempt == retries:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                return interpret(files, uids, response.status_code, body)
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


@upload_app.command("upload")
def upload(
    paths: list[Path] = typer.Argument(..., help="DICOM files or folders (walked recursively)."),
    url: str = typer.Option(..., "--url", help="Yunying base URL, e.g. https://yunying.example.cn"),
    key: str = typer.Option(..., "--key", envvar="YUNYING_API_KEY", help="The hospital's API key."),
    batch_files: int = typer.Option(50, help="Instances per STOW-RS request."),
    batch_mb: int = typer.Option(256, help="Megabytes per STOW-RS request."),
    retries: int = typer.Option(4, help="Retries of a request after a transient failure."),
    timeout: float = typer.Option(300.0, help="Seconds per request."),
) -> None:
    """Upload DICOM files to Yunying with STOW-RS; exit 0 only if every file was accepted."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    console = Console(stderr=True)
    files, skipped = walk(paths)
    for path in skipped:
        console.print(f"[dim]skipped (not DICOM): {path}[/dim]")
    if not files:
        console.print("[red]no DICOM files found[/red]")
        raise typer.Exit(1)
    endpoint = url.rstrip("/") + ("/studies" if url.rstrip("/").endswith("/dicomweb") else "/dicomweb/studies")
    total = sum(p.stat().st_size for p in files)
    accepted: list[tuple[Path, str | None]] = []
    failed: list[tuple[Path, str]] = []
    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as client, \
            Progress(*columns, console=console) as progress:
        task = progress.add_task(f"0/{len(files)} files", total=total)
        done = 0
        for batch in batches(files, max_files=batch_files, max_bytes=batch_mb * 1024**2):
            before = progress.tasks[0].completed

            def advance(n: int) -> None:
                progress.update(task, advance=n)

            result = send_batch(client, endpoint, batch, retries=retries, progress=advance)
            progress.update(task, completed=before + sum(p.stat().st_size for p in batch))  # retries re-sent bytes
            accepted += result.accepted
            failed += result.failed
            done += len(batch)
            progress.update(task, description=f"{done}/{len(files)} files")
    seconds = max(time.monotonic() - started, 1e-6)
    for path, reason in failed:
        console.print(f"[red]FAILED[/red] {path}: {reason}")
    again = sum(1 for _, note in accepted if note == "already stored")
    console.print(
        f"{len(accepted)} accepted ({again} already stored), {len(failed)} failed, {len(skipped)} skipped; "
        f"{total / 1e6:.1f} MB in {seconds:.1f} s ({total / 1e6 / seconds:.1f} MB/s)"
    )
    raise typer.Exit(0 if not failed else 1)


@imaging_app.command("delays")
def delays(
    hours: float = typer.Option(12.0, help="The rule: studies must arrive within this many hours of the exam."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Per institution: median and worst delay from acquisition to first arrival, and rule breakers."""
    from backend.db import session_scope
    from backend.ingest.delays import delay_report

    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    with session_scope(engine, readonly=True) as session:
        report = delay_report(session=session, limit=timedelta(hours=hours))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, default=str))
        return
    for row in report["institutions"]:
        typer.echo(
            f"{row['institution']}: {row['studies']} studies, median {row['median_hours']:.1f} h, "
            f"worst {row['worst_hours']:.1f} h, {row['late']} over {hours:g} h"
        )
    for late in report["late_studies"]:
        typer.echo(f"  LATE {late['institution']} {late['study_instance_uid']} "
                   f"acquired {late['acquired_at']} arrived {late['first_received_at']} ({late['delay_hours']:.1f} h)")
    if not report["institutions"]:
        typer.echo("no studies with a known acquisition time")

