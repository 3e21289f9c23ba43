"""Pure parsing of lab values and reference ranges (no I/O)."""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"^[+]?(-?\d+(?:\.\d+)?)$")
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|~|–|—|－|～|至)\s*(-?\d+(?:\.\d+)?)\s*$")
_UPPER = re.compile(r"^\s*(?:<|≤|<=|＜)\s*(-?\d+(?:\.\d+)?)\s*$")
_LOWER = re.compile(r"^\s*(?:>|≥|>=|＞)\s*(-?\d+(?:\.\d+)?)\s*$")
# Arrows some LIS append to the value itself ("7.8↑").
_STRIP = str.maketrans("", "", "↑↓ ")


def parse_value(value: str | float | int) -> tuple[str, float | None, str | None]:
    """(text as sent, the number if it is one, the flag an arrow implied)."""
    if isinstance(value, bool):  # JSON true/false is not a lab value: keep it as text
        return str(value).lower(), None, None
    if isinstance(value, int | float):
        as_float = float(value)
        shown = repr(value) if isinstance(value, float) else str(value)
        return shown, (as_float if math.isfinite(as_float) else None), None
    text = value.strip()
    arrow = "H" if "↑" in text else "L" if "↓" in text else None
    match = _NUMBER.match(text.translate(_STRIP))
    number = float(match.group(1)) if match else None
    return text, number, arrow


def parse_range(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    if m := _RANGE.match(text):
        return float(m.group(1)), float(m.group(2))
    if m := _UPPER.match(text):
        return None, float(m.group(1))
    if m := _LOWER.match(text):
        return float(m.group(1)), None
    return None, None


def derive_flag(value: float | None, low: float | None, high: float | None) -> str | None:
    """H or L when the hospital sent no flag but the value is outside a numeric range."""
    if value is None:
        return None
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return "N" if low is not None or high is not None else None


ABNORMAL_FLAGS = frozenset({"H", "L", "HH", "LL", "critical", "A"})
FLAG_ARROW = {"H": "↑", "HH": "↑↑", "L": "↓", "LL": "↓↓", "critical": "(危急)", "A": "(异常)"}
FLAG_ARROW_EN = {**FLAG_ARROW, "critical": " (critical)", "A": " (abnormal)"}
