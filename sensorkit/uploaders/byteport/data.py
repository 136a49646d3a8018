"""What the Byteport client sends: checked names, values as UTF-8 text, `_ts` in seconds, packed objects.

Pure data, no I/O. A store is one form (query string or POST body) holding
`_key`, an optional `_ts` and one parameter per field; every value travels as
text, so this module decides the exact characters of each.
"""
from __future__ import annotations

import base64
import bz2
import datetime
import math
import zlib
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Union

from sensorkit.uploaders.settings import BYTEPORT_LOG_FIELDS, byteport_name_problem

LOG_LEVELS = BYTEPORT_LOG_FIELDS  # fields that Byteport shows as log messages, not data
KEY_PARAM = "_key"
TS_PARAM = "_ts"
# Compressions of base64_encode_and_store. "gzip" is the reference client's name for a zlib
# stream (RFC 1950, zlib.compress), which is what it sent and what the service decompresses.
COMPRESSIONS = (None, "gzip", "bzip2")
# Ints at or above this are ms since the epoch (1973-03-03 on), below it seconds (up to the year 5138).
MS_THRESHOLD = 10**11
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MS = Decimal("0.001")

Timestamp = Union[datetime.datetime, int, float]
Value = Union[int, float, bool, str, bytes]


def check_name(name: Any, what: str) -> str:
    """`name` when it is a legal Byteport name (2-32 of 0-9a-zA-Z-_:, no - or _ at either end); else ValueError."""
    if not isinstance(name, str):
        raise ValueError(f"{what} {name!r} is not a string")
    why = byteport_name_problem(name)
    if why:
        raise ValueError(f"{what} {name!r} is not a valid Byteport name: it {why}")
    return name


def check_field_name(name: Any) -> str:
    if isinstance(name, str) and name.startswith("_"):
        hint = " (give the time as store(..., timestamp=...))" if name == TS_PARAM else ""
        raise ValueError(f"field name {name!r} starts with '_': Byteport takes such names as meta fields and "
                         f"never stores them{hint}")
    return check_name(name, "field name")


def encode_value(field: str, value: Any) -> str:
    """The text a field's value travels as; ValueError for what Byteport cannot take.

    Numbers go as Python writes them (shortest round-trip form for floats),
    booleans as 1 and 0 (numbers, so they can be plotted), text as it is.
    Text must be encodable as UTF-8, bytes must be UTF-8: binary data goes
    by base64_encode_and_store.
    """
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field {field!r}: {value} cannot be sent; Byteport takes finite numbers")
        return repr(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"field {field!r}: the bytes are not UTF-8 text (byte {exc.start}); store binary "
                             "data with base64_encode_and_store") from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"field {field!r}: the text cannot be written as UTF-8 (character {exc.start} is "
                             f"{value[exc.start]!r}, a lone surrogate)") from None
        return value
    raise ValueError(f"field {field!r}: {type(value).__name__} {str(value)[:40]!r} is not a number or text")


def timestamp_ms(timestamp: Any) -> int:
    """ms since the epoch of a `datetime` (aware), epoch seconds (int or float) or int ms.

    An int of MS_THRESHOLD (10**11) or more is ms (from 1973-03-03 on), a
    smaller one seconds. Floats are seconds, rounded to the nearest ms from
    their shortest decimal form, so 1410613385.123 is exactly ...385123 ms.
    """
    if isinstance(timestamp, bool):
        raise ValueError(f"timestamp {timestamp!r} is not a time")
    if isinstance(timestamp, datetime.datetime):
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise ValueError(f"timestamp {timestamp.isoformat()} has no time zone; give an aware datetime such as "
                             "datetime.now(timezone.utc)")
        micros = (timestamp - _EPOCH) // datetime.timedelta(microseconds=1)
        ms = int((Decimal(micros) / 1000).quantize(Decimal(1), ROUND_HALF_EVEN))
    elif isinstance(timestamp, int):
        ms = timestamp if timestamp >= MS_THRESHOLD else timestamp * 1000
    elif isinstance(timestamp, float):
        if not math.isfinite(timestamp):
            raise ValueError(f"timestamp {timestamp} is not a time")
        try:
            ms = int((Decimal(repr(timestamp)) * 1000).quantize(Decimal(1), ROUND_HALF_EVEN))
        except InvalidOperation:
            raise ValueError(f"timestamp {timestamp!r} is not a time") from None
    else:
        raise ValueError(f"timestamp {timestamp!r} must be a datetime, epoch seconds or int ms")
    if ms < 0:
        raise ValueError(f"timestamp {timestamp!r} is before 1970")
    return ms


def format_ts(ms: int) -> str:
    """`_ts` for `ms`: seconds, the ms as a fraction, trailing zeros stripped (1410613385123: "1410613385.123")."""
    seconds, fraction = divmod(ms, 1000)
    return f"{seconds}.{fraction:03d}".rstrip("0").rstrip(".")


def ts_param(timestamp: Any) -> str:
    return format_ts(timestamp_ms(timestamp))


def store_form(key: str, data: Mapping[str, Any], ts_ms: int | None) -> list[tuple[str, str]]:
    """The parameters of one store, `_key` first, then `_ts` (when given) and the fields in order."""
    if not isinstance(data, Mapping):
        raise ValueError(f"data must be a dict of field names and values, not {type(data).__name__}")
    form = [(KEY_PARAM, key)]
    if ts_ms is not None:
        form.append((TS_PARAM, format_ts(ts_ms)))
    form.extend((check_field_name(name), encode_value(name, value)) for name, value in data.items())
    return form


def pack(data: bytes | str, compression: str | None) -> str:
    """`data` compressed (None, "gzip": a zlib stream as the reference client sent, "bzip2") and base64-encoded."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data to encode must be bytes or text, not {type(data).__name__}")
    if compression is None:
        block = bytes(data)
    elif compression == "gzip":
        block = zlib.compress(data)
    elif compression == "bzip2":
        block = bz2.compress(data)
    else:
        raise ValueError(f"compression {compression!r} is not supported; use None, 'gzip' or 'bzip2'")
    return base64.b64encode(block).decode("ascii")


def check_log_level(level: Any) -> str:
    if level not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level
