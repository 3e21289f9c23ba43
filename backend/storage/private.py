"""Owner-only files: everything the service writes is a patient's data or a key to it.

The data dir and every directory the service creates below it are 0700, every file 0600, whatever
umask the process was started with (a service manager's default 022 or a careless 000):

* :func:`restrict_umask` sets the process umask to 077 when settings load — SQLite's own files,
  libraries' temporary files and the worker processes (which inherit the umask) follow it;
* the service's own writes do not rely on it: directories through :func:`make_dirs`, files
  through :func:`create_file` (or ``tempfile.mkstemp``, which is 0600), and the SQLite database is
  created 0600 before SQLite opens it (:func:`private_sqlite`) — SQLite gives its -wal, -shm and
  -journal files the database file's own mode.

A data dir from an older version is closed on start: it becomes 0700 (nothing below it can then be
reached by another user), and the database files 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
SQLITE_SIDECARS = ("-wal", "-shm", "-journal", "-writer")  # -writer: db.py's writer queue (empty)


def restrict_umask() -> None:
    os.umask(UMASK)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` where every directory created is 0700 (``Path.mkdir`` gives parents the umask's mode)."""
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # another process made it first: it set the mode the same way
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not


def private_dir(path: Path) -> None:
    """The directory exists and is 0700 (also when it existed before)."""
    make_dirs(path)
    os.chmod(path, DIR_MODE)


def create_file(path: Path, *, exclusive: bool = True) -> int:
    """Open a new file for writing, 0600 from its first moment (no window with a wider mode)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if not exclusive:
        os.fchmod(fd, FILE_MODE)  # an older file keeps its mode through O_CREAT
    return fd


def private_sqlite(path: Path) -> None:
    """The database file exists and is 0600 before SQLite opens it; existing sidecars become 0600."""
    make_dirs(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDECARS)):
        try:
            os.chmod(candidate, FILE_MODE)
        except FileNotFoundError:
            continue
