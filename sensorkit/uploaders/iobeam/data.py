"""What the iobeam client sends: checked names and values, points, series, data stores and import tables.

Pure data, no I/O: a table is one import request's worth (at most 1000
points, the server's limit), built from series or from a DataStore's rows.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from sensorkit.uploaders.settings import IOBEAM_DEVICE_ID_RE, IOBEAM_RESERVED_SERIES

DEVICE_ID_RE = IOBEAM_DEVICE_ID_RE
RESERVED_SERIES = IOBEAM_RESERVED_SERIES
MAX_POINTS_PER_REQUEST = 1000

Number = Union[int, float]


def check_device_id(device_id: Any) -> str:
    if not isinstance(device_id, str) or not DEVICE_ID_RE.match(device_id):
        raise ValueError(f"device id {device_id!r} is not valid: use letters, digits, '_', ':' or '-'")
    return device_id


def check_series_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"series name {name!r} is not valid: it must be a non-empty string")
    if name.lower() in RESERVED_SERIES:
        raise ValueError(f"series name {name!r} is reserved by iobeam (time, time_offset and all, in any case); "
                         "choose another")
    return name


def _check_value(value: Any) -> Number:
    if isinstance(value, bool):
        return int(value)  # JSON true is not a number; iobeam stores 0/1
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"value {value} cannot be sent: iobeam takes finite numbers only")
        return value
    raise ValueError(f"value {value!r} is not a number (int or float)")


def _check_timestamp_ms(timestamp: Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp {timestamp!r} must be an int of ms since the epoch")
    return timestamp


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class DataPoint:
    """One value at one time (ms since the epoch; now when not given)."""

    value: Number
    timestamp: int = field(default_factory=_now_ms)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_value(self.value))
        if self.timestamp is None:
            object.__setattr__(self, "timestamp", _now_ms())
        _check_timestamp_ms(self.timestamp)

    def getValue(self) -> Number:  # noqa: N802 - the seed library's name
        return self.value

    def getTimestamp(self) -> int:  # noqa: N802
        return self.timestamp


class DataSeries:
    """A named collection of DataPoints."""

    def __init__(self, name: str, points: Iterable[DataPoint] | None = None) -> None:
        self.name = check_series_name(name)
        self.points = list(points or [])
        for point in self.points:
            if not isinstance(point, DataPoint):
                raise ValueError(f"series '{name}': {point!r} is not a DataPoint")

    def __len__(self) -> int:
        return len(self.points)

    def getName(self) -> str:  # noqa: N802
        return self.name

    def getPoints(self) -> list[DataPoint]:  # noqa: N802
        return list(self.points)


class DataStore:
    """Rows of values for fixed columns: `add(timestamp_ms, {column: value})`.

    A column missing from a row is sent as null.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        if isinstance(columns, str) or not columns:
            raise ValueError("a DataStore needs a list of one or more column names")
        self.columns = tuple(check_series_name(c) for c in columns)
        if len({c.lower() for c in self.columns}) != len(self.columns):
            raise ValueError(f"column names must be unique: {list(self.columns)}")
        self._rows: dict[int, dict[str, Number]] = {}
        self._lock = threading.Lock()

    def add(self, timestamp: int, values: Mapping[str, Any]) -> None:
        """Add a row; a second row at the same timestamp updates the first."""
        _check_timestamp_ms(timestamp)
        if not values:
            raise ValueError("a row needs at least one value")
        unknown = [k for k in values if k not in self.columns]
        if unknown:
            raise ValueError(f"{unknown} are not columns of this DataStore {list(self.columns)}")
        checked = {k: _check_value(v) for k, v in values.items()}
        with self._lock:
            self._rows.setdefault(timestamp, {}).update(checked)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[tuple[int, dict[str, Number]]]:
        with self._lock:
            return sorted((t, dict(v)) for t, v in self._rows.items())

    def _take(self) -> list[tuple[int, dict[str, Number]]]:
        with self._lock:
            rows = sorted(self._rows.items())
            self._rows = {}
        return rows


@dataclass(frozen=True)
class Table:
    """One import request's worth of data: columns and rows of (timestamp_ms, values)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Number | None, ...]], ...]

    def body(self, project_id: int, device_id: str) -> dict[str, Any]:
        return {
            "project_id": project_id,
            "device_id": device_id,
            "timefmt": "usec",
            "sources": {
                "fields": ["time", *self.columns],
                "data": [[t * 1000, *values] for t, values in self.rows],
            },
        }

    @property
    def points(self) -> int:
        return sum(v is not None for _, values in self.rows for v in values)


def tables(columns: Sequence[str], rows: Sequence[tuple[int, Mapping[str, Number]]]) -> list[Table]:
    """Split rows into tables of at most MAX_POINTS_PER_REQUEST cells (rows = 1000 // columns)."""
    columns = tuple(columns)
    if len(columns) > MAX_POINTS_PER_REQUEST:
        raise ValueError(f"{len(columns)} columns cannot fit one import of {MAX_POINTS_PER_REQUEST} points")
    per_request = MAX_POINTS_PER_REQUEST // len(columns)
    out = []
    for start in range(0, len(rows), per_request):
        chunk = rows[start:start + per_request]
        out.append(Table(columns, tuple((t, tuple(v.get(c) for c in columns)) for t, v in chunk)))
    return out


def tables_from_series(series: Mapping[str, Mapping[int, Number]]) -> list[Table]:
    """Tables for named series of {timestamp_ms: value}.

    Series with exactly the same timestamps (temperature and humidity from one
    measurement) share a table, so nothing is padded with nulls; others get a
    table each.
    """
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, points in series.items():
        if points:
            groups.setdefault(tuple(sorted(points)), []).append(name)
    out: list[Table] = []
    for times, names in groups.items():
        rows = [(t, {n: series[n][t] for n in names}) for t in times]
        out.extend(tables(names, rows))
    return out
