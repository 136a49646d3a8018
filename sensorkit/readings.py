"""The value that flows from the sampler to the outbox and the uploaders."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

Value = Union[float, int, bool]

# The keys of one JSON line, in this order (the jsonl output contract).
JSON_KEYS = ("series", "sensor", "quantity", "value", "unit", "timestamp_ms")


@dataclass(frozen=True)
class Reading:
    """One measured value.

    `timestamp_ms` is UTC ms since the epoch, taken when the measurement was
    triggered (not when it finished or was delivered).
    """

    series: str
    sensor: str
    quantity: str
    value: Value
    unit: str
    timestamp_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp_ms, int) or isinstance(self.timestamp_ms, bool):
            raise TypeError(f"timestamp_ms must be an int, not {type(self.timestamp_ms).__name__}")
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"{self.series}: a reading must be a finite number, not {self.value}")

    def to_dict(self) -> dict[str, object]:
        return {key: getattr(self, key) for key in JSON_KEYS}


_new = object.__new__
_set_attribute = object.__setattr__


def stored_reading(series: str, sensor: str, quantity: str, value: Value, unit: str, timestamp_ms: int) -> Reading:
    """A Reading of values that were checked when it was first made (the outbox reading back its own records).

    The same object `Reading(...)` gives, made without the checks and the six
    frozen-attribute writes: about half the time, which is most of what
    decoding a batch from the outbox costs.
    """
    reading = _new(Reading)
    _set_attribute(reading, "__dict__", {"series": series, "sensor": sensor, "quantity": quantity, "value": value,
                                         "unit": unit, "timestamp_ms": timestamp_ms})
    return reading
