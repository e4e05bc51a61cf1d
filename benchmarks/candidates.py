"""Recipe candidates on the command line, shared by digit_recipes.py and photo_recipes.py.

A candidate is 'NAME={json overrides}' (photos) or 'NAME=PRESET:{json
overrides}' (digits); both read the overrides the same way.
"""

from __future__ import annotations

import argparse
import json


def overrides(name: str, text: str) -> dict:
    """The JSON object of a candidate's overrides ({} for none), or an argparse error naming the candidate.

    Example:
        overrides("wide", '{"epochs": 30}')  # {"epochs": 30}
    """
    try:
        changes = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"{name}: overrides are not JSON ({error})") from None
    if not isinstance(changes, dict):
        raise argparse.ArgumentTypeError(f"{name}: overrides must be a JSON object")
    return changes
