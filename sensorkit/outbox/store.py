"""The outbox's SQLite file: opening it safely, the queries on it, and what its errors mean.

Opening never harms a file that is not ours: a file is first inspected
through a read-only connection, and only a new (empty) file or one marked
with our `application_id` is ever written to. A damaged file is left exactly
as it is, with the commands that recover what it holds.

Pragmas, and why (each one cuts what an SD card is asked to write):

* ``page_size = 512``: a commit rewrites at least one page, so small pages
  mean few bytes per commit.
* ``journal_mode = WAL``: a commit appends its pages to the log, and a crash
  never leaves a half-written commit behind.
* ``locking_mode = EXCLUSIVE`` (the writer, by default): the WAL index lives
  in the process's memory, not in a shared `-shm` file whose pages the
  kernel would write back every 30 s (about as much again as the readings
  themselves at ten a second). Other processes cannot open the file
  meanwhile; see `sensorkit.outbox.status` for how `sensorkit outbox status` copes.
* ``synchronous = NORMAL``: a commit reaches the operating system (it
  survives the process being killed) without an fsync; the outbox asks for
  an fsync (``FULL`` for one commit) every `sync_interval_s` instead, which
  bounds what a power cut can lose. See `sensorkit.outbox` for the window.

The tables and the schema versions, with how an older file is upgraded when
the writer opens it: `sensorkit.outbox.schema`.
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensorkit.errors import OutboxError, OutboxFull
from sensorkit.outbox.codec import RECORD, ChunkRow, timestamps
from sensorkit.outbox.schema import APPLICATION_ID, SCHEMA_VERSION, create, migrate

log = logging.getLogger(__name__)

PAGE_SIZE = 512  # the smallest SQLite page (see the module docstring)
BUSY_TIMEOUT_S = 5.0  # how long a connection waits for another process's write to finish
JOURNAL_SIZE_LIMIT_BYTES = 1 << 20  # the WAL shrinks back to this after a big drain
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
LOCK_SUFFIX = ".lock"  # <outbox>.lock: held by the one process that writes readings

_RECOVER_HINT = (
    "sensorkit left it as it is. To save what it holds: `sqlite3 {path} .recover | sqlite3 recovered.sqlite`; "
    "to start a new outbox, move {path} and its -wal and -shm files aside."
)


# ---------------------------------------------------------------------- errors
def sqlite_code(exc: BaseException) -> str:
    """The primary SQLite result code name of an sqlite3 error ("SQLITE_FULL", ...), or ""."""
    name = getattr(exc, "sqlite_errorname", None)  # Python >= 3.11
    if name:
        extended = name.split("_")
        return "_".join(extended[:2])
    text = str(exc).lower()
    for fragment, code in (
        ("disk is full", "SQLITE_FULL"),
        ("readonly database", "SQLITE_READONLY"),
        ("disk i/o error", "SQLITE_IOERR"),
        ("database is locked", "SQLITE_BUSY"),
        ("not a database", "SQLITE_NOTADB"),
        ("malformed", "SQLITE_CORRUPT"),
        ("unable to open", "SQLITE_CANTOPEN"),
    ):
        if fragment in text:
            return code
    return ""


def write_error(exc: sqlite3.Error, path: Path, action: str) -> OutboxError:
    """An OutboxError saying why `action` could not write to the outbox and what to do."""
    code = sqlite_code(exc)
    where = f"{action} in the outbox {path}"
    if code == "SQLITE_FULL":
        hint = (f"the disk is full (or the outbox reached its max_file_bytes): free space on {path.parent}; "
                "readings wait in memory meanwhile and nothing already stored is lost")
    elif code == "SQLITE_READONLY":
        hint = ("the file or its directory is read-only (permissions, or a file system remounted read-only "
                "after disk errors): make it writable or choose another state dir")
    elif code == "SQLITE_IOERR":
        hint = "the disk reported an I/O error: check free space and the SD card or disk (`dmesg`)"
    elif code == "SQLITE_BUSY":
        hint = f"another process held the outbox locked for more than {BUSY_TIMEOUT_S:g} s"
    elif code in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        hint = "the file is damaged. " + _RECOVER_HINT.format(path=path)
    else:
        hint = "see the SQLite message"
    cls = OutboxFull if code == "SQLITE_FULL" else OutboxError
    return cls(f"cannot {where}: {exc} — {hint}")


def _open_error(exc: BaseException, path: Path) -> OutboxError:
    code = sqlite_code(exc)
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return OutboxError(f"the outbox {path} is damaged ({exc}). " + _RECOVER_HINT.format(path=path))
    if code == "SQLITE_CANTOPEN":
        return OutboxError(f"cannot open the outbox {path} ({exc}): check that its directory exists and that this "
                           "user may read and write it")
    return write_error(exc, path, "open") if isinstance(exc, sqlite3.Error) else OutboxError(f"{path}: {exc}")


# ---------------------------------------------------------------------- opening
def _check_not_foreign_bytes(path: Path) -> bool:
    """True when `path` holds something; OutboxError when that is not an SQLite database."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise OutboxError(f"the outbox path {path} is a directory: point the outbox at a file") from None
    except OSError as exc:
        raise OutboxError(f"cannot read the outbox {path}: {exc.strerror} — run as the user that owns it "
                          "or fix its permissions") from None
    if not head:
        return False  # an empty file is an empty database to SQLite: nothing to lose
    if head != SQLITE_MAGIC:
        raise OutboxError(
            f"{path} is not an SQLite database (it starts with {head[:8]!r}), so it is not a sensorkit outbox; "
            "sensorkit will not touch it: move it away or choose another state dir"
        )
    return True


