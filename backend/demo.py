"""The demo dataset (``yunying demo seed``, run by ``make run``). Idempotent.

Domains add their part as they arrive; today the dataset is empty.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from backend.config import Settings


def seed(*, settings: Settings, engine: Engine) -> str:
    from backend.auth.demo import seed_wechat
    from backend.demo_records import seed_records

    parts = [seed_records(settings=settings, engine=engine)]
    parts.append(seed_wechat(settings=settings, engine=engine))  # keep last: binds the persons seeded above
    return "; ".join(parts)
