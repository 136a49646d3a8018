"""Held readings in the outbox file: taken while the system clock was not synchronised (schema 3).

A held reading is kept with the monotonic time and the boot it was taken in,
in the `held` table, which no uploader's cursor reads and no bound of the
ordinary records touches. When the clock of the same boot is synchronised,
`sensorkit.holding` stamps each one from the monotonic anchor and the outbox
moves them to the ordinary records, in order, in one transaction
(`Outbox.release`). Readings of a boot that ended before its clock was
synchronised can never be stamped right: they stay here, shown by `sensorkit
outbox status`, until `sensorkit outbox purge-held` deletes them.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sensorkit.outbox.codec import SeriesKey, stored_value
from sensorkit.outbox.schema import HELD_SCHEMA
from sensorkit.outbox.store import write_error
from sensorkit.readings import Reading, stored_reading

HeldRow = tuple[int, int, Reading]  # held id, monotonic ms, the reading (its timestamp: what the clock said)


@dataclass(frozen=True)
class HeldStatus:
    """The readings held from one boot."""

    boot_id: str
    count: int
    first_mono_ms: int
    last_mono_ms: int
    first_clock_ms: int  # what the unsynchronised wall clock said of the first one (never sent)
    last_clock_ms: int

    @property
    def span_s(self) -> float:
        return max(0, self.last_mono_ms - self.first_mono_ms) / 1000


def has_held_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'held'").fetchone() is not None


def boot_number(conn: sqlite3.Connection, boot_id: str) -> int:
    """The row of `boot_id` in the boot table, made when missing, with the tables (inside the caller's transaction)."""
    for statement in HELD_SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT OR IGNORE INTO boot (boot_id) VALUES (?)", (boot_id,))
    return int(conn.execute("SELECT id FROM boot WHERE boot_id = ?", (boot_id,)).fetchone()[0])


INSERT = ("INSERT INTO held (boot, mono_ms, clock_ms, series_id, value, media_type) "
          "VALUES (?, ?, ?, ?, ?, ?)")


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM held").fetchone()[0]) if has_held_table(conn) else 0


def oldest_by_series(conn: sqlite3.Connection, number: int) -> list[tuple[int, int]]:
    """(series id, how many) among the `number` oldest held readings: what a bound on them drops."""
    return conn.execute("SELECT series_id, count(*) FROM (SELECT series_id FROM held ORDER BY id LIMIT ?) "
                        "GROUP BY series_id", (number,)).fetchall()


DROP_OLDEST = "DELETE FROM held WHERE id IN (SELECT id FROM held ORDER BY id LIMIT ?)"
RELEASE = "DELETE FROM held WHERE boot = (SELECT id FROM boot WHERE boot_id = ?) AND id <= ?"


def rows_of_boot(conn: sqlite3.Connection, series: Mapping[int, SeriesKey], boot_id: str) -> list[HeldRow]:
    """Every reading held from `boot_id`, in the order they were taken (monotonic time, then id)."""
    if not has_held_table(conn):
        return []
    rows = conn.execute(
        "SELECT h.id, h.mono_ms, h.clock_ms, h.series_id, h.value, h.media_type FROM held h "
        "JOIN boot b ON b.id = h.boot WHERE b.boot_id = ? ORDER BY h.mono_ms, h.id", (boot_id,)).fetchall()
    out = []
    for held_id, mono, clock_ms, sid, stored, media_type in rows:
        name, sensor, quantity, unit, kind = series[sid]
        value, media_type = stored_value(kind, stored, media_type)
        out.append((held_id, mono, stored_reading(name, sensor, quantity, value, unit, clock_ms, media_type)))
    return out


def summary(conn: sqlite3.Connection) -> tuple[HeldStatus, ...]:
    """Per boot: how many readings are held, and when (a file before schema 3 holds none)."""
    if not has_held_table(conn):
        return ()
    return tuple(HeldStatus(*row) for row in conn.execute(
        "SELECT b.boot_id, count(*), min(h.mono_ms), max(h.mono_ms), min(h.clock_ms), max(h.clock_ms) "
        "FROM held h JOIN boot b ON b.id = h.boot GROUP BY b.id ORDER BY min(h.id)"))


def purge(conn: sqlite3.Connection, path: Path, keep_boot: str | None) -> int:
    """Delete every held reading except those of `keep_boot` (this boot's, which go once its clock is set)."""
    if not has_held_table(conn):
        return 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        deleted = conn.execute("DELETE FROM held WHERE boot NOT IN (SELECT id FROM boot WHERE boot_id = ?)",
                               (keep_boot or "",)).rowcount
        conn.execute("DELETE FROM boot WHERE id NOT IN (SELECT boot FROM held)")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise write_error(exc, path, "purge held readings") from None
    return deleted


def insert_rows(boot: int, items: Sequence[tuple[int, Reading, int]]) -> list[tuple[object, ...]]:
    """The parameters of INSERT for (monotonic ms, reading, series id) items of one boot."""
    return [(boot, mono, r.timestamp_ms, sid, _stored(r.value), r.media_type) for mono, r, sid in items]


def _stored(value: object) -> object:
    return int(value) if isinstance(value, bool) else value
