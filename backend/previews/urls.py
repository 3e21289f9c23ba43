"""Preview URLs, built only here: the API hands them out, the PWA never assembles them.

Content-addressed: the path names instance, frame, window, width and format, and `v` names the
original's bytes and the renderer version, so a URL always means the same image and can be cached
`immutable`. Scrub sheets carry their series content key in the path.
"""

from __future__ import annotations

from sqlalchemy.orm import object_session

from backend.studies.models import Instance, Series, Study

from . import spec as S
from .schemas import SeriesPreviews

API = "/api/v1"


def preview_url(*, person_id: str, instance: Instance, frame: int, window: str = S.DEFAULT_WINDOW,
                width: int | None = S.DEFAULT_WIDTH, fmt: S.Fmt = "jpeg", placeholder: bool = False) -> str:
    url = (f"{API}/people/{person_id}/previews/{instance.id}/{frame}/{window}/"
           f"{S.width_segment(width)}.{S.EXT_OF[fmt]}?v={S.content_tag(instance.sha256)}")
    return url + "&placeholder=1" if placeholder else url


def preview_template(*, person_id: str, instance: Instance, frame: int) -> str:
    """Same URL with `{window}`, `{width}` and `{ext}` left for the client to fill from the values the
    scrub layout lists (`windows`, `widths`, `formats`)."""
    return (f"{API}/people/{person_id}/previews/{instance.id}/{frame}/{{window}}/{{width}}.{{ext}}"
            f"?v={S.content_tag(instance.sha256)}")


def scrub_url(*, person_id: str, series_id: str, window: str = S.DEFAULT_WINDOW) -> str:
    return f"{API}/people/{person_id}/series/{series_id}/scrub?window={window}"


def sheet_url(*, person_id: str, series_id: str, window: str, key: str, n: int) -> str:
    return f"{API}/people/{person_id}/series/{series_id}/scrub/{window}/{key}/{n}.jpg"


def series_image_count(*, series: Series) -> int:
    """How many images the viewer shows for the series: the frames of its image instances, exactly as the
    scrub layout counts them (issue 19 item 2: a card must not say 4 where the viewer has 100)."""
    from .service import frame_list, series_members

    session = object_session(series)
    return len(frame_list(series_members(session, series.id))) if session is not None else 0  # type: ignore[arg-type]


def series_previews(*, person_id: str, study: Study, series: Series) -> SeriesPreviews:
    """Named URLs for one series of the study detail: `thumbnail` (128, placeholder on failure),
    `preview` / `preview_webp` (middle frame, default window, 512 wide) and `scrub` (layout JSON with
    the strips and every frame's preview URL). Empty for a series without images."""
    from .service import middle, series_members

    del study
    session = object_session(series)
    if session is None:
        return {}
    found = middle(series_members(session, series.id))  # type: ignore[arg-type]
    if found is None:
        return {}
    instance, frame = found
    return {
        "thumbnail": preview_url(person_id=person_id, instance=instance, frame=frame, width=S.THUMB_WIDTH,
                                 placeholder=True),
        "preview": preview_url(person_id=person_id, instance=instance, frame=frame),
        "preview_webp": preview_url(person_id=person_id, instance=instance, frame=frame, fmt="webp"),
        "scrub": scrub_url(person_id=person_id, series_id=series.id),
    }
