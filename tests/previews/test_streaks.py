"""When a preview lookup is expected to miss (previews/streaks.py): only right after a miss of the same
series, window, width, format and quality, and not once that group hit or the pause was long."""

from __future__ import annotations

import time

from backend.previews.streaks import MissStreaks, look_up


def test_a_miss_is_expected_only_after_a_recent_miss_of_the_same_group() -> None:
    streaks = MissStreaks(within_s=0.2)
    group, other = ("series", "c40w400", 512, "jpeg", 85), ("series", "default", 512, "jpeg", 85)
    assert not streaks.expect_miss(group)
    streaks.note(group, missed=True)
    assert streaks.expect_miss(group) and not streaks.expect_miss(other)
    streaks.note(group, missed=False)
    assert not streaks.expect_miss(group)
    streaks.note(group, missed=True)
    time.sleep(0.25)
    assert not streaks.expect_miss(group)


def test_look_up_prefetches_before_the_lookup_only_within_a_miss_streak() -> None:
    streaks, calls = MissStreaks(), []
    group = ("series", "c40w400", 256, "jpeg", 85)

    def read(found: bytes | None) -> bytes | None:
        calls.append("read")
        return found

    def prefetch() -> None:
        calls.append("prefetch")

    def near(found: bytes | None) -> bytes | None:
        calls.append("near")
        return found

    def ask(found: bytes | None, *, nearby: bool = False) -> bytes | None:
        return look_up(streaks, group=group, read=lambda: read(found),
                       read_near=(lambda: near(found)) if nearby else None, prefetch=prefetch)

    assert ask(None) is None
    assert ask(None) is None
    assert ask(b"jpeg") == b"jpeg"
    assert ask(b"jpeg") == b"jpeg"
    assert calls == ["read", "prefetch", "read", "prefetch", "read", "read"]
    calls.clear()
    assert ask(None, nearby=True) is None  # no streak: the store is asked
    assert ask(None, nearby=True) is None  # a streak: this node's copy only, nothing fetched
    assert ask(b"jpeg", nearby=True) == b"jpeg"  # found in the copy: the streak ends
    assert ask(b"jpeg", nearby=True) == b"jpeg"
    assert calls == ["read", "near", "near", "read"]


def test_the_groups_kept_are_bounded() -> None:
    streaks = MissStreaks(max_groups=3)
    for n in range(10):
        streaks.note(("series", n), missed=True)
    assert len(streaks._missed) <= 3 and streaks.expect_miss(("series", 9))
