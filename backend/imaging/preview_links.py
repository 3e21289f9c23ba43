"""Preview URLs for the study detail page — the previews work fills this in.

``GET /api/v1/people/{person_id}/studies/{study_id}`` (``backend.imaging.record_router``) calls
:func:`series_previews` once per series and puts what it returns under ``series[].previews``.
Until previews exist it returns an empty mapping; the response shape does not change when they do.
"""

from __future__ import annotations

from backend.imaging.models import Series, Study
from backend.imaging.previews.schemas import SeriesPreviews


def series_previews(*, person_id: str, study: Study, series: Series) -> SeriesPreviews:
    """Named preview URLs for one series (e.g. ``{"thumbnail": ..., "middle": ...}``)."""
    from backend.imaging.previews import urls  # the previews work owns the URLs

    return urls.series_previews(person_id=person_id, study=study, series=series)
