"""The demo dataset (``yunying demo seed``, run by ``make run``). Idempotent.

Domains add their part as they arrive; today the dataset is empty.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from backend.config import Settings


def seed(*, settings: Settings, engine: Engine) -> str:
    del settings, engine
    return "demo data: nothing to seed yet"
