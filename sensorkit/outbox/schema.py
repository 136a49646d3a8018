"""The outbox's tables, its schema versions, and how a file moves from one version to the next.

The versions (``PRAGMA user_version``):

1. numbers and booleans: series, the hot ring and cold chunks of 14-byte
   records, cursors, dead letters, drop counts.
2. text and bytes as well: the `content` table (a reading's text, or its
   bytes with their media type, keyed by the reading's id; see
   `sensorkit.outbox.codec` for why beside the chunks, not in them), and a
   `media_type` column for dead letters. Numbers are stored exactly as in 1.
3. held readings: the `held` table (readings taken while the system clock
   was not synchronised, with the monotonic time and the boot they were
   taken in; see `sensorkit.outbox.held`) and the `boot` table naming those
   boots. No cursor reads them and no bound but their own touches them; they
   move to the ordinary records, stamped right, once the clock is set. The
   two tables are made by the first held reading (`HELD_SCHEMA`), not with
   the file: a board whose clock is always right never has them, and the
   pages every commit writes stay where they were in a file of schema 2.
   The upgrade from 2 only sets the version, so that an older sensorkit,
   which would never send held readings, refuses the file instead.

The writer upgrades an older file when it opens it (`MIGRATIONS`, all steps
in one transaction, so a kill leaves the file as it was and the next start
upgrades it again); readers (`sensorkit outbox status`, `list-dead`) read an
older file as it is, without writing it. A file newer than `SCHEMA_VERSION`
is refused, untouched, with a message saying to upgrade sensorkit.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from sensorkit.errors import OutboxError

log = logging.getLogger(__name__)

APPLICATION_ID = 0x534B4F58  # "SKOX" in the file header: this SQLite file is a sensorkit outbox
SCHEMA_VERSION = 3  # PRAGMA user_version; see the module docstring for what each version holds

# Text and bytes values (schema 2): a row per reading whose series kind is text or bytes, removed with
# the reading when the floor passes it.
CONTENT_TABLE = """CREATE TABLE content (
        reading_id INTEGER PRIMARY KEY,
        media_type TEXT,  -- of bytes; NULL for text
        value NOT NULL)  -- TEXT for text, BLOB for bytes"""

# Held readings (schema 3): the boots they were taken in, and the readings themselves.
BOOT_TABLE = """CREATE TABLE boot (
        id INTEGER PRIMARY KEY,
        boot_id TEXT NOT NULL UNIQUE)  -- /proc/sys/kernel/random/boot_id of that boot"""
HELD_TABLE = """CREATE TABLE held (
        id INTEGER PRIMARY KEY,  -- the order they were taken in, within a boot (with mono_ms)
        boot INTEGER NOT NULL REFERENCES boot (id),
        mono_ms INTEGER NOT NULL,  -- CLOCK_MONOTONIC when taken: its timestamp is made from this at the sync
        clock_ms INTEGER NOT NULL,  -- what the unsynchronised wall clock said then (shown, never sent)
        series_id INTEGER NOT NULL REFERENCES series (id),
        value NOT NULL,  -- a number, or TEXT / BLOB for text and bytes
        media_type TEXT)"""
HELD_INDEX = "CREATE INDEX held_by_boot ON held (boot, mono_ms)"
HELD_SCHEMA = tuple(sql.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1).replace(
    "CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1) for sql in (BOOT_TABLE, HELD_TABLE, HELD_INDEX))

SCHEMA = (
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        series TEXT NOT NULL, sensor TEXT NOT NULL, quantity TEXT NOT NULL, unit TEXT NOT NULL,
        kind INTEGER NOT NULL,  -- 0 float, 1 int, 2 bool, 3 text, 4 bytes: the Python type of its values
        UNIQUE (series, sensor, quantity, unit, kind))""",
    # Recent commits: a ring of slots, each a page, rewritten in place (see sensorkit.outbox.writer).
    """CREATE TABLE hot (
        slot INTEGER PRIMARY KEY,
        first_id INTEGER NOT NULL,  -- holds readings first_id .. first_id + count - 1
        count INTEGER NOT NULL,
        base_ms INTEGER NOT NULL,
        data BLOB NOT NULL)  -- see sensorkit.outbox.codec; padded to a fixed size""",
    # Older readings still needed: a slot about to be reused moves here first, in id order.
    """CREATE TABLE chunk (
        first_id INTEGER PRIMARY KEY,
        count INTEGER NOT NULL,
        base_ms INTEGER NOT NULL,
        data BLOB NOT NULL)""",
    """CREATE TABLE cursor (
        uploader TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL,  -- every reading up to here was delivered, dead-lettered or dropped
        delivered INTEGER NOT NULL DEFAULT 0,
        last_success_ms INTEGER, last_error TEXT, last_error_ms INTEGER)""",
    """CREATE TABLE dead_letter (
        id INTEGER PRIMARY KEY,
        uploader TEXT NOT NULL,
        reading_id INTEGER NOT NULL,
        series_id INTEGER NOT NULL REFERENCES series (id),
        timestamp_ms INTEGER NOT NULL,
        value NOT NULL,  -- a number, or TEXT / BLOB for text and bytes
        reason TEXT NOT NULL,
        dead_ms INTEGER NOT NULL,
        retry INTEGER NOT NULL DEFAULT 0,  -- 1: `retry-dead` asked for another try
        media_type TEXT)  -- of bytes; NULL otherwise (added in schema 2)""",
    "CREATE INDEX dead_letter_by_uploader ON dead_letter (uploader, retry)",
    """CREATE TABLE dropped (
        series_id INTEGER PRIMARY KEY REFERENCES series (id),
        count INTEGER NOT NULL)""",
    # 'floor': the lowest reading id still stored; every id below it is gone.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    CONTENT_TABLE,
)
# What takes a file from version v to v + 1, keyed by v; applied in order, in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (CONTENT_TABLE, "ALTER TABLE dead_letter ADD COLUMN media_type TEXT"),
    2: (),  # the held tables come with the first held reading (HELD_SCHEMA)
}


def create(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO meta (key, value) VALUES ('floor', 1)")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older outbox up to `SCHEMA_VERSION`, in one transaction: all of it, or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = version = conn.execute("PRAGMA user_version").fetchone()[0]  # again, under the lock
        while version < SCHEMA_VERSION:
            steps = MIGRATIONS.get(version)
            if steps is None:
                raise OutboxError(f"the outbox {path} has schema {found}, which this sensorkit cannot upgrade "
                                  f"(it knows {SCHEMA_VERSION}): move the file aside to start a new outbox")
            for statement in steps:
                conn.execute(statement)
            version += 1
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if found < SCHEMA_VERSION:
        log.info("upgraded the outbox %s from schema %d to %d", path, found, SCHEMA_VERSION)
