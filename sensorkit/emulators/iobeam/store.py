"""Storage of the local iobeam server: devices, points and the tokens' signing secret in one SQLite database.

A point is (project, device, series, time_us, value), keyed without the
value, so a repeated point replaces the earlier one and a retried batch never
doubles data. The value column has no declared type, so SQLite keeps ints as
ints and floats as floats. One connection serves every request thread,
behind one lock: the emulator's load is a handful of devices, and a lock
keeps SQLite's threading rules out of the picture.
"""
from __future__ import annotations

import secrets
import sqlite3
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable, NamedTuple

from sensorkit.emulators import DatabaseUnusable, EmulatorError, _dbfile
from sensorkit.emulators._http import HttpError
from sensorkit.emulators.iobeam.wire import INT64_MAX, Point, Value

ERROR_DEVICE_ID_TAKEN = 150  # iobeam's error codes, from its client library
ERROR_DEVICE_NAME_TAKEN = 151
GENERATED_ID_LENGTH = 16
_ALPHANUMERIC = string.ascii_letters + string.digits
_DB_FORMAT = b"sensorkit iobeam emulator 1"  # meta 'format': how files were told apart before APPLICATION_ID
APPLICATION_ID = 0x534B4945  # "SKIE" in the SQLite header: this file is a sensorkit iobeam emulator's database
SCHEMA_VERSION = 1  # PRAGMA user_version
_WHAT = "an iobeam emulator's database"


class StoredPoint(NamedTuple):
    device_id: str
    series: str
    time_us: int
    value: Value


class Device(NamedTuple):
    device_id: str
    device_name: str
    created_ms: int


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _is_ours(db: sqlite3.Connection, tables: set[str]) -> bool:
    """A database an earlier sensorkit made, before it set APPLICATION_ID: its tables and its meta 'format'."""
    if not {"meta", "devices", "points"} <= tables:
        return False
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    except sqlite3.Error:
        return False  # a table called meta that is not ours
    return row is not None and row[0] == _DB_FORMAT


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    project_id INTEGER NOT NULL, device_id TEXT NOT NULL, device_name TEXT NOT NULL, created_ms INTEGER NOT NULL,
    PRIMARY KEY (project_id, device_id), UNIQUE (project_id, device_name));
-- value has no declared type, so SQLite keeps ints as ints and floats as floats
CREATE TABLE IF NOT EXISTS points (
    project_id INTEGER NOT NULL, device_id TEXT NOT NULL, series TEXT NOT NULL, time_us INTEGER NOT NULL,
    value NOT NULL, PRIMARY KEY (project_id, device_id, series, time_us)) WITHOUT ROWID;
"""

# Exports read one (device, series) at a time, each a search of the primary key that stops after the
# newest points asked for: one query for every device and series (`device_id = ? OR ? IS NULL`) would
# make SQLite scan every point of the project under the store's lock on every export.
_DEVICE_IDS = "SELECT device_id FROM devices WHERE project_id = ? ORDER BY device_id"
# SQLite has no loose index scan for DISTINCT: each step jumps to the next series name in the primary key,
# so listing a device's series costs one index search per series instead of a scan of all its points.
_SERIES_OF_DEVICE = """
WITH RECURSIVE names(series) AS (
    SELECT MIN(series) FROM points WHERE project_id = ?1 AND device_id = ?2
    UNION ALL
    SELECT (SELECT MIN(series) FROM points WHERE project_id = ?1 AND device_id = ?2 AND series > names.series)
    FROM names WHERE names.series IS NOT NULL)
