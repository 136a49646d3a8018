"""Where the outbox keeps its readings: a ring of hot slots, and a cold table behind it.

Why a ring: appending rows to a B-tree costs, besides the page the row goes
to, a new page now and then, its parent page, the file header and, once
delivered rows have been removed, the free-list pages. At ten readings a
second that is most of what a commit writes. So recent commits go to a
fixed ring of `HOT_SLOTS` rows, each padded to fill one page, rewritten in
place: a commit writes one page and nothing else.

A slot is reused in turn. If some uploader still needs its readings (an
outage, a backlog), they move to the cold table first, in the same
transaction; the cold table is an ordinary append-only B-tree keyed by the
first id of each chunk, pruned in bulk once everyone has had its rows.
Commits larger than `HOT_MAX_COMMIT` readings (bursts, tests, bulk loads)
go straight to the cold table. Readers see one sequence of ids either way.
"""
from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing

from sensorkit.outbox.codec import MAX_CHUNK_READINGS, RECORD, ChunkRow
from sensorkit.outbox.store import CONTAINING_CHUNK, HOT_ROWS, chunks_between, hot_index

HOT_SLOTS = 64  # a minute of commits: delivery normally takes them long before a slot comes round again
HOT_CHUNK_READINGS = 30  # 420 bytes of records: with its row header, one 512-byte page
HOT_SLOT_BYTES = HOT_CHUNK_READINGS * RECORD.size
HOT_MAX_COMMIT = 8 * HOT_CHUNK_READINGS  # larger commits go to the cold table
_FETCH_ROWS = 256  # cold chunks read at a time when a drop or an age check walks many

_SPILL = ("INSERT INTO chunk (first_id, count, base_ms, data) "
          f"SELECT first_id, count, base_ms, substr(data, 1, count * {RECORD.size}) FROM hot WHERE slot = ?")
_WRITE_SLOT = ("INSERT INTO hot (slot, first_id, count, base_ms, data) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (slot) DO UPDATE SET first_id = excluded.first_id, count = excluded.count, "
               "base_ms = excluded.base_ms, data = excluded.data")

RingState = tuple[list[tuple[int, int]], int]  # the hot index, the next slot to write


class Chunks:
    """The two tables behind one connection; the caller runs the transactions."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.hot = hot_index(db, HOT_SLOTS)
        newest = max(range(len(self.hot)), key=lambda slot: self.hot[slot][0])
        self._next_slot = (newest + 1) % len(self.hot) if self.hot[newest][1] else 0

    def append(self, rows: Sequence[ChunkRow], *, needed: int, commit_size: int) -> RingState:
        """Inside a transaction: store chunk rows; returns the ring's state to `adopt` once committed.

        `needed` is the first id some uploader still needs: a slot holding
        ids from there on moves to the cold table before it is reused.
        """
        hot, slot = list(self.hot), self._next_slot
        if commit_size > HOT_MAX_COMMIT:
            for live in sorted((s for s, (first, count) in enumerate(hot) if count and first + count > needed),
                               key=lambda s: hot[s][0]):
                self._db.execute(_SPILL, (live,))
                self._db.execute("UPDATE hot SET count = 0 WHERE slot = ?", (live,))
                hot[live] = (hot[live][0], 0)
            self._db.executemany("INSERT INTO chunk (first_id, count, base_ms, data) VALUES (?, ?, ?, ?)", rows)
            return hot, slot
        for first_id, count, base_ms, data in rows:
            old_first, old_count = hot[slot]
            if old_count and old_first + old_count > needed:
                self._db.execute(_SPILL, (slot,))
            self._db.execute(_WRITE_SLOT, (slot, first_id, count, base_ms, data.ljust(HOT_SLOT_BYTES, b"\0")))
            hot[slot] = (first_id, count)
            slot = (slot + 1) % len(hot)
        return hot, slot

    @staticmethod
    def chunk_size(commit_size: int) -> int:
        return HOT_CHUNK_READINGS if commit_size <= HOT_MAX_COMMIT else MAX_CHUNK_READINGS

    def state(self) -> RingState:
        return self.hot, self._next_slot

    def adopt(self, state: RingState) -> None:
        """Take the ring's state from `append` (inside the transaction), or back from `state()` after a rollback."""
        self.hot, self._next_slot = state

    def between(self, start: int, end: int) -> list[ChunkRow]:
        """Every chunk holding an id in [start, end), in id order."""
        return chunks_between(self._db, self.hot, start, end)

    def iterate(self, start: int, end: int) -> Iterator[ChunkRow]:
        """The same, read a few cold chunks at a time: a drop may span millions of readings."""
        return heapq.merge(self._cold(start, end), self._hot_rows(start, end), key=lambda row: row[0])

    def _cold(self, start: int, end: int) -> Iterator[ChunkRow]:
        containing = self._db.execute(CONTAINING_CHUNK, (start,)).fetchone()
        first = containing[0] if containing else start
        with closing(self._db.execute(
                "SELECT first_id, count, base_ms, data FROM chunk WHERE first_id >= ? AND first_id < ? "
                "ORDER BY first_id", (first, end))) as cursor:
            while True:
                rows = cursor.fetchmany(_FETCH_ROWS)
                if not rows:
                    return
                yield from (row for row in rows if row[0] + row[1] > start)

    def _hot_rows(self, start: int, end: int) -> Iterator[ChunkRow]:
        """One slot at a time, oldest first: an age check usually needs the first one only."""
        slots = [s for s, (first, count) in enumerate(self.hot) if count and first < end and first + count > start]
        sql = HOT_ROWS.format(size=RECORD.size, slots="?")
        for slot in sorted(slots, key=lambda s: self.hot[s][0]):
            yield from self._db.execute(sql, (slot,)).fetchall()

    @staticmethod
    def forget_below(target: int) -> tuple[str, tuple[int, int]]:
        """The statement removing cold chunks wholly below `target` (hot slots below it are simply reused)."""
        return "DELETE FROM chunk WHERE first_id < ? AND first_id + count <= ?", (target, target)
