"""The outbox: a durable queue of readings between the sampler and the uploaders (SQLite, WAL).

Readings get consecutive ids as they are committed; each uploader has a
cursor, the last id it has been given for good (delivered, dead-lettered or
dropped), so each gets every reading at least once, in the order they were
committed, which is timestamp order per series (one sensor worker makes a
series). How they are stored: `sensorkit.outbox.chunks` (a ring of page-sized slots,
rewritten in place, in front of an append-only table), `sensorkit.outbox.codec`
(14 bytes a reading; text and bytes beside the records, in a table of their
own), `sensorkit.outbox.store` (the file, its pragmas, its errors) and
`sensorkit.outbox.schema` (its tables, versions and upgrades).

A value is a number, a bool, UTF-8 text or bytes with a media type, at most
`sensorkit.readings.MAX_VALUE_BYTES` (1 MiB; `Reading` refuses more).

Durability window, at the defaults:

* `add()` only queues in memory. A commit comes `commit_interval_s` (1 s)
  after the first queued reading, or at once when `commit_batch` are queued.
* A commit is in the operating system at once: killing the process
  (kill -9, a crash) loses at most the readings of the last second.
* Every `sync_interval_s` (10 s) a commit is also fsynced, and so is the
  last one at `stop()`: a power cut loses at most the last
  `sync_interval_s + commit_interval_s` (11 s). `sync_interval_s = 0`
  fsyncs every commit (window: `commit_interval_s`) and writes about four
  times as many bytes per reading.

Bounds: when the file holds more than `max_readings`, or readings older than
`max_age_s`, the oldest are dropped at the next commit, counted per series
and reported by a warning; new readings are never refused. A batch being
sent (from `pending_batch` until `settled`) is left alone until its send is
over, so the drop counter counts only readings that never arrived. Readings
that every configured uploader has had are removed in bulk now and then.

The file is held exclusively while open (no shared WAL index to write back
every 30 s); `start()` publishes the status every few seconds for
`sensorkit outbox status` (see `sensorkit.outbox.status.read_status`).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from sensorkit.clock import SystemClock
from sensorkit.errors import OutboxError, OutboxFull
from sensorkit.outbox.codec import NO_CONTENTS, SeriesKey, classify, content_end, decode, series_key, stored_value
from sensorkit.outbox.status import OutboxStatus, publish_snapshot, snapshot_path
from sensorkit.outbox.writer import PRUNE_INTERVAL_S, WARNING_INTERVAL_S, HeldItems, Items, OutboxWriter
from sensorkit.readings import Reading

__all__ = ["Outbox", "OutboxStatus", "PRUNE_INTERVAL_S"]

log = logging.getLogger(__name__)

DEFAULT_COMMIT_INTERVAL_S = 1.0
DEFAULT_SYNC_INTERVAL_S = 10.0
DEFAULT_COMMIT_BATCH = 2_000  # readings queued that make a commit due before the interval is up
DEFAULT_MAX_PENDING = 50_000  # readings kept in memory while the disk refuses writes (~10 MB)
DEFAULT_MAX_READINGS = 10_000_000  # ~170-260 MB of file
DEFAULT_MAX_AGE_S = 30 * 86_400.0
SNAPSHOT_INTERVAL_S = 5.0  # how often a running outbox publishes its status for `sensorkit outbox status`
IDLE_WAIT_S = 3600.0  # the committer's nap when nothing is queued and nothing is published (add() wakes it)
_PLAIN_VALUES = (float, int, bool, str, bytes)  # checked by Reading itself
BATCH_CONTENT_BYTES = 8 << 20  # text and bytes in one batch at most (more than one value only when they fit)


class Outbox:
    """The durable queue. Thread-safe: sampler threads `add`, delivery threads read and acknowledge.

    `add` never touches the disk while the committer thread runs (`start`),
    and no method here ever waits on the network.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        uploaders: Sequence[str] = (),
        *,
        clock: Any = None,
        commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
        sync_interval_s: float = DEFAULT_SYNC_INTERVAL_S,
        commit_batch: int = DEFAULT_COMMIT_BATCH,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_readings: int = DEFAULT_MAX_READINGS,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_file_bytes: int | None = None,
        check: bool = True,
        exclusive: bool = True,
    ) -> None:
        """Open the outbox at `path`, creating it when missing; OutboxError says what is wrong and how to fix it.

        `max_file_bytes` caps the database file: a commit that would grow it
        further fails as on a full disk (readings wait in memory). `check`
        runs SQLite's quick_check on an existing file first. `exclusive`
        (the default) keeps other processes out of the file while it is
        open, which saves the writes of a shared WAL index: `start()` then
        publishes the status for `sensorkit outbox status`.
        """
        for name, value in (("commit_interval_s", commit_interval_s), ("max_age_s", max_age_s)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, not {value}")
        if sync_interval_s < 0:
            raise ValueError(f"sync_interval_s must be >= 0, not {sync_interval_s}")
        for name, number in (("commit_batch", commit_batch), ("max_pending", max_pending),
                             ("max_readings", max_readings)):
            if number < 1:
                raise ValueError(f"{name} must be >= 1, not {number}")
        self.path = Path(path)
        self.uploaders = tuple(dict.fromkeys(uploaders))
        self._clock = clock or SystemClock()
        self._commit_interval_s = commit_interval_s
        self._commit_batch = commit_batch
        self._max_pending = max_pending
        self._lock = threading.Lock()  # the queue in memory; never held during I/O
        self._write_lock = threading.RLock()  # the writer, in the order commits are taken from the queue
        self._pending: list[Reading] = []
        self._pending_held: list[tuple[str, int, Reading]] = []  # to hold: boot id, monotonic ms, reading
        self._in_flight: dict[str, int] = {}  # uploader -> first id of the batch it is sending
        self._pending_since: float | None = None
        self._unsaved_drops: Counter[SeriesKey] = Counter()  # dropped from memory, not yet counted in the file
        self._last_write_error: str | None = None
        self._write_error_logged_at: float | None = None
        self._listeners: list[Callable[[], None]] = []
        self._snapshot = snapshot_path(self.path)
        self._published_at: float | None = None
        self._committer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        self._file = OutboxWriter(self.path, self.uploaders, clock=self._clock, sync_interval_s=sync_interval_s,
                                  max_readings=max_readings, max_age_s=max_age_s, max_file_bytes=max_file_bytes,
                                  check=check, exclusive=exclusive)
        if self._snapshot is not None:  # one left by a writer that was killed: stale, since the file is ours now
            with contextlib.suppress(OSError):
                self._snapshot.unlink()

    # ------------------------------------------------------------------ writing
    def add(self, readings: Sequence[Reading]) -> None:
        """Queue readings for the next commit; cheap, never waits on the disk while the committer runs."""
        for reading in readings:
            if type(reading) is not Reading:
                raise TypeError(f"the outbox takes Readings, not {type(reading).__name__}")
            if type(reading.value) not in _PLAIN_VALUES:
                classify(reading.value)  # TypeError for what no uploader could send
        if not readings:
            return
        with self._lock:
            first = not self._pending and not self._pending_held
            if first:
                self._pending_since = self._clock.monotonic()
            self._pending.extend(readings)
            queued = len(self._pending)
            if queued > self._max_pending:
                self._trim_pending_locked()
        self._queued(first, queued)

    def add_held(self, items: HeldItems) -> None:
        """Queue readings taken while the clock was not synchronised, (boot id, monotonic ms, reading), to be
        held: committed like `add`'s, to the held table, which no uploader sees (`release` moves them)."""
        for _, _, reading in items:
            if type(reading) is not Reading:
                raise TypeError(f"the outbox takes Readings, not {type(reading).__name__}")
            classify(reading.value)
        if not items:
            return
        with self._lock:
            first = not self._pending and not self._pending_held
            if first:
                self._pending_since = self._clock.monotonic()
            self._pending_held.extend(items)
            queued = len(self._pending) + len(self._pending_held)
            excess = len(self._pending_held) - self._max_pending
            if excess > 0:
                dropped, self._pending_held = self._pending_held[:excess], self._pending_held[excess:]
                keys = Counter(series_key(r) for _, _, r in dropped)
                self._unsaved_drops.update(keys)
                self._file.drops.note(f"more than max_pending={self._max_pending:,} held readings waited in "
                                      "memory for a commit", Counter({key[0]: n for key, n in keys.items()}))
        self._queued(first, queued)

    def _queued(self, first: bool, queued: int) -> None:
        """Wake the committer for what was queued, or commit now when there is none and it is due."""
        if self._committer is not None:
            if first or queued >= self._commit_batch:
                self._wake.set()
        elif self.due_in_s() <= 0:
            try:
                self.commit()
            except OutboxError:
                pass  # reported by commit(); the readings wait in memory for the next try

    def due_in_s(self) -> float:
        """Seconds until a commit is due; 0 when due now, inf when nothing is queued."""
        with self._lock:
            if not self._pending and not self._unsaved_drops and not self._pending_held:
                return math.inf
            if len(self._pending) + len(self._pending_held) >= self._commit_batch or self._pending_since is None:
                return 0.0
            return max(0.0, self._pending_since + self._commit_interval_s - self._clock.monotonic())

    def commit(self, *, sync: bool = False) -> int:
        """Write every queued reading now; how many. OutboxError when the disk refused (they stay queued).

        `sync` fsyncs this commit whatever `sync_interval_s` says (shutdown).
        """
        with self._write_lock:
            self._check_open()
            with self._lock:
                batch, self._pending = self._pending, []
                held, self._pending_held = self._pending_held, []
                drops, self._unsaved_drops = self._unsaved_drops, Counter()
                self._pending_since = None
            if not batch and not drops and not held:
                return 0
            try:
                try:
                    self._file.write(batch, drops, sync=sync, in_flight=self._first_in_flight(), held=held)
                except OutboxFull:
                    if not self._file.prune_delivered():
                        raise
                    # room was made by removing delivered readings
                    self._file.write(batch, drops, sync=sync, in_flight=self._first_in_flight(), held=held)
            except OutboxError as exc:
                with self._lock:
                    self._pending[:0] = batch
                    self._pending_held[:0] = held
                    self._unsaved_drops.update(drops)
                    self._pending_since = self._clock.monotonic()  # try again one interval from now
                    self._trim_pending_locked()
                self._report_write_error(exc)
                raise
            if self._last_write_error is not None:
                log.warning("outbox %s: writing works again", self.path)
                self._last_write_error = None
                self._write_error_logged_at = None
        for listener in list(self._listeners):
            listener()
        return len(batch)

    def release(self, boot_id: str, stamp: Callable[[list[tuple[int, Reading]]], list[Reading]]) -> list[Reading]:
        """Move every reading held from `boot_id` to the records, stamped by `stamp`, in one transaction.

        `stamp` gets (monotonic ms, reading) in the order they were taken and returns them stamped; they
        are committed (fsynced) after all queued so far, so call it before adding readings taken after them.
        Returns them; OutboxError when the disk refused (they all stay held).
        """
        with self._write_lock:
            self.commit()
            rows = self._read(self._file.held_rows, boot_id)
            if not rows:
                return []
            readings = stamp([(mono, reading) for _, mono, reading in rows])
            try:
                self._file.write(readings, Counter(), sync=True, in_flight=self._first_in_flight(),
                                 release=(boot_id, max(held_id for held_id, _, _ in rows)))
            except OutboxError as exc:
                self._report_write_error(exc)
                raise
        log.info("outbox %s: %d held reading(s) stamped from the monotonic clock and queued for delivery",
                 self.path, len(readings))
        for listener in list(self._listeners):
            listener()
        return readings

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every commit (from the committing thread): how delivery learns of new readings."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Start the committer thread, so a lone reading is committed within `commit_interval_s`."""
        self._check_open()
        if self._committer is None:
            self._publish_due_in_s()  # at once: `sensorkit outbox status` works from the start
            self._stopping.clear()
            self._committer = threading.Thread(target=self._run_committer, name="outbox-committer", daemon=True)
            self._committer.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the committer, then commit (and fsync) what is queued; OutboxError when that failed."""
        committer, self._committer = self._committer, None
        if committer is not None:
            self._stopping.set()
            self._wake.set()
            committer.join(timeout_s)
        if not self._closed:
            self.commit(sync=True)

    def _run_committer(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            wait_s = self.due_in_s()
            if wait_s <= 0:
                try:
                    self.commit()
                except OutboxError:
                    pass  # reported by commit(); the next try is one interval away
                continue
            self._clock.wait(self._wake, min(wait_s, self._publish_due_in_s()))

    def _publish_due_in_s(self) -> float:
        """Publish the status when it is due; seconds until the next time."""
        if self._snapshot is None:
            return IDLE_WAIT_S
        now = self._clock.monotonic()
        if self._published_at is None or now - self._published_at >= SNAPSHOT_INTERVAL_S:
            self._published_at = now
            try:
                status = replace(self.status(), writer_pid=os.getpid(), as_of_ms=self._clock.time_ms())
                publish_snapshot(status, self._snapshot)
            except (OSError, OutboxError) as exc:
                log.debug("could not publish the outbox status to %s: %s", self._snapshot, exc)
        return SNAPSHOT_INTERVAL_S

    def _trim_pending_locked(self) -> None:
        excess = len(self._pending) - self._max_pending
        if excess <= 0:
            return
        dropped, self._pending = self._pending[:excess], self._pending[excess:]
        keys = Counter(series_key(r) for r in dropped)
        self._unsaved_drops.update(keys)
        self._file.drops.note(f"more than max_pending={self._max_pending:,} readings waited in memory for a "
                              "commit (a disk refusing writes, or too slow)",
                              Counter({key[0]: n for key, n in keys.items()}))

    def _report_write_error(self, exc: OutboxError) -> None:
        now = self._clock.monotonic()
        self._last_write_error = str(exc)
        if self._write_error_logged_at is None or now - self._write_error_logged_at >= WARNING_INTERVAL_S:
            with self._lock:
                queued = len(self._pending)
            log.error("%s (%d reading(s) wait in memory)", exc, queued)
            self._write_error_logged_at = now

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"the outbox {self.path} is closed")

    # ------------------------------------------------------------------ delivery's side
    def waiting(self, uploader: str) -> int:
        """Committed readings not yet given for good to `uploader`."""
        return max(0, self._file.next_id - max(self._cursor(uploader) + 1, self._file.floor))

    def pending_batch(self, uploader: str, limit: int) -> list[tuple[int, Reading]]:
        """Up to `limit` committed readings after the uploader's cursor, with their ids, oldest first.

        They count as in flight, safe from the bounds, until `settled(uploader)`.
        Text and bytes make a batch shorter when they would pass `BATCH_CONTENT_BYTES`
        (8 MiB) together, so a drain of big files never holds them all in memory.
        """
        with self._write_lock:  # no commit may move the floor between choosing the batch and marking it
            start = max(self._cursor(uploader) + 1, self._file.floor)
            end = min(start + limit, self._file.next_id)
            if start >= end:
                return []
            rows = self._read(self._file.chunks_between, start, end)
            contents = NO_CONTENTS
            if self._file.has_contents:
                end = content_end(rows, self._file.series, start, end, BATCH_CONTENT_BYTES)
                contents = self._read(self._file.contents_between, start, end)
            items: list[tuple[int, Reading]] = []
            try:
                for row in rows:
                    if row[0] < end:
                        items.extend(decode(row, self._file.series, start, end, contents))
            except KeyError as exc:  # only a damaged file lacks the value of a text or bytes reading
                raise OutboxError(f"the outbox {self.path} has no value for its text or bytes reading {exc}: the "
                                  f"file is damaged (`sqlite3 {self.path} 'PRAGMA integrity_check'` says where)"
                                  ) from None
            with self._lock:
                self._in_flight[uploader] = start
        return items

    def settled(self, uploader: str) -> None:
        """The batch `uploader` was given is settled: delivered, dead-lettered, or to be tried again later.

        Until then the bounds leave it in the file, so a reading counted as
        dropped is one that was never delivered.
        """
        with self._lock:
            self._in_flight.pop(uploader, None)

    def _first_in_flight(self) -> int | None:
        with self._lock:
            return min(self._in_flight.values(), default=None)

    def retry_batch(self, uploader: str, limit: int) -> list[tuple[int, Reading]]:
        """Dead letters flagged by `retry_dead`, with their dead-letter ids, oldest first."""
        items = []
        for did, name, sensor, quantity, unit, kind, ts, stored, media_type in self._read(
                self._file.dead_to_retry, uploader, limit):
            value, media_type = stored_value(kind, stored, media_type)
            items.append((did, Reading(name, sensor, quantity, value, unit, ts, media_type)))
        return items

    def ack(self, uploader: str, last_id: int) -> None:
        """`uploader` took every reading up to `last_id`: move its cursor (one transaction)."""
        self._cursor(uploader)
        self._locked(self._file.ack, uploader, last_id)

    def dead_letter(self, uploader: str, items: Items, reason: str) -> None:
        """`uploader` refused these readings: keep them with the reason and move the cursor past them, together."""
        self._cursor(uploader)
        self._locked(self._file.dead_letter, uploader, items, reason)

    def note_error(self, uploader: str, message: str) -> None:
        """Record a failed delivery (shown by `status`, also from another process)."""
        self._cursor(uploader)
        self._locked(self._file.note_error, uploader, message)

    def retry_delivered(self, uploader: str, dead_ids: Sequence[int]) -> None:
        """Dead letters sent again were taken: forget them."""
        self._locked(self._file.retry_delivered, uploader, dead_ids)

    def retry_refused(self, uploader: str, dead_ids: Sequence[int], reason: str) -> None:
        """Dead letters sent again were refused again: keep them, with the new reason, unflagged."""
        self._locked(self._file.retry_refused, uploader, dead_ids, reason)

    def _locked(self, method: Callable[..., Any], *args: Any) -> Any:
        with self._write_lock:
            self._check_open()
            return method(*args)

    def _read(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._locked(method, *args)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot read the outbox {self.path}: {exc}") from None

    def _cursor(self, uploader: str) -> int:
        try:
            return self._file.cursors[uploader]
        except KeyError:
            raise ValueError(f"'{uploader}' is not one of the outbox's uploaders {list(self.uploaders)}") from None

    # ------------------------------------------------------------------ status and dead letters
    def status(self) -> OutboxStatus:
        base = self._locked(self._file.status, self.uploaders)
        with self._lock:
            unsaved = len(self._pending)
            by_series = dict(base.dropped_by_series)
            for key, count in self._unsaved_drops.items():
                by_series[key[0]] = by_series.get(key[0], 0) + count
        return replace(
            base,
            unsaved=unsaved,
            last_write_error=self._last_write_error,
            dropped=sum(by_series.values()),
            dropped_by_series=tuple(sorted(by_series.items(), key=lambda item: (-item[1], item[0]))),
        )

    def retry_dead(self, uploader: str | None = None) -> int:
        """Flag dead letters (one uploader's or all) for another try; how many."""
        return self._locked(self._file.flag_dead, uploader)

    def purge_dead(self, uploader: str | None = None) -> int:
        """Delete dead letters (one uploader's or all) for good; how many."""
        return self._locked(self._file.delete_dead, uploader)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Stop the committer, commit what is queued (logging what could not be), close. Idempotent."""
        if self._closed:
            return
        try:
            self.stop()
        except OutboxError as exc:
            log.error("%s: %d reading(s) are lost", exc, len(self._pending))
        with self._write_lock:
            self._closed = True
            self._file.close()
        if self._published_at is not None and self._snapshot is not None:
            with contextlib.suppress(OSError):
                self._snapshot.unlink()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
