"""The outbox file's one connection, and what it keeps in memory about the file.

`OutboxWriter` numbers readings, enforces the bounds, moves cursors and keeps
dead letters, each change in one transaction. Its mirror of the file (the
id range, the cursors, the series, the hot ring) changes only once a
transaction has committed, so a failed commit leaves both as they were. It
is not thread-safe: `Outbox` holds a lock around every call, reads included
(the connection holds the file exclusively, so it is the only one).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensorkit.clock import synchronized
from sensorkit.errors import OutboxError
from sensorkit.outbox import held as held_table
from sensorkit.outbox.chunks import Chunks
from sensorkit.outbox.codec import (
    KIND_TEXT,
    MAX_SERIES_ID,
    ChunkRow,
    Contents,
    SeriesKey,
    encode,
    series_ids,
    series_key,
    timestamps,
)
from sensorkit.outbox.status import OutboxStatus, status_of
from sensorkit.outbox.store import (
    PAGE_SIZE,
    WriterLock,
    contents_between,
    delete_dead,
    flag_dead,
    id_range,
    inspect_file,
    open_database,
    write_error,
)
from sensorkit.readings import Reading

log = logging.getLogger("sensorkit.outbox")

PRUNE_INTERVAL_S = 60.0  # how often delivered readings are removed: in bulk, not per batch
WARNING_INTERVAL_S = 60.0  # repeated drop warnings are summed up this often
Items = Sequence[tuple[int, Reading]]
HeldItems = Sequence[tuple[str, int, Reading]]  # boot id, monotonic ms, the reading
Release = tuple[str, int]  # boot id, the last held id moved to the records
Statements = Sequence[tuple[str, Sequence[Any]]]


class DropReport:
    """Warnings about dropped readings: at once the first time, then summed up once a minute. Thread-safe."""

    def __init__(self, path: Path, clock: Any) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._unreported: dict[str, Counter[str]] = {}
        self._reported_at: float | None = None

    def note(self, reason: str, by_series: Counter[str]) -> None:
        with self._lock:
            self._unreported.setdefault(reason, Counter()).update(by_series)
            now = self._clock.monotonic()
            if self._reported_at is not None and now - self._reported_at < WARNING_INTERVAL_S:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            unreported, self._unreported = self._unreported, {}
            self._reported_at = self._clock.monotonic()
        for reason, by_series in unreported.items():
            listed = ", ".join(f"{series} {n:,}" for series, n in by_series.most_common())
            log.warning("outbox %s: dropped the %s oldest undelivered reading(s) (%s) because %s",
                        self._path, f"{sum(by_series.values()):,}", listed, reason)


class OutboxWriter:
    """Opens (or creates) the file, holds the writer's lock file, and makes every change to it."""

    def __init__(self, path: Path, uploaders: Sequence[str], *, clock: Any, sync_interval_s: float,
                 max_readings: int, max_age_s: float, max_file_bytes: int | None, check: bool,
                 exclusive: bool = True) -> None:
        self.path = path
        self._clock = clock
        self._sync_interval_s = sync_interval_s
        self._max_readings = max_readings
        self._max_age_ms = round(max_age_s * 1000)
        self._full_sync = False
        self.drops = DropReport(path, clock)
        self._lock_file = WriterLock(path)  # first: a second writer learns at once who holds the file
        try:
            version = inspect_file(path, check=check)  # read-only: a foreign or damaged file stays untouched
            self._db = open_database(path, version, exclusive=exclusive)
            try:
                if max_file_bytes is not None:
                    self._db.execute(f"PRAGMA max_page_count = {max(1, max_file_bytes // PAGE_SIZE)}")
                self._load(uploaders)
            except BaseException:
                self._db.close()
                raise
        except BaseException:
            self._lock_file.release()
            raise
        self._last_sync = self._last_prune = clock.monotonic()

    def _load(self, uploaders: Sequence[str]) -> None:
        """Read the mirror: series, the stored id range, cursors (a new uploader starts at the oldest reading)."""
        db = self._db
        self.series: dict[int, SeriesKey] = {}
        self._series_ids: dict[SeriesKey, int] = {}
        for sid, *fields in db.execute("SELECT id, series, sensor, quantity, unit, kind FROM series"):
            key: SeriesKey = tuple(fields)  # type: ignore[assignment]
            self.series[sid], self._series_ids[key] = key, sid
        self.chunks = Chunks(db)
        self.floor, self.next_id = id_range(db)
        self.held_count = held_table.count(db)
        # Readings below this id include released held ones: no age bound until they are delivered.
        row = db.execute("SELECT value FROM meta WHERE key = 'released_end'").fetchone()
        self._released_end = int(row[0]) if row else 0
        stored = dict(db.execute("SELECT uploader, last_id FROM cursor"))
        for name, last_id in stored.items():
            if last_id >= self.next_id:
                log.warning("outbox %s: cursor of '%s' (%d) is past the last reading (%d): set back",
                            self.path, name, last_id, self.next_id - 1)
        self.cursors = {u: min(max(stored.get(u, 0), self.floor - 1), self.next_id - 1) for u in uploaders}
        changed = [(u, c) for u, c in self.cursors.items() if stored.get(u) != c]
        if changed:
            self._transaction("add uploader cursors", [
                ("INSERT INTO cursor (uploader, last_id) VALUES (?, ?) "
                 "ON CONFLICT (uploader) DO UPDATE SET last_id = excluded.last_id", row) for row in changed])

    # ------------------------------------------------------------------ readings
    def write(self, batch: Sequence[Reading], memory_drops: Counter[SeriesKey], *, sync: bool = False,
              in_flight: int | None = None, held: HeldItems = (), release: Release | None = None) -> None:
        """One transaction: the batch, the bounds, pruning, and drops counted while the disk refused writes;
        readings to hold (`held`), and held readings moved to the records (`release`: the batch holds them).

        It is fsynced when `sync` or when the last fsync is `sync_interval_s` old.
        Readings from id `in_flight` on are being sent: the bounds leave them
        for now, so a reading counted as dropped was never delivered.
        """
        db = self._db
        now = self._clock.monotonic()
        full_sync = sync or self._sync_interval_s == 0 or now - self._last_sync >= self._sync_interval_s
        new_series: list[SeriesKey] = []
        ring = self.chunks.state()  # what to go back to if the transaction fails

        def series_id(key: SeriesKey) -> int:
            sid = self._series_ids.get(key)
            if sid is None:
                sid = db.execute("INSERT INTO series (series, sensor, quantity, unit, kind) VALUES (?, ?, ?, ?, ?)",
                                 key).lastrowid
                if sid is None or sid > MAX_SERIES_ID:
                    raise OutboxError(f"the outbox {self.path} holds {MAX_SERIES_ID} series: start a new outbox")
                self.series[sid], self._series_ids[key] = key, sid
                new_series.append(key)
            return sid

        try:
            self._set_full_sync(full_sync)
            db.execute("BEGIN IMMEDIATE")
            rows, contents = encode(batch, series_id, self.next_id, Chunks.chunk_size(len(batch)))
            self.chunks.adopt(self.chunks.append(rows, needed=self._needed(), commit_size=len(batch)))
            if contents:
                db.executemany("INSERT INTO content (reading_id, media_type, value) VALUES (?, ?, ?)", contents)
            next_id = self.next_id + len(batch)
            released_end = next_id if release is not None else self._released_end
            floor, drops = self._enforce_bounds(next_id, now, in_flight, released_end)
            if memory_drops:
                self._count_drops(Counter({series_id(key): n for key, n in memory_drops.items()}))
            held_count, held_drops = self._hold(held, release, series_id)
            if release is not None:
                db.execute("INSERT INTO meta (key, value) VALUES ('released_end', ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (released_end,))
            db.execute("COMMIT")
        except (sqlite3.Error, OutboxError) as exc:
            self._rollback()
            self.chunks.adopt(ring)
            for key in new_series:
                del self.series[self._series_ids.pop(key)]
            if isinstance(exc, OutboxError):
                raise
            raise write_error(exc, self.path, f"store {len(batch)} reading(s)") from None
        finally:
            if self._sync_interval_s > 0:
                self._set_full_sync(False)
        self.next_id = next_id
        self.held_count, self._released_end = held_count, released_end
        if full_sync:
            self._last_sync = now
        self._raise_floor(floor)
        if held_drops:
            drops[f"more than max_readings={self._max_readings:,} were held while the clock was not "
                  "synchronised"] = held_drops
        for reason, by_series in drops.items():
            self.drops.note(reason, by_series)

    def _hold(self, held: HeldItems, release: Release | None, series_id: Any) -> tuple[int, Counter[str]]:
        """Inside the commit's transaction: store held readings, bound them, remove the released ones."""
        if not held and release is None:
            return self.held_count, Counter()
        db = self._db
        total, drops = self.held_count, Counter[str]()
        if release is not None:
            total -= db.execute(held_table.RELEASE, release).rowcount
        by_boot: dict[str, list[tuple[int, Reading, int]]] = {}
        for boot, mono, reading in held:
            by_boot.setdefault(boot, []).append((mono, reading, series_id(series_key(reading))))
        for boot, items in by_boot.items():
            db.executemany(held_table.INSERT, held_table.insert_rows(held_table.boot_number(db, boot), items))
            total += len(items)
        excess = total - self._max_readings
        if excess > 0:  # never silently: counted and warned about like any drop
            counts = Counter(dict(held_table.oldest_by_series(db, excess)))
            self._count_drops(counts)
            db.execute(held_table.DROP_OLDEST, (excess,))
            drops = Counter({self.series[sid][0]: n for sid, n in counts.items()})
            total -= excess
        return total, drops

    def held_rows(self, boot_id: str) -> list[held_table.HeldRow]:
        return held_table.rows_of_boot(self._db, self.series, boot_id)

    def _needed(self) -> int:
        """The first id some uploader still needs (every stored one when there are no uploaders)."""
        return max(self.floor, min(self.cursors.values()) + 1) if self.cursors else self.floor

    def _enforce_bounds(self, next_id: int, now: float, in_flight: int | None = None,
                        released_end: int = 0) -> tuple[int, dict[str, Counter[str]]]:
        """Inside the commit's transaction: move the floor past delivered, surplus and too old readings.

        Never past `in_flight`: those may arrive yet; they go at a later commit if still needed.
        """
        floor = self.floor
        needed = self._needed()
        target = floor
        if now - self._last_prune >= PRUNE_INTERVAL_S or next_id - floor > self._max_readings:
            target = max(floor, needed)
            self._last_prune = now
        reasons: list[tuple[str, int]] = []
        if next_id - target > self._max_readings:
            target = next_id - self._max_readings
            reasons.append((f"the outbox holds at most max_readings={self._max_readings:,}", target))
        # Held readings just released may be older than max_age: they never had a chance, so they go first.
        young = self._first_young(target, next_id) if target >= released_end else target
        if young > target:
            target = young
            reasons.append((f"readings older than max_age ({self._max_age_ms / 86_400_000:g} days) are dropped",
                            target))
        if in_flight is not None:
            target = min(target, max(floor, in_flight))
        if target <= floor:
            return floor, {}
        drops: dict[str, Counter[str]] = {}
        start = max(floor, needed)
        for reason, end in reasons:
            end = min(end, target)
            counts = self._series_between(start, end) if end > start else Counter()
            if counts:
                self._count_drops(counts)
                drops[reason] = Counter({self.series[sid][0]: n for sid, n in counts.items()})
            start = max(start, end)
        for sql, params in self._floor_statements(target):
            self._db.execute(sql, params)
        return target, drops

    @staticmethod
    def _floor_statements(target: int) -> list[tuple[str, tuple[int, ...]]]:
        """Forget every reading below `target`: whole chunks go, their text and bytes too, cursors move past them."""
        return [
            Chunks.forget_below(target),
            ("DELETE FROM content WHERE reading_id < ?", (target,)),  # nothing to do, nothing written, if none
            ("UPDATE cursor SET last_id = ? WHERE last_id < ?", (target - 1, target - 1)),
            ("UPDATE meta SET value = ? WHERE key = 'floor'", (target,)),
        ]

    def _raise_floor(self, floor: int) -> None:
        if floor > self.floor:
            self.floor = floor
            self.cursors = {u: max(c, floor - 1) for u, c in self.cursors.items()}

    def prune_delivered(self) -> bool:
        """Remove what every uploader has had, in a transaction of its own (room on a full disk); True if any."""
        target = self._needed()
        if target <= self.floor:
            return False
        try:
            self._transaction("remove delivered readings", self._floor_statements(target))
        except OutboxError:
            return False
        self._raise_floor(target)
        return True

    def _first_young(self, start: int, next_id: int) -> int:
        """The first id from `start` on whose reading is not older than max_age; next_id when there is none.

        `start` itself when the first reading stored from there is young: the usual case, one look.
        """
        if not synchronized(self._clock):
            return start  # a wrong clock (days ahead) would make every reading look old: no age until it is set
        cutoff = self._clock.time_ms() - self._max_age_ms
        first = True
        for row in self.chunks.iterate(start, next_id):
            for offset, ts in enumerate(timestamps(row)):
                reading_id = row[0] + offset
                if reading_id < start:
                    continue
                if ts >= cutoff:
                    return start if first else reading_id
                first = False
        return next_id

    def _series_between(self, start: int, end: int) -> Counter[int]:
        counts: Counter[int] = Counter()
        if start < end:
            for row in self.chunks.iterate(start, end):
                counts.update(series_ids(row, start, end))
        return counts

    def chunks_between(self, start: int, end: int) -> list[ChunkRow]:
        return self.chunks.between(start, end)

    @property
    def has_contents(self) -> bool:
        """Whether any series holds text or bytes (else no reading has a row in `content`)."""
        return any(key[4] >= KIND_TEXT for key in self.series.values())

    def contents_between(self, start: int, end: int) -> Contents:
        return contents_between(self._db, start, end)

    def _count_drops(self, counts: Counter[int]) -> None:
        self._db.executemany(
            "INSERT INTO dropped (series_id, count) VALUES (?, ?) "
            "ON CONFLICT (series_id) DO UPDATE SET count = count + excluded.count",
            list(counts.items()))

    # ------------------------------------------------------------------ cursors and dead letters
    def ack(self, uploader: str, last_id: int) -> None:
        cursor = self.cursors[uploader]
        last_id = min(last_id, self.next_id - 1)
        if last_id > cursor:
            self._transaction(f"record the delivery to '{uploader}'", [(
                "UPDATE cursor SET last_id = ?, delivered = delivered + ?, last_success_ms = ? WHERE uploader = ?",
                (last_id, last_id - cursor, self._clock.time_ms(), uploader))])
            self.cursors[uploader] = last_id

    def dead_letter(self, uploader: str, items: Items, reason: str) -> None:
        now_ms = self._clock.time_ms()
        last_id = max(max(rid for rid, _ in items), self.cursors[uploader])
        self._transaction(f"keep dead letters of '{uploader}'", [
            *(("INSERT INTO dead_letter (uploader, reading_id, series_id, timestamp_ms, value, media_type, reason, "
               "dead_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (uploader, rid, self._series_ids[series_key(r)], r.timestamp_ms, r.value, r.media_type, reason,
                now_ms))
              for rid, r in items),
            ("UPDATE cursor SET last_id = ? WHERE uploader = ?", (last_id, uploader)),
        ])
        self.cursors[uploader] = last_id

    def note_error(self, uploader: str, message: str) -> None:
        self._transaction(f"record an error of '{uploader}'", [(
            "UPDATE cursor SET last_error = ?, last_error_ms = ? WHERE uploader = ?",
            (message, self._clock.time_ms(), uploader))])

    def retry_delivered(self, uploader: str, dead_ids: Sequence[int]) -> None:
        self._transaction(f"forget delivered dead letters of '{uploader}'", [
            ("DELETE FROM dead_letter WHERE id = ?", (did,)) for did in dead_ids])

    def retry_refused(self, uploader: str, dead_ids: Sequence[int], reason: str) -> None:
        now_ms = self._clock.time_ms()
        self._transaction(f"keep dead letters of '{uploader}'", [
            ("UPDATE dead_letter SET retry = 0, reason = ?, dead_ms = ? WHERE id = ?", (reason, now_ms, did))
            for did in dead_ids])

    def status(self, uploaders: Sequence[str]) -> OutboxStatus:
        return status_of(self._db, self.path, self.chunks.hot, uploaders)

    def dead_to_retry(self, uploader: str, limit: int) -> list[tuple[Any, ...]]:
        return self._db.execute(
            "SELECT d.id, s.series, s.sensor, s.quantity, s.unit, s.kind, d.timestamp_ms, d.value, d.media_type "
            "FROM dead_letter d JOIN series s ON s.id = d.series_id "
            "WHERE d.uploader = ? AND d.retry = 1 ORDER BY d.id LIMIT ?", (uploader, limit)).fetchall()

    def flag_dead(self, uploader: str | None) -> int:
        return flag_dead(self._db, self.path, uploader)

    def delete_dead(self, uploader: str | None) -> int:
        return delete_dead(self._db, self.path, uploader)

    # ------------------------------------------------------------------ transactions
    def _set_full_sync(self, full: bool) -> None:
        if full != self._full_sync:
            self._db.execute("PRAGMA synchronous = FULL" if full else "PRAGMA synchronous = NORMAL")
            self._full_sync = full

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback failed", exc_info=True)  # SQLite has already rolled back

    def _transaction(self, action: str, statements: Statements) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                self._db.execute(sql, params)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise write_error(exc, self.path, action) from None

    def close(self) -> None:
        self.drops.flush()
        self._db.close()
        self._lock_file.release()
