"""Finite numbers read from JSON a run wrote (config.json, metrics.json, progress.json).

A leaf module: the catalog and the insights both read run files defensively
with these, and neither needs the other for it.
"""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """A finite float, or None for None, booleans, text, NaN and infinity."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    """A whole number >= 0 (3 and 3.0 alike), or None."""
    result = number(value)
    return int(result) if result is not None and result == int(result) and result >= 0 else None
