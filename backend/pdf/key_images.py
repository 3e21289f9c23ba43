"""Key images for the imaging report PDF: which frames, and their small JPEGs.

Choice (pure, :func:`choose_frames`): hospitals do not send key-image notes (KOS) with the report,
so the report shows evenly spaced frames of the study's largest image series — for a CT the slices
at 1/5, 2/5, 3/5, 4/5 of the stack, which spread over the organ the exam was about; a one-image
series (a radiograph) is topped up with the middle frame of the next largest series, up to four.

Rendering (:func:`render_frames`) reuses the previews' frame sources (raw fast path for native
pixel data, pydicom for compressed) at the file's own window (VOI LUT / Window Center-Width,
PS3.3 C.11.2) and encodes small JPEGs: a printed key image is ~45 mm wide, 360 px is 200 dpi.
A frame that cannot be decoded is left out; the report is never refused for its pictures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend.pdf.documents import MAX_KEY_IMAGES, KeyImage
from backend.previews import jobs
from backend.previews import spec as preview_spec
from backend.previews.cache import DerivedCache
from backend.rendering import RENDERER_VERSION, Limits, RenderError
from backend.rendering.encode import encode
from backend.storage.base import ObjectStore
from backend.studies.models import Instance, Series

log = logging.getLogger("yunying.pdf")

WIDTH = 360
QUALITY = 80
# What else decides the images' bytes besides the originals: part of the PDF cache key.
RENDER_PARAMS = f"renderer {RENDERER_VERSION}, width {WIDTH}, jpeg q{QUALITY}"


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One chosen frame: enough to render it and to name it in a cache key."""

    instance_id: str
    sha256: str
    frame: int
    blob_key: str
    transfer_syntax_uid: str
    pixel_data_offset: int | None
    encapsulated: bool
    series_number: int | None
    position: int  # 1-based place of the frame in its series
    total: int  # frames in the series


def spread(total: int, count: int) -> list[int]:
    """``count`` evenly spaced 0-based indexes in ``range(total)``, away from both ends.

    >>> spread(300, 4)
    [60, 120, 180, 240]
    >>> spread(1, 4)
    [0]
    """
    count = min(count, total)
    return sorted({(total * (k + 1)) // (count + 1) for k in range(count)})


@dataclass(frozen=True, slots=True)
class _Row:
    """The columns of an instance the choice and the rendering need (not the whole row: a 300-slice
    series' JSON geometry columns cost ~40 ms to load, the cache hit's whole budget)."""

    id: str
    sha256: str
    frames: int
    blob_key: str
    transfer_syntax_uid: str
    pixel_data_offset: int | None
    encapsulated: bool


def _frames_of(session: Session, series_id: str) -> list[tuple[_Row, int]]:
    rows = session.execute(  # SQLAlchemy's select: sqlmodel's typed one takes at most 4 columns
        sa.select(col(Instance.id), col(Instance.sha256), col(Instance.frames), col(Instance.blob_key),
                  col(Instance.transfer_syntax_uid), col(Instance.pixel_data_offset), col(Instance.pixel_encapsulated))
        .where(col(Instance.series_id) == series_id, col(Instance.rows).is_not(None), col(Instance.kind) == "image")
        # The viewer's order (previews.service.series_members): Instance Number, then arrival.
        .order_by(col(Instance.instance_number), col(Instance.slice_location).desc(), col(Instance.received_at),
                  col(Instance.id))
    ).all()
    found = [_Row(id=r[0], sha256=r[1], frames=max(1, r[2] or 1), blob_key=r[3], transfer_syntax_uid=r[4],
                  pixel_data_offset=r[5], encapsulated=bool(r[6])) for r in rows]
    return [(row, f) for row in found for f in range(row.frames)]


def _ref(series: Series, frames: list[tuple[_Row, int]], index: int) -> FrameRef:
    row, frame = frames[index]
    return FrameRef(instance_id=row.id, sha256=row.sha256, frame=frame, blob_key=row.blob_key,
                    transfer_syntax_uid=row.transfer_syntax_uid, pixel_data_offset=row.pixel_data_offset,
                    encapsulated=row.encapsulated, series_number=series.series_number,
                    position=index + 1, total=len(frames))


def choose_frames(*, session: Session, study_id: str, count: int = MAX_KEY_IMAGES) -> list[FrameRef]:
    series = session.exec(
        select(Series).where(col(Series.study_id) == study_id, col(Series.instance_count) > 0)
        .order_by(col(Series.instance_count).desc(), col(Series.series_number), col(Series.id))
    ).all()
    chosen: list[FrameRef] = []
    for s in series:
        if len(chosen) >= count:
            break
        frames = _frames_of(session, s.id)
        if not frames:
            continue  # SR, SEG, a PDF … nothing to show
        wanted = count - len(chosen) if not chosen else 1
        chosen.extend(_ref(s, frames, i) for i in spread(len(frames), wanted))
    return chosen[:count]


def caption(ref: FrameRef, *, lang: str) -> str:
    number = "-" if ref.series_number is None else str(ref.series_number)
    series = f"Se {number}" if lang == "en" else f"序列{number}"
    return f"{series} · {ref.position}/{ref.total}"


def render_frames(*, frames: list[FrameRef], blobs: ObjectStore, derived_root: ObjectStore | Path, max_pixels: int,
                  lang: str) -> list[KeyImage]:
    cache = DerivedCache(derived_root)
    limits = Limits(max_pixels=max_pixels)
    out: list[KeyImage] = []
    for ref in frames:
        iref = jobs.InstanceRef(store=blobs.locator, key=ref.blob_key, sha256=ref.sha256,
                                transfer_syntax_uid=ref.transfer_syntax_uid,
                                pixel_data_offset=ref.pixel_data_offset, encapsulated=ref.encapsulated)
        try:
            source = jobs.frame_source(iref, cache=cache, limits=limits)
            image = jobs.render_frame_image(source, frame=ref.frame, window=preview_spec.DEFAULT_WINDOW, width=WIDTH)
        except (RenderError, OSError, ValueError) as exc:
            log.warning("key image %s frame %d left out: %s", ref.instance_id, ref.frame, exc)
            continue
        out.append(KeyImage(data=encode(image, fmt="jpeg", quality=QUALITY), media_type="image/jpeg",
                            caption=caption(ref, lang=lang)))
    return out
