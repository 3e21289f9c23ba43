"""Identifiers shared by all models."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """Random 128-bit id as 32 hex chars: not guessable, so object ids reveal nothing."""
    return uuid.uuid4().hex
