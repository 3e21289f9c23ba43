"""Preview URLs, built only here: the API hands them out, the PWA never assembles them.

Content-addressed: the path names instance, frame, window, width and format, and `v` names the
original's bytes and the renderer version, so a URL always means the same image and can be cached
`immutable`. Scrub sheets carry their series content key in the path.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import object_session

from backend.studies.models import Series

from . import spec as S
from .schemas import SeriesPreviews

API = "/api/v1"


class Named(Protocol):
    """What a URL names of an instance: its id and its bytes' digest (an Instance row, service.FrameRef)."""

    @property
    def id(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def preview_url(*, person_id: str, instance: Named, frame: int, window: str = S.DEFAULT_WINDOW,
                width: int | None = S.DEFAULT_WIDTH, fmt: S.Fmt = "jpeg", placeholder: bool = False) -> str:
    url = (f"{API}/people/{person_id}/previews/{instance.id}/{frame}/{window}/"
           f"{S.width_segment(width)}.{S.EXT_OF[fmt]}?v={S.content_tag(instance.sha256)}")
    return url + "&placeholder=1" if placeholder else url


def preview_template(*, person_id: str, instance: Named, frame: int) -> str:
    """Same URL with `{window}`, `{width}` and `{ext}` left for the client to fill from the values the
    scrub layout lists (`windows`, `widths`, `formats`)."""
    return (f"{API}/people/{person_id}/previews/{instance.id}/{frame}/{{window}}/{{width}}.{{ext}}"
            f"?v={S.content_tag(instance.sha256)}")


def scrub_url(*, person_id: str, series_id: str, window: str = S.DEFAULT_WINDOW) -> str:
    return f"{API}/people/{person_id}/series/{series_id}/scrub?window={window}"


def sheet_url(*, person_id: str, series_id: str, window: str, key: str, n: int) -> str:
    return f"{API}/people/{person_id}/series/{series_id}/scrub/{window}/{key}/{n}.jpg"


def series_view(*, person_id: str, series: Series) -> tuple[int, SeriesPreviews]:
    """For one series of the study detail: how many images the viewer shows (the frames of its image
    instances, exactly as the scrub layout counts them — issue 19 item 2: a card must not say 4 where
    the viewer has 100), and its named URLs: `thumbnail` (128, placeholder on failure), `preview` /
    `preview_webp` (middle frame, default window, 512 wide) and `scrub` (layout JSON with the strips and
    every frame's preview URL); no URLs for a series without images. One light query per series."""
    from .service import series_frame_refs

    session = object_session(series)
    if session is None:
        return 0, {}
    refs = series_frame_refs(session, series.id)  # type: ignore[arg-type]
    total = sum(r.frames for r in refs)
    if not total:
        return 0, {}
    # The middle frame as service.middle picks it: frames[total // 2] of the (instance, frame) list.
    k = total // 2
    for ref in refs:
        if k < ref.frames:
            break
        k -= ref.frames
    return total, {
        "thumbnail": preview_url(person_id=person_id, instance=ref, frame=k, width=S.THUMB_WIDTH, placeholder=True),
        "preview": preview_url(person_id=person_id, instance=ref, frame=k),
        "preview_webp": preview_url(person_id=person_id, instance=ref, frame=k, fmt="webp"),
        "scrub": scrub_url(person_id=person_id, series_id=series.id),
    }
