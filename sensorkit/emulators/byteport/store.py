"""Storage of the local Byteport server: devices, points and its made-up credentials in one SQLite database.

A point is (namespace, uid, field, ms) -> value, keyed without the value: a
store sent again (the same `_ts`, the same field) REPLACES the point it made
the first time, so a retried store never doubles data. Whether the real
service does the same is not documented; sensorkit's Byteport uploader
relies on it, and says so. Values keep their type (ints, floats, text) in an
untyped column. One connection serves every request thread behind one lock.
"""
from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from sensorkit.emulators import DatabaseUnusable, EmulatorError, _dbfile
from sensorkit.emulators.byteport.wire import Value

APPLICATION_ID = 0x534B4250  # "SKBP" in the SQLite header: this file is a sensorkit Byteport emulator's database
SCHEMA_VERSION = 1  # PRAGMA user_version
_WHAT = "a Byteport emulator's database"


class StoredPoint(NamedTuple):
    uid: str
    field: str
    ms: int
    value: Value
    micros: int  # the time as sent, to the µs (`_ts` may carry more digits than the ms kept)
    ref: str  # the value reference ("r" in the read API)


class Device(NamedTuple):
    uid: str
    registered: bool  # registered explicitly (not merely seen storing)
    last_contact_ms: int | None  # the last store or heartbeat


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    namespace TEXT NOT NULL, uid TEXT NOT NULL, registered INTEGER NOT NULL, last_contact_ms INTEGER,
    PRIMARY KEY (namespace, uid)) WITHOUT ROWID;
-- value has no declared type, so SQLite keeps ints as ints, floats as floats and text as text
CREATE TABLE IF NOT EXISTS points (
    namespace TEXT NOT NULL, uid TEXT NOT NULL, field TEXT NOT NULL, ms INTEGER NOT NULL, value NOT NULL,
    micros INTEGER NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (namespace, uid, field, ms)) WITHOUT ROWID;
"""


def _adopt(db: sqlite3.Connection, tables: set[str]) -> bool:
    return False  # every database of this emulator carries its application id


class ByteportStore:
    """Devices, points and settings in one SQLite database (a file, or memory); one connection, one lock."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._open(path)

    @staticmethod
    def _open(path: str | None) -> sqlite3.Connection:
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.executescript(_SCHEMA)
            return db
        claimed = _dbfile.claim(path, application_id=APPLICATION_ID, user_version=SCHEMA_VERSION, what=_WHAT)
        db = None
        try:
            db = sqlite3.connect(path, check_same_thread=False)
            if not claimed.ours:  # reads only until this has passed
                _dbfile.check_tables(db, path, what=_WHAT, adopt=_adopt)
            with db:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.executescript(_SCHEMA)
            db.execute("PRAGMA journal_mode = WAL")
            return db
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            if claimed.created:
                _dbfile.remove_created(path)
            raise DatabaseUnusable(path, f"it cannot be used as {_WHAT}: {exc}") from None
        except BaseException:
            if db is not None:
                db.close()
            if claimed.created:
                _dbfile.remove_created(path)
            raise

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise EmulatorError("the emulator's storage is closed (the emulator was stopped)")
            yield self._db

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # ------------------------------------------------------------------ settings
    def setting(self, key: str) -> str | None:
        with self._locked() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def save_setting(self, key: str, value: str) -> None:
        with self._locked() as db, db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ devices
    def register(self, namespace: str, uid: str) -> None:
        with self._locked() as db, db:
            db.execute("INSERT INTO devices VALUES (?, ?, 1, NULL) ON CONFLICT (namespace, uid) "
                       "DO UPDATE SET registered = 1", (namespace, uid))

    def device(self, namespace: str, uid: str) -> Device | None:
        with self._locked() as db:
            row = db.execute("SELECT uid, registered, last_contact_ms FROM devices WHERE namespace = ? AND uid = ?",
                             (namespace, uid)).fetchone()
        return None if row is None else Device(row[0], bool(row[1]), row[2])

    def devices(self, namespace: str) -> list[Device]:
        with self._locked() as db:
            rows = db.execute("SELECT uid, registered, last_contact_ms FROM devices WHERE namespace = ? "
                              "ORDER BY uid", (namespace,)).fetchall()
        return [Device(r[0], bool(r[1]), r[2]) for r in rows]

    # ------------------------------------------------------------------ points
    def put(self, namespace: str, uid: str, contact_ms: int, points: list[tuple[str, int, int, Value]]) -> None:
        """Store (field, ms, micros, value) points and mark the device in contact, in one transaction."""
        with self._locked() as db, db:
            db.execute("INSERT INTO devices VALUES (?, ?, 0, ?) ON CONFLICT (namespace, uid) "
                       "DO UPDATE SET last_contact_ms = excluded.last_contact_ms", (namespace, uid, contact_ms))
            db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(namespace, uid, field, ms, value, micros, str(uuid.uuid4()))
                            for field, ms, micros, value in points])

    def points(self, namespace: str, uid: str | None = None, field: str | None = None, *, from_ms: int = 0,
               to_ms: int = 2**62) -> list[StoredPoint]:
        """Points in [from_ms, to_ms], by uid, field and time."""
        sql = ("SELECT uid, field, ms, value, micros, ref FROM points WHERE namespace = ?"
               + (" AND uid = ?" if uid is not None else "") + (" AND field = ?" if field is not None else "")
               + " AND ms BETWEEN ? AND ? ORDER BY uid, field, ms")
        args = [namespace, *(a for a in (uid, field) if a is not None), from_ms, to_ms]
        with self._locked() as db:
            return [StoredPoint(*row) for row in db.execute(sql, args)]
