"""How config problems name values and suggest fixes, and parsing small value forms."""
from __future__ import annotations

import difflib
import os
from typing import Any


def type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return f"{name} ({short(value)})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def short(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def suggest(word: str, choices: Any) -> str:
    """" (did you mean 'X'?)" for the closest choice, or "".

    Of the close matches, the one sharing the longest start with `word` wins ("sht31" -> "sht3x",
    not "shtc3"): people mistype the end of a name more often than its start.
    """
    word = str(word)
    close = difflib.get_close_matches(word, list(choices), n=3)
    if not close:
        return ""
    best = max(close, key=lambda c: (len(os.path.commonprefix([word, c])),
                                     difflib.SequenceMatcher(None, word, c).ratio()))
    return f" (did you mean '{best}'?)"


def parse_address(value: Any) -> int:
    """An I2C address written as 0x44, 68 or "0x44"."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip(), 0)
    raise ValueError("not a number")