def _inspect(path: Path, *, check: bool, timeout_s: float) -> int | None:
    """The schema version of our outbox at `path`, None for a database still empty; read-only."""
    conn = connect_read_only(path, timeout_s=timeout_s)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        if app_id == 0 and not tables:
            return None
        if app_id != APPLICATION_ID:
            listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise OutboxError(
                f"{path} is an SQLite database of another program (application_id {app_id:#x}, tables: "
                f"{listed or 'none'}), not a sensorkit outbox; sensorkit will not touch it: move it away "
                "or choose another state dir"
            )
        if version > SCHEMA_VERSION:
            raise OutboxError(
                f"the outbox {path} was written by a newer sensorkit (schema {version}, this one knows "
                f"{SCHEMA_VERSION}): upgrade sensorkit, or move the file aside to start a new outbox"
            )
        if check:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise OutboxError(f"the outbox {path} is damaged ({'; '.join(problems)}). "
                                  + _RECOVER_HINT.format(path=path))
        return int(version)
    except sqlite3.Error as exc:
        raise _open_error(exc, path) from None
    finally:
        conn.close()


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise OutboxError(f"the outbox {path} cannot use SQLite's WAL mode (journal_mode is {mode}): put the "
                          "state dir on a local file system that supports shared memory (not NFS)")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")


