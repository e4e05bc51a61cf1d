"""nophd.text: the one duration format and the one one-line error format."""

import math

import pytest

from nophd import text


@pytest.mark.parametrize("seconds, expected", [
    (0, "0.0 s"), (4.23, "4.2 s"), (9.96, "10.0 s"), (10, "10 s"), (42, "42 s"), (59.6, "1 min 0 s"),
    (252.4, "4 min 12 s"), (3599, "59 min 59 s"), (3600, "1 h 0 min"), (3780, "1 h 3 min"),
    (None, "—"), ("x", "—"), (True, "—"), (-1, "—"), (math.nan, "—"), (math.inf, "—"), ("42", "42 s"),
])
def test_format_duration(seconds, expected):
    assert text.format_duration(seconds) == expected


def test_one_line_joins_lines_and_names_a_silent_error():
    assert text.one_line(OSError("cannot read\n\n   the file\t now")) == "cannot read the file now"
    assert text.one_line(KeyError()) == "KeyError"
    assert text.one_line("") == ""
    assert text.one_line("  a\nb ") == "a b"


def test_one_line_cuts_a_long_message_at_the_limit():
    message = "A total of 53 objects could not be loaded:\n" + "x" * 500
    cut = text.one_line(ValueError(message), limit=200)
    assert len(cut) == 200 and cut.endswith("...") and cut.startswith("A total of 53 objects could not be loaded: xxx")
    assert text.one_line(ValueError("short"), limit=200) == "short"
