"""Durations as users write them: "500ms", "10s", "1m", "2h", "1d", "1w" or a number of seconds."""
from __future__ import annotations

import re

_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|min|m|h|d|w)?\s*$")

FORMS = '"500ms", "10s", "1m", "2h", "1d", "1w" or a number of seconds'
# No setting needs more than ten years, and a clock wait past about 292 years overflows
# (threading.TIMEOUT_MAX): refusing at load keeps an OverflowError out of every later read.
MAX_DURATION_S = 10 * 366 * 86400.0


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`; ValueError (saying which forms work) when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {FORMS}, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"expected a duration such as {FORMS}, got {value!r}")
        seconds = float(match.group(1)) * _UNITS_S[match.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration such as {FORMS}, got {type(value).__name__}")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be more than zero, got {value!r}")
    if seconds > MAX_DURATION_S:
        raise ValueError(f"a duration must be at most {format_duration(MAX_DURATION_S)} (ten years), got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact form of `seconds` ("250ms", "10s", "5m", "1.5s")."""
    for unit, size in (("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds < 1 and (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds:g}s"
