"""STOW's parse processes (backend/ingest/parsepool.py): what crosses the pipe comes back equal to the
inline parse; a process that dies or overruns its time limit fails only the file it was on, and the
files queued behind it are parsed by a fresh one; bad files through the processes fail as they do inline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.dicom.errors import FailureReason
from backend.dicom.parse import ParseLimits
from backend.ingest import parsepool, parsewire
from backend.ingest.parsing import parse_file
from tests.conftest import DICOM
from tests.ingest.test_stow import BAD_INPUTS, CT_3SLICE, failures, hospital, stow
from tools import synthetic

ALL_FILES = sorted(p for p in DICOM.rglob("*") if p.is_file() and p.stat().st_size < 20_000_000)


def test_every_fixture_crosses_the_wire_unchanged() -> None:
    """Fast reader, pydicom fallback and failures alike: the decoded reply equals what was parsed."""
    assert len(ALL_FILES) > 100
    kinds = set()
    for path in ALL_FILES:
        result = parse_file(path, ParseLimits())
        back = parsewire.decode_result(parsewire.encode_result(result)[parsewire.HEADER.size:])
        assert back == result, path
        if back.dicom_json is not None:
            assert isinstance(json.loads(back.dicom_json), dict), path
        kinds.add("failed" if result.code else "parsed")
    assert kinds == {"failed", "parsed"}


def test_zoned_and_fixed_offset_datetimes_keep_their_zone() -> None:
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    for value in (datetime(2026, 12, 6, 23, 5, tzinfo=ZoneInfo("Asia/Shanghai")),
                  datetime(2026, 12, 6, 23, 5, 1, 500, tzinfo=timezone(timedelta(hours=-5))),
                  datetime(2026, 12, 6, 23, 5)):
        back = parsewire._decode_datetime(parsewire._encode_datetime(value))
        assert back == value and back.utcoffset() == value.utcoffset() and back.tzname() == value.tzname()


@pytest.mark.parametrize("reply", [b"", b"not json", b"[1, 2]", b'[null, null, [1, 2, 3], null]',
                                   b'["0110", null, null, null]', b'[null, null, null, null, null]',
                                   b'[null, null, null, null]\n[1]', b'[null, null, null, null]\n"text"',
                                   b'[null, null, null, null]\n{"a":1}\n{"b":2}', b'[null, null, null, null]\n'])
def test_a_reply_of_the_wrong_shape_is_refused(reply: bytes) -> None:
    # The DICOM JSON after the newline is not decoded (parsewire.decode_result): one object on one line.
    with pytest.raises((ValueError, TypeError)):
        parsewire.decode_result(reply)


def test_requests_round_trip_any_file_name() -> None:
    path = Path(os.fsdecode(b"/spool/part-\xff\xfe.dcm"))
    limits = ParseLimits(max_pixels=123, strict_uids=False)
    payload = parsewire.encode_request(path, limits)[parsewire.HEADER.size:]
    assert parsewire.decode_request(payload) == (path, limits)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_an_overrun_fails_that_file_and_the_queued_ones_go_to_a_fresh_process() -> None:
    async def run() -> tuple[list[int], list[parsepool.ParseResult], list[int]]:
        before = await parsepool.start(1)
        os.kill(before[0], signal.SIGSTOP)  # as if stuck in a hostile file: it cannot answer in time
        results = await asyncio.gather(
            parsepool.parse_async(CT_3SLICE[0], ParseLimits(), processes=1, time_limit=0.2),
            parsepool.parse_async(CT_3SLICE[1], ParseLimits(), processes=1),
            parsepool.parse_async(CT_3SLICE[2], ParseLimits(), processes=1))
        return before, list(results), await parsepool.start(1)

    try:
        before, (late, second, third), after = asyncio.run(run())
    finally:
        parsepool.shutdown()
    assert late.code == FailureReason.PROCESSING_FAILURE and late.reason and "too long" in late.reason
    assert second.meta == parse_file(CT_3SLICE[1], ParseLimits()).meta and second.code is None
    assert third.meta == parse_file(CT_3SLICE[2], ParseLimits()).meta and third.code is None
    assert before != after and not _alive(before[0])


def test_a_process_that_dies_fails_the_file_it_was_on_and_a_fresh_one_takes_the_next() -> None:
    async def run() -> tuple[parsepool.ParseResult, parsepool.ParseResult, int, int]:
        [pid] = await parsepool.start(1)
        os.kill(pid, signal.SIGSTOP)  # it cannot answer; the request waits in its pipe
        doomed = asyncio.ensure_future(parsepool.parse_async(CT_3SLICE[0], ParseLimits(), processes=1))
        await asyncio.sleep(0.1)
        os.kill(pid, signal.SIGKILL)  # as a crash in the parser or the OOM killer would
        lost = await doomed
        fine = await parsepool.parse_async(CT_3SLICE[1], ParseLimits(), processes=1)
        [fresh] = await parsepool.start(1)
        return lost, fine, pid, fresh

    try:
        lost, fine, pid, fresh = asyncio.run(run())
    finally:
        parsepool.shutdown()
    assert lost.code == FailureReason.PROCESSING_FAILURE and lost.reason == "the parser failed on this file"
    assert fine.code is None and fine.parsed is not None and fresh != pid


def test_bad_files_through_a_parse_process_fail_as_inline_and_the_good_ones_are_stored(
    engine: Engine, settings: Settings
) -> None:
    from backend.main import create_app

    with_processes = settings.model_copy(update={"parse_processes": 1})
    h = hospital(engine)
    bad_parts = [data if data is not None else CT_3SLICE[0].read_bytes()[:200_000] for data, _ in BAD_INPUTS.values()]
    with TestClient(create_app(with_processes, engine=engine)) as c:
        assert parsepool._pool is not None
        started = [child.pid for child in parsepool._pool.children]  # with the app, before any upload
        status, body = stow(c, h.api_key, [*bad_parts, *(p.read_bytes() for p in CT_3SLICE)])
        pids = c.portal.call(parsepool.start, 1)  # type: ignore[union-attr]
    assert len(started) == 1 and pids == started  # the bad files did not cost the process
    assert status == 202, body
    assert sorted(code for _, code, _ in failures(body)) == sorted(code for _, code in BAD_INPUTS.values())
    assert len(body["00081199"]["Value"]) == len(CT_3SLICE)  # type: ignore[index]
    assert not any(_alive(pid) for pid in pids), "the app's shutdown left its parse process running"


LONG_HEADER = DICOM / "dcm_qa_agfa" / "Siemens" / "011-0001.img"  # 145 KB of header: past the bounded read


def test_with_two_uploads_in_progress_a_small_header_is_parsed_on_the_event_loop(tmp_path: Path) -> None:
    # One upload: its parses go to the parse process. Two or more: a header within the first 64 KiB is
    # parsed on the event loop (no process started for it), a longer one still goes to the process.
    small = synthetic.write_ct_series(out_dir=tmp_path, seed=5, slices=2, size=512)  # the fast reader's kind

    def children() -> list[int]:
        return [child.pid for child in parsepool._pool.children] if parsepool._pool is not None else []

    async def run() -> dict[str, tuple[parsepool.ParseResult, list[int]]]:
        seen = {}
        with parsepool.uploading(), parsepool.uploading():
            seen["small, two uploads"] = (await parsepool.parse_async(small[0], ParseLimits(), processes=1),
                                          children())
            seen["long, two uploads"] = (await parsepool.parse_async(LONG_HEADER, ParseLimits(), processes=1),
                                         children())
        parsepool.shutdown()
        with parsepool.uploading():
            seen["small, one upload"] = (await parsepool.parse_async(small[1], ParseLimits(), processes=1),
                                         children())
        return seen

    try:
        seen = asyncio.run(run())
    finally:
        parsepool.shutdown()
    assert parsepool._uploads == 0
    for (label, (result, _pids)), path in zip(seen.items(), (small[0], LONG_HEADER, small[1]), strict=True):
        assert result == parse_file(path, ParseLimits()) and result.code is None, label
    assert seen["small, two uploads"][1] == []
    assert len(seen["long, two uploads"][1]) == 1
    assert len(seen["small, one upload"][1]) == 1


def test_with_two_uploads_in_progress_bad_files_fail_as_they_do_in_the_process(tmp_path: Path) -> None:
    # The event loop's bounded read must not take, or mis-answer, what the process would refuse: the bad
    # inputs of the STOW tests, and a fast-reader file cut inside its header or just after it
    ct = synthetic.write_ct_series(out_dir=tmp_path / "ct", seed=6, slices=1, size=512)[0].read_bytes()
    inputs = {name: data if data is not None else CT_3SLICE[0].read_bytes()[:200_000]
              for name, (data, _) in BAD_INPUTS.items()}
    inputs |= {"cut in the header": ct[:1500], "cut after the header": ct[:ct.index(b"\xe0\x7f\x10\x00") + 20]}
    paths = {}
    for name, data in inputs.items():
        paths[name] = tmp_path / f"{name}.dcm"
        paths[name].write_bytes(data)

    async def run() -> dict[str, parsepool.ParseResult]:
        with parsepool.uploading(), parsepool.uploading():
            return {name: await parsepool.parse_async(path, ParseLimits(), processes=1) for name, path in paths.items()}

    try:
        results = asyncio.run(run())
    finally:
        parsepool.shutdown()
    for name, result in results.items():
        assert result.code is not None, name
        assert result == parse_file(paths[name], ParseLimits()), name
