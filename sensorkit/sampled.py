"""What the sampler takes and gives: the sensors it samples, their readings, their status, its errors."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from sensorkit.readings import Reading, Value


class BusBusy(Exception):
    """The bus stayed taken by another sensor for a whole interval, or by a read that was abandoned."""


class ReadTimeout(Exception):
    """A read took longer than its sensor's timeout and was abandoned."""


@dataclass(frozen=True)
class SampledSensor:
    """What the sampler needs to know of one sensor."""

    name: str
    read: Callable[[], Mapping[str, Value]]
    interval_s: float
    series: Mapping[str, tuple[str, str]]  # quantity -> (series name, unit)
    lock: Any | None = None  # a threading.Lock shared by the sensors of one bus
    lock_name: str = ""
    phase_s: float = 0.0
    timeout_s: float | None = None  # a read running longer is abandoned; None: reads may take forever
    recreate: Callable[[], None] | None = None  # closes the driver and makes it anew, after an abandoned read


def to_readings(sensor: SampledSensor, values: Mapping[str, Value], timestamp_ms: int,
                mono_ms: int | None = None) -> list[Reading]:
    """The readings of one measurement: one per quantity the sensor publishes (`mono_ms`: see Reading)."""
    return [Reading(sensor.series[q][0], sensor.name, q, v, sensor.series[q][1], timestamp_ms, mono_ms=mono_ms)
            for q, v in values.items() if q in sensor.series]


@dataclass(frozen=True)
class SensorStatus:
    """A snapshot of how one sensor is doing."""

    name: str
    samples: int
    failures: int
    consecutive_failures: int
    overruns: int
    last_error: str | None
    last_ok_ms: int | None
    next_due_in_s: float
    abandoned: int = 0  # reads abandoned past their timeout, so far
    hung: int = 0  # of those, the ones still running