SELECT series FROM names WHERE series IS NOT NULL
"""
_NEWEST_IN_RANGE = """
SELECT time_us, value FROM points
WHERE project_id = ? AND device_id = ? AND series = ? AND time_us BETWEEN ? AND ?
ORDER BY time_us DESC LIMIT ?
"""


class IobeamStore:
    """Devices, points and the signing secret in one SQLite database; one connection behind one lock."""

    def __init__(self, path: str | None, *, trace: Callable[[str], None] | None = None) -> None:
        """`trace`, for tests and debugging, is called with each SQL statement run, its values filled in."""
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._db = self._open(path)
        if trace is not None:
            self._db.set_trace_callback(trace)

    @staticmethod
    def _open(path: str | None) -> sqlite3.Connection:
        """The connection to a database that is ours: refused (untouched) when the file is another's."""
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            with db:
                db.executescript(_SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (_DB_FORMAT,))
            return db
        claimed = _dbfile.claim(path, application_id=APPLICATION_ID, user_version=SCHEMA_VERSION, what=_WHAT)
        db = None
        try:
            db = sqlite3.connect(path, check_same_thread=False)
            if not claimed.ours:  # reads only: nothing is written before this has passed
                _dbfile.check_tables(db, path, what=_WHAT, adopt=_is_ours)
            db.execute("PRAGMA journal_mode = WAL")
            with db:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # PRAGMAs take no parameters
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.executescript(_SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (_DB_FORMAT,))
        except (sqlite3.Error, EmulatorError) as exc:
            if db is not None:
                db.close()
            if claimed.created:
                _dbfile.remove_created(path)
            if isinstance(exc, EmulatorError):
                raise
            raise DatabaseUnusable(path, f"cannot be used as {_WHAT}: {exc}") from None
        return db

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:  # a request still in flight while stop() runs
                raise HttpError(503, "the emulator is shutting down")
            yield self._db

    def secret(self) -> bytes | None:
        with self._locked() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return None if row is None else bytes(row[0])

    def save_secret(self, secret: bytes) -> None:
        with self._locked() as db, db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('secret', ?)", (secret,))

    def register(self, project_id: int, device_id: str | None, name: str | None, created_ms: int) -> Device:
        """Registers a device, generating id and name when absent; HttpError 422 (150/151) when taken."""
        with self._locked() as db, db:
            def taken(column: str, value: str) -> bool:
                query = f"SELECT 1 FROM devices WHERE project_id = ? AND {column} = ?"  # column: a literal below
                return db.execute(query, (project_id, value)).fetchone() is not None

            if device_id is None:
                device_id = _random_id(GENERATED_ID_LENGTH)
                while taken("device_id", device_id):
                    device_id = _random_id(GENERATED_ID_LENGTH)
            elif taken("device_id", device_id):
                raise HttpError(422, f"device id {device_id!r} is already registered in project {project_id}",
                                code=ERROR_DEVICE_ID_TAKEN)
            if name is None:
                name = device_id
                while taken("device_name", name):
                    name = f"{device_id}-{_random_id(4)}"
            elif taken("device_name", name):
                raise HttpError(422, f"device name {name!r} is already used in project {project_id}",
                                code=ERROR_DEVICE_NAME_TAKEN)
            db.execute("INSERT INTO devices VALUES (?, ?, ?, ?)", (project_id, device_id, name, created_ms))
        return Device(device_id, name, created_ms)

    def device(self, project_id: int, device_id: str) -> Device | None:
        with self._locked() as db:
            row = db.execute("SELECT device_id, device_name, created_ms FROM devices "
                             "WHERE project_id = ? AND device_id = ?", (project_id, device_id)).fetchone()
        return None if row is None else Device(*row)

    def devices(self, project_id: int) -> list[Device]:
        with self._locked() as db:
            rows = db.execute("SELECT device_id, device_name, created_ms FROM devices WHERE project_id = ? "
                              "ORDER BY device_id", (project_id,)).fetchall()
        return [Device(*row) for row in rows]

    def put_points(self, project_id: int, device_id: str, points: list[Point]) -> None:
        with self._locked() as db, db:  # one transaction: a batch is stored whole or not at all
            db.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?)",
                           [(project_id, device_id, series, t, v) for series, t, v in points])

    def points(self, project_id: int, device_id: str | None = None, series: str | None = None, *,
               from_us: int = 0, to_us: int = INT64_MAX, newest: int = INT64_MAX) -> list[StoredPoint]:
        """Points in [from_us, to_us], at most `newest` per series, by device, series and time.

        Every device of the project when `device_id` is None (points exist
        only for registered devices: an import needs the registration).
        """
        found: list[StoredPoint] = []
        with self._locked() as db:
            devices = [device_id] if device_id is not None else [r[0] for r in db.execute(_DEVICE_IDS, (project_id,))]
            for device in devices:
                names = [series] if series is not None else [
                    r[0] for r in db.execute(_SERIES_OF_DEVICE, (project_id, device))]
                for name in names:
                    rows = db.execute(_NEWEST_IN_RANGE, (project_id, device, name, from_us, to_us, newest)).fetchall()
                    found.extend(StoredPoint(device, name, t, v) for t, v in reversed(rows))
        return found
