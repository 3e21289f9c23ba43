"""While a web process has two uploads or more in progress, its STOW-RS receive gives way to the
process's own SQLite writer (issue 21, docs/ingest.md round 10).

An upload's flush writes its index rows in a thread, holding SQLite's one write lock (and the
writers' turn, backend/sqlite_writers.py) from BEGIN IMMEDIATE to COMMIT. In a web process that is
receiving another upload, that thread competes for the GIL with the event loop, which hashes,
writes and parses the other upload's parts: measured with two workers and four clients, a new
study's first index transaction (about twice a later batch's CPU) held the lock for 212 ms, and
every other flush of both workers waited behind it. So before each chunk the receive waits, off the
GIL, until no connection of this process holds the turn — at most ``GIVE_WAY_MAX_S`` per chunk, so a
long transaction delays an upload by no more than that per chunk, never stops it.

With one upload in progress nothing waits: its own flush then runs only after its last chunk (or,
for a large request, behind it: docs/ingest.md round 7), and there is no other upload's writer to
give way to. On PostgreSQL no turn is ever held (no write lock for the whole database): nothing waits.
"""

from __future__ import annotations

from backend.ingest import parsepool
from backend.sqlite_writers import HELD_HERE

GIVE_WAY_FROM = 2  # uploads in progress in a web process from which its receive gives way (as parsepool.INLINE_FROM)
GIVE_WAY_MAX_S = 0.05


async def give_way() -> None:
    """Before a STOW-RS request handles its next chunk (dicomweb/router.py)."""
    if parsepool.uploads_in_progress() >= GIVE_WAY_FROM and HELD_HERE.held:
        await HELD_HERE.released(within_s=GIVE_WAY_MAX_S)
