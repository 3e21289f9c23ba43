"""The series metadata document is appended to at ingest (issue 21): each STOW batch adds one gzip member
with its lines instead of re-encoding the whole document; a later line for a UID wins; version 1
documents (one JSON object) are still read, and upgraded on the next append."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from backend.storage.local import LocalObjectStore
from backend.studies import seriesdoc


def _entry(uid: str, sha: str) -> seriesdoc.Entry:
    return seriesdoc.Entry(sop_instance_uid=uid, sha256=sha, dicom_json=json.dumps(
        {"00080018": {"vr": "UI", "Value": [uid]}}).encode(), facts={"size": 1})


def test_batches_are_appended_and_the_last_line_wins(tmp_path: Path) -> None:
    meta = LocalObjectStore(tmp_path)
    seriesdoc.add(meta, "s1", [_entry("1.1", "a"), _entry("1.2", "b")])
    first = meta.get_bytes(key=seriesdoc.key("s1"))
    assert first is not None
    seriesdoc.add(meta, "s1", [_entry("1.3", "c"), _entry("1.1", "a2")])
    data = meta.get_bytes(key=seriesdoc.key("s1"))
    assert data is not None and data.startswith(first)  # the stored bytes are kept: an append, not a rewrite
    doc = seriesdoc.read(meta, "s1")
    assert sorted(doc) == ["1.1", "1.2", "1.3"]
    assert doc["1.1"]["sha256"] == "a2" and doc["1.3"]["json"]["00080018"]["Value"] == ["1.3"]
    assert doc["1.2"]["facts"] == {"size": 1}


def test_a_version_1_document_is_read_and_upgraded_on_append(tmp_path: Path) -> None:
    meta = LocalObjectStore(tmp_path)
    old = {"v": 1, "series_id": "s1", "instances": {"1.1": {"sha256": "a", "json": {}, "facts": {}}}}
    meta.put_bytes(key=seriesdoc.key("s1"), data=gzip.compress(json.dumps(old).encode()))
    assert seriesdoc.read(meta, "s1") == old["instances"]
    seriesdoc.add(meta, "s1", [_entry("1.2", "b")])
    data = meta.get_bytes(key=seriesdoc.key("s1"))
    assert data is not None and gzip.decompress(data).startswith(b'{"v":2,')
    assert sorted(seriesdoc.read(meta, "s1")) == ["1.1", "1.2"]


def test_an_unreadable_document_is_replaced_not_appended_to(tmp_path: Path) -> None:
    meta = LocalObjectStore(tmp_path)
    meta.put_bytes(key=seriesdoc.key("s1"), data=b"not gzip")
    assert seriesdoc.read(meta, "s1") == {}
    seriesdoc.add(meta, "s1", [_entry("1.2", "b")])
    assert sorted(seriesdoc.read(meta, "s1")) == ["1.2"]


def test_the_append_is_not_fsynced_and_a_torn_one_reads_as_missing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The document is a cache (the rows and the durable originals rebuild it): ingest does not pay a
    journal commit for it. What a crash can leave — a last member cut short — reads as no document, so
    the next read completes it from the originals instead of serving half of it."""
    meta = LocalObjectStore(tmp_path)
    seriesdoc.add(meta, "s1", [_entry("1.1", "a")])  # creates the store's folders (their fsyncs not counted)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    seriesdoc.add(meta, "s1", [_entry("1.2", "b")])
    assert synced == []
    data = meta.get_bytes(key=seriesdoc.key("s1"))
    assert data is not None and sorted(seriesdoc.read(meta, "s1")) == ["1.1", "1.2"]
    meta.put_bytes(key=seriesdoc.key("s1"), data=data[:-7])  # the second member cut short
    assert seriesdoc.read(meta, "s1") == {}


def test_members_added_after_the_dicom_json_cannot_stand_in_for_the_lines_own(tmp_path: Path) -> None:
    """The DICOM JSON is spliced in as the parse process encoded it (not decoded by the web process). A
    parse process taken over by a crafted file could close its object early and add members; they come
    before the line's own uid, sha256 and facts, which win, so the entry never claims another instance."""
    meta = LocalObjectStore(tmp_path)
    forged = b'{"00080018":{"vr":"UI","Value":["1.1"]}},"uid":"1.9","sha256":"victim","facts":{"size":9}'
    assert forged[:1] == b"{" and forged[-1:] == b"}"  # what the wire lets through (parsewire.decode_result)
    seriesdoc.add(meta, "s1", [seriesdoc.Entry(sop_instance_uid="1.1", sha256="a", dicom_json=forged,
                                               facts={"size": 1})])
    doc = seriesdoc.read(meta, "s1")
    assert sorted(doc) == ["1.1"]
    assert doc["1.1"]["sha256"] == "a" and doc["1.1"]["facts"] == {"size": 1}
