"""Time, one way for the whole service.

* Instants are aware datetimes in UTC: ``utcnow()`` writes them, and the columns hand them back
  aware (SQLModel's ``UTCDateTime`` column type stores UTC and returns it with its zone, on SQLite too).
* People read China Standard Time (UTC+8, no daylight saving since 1991, so a fixed offset is exact):
  ``CST`` for display, for the calendar year of a timeline entry and for a ward's birthday.
* Hospitals' systems in the province send local time: a naive timestamp from them is CST
  (``from_hospital``); a naive value from anywhere else is UTC (``aware``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A stored instant with its zone (a naive one is UTC: how the database fallbacks of old stored them)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def from_hospital(moment: datetime) -> datetime:
    """A hospital's timestamp as a UTC instant: without an offset it is China local time."""
    return (moment.replace(tzinfo=CST) if moment.tzinfo is None else moment).astimezone(UTC)


def cst_date(moment: datetime) -> date:
    """The calendar day in China of an instant."""
    return aware(moment).astimezone(CST).date()
