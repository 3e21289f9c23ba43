"""Where an upload's parts are parsed (ingest/parsepool.py): in the pool's process while this web process
receives one upload, in its own threads while it receives more (every core is busy with uploads then)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from backend.dicom.parse import ParseLimits
from backend.ingest import parsepool

DATA = Path(__file__).resolve().parents[1] / "data" / "dicom"
LIMITS = ParseLimits(max_file_bytes=64 * 1024**2, max_pixels=10**8)


def _parse_while(uploads: int) -> bool:
    """Parse one file while ``uploads`` uploads are being received; True when the process pool was used."""
    path = next(p for p in sorted(DATA.rglob("*.dcm")))
    parsepool.shutdown(wait=True)

    async def go() -> parsepool.ParseResult:
        with parsepool.receiving():
            if uploads > 1:
                with parsepool.receiving():
                    return await parsepool.parse_async(path, LIMITS, processes=1)
            return await parsepool.parse_async(path, LIMITS, processes=1)

    try:
        result = asyncio.run(go())
        assert result.parsed is not None
        return parsepool._pool is not None
    finally:
        parsepool.shutdown(wait=True)


def test_one_upload_parses_in_the_pool_process_two_in_threads() -> None:
    assert _parse_while(1) is True
    assert _parse_while(2) is False
    assert parsepool._uploads == 0
