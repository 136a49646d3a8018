"""How the outbox packs readings: one row per commit and series table, not one row per reading.

Why a packed row: a commit costs whole pages whatever its rows look like, so
the readings of a commit go into one compact row (a "chunk") that fits one
small page (see `sensorkit.outbox.chunks`): 14 bytes a reading, rather than a row of
its own (header, rowid, cell pointer) for each. That is what keeps an SD
card's writes well under 200 bytes a reading.

A chunk holds readings with consecutive ids ``first_id .. first_id + count - 1``.
Its `data` is `count` records of 14 bytes, little-endian:

====== ======= ==================================================
offset type    meaning
====== ======= ==================================================
0      uint16  series id (row of the `series` table)
2      int32   timestamp_ms minus the chunk's `base_ms`
6      float64 the value; its Python type is the series row's kind
====== ======= ==================================================

A series row is (series, sensor, quantity, unit, kind), so a bool stays a
bool, an int an int and a float a float, at no cost per reading. Ints are
exact up to 2**53; a larger int (no sensor produces one) is kept as a float.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Callable

from sensorkit.readings import Reading, Value, stored_reading

RECORD = struct.Struct("<Hid")  # series id, ms after the chunk's base, value
MAX_SERIES_ID = 0xFFFF
MAX_CHUNK_READINGS = 256  # bounds the work of decoding a chunk to reach one reading in it
_OFFSET_MIN, _OFFSET_MAX = -(2**31), 2**31 - 1  # ±24.8 days around the chunk's base
EXACT_INT_LIMIT = 2**53  # the largest int a float64 holds exactly

KIND_FLOAT = 0
KIND_INT = 1
KIND_BOOL = 2

SeriesKey = tuple[str, str, str, str, int]  # series, sensor, quantity, unit, kind
ChunkRow = tuple[int, int, int, bytes]  # first_id, count, base_ms, data


def classify(value: object) -> tuple[int, float]:
    """The kind of a value and the float64 that stores it; TypeError for what is not a number."""
    kind = type(value)
    if kind is float:
        return KIND_FLOAT, value  # type: ignore[return-value]
    if kind is bool:
        return KIND_BOOL, 1.0 if value else 0.0
    if kind is int and -EXACT_INT_LIMIT <= value <= EXACT_INT_LIMIT:  # type: ignore[operator]
        return KIND_INT, float(value)  # type: ignore[arg-type]
    # Subclasses and foreign scalars (numpy) are rare: the slow, general path.
    if isinstance(value, bool):
        return KIND_BOOL, 1.0 if value else 0.0
    if isinstance(value, int) and -EXACT_INT_LIMIT <= value <= EXACT_INT_LIMIT:
        return KIND_INT, float(value)
    try:
        return KIND_FLOAT, float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"a reading's value must be a number or a bool, not {type(value).__name__}") from None


def series_key(reading: Reading) -> SeriesKey:
    kind, _ = classify(reading.value)
    return (reading.series, reading.sensor, reading.quantity, reading.unit, kind)


def encode(readings: Iterable[Reading], series_id: Callable[[SeriesKey], int], first_id: int,
           max_readings: int = MAX_CHUNK_READINGS) -> list[ChunkRow]:
    """Pack readings, in order, into chunk rows numbered from `first_id`.

    A new chunk starts when one holds `max_readings` or a timestamp is too
    far from the chunk's base for an int32 offset (a clock that jumped).
    """
    rows: list[ChunkRow] = []
    pack = RECORD.pack
    parts: list[bytes] = []
    base = 0
    chunk_first = first_id
    for reading in readings:
        kind, number = classify(reading.value)
        sid = series_id((reading.series, reading.sensor, reading.quantity, reading.unit, kind))
        offset = reading.timestamp_ms - base
        if parts and (len(parts) >= max_readings or not _OFFSET_MIN <= offset <= _OFFSET_MAX):
            rows.append((chunk_first, len(parts), base, b"".join(parts)))
            chunk_first += len(parts)
            parts = []
        if not parts:
            base = reading.timestamp_ms
            offset = 0
        parts.append(pack(sid, offset, number))
    if parts:
        rows.append((chunk_first, len(parts), base, b"".join(parts)))
    return rows


def to_value(kind: int, number: float) -> Value:
    if kind == KIND_FLOAT:
        return number
    if kind == KIND_INT:
        return int(number)
    return number != 0.0


def decode(
    row: ChunkRow, series: Mapping[int, SeriesKey], start_id: int, end_id: int
) -> list[tuple[int, Reading]]:
    """The readings of a chunk whose ids are in [start_id, end_id), with their ids."""
    first_id, count, base, data = row
    skip = max(0, start_id - first_id)
    stop = min(count, end_id - first_id)
    out: list[tuple[int, Reading]] = []
    if stop <= skip:
        return out
    size = RECORD.size
    reading_id = first_id + skip
    for sid, offset, number in RECORD.iter_unpack(data[skip * size : stop * size]):
        name, sensor, quantity, unit, kind = series[sid]
        out.append((reading_id, stored_reading(name, sensor, quantity, to_value(kind, number), unit, base + offset)))
        reading_id += 1
    return out


def timestamps(row: ChunkRow) -> list[int]:
    """The timestamps of every reading of a chunk, in id order."""
    _, count, base, data = row
    return [base + offset for _, offset, _ in RECORD.iter_unpack(data[:count * RECORD.size])]


def series_ids(row: ChunkRow, start_id: int, end_id: int) -> list[int]:
    """The series id of each reading of a chunk whose id is in [start_id, end_id)."""
    first_id, count, _, data = row
    skip = max(0, start_id - first_id)
    stop = min(count, end_id - first_id)
    if stop <= skip:
        return []
    size = RECORD.size
    return [sid for sid, _, _ in RECORD.iter_unpack(data[skip * size : stop * size])]
