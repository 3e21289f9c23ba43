"""`yunying upload` pieces that need no server: walking folders, batching, reading STOW-RS answers
back onto files, and retrying transient failures (httpx MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from backend.dicomweb import cli
from tests.conftest import DICOM

CT = sorted((DICOM / "dcmqi" / "ct-3slice").glob("*.dcm"))


def test_walk_skips_non_dicom(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.dcm").write_bytes(CT[0].read_bytes())
    (tmp_path / "a" / "IM0001").write_bytes(CT[1].read_bytes())  # no extension, has DICM
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "DICOMDIR.jpg").write_bytes(b"\xff\xd8\xff" * 100)
    files, skipped = cli.walk([tmp_path])
    assert [p.name for p in files] == ["IM0001", "x.dcm"]
    assert sorted(p.name for p in skipped) == ["DICOMDIR.jpg", "readme.txt"]


def test_batches_respect_count_and_size(tmp_path: Path) -> None:
    paths = []
    for n, size in enumerate([10, 10, 10, 50, 5]):
        p = tmp_path / f"{n}"
        p.write_bytes(b"x" * size)
        paths.append(p)
    assert [len(b) for b in cli.batches(paths, max_files=2, max_bytes=1000)] == [2, 2, 1]
    assert [len(b) for b in cli.batches(paths, max_files=10, max_bytes=40)] == [3, 1, 1]


def _answer(stored: list[str], failed: list[tuple[str | None, int, str]]) -> dict[str, object]:
    return {
        "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [u]}} for u in stored]},
        "00081198": {"vr": "SQ", "Value": [
            {"00081155": {"vr": "UI", "Value": [u]} if u else {"vr": "UI"}, "00081197": {"vr": "US", "Value": [c]},
             "00091001": {"vr": "LT", "Value": [why]}} for u, c, why in failed]},
    }


def test_interpret_maps_answers_to_files() -> None:
    files = [Path("a"), Path("b"), Path("c")]
    result = cli.interpret(files, ["1.1", "1.2", None], 202,
                           _answer(["1.1"], [("1.2", 0x0111, "different bytes"), (None, 0xC000, "not DICOM")]))
    assert result.accepted == [(Path("a"), None)]
    assert result.failed == [(Path("b"), "0x0111 different bytes"), (Path("c"), "0xC000 not DICOM")]
    whole = cli.interpret(files, ["1", "2", "3"], 415, {"detail": "wrong type"})
    assert [reason for _, reason in whole.failed] == ["HTTP 415: wrong type"] * 3


def test_transient_failures_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503, json={"detail": "busy"})
        uid = str(cli.sop_instance_uid(CT[0]))
        return httpx.Response(200, content=json.dumps(_answer([uid], [])),
                              headers={"content-type": "application/dicom+json"})

    import backend.dicomweb.cli as module

    monkeypatch.setattr(module.time, "sleep", lambda _s: None)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = cli.send_batch(client, "http://pacs/dicomweb/studies", [CT[0]], retries=4)
    assert len(calls) == 3 and result.accepted == [(CT[0], None)] and not result.failed
    calls.clear()
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503))) as client:
        result = cli.send_batch(client, "http://pacs/dicomweb/studies", [CT[0]], retries=1)
    assert result.failed and "HTTP 503" in result.failed[0][1]
