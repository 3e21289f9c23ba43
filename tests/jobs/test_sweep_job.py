"""The `sweep` job: the derived cache is swept by renderer version and age once a day whichever node
runs the job (a claim in the shared state), temporary leftovers and expired rows every time."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.jobs import runners
from backend.jobs import service as outbox
from backend.previews.cache import DerivedCache

JPEG = b"\xff\xd8" + b"\x00" * 10 + b"\xff\xd9"


def test_the_derived_sweep_runs_once_a_day(settings: Settings, engine: Engine) -> None:
    ctx = runners.worker_context(settings, engine)
    cache = DerivedCache(settings.storage.derived)
    cache.write("r0-retired/p/ab/old.jpg", JPEG)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")
    assert not cache.exists("r0-retired/p/ab/old.jpg")
    cache.write("r0-retired/p/ab/again.jpg", JPEG)
    runners.run(ctx, kind=outbox.SWEEP, key="derived")  # another node, the same day: only the light part
    assert cache.exists("r0-retired/p/ab/again.jpg")
    assert ctx.counts == {outbox.SWEEP: 2}
