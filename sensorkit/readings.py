"""The value that flows from the sampler to the outbox and the uploaders.

A reading's value is a number or a bool (from a sensor), UTF-8 text (a text
field, a watched text file) or bytes with a media type (a watched binary
file). Text and bytes are bounded by `MAX_VALUE_BYTES`; a larger value is
refused when the `Reading` is made (`ValueTooLarge`), so nothing downstream
ever holds one.
"""
from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from typing import Union

from sensorkit.errors import ValueTooLarge

Value = Union[float, int, bool, str, bytes]

MAX_VALUE_BYTES = 1 << 20  # 1 MiB: the largest text (as UTF-8) or bytes one reading may carry
# RFC 6838 section 4.2: type "/" subtype, each a restricted-name of 1-127 characters that starts with
# a letter or a digit. No parameters: text is always UTF-8, and bytes need none.
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")

# The keys of one JSON line, in this order (the jsonl output contract): numbers, bools and text.
JSON_KEYS = ("series", "sensor", "quantity", "value", "unit", "timestamp_ms")
# Bytes: "value" is their base64 (RFC 4648, with padding), and two keys say so.
BYTES_JSON_KEYS = ("series", "sensor", "quantity", "value", "encoding", "media_type", "unit", "timestamp_ms")
BYTES_ENCODING = "base64"


@dataclass(frozen=True)
class Reading:
    """One measured value.

    `timestamp_ms` is UTC ms since the epoch, taken when the measurement was
    triggered (not when it finished or was delivered). `media_type` is set
    exactly when `value` is bytes (``type/subtype``, e.g. ``image/jpeg``).
    `mono_ms` is the monotonic time (ms) of the same moment, set by the source
    that stamped it (`sensorkit.clock.stamp`): what corrects the timestamp of a
    reading taken while the clock was unsynchronised (`sensorkit.holding`). It
    is not part of the reading's value: not compared, not stored, not sent.
    """

    series: str
    sensor: str
    quantity: str
    value: Value
    unit: str
    timestamp_ms: int
    media_type: str | None = None
    mono_ms: int | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Made for every reading taken and every one read back from the outbox: the common cases first.
        if type(self.timestamp_ms) is not int:
            _check_timestamp(self.timestamp_ms)
        value = self.value
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan
                raise ValueError(f"{self.series}: a reading must be a finite number, not {value}")
            if self.media_type is None:
                return
        elif (kind is int or kind is bool) and self.media_type is None:
            return
        _check_value(self.series, value, self.media_type)

    def to_dict(self) -> dict[str, object]:
        """The JSON object of this reading: `JSON_KEYS`, or `BYTES_JSON_KEYS` for bytes (base64)."""
        if type(self.value) is not bytes:
            return {"series": self.series, "sensor": self.sensor, "quantity": self.quantity, "value": self.value,
                    "unit": self.unit, "timestamp_ms": self.timestamp_ms}
        return {"series": self.series, "sensor": self.sensor, "quantity": self.quantity,
                **json_value(self.value, self.media_type), "unit": self.unit, "timestamp_ms": self.timestamp_ms}


def json_value(value: object, media_type: str | None) -> dict[str, object]:
    """The JSON keys for a value: {"value": v}, or for bytes their base64 with "encoding" and "media_type"."""
    if isinstance(value, bytes):
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": BYTES_ENCODING,
                "media_type": media_type}
    return {"value": value}


def content_size(value: str | bytes) -> int:
    """The bytes a text (as UTF-8) or bytes value takes; ValueError for text that cannot be UTF-8."""
    if isinstance(value, bytes):
        return len(value)
    if value.isascii():
        return len(value)
    return len(value.encode("utf-8"))  # UnicodeEncodeError (a ValueError) for a lone surrogate


def _check_timestamp(timestamp_ms: object) -> None:
    if not isinstance(timestamp_ms, int) or isinstance(timestamp_ms, bool):
        raise TypeError(f"timestamp_ms must be an int, not {type(timestamp_ms).__name__}")


def _check_value(series: str, value: object, media_type: object) -> None:
    """The uncommon values: text, bytes, a media type, float subclasses (numpy)."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        _check_content(series, value, media_type)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{series}: a reading must be a finite number, not {value}")
    if media_type is not None:
        raise ValueError(f"{series}: only bytes carry a media type, not a {type(value).__name__} "
                         f"(media_type={media_type!r})")


def _check_content(series: str, value: object, media_type: object) -> None:
    if isinstance(value, str):
        if media_type is not None:
            raise ValueError(f"{series}: text carries no media type (it is UTF-8 text), not {media_type!r}; "
                             "send bytes to give one")
    elif isinstance(value, bytes):
        if not isinstance(media_type, str) or not MEDIA_TYPE.fullmatch(media_type):
            raise ValueError(f"{series}: bytes need a media type of the form type/subtype (e.g. image/jpeg, "
                             f"application/octet-stream), not {media_type!r}")
    else:
        raise TypeError(f"{series}: bytes must be bytes, not {type(value).__name__}: pass bytes(value)")
    if len(value) > MAX_VALUE_BYTES:  # text: each character is at least one byte of UTF-8
        size = len(value) if isinstance(value, bytes) else len(value.encode("utf-8", "surrogatepass"))
    else:
        try:
            size = content_size(value)
        except UnicodeEncodeError as exc:
            raise ValueError(f"{series}: text must be valid Unicode to be sent as UTF-8, but character "
                             f"{exc.start} is a lone surrogate ({value[exc.start]!r}), as a file name or file "
                             "decoded with errors='surrogateescape' gives: decode it strictly, or send bytes"
                             ) from None
    if size > MAX_VALUE_BYTES:
        what = "bytes" if isinstance(value, bytes) else "bytes of text"
        raise ValueTooLarge(f"{series}: a reading's value may be at most {MAX_VALUE_BYTES:,} bytes "
                            f"(1 MiB), and this one is {size:,} {what}: make it smaller (compress it, or "
                            "split it)", size=size, limit=MAX_VALUE_BYTES)


_new = object.__new__
_set_attribute = object.__setattr__


def stored_reading(series: str, sensor: str, quantity: str, value: Value, unit: str, timestamp_ms: int,
                   media_type: str | None = None) -> Reading:
    """A Reading of values that were checked when it was first made (the outbox reading back its own records).

    The same object `Reading(...)` gives, made without the checks and the seven
    frozen-attribute writes: about half the time, which is most of what
    decoding a batch from the outbox costs.
    """
    reading = _new(Reading)
    _set_attribute(reading, "__dict__", {"series": series, "sensor": sensor, "quantity": quantity, "value": value,
                                         "unit": unit, "timestamp_ms": timestamp_ms, "media_type": media_type})
    return reading
