"""Each kind of notice says what happened — and nothing medical — and links to the right screen."""

from __future__ import annotations

import pytest

from backend.notify.models import Notification
from backend.notify.service import MESSAGE_TITLE, notice_for


@pytest.mark.parametrize(
    ("kind", "event_key", "title", "path"),
    [
        ("new_record", "record:imaging_study:s1", MESSAGE_TITLE, "/"),
        ("new_record", "record:lab_result:l1", "您有新的化验结果", "/"),
        ("new_record", "record:checkup:c1", "您有新的体检报告", "/"),
        ("grant_started", "grant:g1:started", "有家人开始查看您的健康记录", "/family"),
        ("grant_ended", "grant:g1:ended", "家人已停止与您共享健康记录", "/welcome"),
        ("share_opened", "share:x:opened", "您分享的影像已被打开", "/shares"),
        ("proxy_digest", "digest:2026-11-27", "家人查看了您的健康记录", "/access"),
    ],
)
def test_notice_text_and_link_follow_the_kind(kind: str, event_key: str, title: str, path: str) -> None:
    row = Notification(event_key=event_key, account_id="a", person_id="p", kind=kind)
    assert notice_for(row) == (title, path)