def _probe_write(conn: sqlite3.Connection) -> None:
    """Fail now, not at the first commit, when the file cannot be written (read-only file or mount)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("UPDATE meta SET value = value WHERE key = 'floor'")
    finally:
        conn.execute("ROLLBACK")


def inspect_file(path: Path, *, check: bool = True, timeout_s: float = BUSY_TIMEOUT_S) -> int | None:
    """Our schema version in the file at `path`; None when it is missing or an empty database.

    Read-only: raises OutboxError for a foreign, damaged or newer file and leaves it untouched.
    """
    if not _check_not_foreign_bytes(path):
        return None
    return _inspect(path, check=check, timeout_s=timeout_s)


def _check_writable(path: Path) -> None:
    """SQLite opens an unwritable file read-only without a word, and fails later, vaguely: say it now."""
    for target, what in ((path.parent, "the directory"), (path, "the file")):
        if target.exists() and not os.access(target, os.W_OK):
            raise OutboxError(
                f"cannot write to the outbox {path}: {what} {target} is read-only (permissions, an immutable "
                "file, or a file system mounted or remounted read-only): make it writable or choose another "
                "state dir")


def open_database(path: Path, version: int | None, *, exclusive: bool = True) -> sqlite3.Connection:
    """The writer's connection to the outbox at `path` (as `inspect_file` found it), created when empty.

    `exclusive` keeps the WAL index in this process's memory instead of a
    shared `-shm` file that the kernel would write back every 30 s; other
    processes then cannot open the file while this connection is open.
    """
    _check_writable(path)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        if exclusive:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # before the first access to the WAL
    except sqlite3.Error as exc:
        raise _open_error(exc, path) from None
    try:
        if version is None:
            # The page size of a new file is fixed by its first write transaction, the check below included.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            # Still empty: another process may have created it since we looked, so look again under the lock.
            conn.execute("BEGIN IMMEDIATE")
            empty = conn.execute("PRAGMA application_id").fetchone()[0] == 0 and not conn.execute(
                "SELECT 1 FROM sqlite_master").fetchone()
            conn.execute("ROLLBACK")
            if empty:
                create(conn)
                log.info("created the outbox %s", path)
            else:
                conn.close()
                return open_database(path, inspect_file(path, check=False), exclusive=exclusive)
        _configure(conn, path)
        if version is not None and version < SCHEMA_VERSION:
            migrate(conn, path)
        _probe_write(conn)
    except OutboxError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise _open_error(exc, path) from None
    return conn


def open_existing(path: Path, *, writable: bool, check: bool = False,
                  timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection to an outbox that must already exist, for the CLI while no writer holds it."""
    if inspect_file(path, check=check, timeout_s=timeout_s) is None:
        raise OutboxError(f"there is no outbox at {path} yet: `sensorkit run` creates it")
    if not writable:
        return connect_read_only(path, timeout_s=timeout_s)
    try:
        return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=timeout_s)
    except sqlite3.Error as exc:
        raise _open_error(exc, path) from None


