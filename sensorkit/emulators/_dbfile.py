"""Claiming an SQLite file as an emulator's database without ever writing into someone else's.

An emulator's database carries its own `application_id` and `user_version`
in the SQLite header (bytes 68 and 60, big-endian: sqlite.org/fileformat.html
1.3). Before SQLite opens the file, its first 100 bytes are read as plain
bytes, so a file that is not SQLite, another program's database (a sensorkit
outbox, say) or a newer emulator's is refused without being opened at all.
A database without an application id (made by an older sensorkit, or by
another program) is then opened and looked at with reads only; `adopt`
decides whether its tables are the emulator's. An empty or missing file is
the emulator's to initialise; a missing one is created first, so the reason
it cannot be (no such folder, permission denied) is the system's own.
"""
from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import dataclass
from typing import Callable

from sensorkit.emulators import DatabaseUnusable

SQLITE_MAGIC = b"SQLite format 3\x00"  # sqlite.org/fileformat.html 1.3: the header string
HEADER_BYTES = 100
USER_VERSION_OFFSET = 60
APPLICATION_ID_OFFSET = 68
# Other sensorkit files an emulator must never take for its own (the outbox's and the emulators' APPLICATION_IDs).
KNOWN_APPLICATION_IDS = {0x534B4F58: "a sensorkit outbox", 0x534B4945: "an iobeam emulator's database",
                         0x534B4250: "a Byteport emulator's database"}


@dataclass(frozen=True)
class Claim:
    """What `claim` found: `created` (there was no file: remove it if setting it up fails), `ours` (our id is in it)."""

    created: bool
    ours: bool


def claim(path: str, *, application_id: int, user_version: int, what: str) -> Claim:
    """Check `path` may be this emulator's database, creating it when missing; DatabaseUnusable when not.

    Reads the header only: a file that passes without being `ours` may
    still hold another program's tables; `check_tables` decides.
    `what` names the database in messages ("an iobeam emulator's database").
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise DatabaseUnusable(path, f"cannot create it: {exc.strerror}",
                                   "give --db a path in a folder that exists and that you may write") from None
        return Claim(created=True, ours=False)
    except OSError as exc:
        raise DatabaseUnusable(path, f"cannot use it: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DatabaseUnusable(path, "it is a directory", "give --db a file name, such as emulator.sqlite")
    if not stat.S_ISREG(info.st_mode):
        raise DatabaseUnusable(path, "it is not a regular file")
    if info.st_size == 0:
        return Claim(created=False, ours=False)
    try:
        with open(path, "rb") as file:
            header = file.read(HEADER_BYTES)
    except OSError as exc:
        raise DatabaseUnusable(path, f"cannot read it: {exc.strerror}") from None
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise DatabaseUnusable(path, f"it is not an SQLite database, so not {what} (left as it is)")
    found_id = int.from_bytes(header[APPLICATION_ID_OFFSET:APPLICATION_ID_OFFSET + 4], "big")
    found_version = int.from_bytes(header[USER_VERSION_OFFSET:USER_VERSION_OFFSET + 4], "big")
    if found_id == application_id:
        if found_version > user_version:
            raise DatabaseUnusable(path, f"it is {what} of format {found_version}, newer than this sensorkit's "
                                         f"({user_version})", "upgrade sensorkit, or give --db a new file name")
        return Claim(created=False, ours=True)
    if found_id != 0:
        owner = KNOWN_APPLICATION_IDS.get(found_id, f"another program's database (application_id 0x{found_id:08X})")
        raise DatabaseUnusable(path, f"it is {owner}, not {what} (left as it is)")
    return Claim(created=False, ours=False)


def check_tables(db: sqlite3.Connection, path: str, *, what: str,
                 adopt: Callable[[sqlite3.Connection, set[str]], bool]) -> None:
    """Passes when the database has no tables yet or `adopt` takes them for the emulator's; reads only.

    Raises DatabaseUnusable naming a few of the tables otherwise.
    """
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables or adopt(db, tables):
        return
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    raise DatabaseUnusable(path, f"it holds other tables than {what} has ({shown}; left as it is)")


def remove_created(path: str) -> None:
    """Remove a database file `claim` created (and SQLite's side files) after setting it up failed."""
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.remove(name)
        except OSError:
            pass  # not there, or not ours to remove after all
