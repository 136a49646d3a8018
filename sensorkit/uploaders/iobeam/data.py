"""What the iobeam client sends: checked names and values, points, series, data stores and imports.

Pure data, no I/O. An import is one request's worth (at most 1000 points,
the server's limit) in one of the API's two formats:

* `Table` (``POST /v1/imports?fmt=table``): columns sharing one set of
  timestamps, a null where a column has no value. Compact when series were
  measured together, but the nulls count against the 1000 points, so series
  read at different moments need a table (and a request) each.
* `SeriesImport` (``POST /v1/imports``, the older series format): any
  series, each with its own (time, value) points. Always reaches the floor
  of ceil(points / 1000) requests, at about 1.6x the bytes of a full table.

`imports()` picks, for the data at hand, the format that needs fewer
requests (the table format when both need the same).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

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
    """One import request's worth in the table format: columns and rows of (timestamp_ms, values)."""

    path: ClassVar[str] = "imports?fmt=table"
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
    return _tables(series, _timestamp_groups(series))


def _timestamp_groups(series: Mapping[str, Mapping[int, Number]]) -> dict[tuple[int, ...], list[str]]:
    """Series names by their (sorted) timestamps: the series that can share a table without nulls."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, points in series.items():
        if points:
            groups.setdefault(tuple(sorted(points)), []).append(name)
    return groups


def _tables(series: Mapping[str, Mapping[int, Number]], groups: dict[tuple[int, ...], list[str]]) -> list[Table]:
    out: list[Table] = []
    for times, names in groups.items():
        if len(names) > MAX_POINTS_PER_REQUEST:
            raise ValueError(f"{len(names)} columns cannot fit one import of {MAX_POINTS_PER_REQUEST} points")
        columns = [series[n] for n in names]
        if len(columns) == 1:
            only = columns[0]
            rows = [(t, (only[t],)) for t in times]
        else:
            rows = [(t, tuple([column[t] for column in columns])) for t in times]
        per_request = MAX_POINTS_PER_REQUEST // len(names)
        out.extend(Table(tuple(names), tuple(rows[start:start + per_request]))
                   for start in range(0, len(rows), per_request))
    return out


def _table_requests(groups: dict[tuple[int, ...], list[str]]) -> int | None:
    """How many requests `_tables` makes of these groups; None when one has more columns than an import takes."""
    count = 0
    for times, names in groups.items():
        if len(names) > MAX_POINTS_PER_REQUEST:
            return None
        count += -(-len(times) // (MAX_POINTS_PER_REQUEST // len(names)))
    return count


@dataclass(frozen=True)
class SeriesImport:
    """One import request's worth in the series format: (name, ((timestamp_ms, value), ...)) per series."""

    series: tuple[tuple[str, tuple[tuple[int, Number], ...]], ...]

    path: ClassVar[str] = "imports"  # the series format is the API's default: no fmt

    def body(self, project_id: int, device_id: str) -> dict[str, Any]:
        return {
            "project_id": project_id,
            "device_id": device_id,
            "timefmt": "usec",
            "sources": [{"name": name, "data": [{"time": t * 1000, "value": v} for t, v in points]}
                        for name, points in self.series],
        }

    @property
    def points(self) -> int:
        return sum(len(points) for _, points in self.series)


Import = Union[Table, SeriesImport]


def series_imports(series: Mapping[str, Mapping[int, Number]]) -> list[SeriesImport]:
    """The points of named series of {timestamp_ms: value} in series-format imports of at most 1000 points.

    Series are packed in order, a series split across two imports where one
    fills up, so n points take ceil(n / 1000) requests whatever their times.
    Points keep the order they were given in (the API does not ask for time
    order), so a batch of readings is not sorted again.
    """
    out: list[SeriesImport] = []
    current: list[tuple[str, tuple[tuple[int, Number], ...]]] = []
    room = MAX_POINTS_PER_REQUEST
    for name, points in series.items():
        items = tuple(points.items())
        start = 0
        while start < len(items):
            part = items if start == 0 and len(items) <= room else items[start:start + room]
            current.append((name, part))
            start += len(part)
            room -= len(part)
            if room == 0:
                out.append(SeriesImport(tuple(current)))
                current, room = [], MAX_POINTS_PER_REQUEST
    if current:
        out.append(SeriesImport(tuple(current)))
    return out


def imports(series: Mapping[str, Mapping[int, Number]]) -> list[Import]:
    """The fewest import requests for named series of {timestamp_ms: value}.

    Tables when they reach the floor of ceil(points / 1000) requests (series
    measured together: no nulls, fewer bytes); otherwise the series format,
    which always does (ten sensors read at different moments: one request
    per 1000 points rather than ten).
    """
    total = sum(len(points) for points in series.values())
    if total == 0:
        return []
    groups = _timestamp_groups(series)
    table_requests = _table_requests(groups)
    if table_requests is not None and table_requests <= -(-total // MAX_POINTS_PER_REQUEST):
        return list(_tables(series, groups))
    return list(series_imports(series))
