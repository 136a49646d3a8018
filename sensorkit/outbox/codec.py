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

Text and bytes (kinds `KIND_TEXT`, `KIND_BYTES`) keep the same 14-byte
record, so a chunk stays one sequence of ids whatever it holds, and numbers
cost exactly what they did; its float64 holds the value's size in bytes
(UTF-8 for text), which bounds a batch without reading the values
(`content_end`). The value itself, with the media type of bytes, is a row of
the `content` table keyed by the reading's id (see `sensorkit.outbox.store`),
written in the same transaction as its chunk. Why a side table rather than
values inside the chunk: a chunk is rewritten in place in the hot ring, one
page per commit, which a 1 MiB value would not fit; a row per value costs
its own bytes plus a few, and nothing at all while no text or bytes are
stored.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Callable, Optional, Union

from sensorkit.readings import Reading, Value, content_size, stored_reading

RECORD = struct.Struct("<Hid")  # series id, ms after the chunk's base, value
MAX_SERIES_ID = 0xFFFF
MAX_CHUNK_READINGS = 256  # bounds the work of decoding a chunk to reach one reading in it
_OFFSET_MIN, _OFFSET_MAX = -(2**31), 2**31 - 1  # ±24.8 days around the chunk's base
EXACT_INT_LIMIT = 2**53  # the largest int a float64 holds exactly

KIND_FLOAT = 0
KIND_INT = 1
KIND_BOOL = 2
KIND_TEXT = 3  # from here on, kinds whose values live in the content table
KIND_BYTES = 4

SeriesKey = tuple[str, str, str, str, int]  # series, sensor, quantity, unit, kind
ChunkRow = tuple[int, int, int, bytes]  # first_id, count, base_ms, data
ContentRow = tuple[int, Optional[str], Union[str, bytes]]  # reading id, media type (bytes only), value
Contents = Mapping[int, tuple[Optional[str], Union[str, bytes]]]  # reading id -> (media type, value)
NO_CONTENTS: Contents = {}


def classify(value: object) -> tuple[int, float]:
    """The kind of a value and the float64 that stores it (a size for text and bytes); TypeError for others."""
    kind = type(value)
    if kind is float:
        return KIND_FLOAT, value  # type: ignore[return-value]
    if kind is bool:
        return KIND_BOOL, 1.0 if value else 0.0
    if kind is int and -EXACT_INT_LIMIT <= value <= EXACT_INT_LIMIT:  # type: ignore[operator]
        return KIND_INT, float(value)  # type: ignore[arg-type]
    # Text, bytes, subclasses and foreign scalars (numpy) are rare: the slow, general path.
    if isinstance(value, str):
        return KIND_TEXT, float(content_size(value))
    if isinstance(value, bytes):
        return KIND_BYTES, float(len(value))
    if isinstance(value, bool):
        return KIND_BOOL, 1.0 if value else 0.0
    if isinstance(value, int) and -EXACT_INT_LIMIT <= value <= EXACT_INT_LIMIT:
        return KIND_INT, float(value)
    try:
        return KIND_FLOAT, float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError("a reading's value must be a number, a bool, text (str) or bytes, "
                        f"not {type(value).__name__}") from None


def series_key(reading: Reading) -> SeriesKey:
    kind, _ = classify(reading.value)
    return (reading.series, reading.sensor, reading.quantity, reading.unit, kind)


def encode(readings: Iterable[Reading], series_id: Callable[[SeriesKey], int], first_id: int,
           max_readings: int = MAX_CHUNK_READINGS) -> tuple[list[ChunkRow], list[ContentRow]]:
    """Pack readings, in order, into chunk rows numbered from `first_id`, and the content rows of their text and bytes.

    A new chunk starts when one holds `max_readings` or a timestamp is too
    far from the chunk's base for an int32 offset (a clock that jumped).
    """
    rows: list[ChunkRow] = []
    contents: list[ContentRow] = []
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
        if kind >= KIND_TEXT:
            contents.append((chunk_first + len(parts), reading.media_type, reading.value))  # type: ignore[arg-type]
        parts.append(pack(sid, offset, number))
    if parts:
        rows.append((chunk_first, len(parts), base, b"".join(parts)))
    return rows, contents


def to_value(kind: int, number: float) -> Value:
    if kind == KIND_FLOAT:
        return number
    if kind == KIND_INT:
        return int(number)
    return number != 0.0


def decode(
    row: ChunkRow, series: Mapping[int, SeriesKey], start_id: int, end_id: int, contents: Contents = NO_CONTENTS
) -> list[tuple[int, Reading]]:
    """The readings of a chunk whose ids are in [start_id, end_id), with their ids.

    `contents` holds the text and bytes of those ids (`sensorkit.outbox.store.contents_between`).
    """
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
        if kind < KIND_TEXT:
            out.append((reading_id, stored_reading(name, sensor, quantity, to_value(kind, number), unit,
                                                   base + offset)))
        else:
            media_type, value = contents[reading_id]
            out.append((reading_id, stored_reading(name, sensor, quantity, value, unit, base + offset, media_type)))
        reading_id += 1
    return out


def stored_value(kind: int, stored: object, media_type: str | None) -> tuple[Value, str | None]:
    """A value as a dead letter keeps it (a column of its own), with its media type."""
    if kind >= KIND_TEXT:
        return stored, media_type  # type: ignore[return-value]  # TEXT or BLOB, as SQLite stored it
    return to_value(kind, float(stored)), None  # type: ignore[arg-type]


def content_end(rows: Iterable[ChunkRow], series: Mapping[int, SeriesKey], start_id: int, end_id: int,
                budget: int) -> int:
    """The end of [start_id, end) where the text and bytes stay within `budget` bytes; `end_id` at most.

    At least one reading is always in: a value is never larger than `MAX_VALUE_BYTES`.
    """
    total = 0
    size = RECORD.size
    for first_id, count, _, data in rows:
        skip = max(0, start_id - first_id)
        stop = min(count, end_id - first_id)
        reading_id = first_id + skip
        for sid, _, number in RECORD.iter_unpack(data[skip * size : stop * size]):
            if series[sid][4] >= KIND_TEXT:
                total += int(number)
                if total > budget and reading_id > start_id:
                    return reading_id
            reading_id += 1
    return end_id


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