def connect_read_only(path: Path, *, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection that never writes, for a user who may only read the file (an administrator, not
    the service user, looking at `sensorkit outbox`).

    SQLite's read-only mode still needs the WAL's shared-memory file, which a user without write
    access to the directory cannot create; then the file is opened as immutable, which reads the
    database without the WAL. What the WAL holds is then not seen: the last commits of a writer that
    did not stop cleanly (a clean stop folds the WAL into the file). That is logged.
    """
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                               timeout=timeout_s)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL, where it can
            return conn
        except sqlite3.Error:
            conn.close()
            raise
    except sqlite3.Error as exc:
        if sqlite_code(exc) not in ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_READONLY_CANTINIT"):
            raise _open_error(exc, path) from None
        first = exc
    try:
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot open the outbox {path} to read it ({first}; then {exc}): check that this "
                          "user may read the file and its directory") from None
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        log.warning("the outbox %s was opened without its write-ahead log (this user cannot open it for "
                    "reading); the last commits may be missing from what is shown", path)
    return conn


# ---------------------------------------------------------------------- the writer's lock
def lock_path(path: Path) -> Path:
    return Path(str(path) + LOCK_SUFFIX)


def writer_pid(path: Path) -> int | None:
    """The pid of the process writing the outbox at `path` now, None when there is none."""
    import fcntl

    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class WriterLock:
    """`<outbox>.lock`, held (flock) by the one process that writes readings.

    Two writers would both number readings from their own count; the second
    gets a clear error instead. Other processes may still read, and flag or
    purge dead letters, while it is held. The lock file is never deleted:
    an unlocked lock file is harmless, a deleted one races.
    """

    def __init__(self, path: Path) -> None:
        import fcntl  # Unix only, like the boards sensorkit runs on

        self.path = lock_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            reason = "the directory is read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else \
                exc.strerror
            raise OutboxError(f"cannot create {self.path}: {reason} — sensorkit needs to write in "
                              f"{self.path.parent}: make it writable or choose another state dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise OutboxError(f"the outbox {path} is in use by another sensorkit process (pid {holder}): stop it "
                              "first; `sensorkit outbox status` can read it meanwhile") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


# ---------------------------------------------------------------------- schema queries
CONTAINING_CHUNK = (
    "SELECT first_id, count, base_ms, data FROM chunk WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1")
FOLLOWING_CHUNKS = (
    "SELECT first_id, count, base_ms, data FROM chunk WHERE first_id > ? AND first_id < ? ORDER BY first_id")
HOT_ROWS = "SELECT first_id, count, base_ms, substr(data, 1, count * {size}) FROM hot WHERE slot IN ({slots})"
HotIndex = Sequence[tuple[int, int]]  # per slot: (first_id, count); count 0 for a slot never used


def hot_index(conn: sqlite3.Connection, slots: int = 0) -> list[tuple[int, int]]:
    """(first_id, count) of each hot slot, for at least `slots` slots."""
    rows = conn.execute("SELECT slot, first_id, count FROM hot").fetchall()
    index = [(0, 0)] * max([slots, *(slot + 1 for slot, _, _ in rows)])
    for slot, first_id, count in rows:
        index[slot] = (first_id, count)
    return index


def id_range(conn: sqlite3.Connection) -> tuple[int, int]:
    """(floor, next id): the readings stored are exactly the ids floor .. next id - 1."""
    floor = conn.execute("SELECT value FROM meta WHERE key = 'floor'").fetchone()[0]
    cold = conn.execute("SELECT first_id + count FROM chunk ORDER BY first_id DESC LIMIT 1").fetchone()
    hot = conn.execute("SELECT max(first_id + count) FROM hot").fetchone()
    return floor, max(floor, cold[0] if cold else floor, hot[0] or floor)


def chunks_between(conn: sqlite3.Connection, hot: HotIndex, start: int, end: int) -> list[ChunkRow]:
    """Every chunk, cold or hot, holding an id in [start, end), in id order."""
    rows = [row for row in conn.execute(CONTAINING_CHUNK, (start,)).fetchall() if row[0] + row[1] > start]
    rows += conn.execute(FOLLOWING_CHUNKS, (start, end)).fetchall()
    slots = [slot for slot, (first, count) in enumerate(hot) if count and first < end and first + count > start]
    if slots:
        sql = HOT_ROWS.format(size=RECORD.size, slots=", ".join("?" * len(slots)))
        rows += conn.execute(sql, slots).fetchall()
    rows.sort(key=lambda row: row[0])
    return rows


def contents_between(conn: sqlite3.Connection, start: int, end: int) -> dict[int, tuple[str | None, Any]]:
    """The text and bytes of the readings with ids in [start, end): id -> (media type, value)."""
    return {rid: (media_type, value) for rid, media_type, value in conn.execute(
        "SELECT reading_id, media_type, value FROM content WHERE reading_id >= ? AND reading_id < ?", (start, end))}


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def timestamp_of(conn: sqlite3.Connection, hot: HotIndex, reading_id: int) -> int | None:
    for row in chunks_between(conn, hot, reading_id, reading_id + 1):
        return timestamps(row)[reading_id - row[0]]
    return None


def flag_dead(conn: sqlite3.Connection, path: Path, uploader: str | None) -> int:
    """Flag dead letters (of one uploader, or all) for another try by their delivery; how many."""
    return _change_dead(conn, path, "UPDATE dead_letter SET retry = 1 WHERE retry = 0", uploader, "flag dead letters")


def delete_dead(conn: sqlite3.Connection, path: Path, uploader: str | None) -> int:
    """Delete dead letters (of one uploader, or all) for good; how many."""
    return _change_dead(conn, path, "DELETE FROM dead_letter WHERE 1", uploader, "purge dead letters")


def _change_dead(conn: sqlite3.Connection, path: Path, sql: str, uploader: str | None, action: str) -> int:
    params: tuple[str, ...] = ()
    if uploader is not None:
        sql += " AND uploader = ?"
        params = (uploader,)
    try:
        conn.execute("BEGIN IMMEDIATE")
        changed = conn.execute(sql, params).rowcount
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise write_error(exc, path, action) from None
    return changed
