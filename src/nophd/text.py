"""Text for people: one duration format and one way to put an error on one line.

A leaf module (standard library only), so the CLI, training's progress
lines, the reports, the server and the data readers all say durations and
errors the same way.

Example:
    format_duration(252.4)               # "4 min 12 s"
    one_line(OSError("bad\\n  file"))    # "bad file"
"""

from __future__ import annotations

import math
from typing import Any


def format_duration(seconds: Any) -> str:
    """Seconds as a person reads them: "4.2 s", "42 s", "4 min 12 s", "1 h 3 min".

    Args:
        seconds: a number of seconds; anything else (None, text, NaN,
            infinity, a negative number) gives "—".

    Example:
        format_duration(3780)  # "1 h 3 min"
    """
    if seconds is None or isinstance(seconds, bool):
        return "—"
    try:
        number = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(number) or number < 0:
        return "—"
    if number < 10:
        return f"{number:.1f} s"
    total = round(number)
    if total < 60:
        return f"{total} s"
    minutes, remainder = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {remainder} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def one_line(error: BaseException | str, limit: int | None = None) -> str:
    """An error's message on one line: every run of whitespace, line breaks included, becomes one space.

    Args:
        error: an exception, or a message.
        limit: the most characters kept; a longer message is cut and ends
            with "..." (Keras' messages run to pages). None keeps it whole.

    Returns:
        The message; an exception without one gives its type's name, an
        empty string gives "".

    Example:
        one_line(ValueError("line one\\n  line two"))  # "line one line two"
    """
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return text
