"""Backup and restore, as a drill anyone can run (issue 18; docs/backup.md).

    python -m tools.backup create --to /backups/2026-12-06         (or --to s3://backup-bucket/2026-12-06)
    python -m tools.backup restore --from /backups/2026-12-06     (into the deployment the YUNYING_* name)

What a backup holds: the database (PostgreSQL: ``pg_dump --format=custom``; SQLite: the online backup
API, a consistent copy while the service writes) and, from the object store, the originals and the
series metadata documents — with a manifest of every object's SHA-256. Derived objects (previews,
strips, PDFs) are caches: they are rendered again on demand and not backed up. The keys
(``YUNYING_SECRET_KEY``, ``YUNYING_ENCRYPTION_KEY``, ``YUNYING_BLIND_INDEX_KEY``) are not in it: without the
encryption key the restored personal data cannot be read, so they are kept apart (a vault), never beside
the data they protect.

Order makes it consistent without stopping anything: the database is copied first, the objects after.
Ingest writes an original before the row that names it commits, and originals are never rewritten, so
every object the copied database names is in the store when the objects are listed afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.config import Settings, load_settings
from backend.storage.base import ObjectStore
from backend.storage.service import META, ORIGINALS, open_store, parse_url

AREAS = (ORIGINALS, META)  # derived caches are rendered again; originals and metadata documents are not
DATABASE_KEY = "database/{name}"
MANIFEST_KEY = "manifest.json"


@dataclass(frozen=True)
class Summary:
    objects: int
    bytes: int
    database: str


def _pg_url(settings: Settings) -> str:
    return settings.effective_database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _is_sqlite(settings: Settings) -> bool:
    return settings.effective_database_url.startswith("sqlite")


def _sqlite_file(settings: Settings) -> Path:
    return Path(settings.effective_database_url.split("///", 1)[1])


def dump_database(settings: Settings, into: Path) -> Path:
    """A consistent copy of the database as one file."""
    if _is_sqlite(settings):
        target = into / "yunying.db"
        with sqlite3.connect(_sqlite_file(settings)) as source, sqlite3.connect(target) as copy:
            source.backup(copy)  # page by page, consistent with concurrent writers (SQLite online backup API)
        return target
    target = into / "yunying.pgdump"
    command = ["pg_dump", "--format=custom", "--no-owner", "--file", str(target), _pg_url(settings)]
    subprocess.run(command, check=True)  # noqa: S603 - PostgreSQL's own client from PATH
    return target


def restore_database(settings: Settings, dump: Path) -> None:
    """Into an empty database (PostgreSQL) or a data dir without one (SQLite)."""
    if _is_sqlite(settings):
        target = _sqlite_file(settings)
        if target.exists():
            raise SystemExit(f"refusing to overwrite an existing database: {target.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dump, target)
        target.chmod(0o600)
        return
    command = ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _pg_url(settings), str(dump)]
    subprocess.run(command, check=True)  # noqa: S603 - PostgreSQL's own client from PATH


def _copy(source: ObjectStore, target: ObjectStore, key: str) -> tuple[int, str]:
    digest = hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for chunk in source.iter_bytes(key=key):
            digest.update(chunk)
            yield chunk

    size = target.put_stream(key=key, source=chunks())
    return size, digest.hexdigest()


def create(settings: Settings, *, to: str) -> Summary:
    backup = open_store(parse_url(to, data_dir=settings.data_dir))
    with tempfile.TemporaryDirectory(prefix="yy-backup-") as tmp:
        dump = dump_database(settings, Path(tmp))
        with dump.open("rb") as fh:
            backup.put_stream(key=DATABASE_KEY.format(name=dump.name), source=fh)
    manifest: dict[str, object] = {"database": dump.name, "objects": []}
    objects: list[dict[str, object]] = []
    total = 0
    for area in AREAS:
        source = settings.storage.area(area)
        for info in source.list():
            size, sha = _copy(source, backup.sub(f"objects/{area}"), info.key)
            objects.append({"area": area, "key": info.key, "size": size, "sha256": sha})
            total += size
    manifest["objects"] = objects
    backup.put_bytes(key=MANIFEST_KEY, data=json.dumps(manifest, indent=1).encode())
    return Summary(objects=len(objects), bytes=total, database=dump.name)


def restore(settings: Settings, *, source: str) -> Summary:
    backup = open_store(parse_url(source, data_dir=settings.data_dir))
    raw = backup.get_bytes(key=MANIFEST_KEY)
    if raw is None:
        raise SystemExit("no manifest.json: not a backup made by tools.backup")
    manifest = json.loads(raw)
    total = 0
    for row in manifest["objects"]:
        target = settings.storage.area(row["area"])
        data = backup.sub(f"objects/{row['area']}").iter_bytes(key=row["key"])
        total += target.put_stream(key=row["key"], source=data, sha256=row["sha256"])  # verified before visible
    with tempfile.TemporaryDirectory(prefix="yy-restore-") as tmp:
        dump = Path(tmp) / manifest["database"]
        with dump.open("wb") as out:
            for chunk in backup.iter_bytes(key=DATABASE_KEY.format(name=manifest["database"])):
                out.write(chunk)
        restore_database(settings, dump)
    return Summary(objects=len(manifest["objects"]), bytes=total, database=manifest["database"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create").add_argument("--to", required=True, help="a directory or s3://bucket/prefix")
    commands.add_parser("restore").add_argument("--from", dest="source", required=True)
    args = parser.parse_args(argv)
    settings = load_settings()
    summary = create(settings, to=args.to) if args.command == "create" else restore(settings, source=args.source)
    print(json.dumps({"command": args.command, "objects": summary.objects, "bytes": summary.bytes,
                      "database": summary.database}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
