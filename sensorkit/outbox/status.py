"""What the outbox holds, per uploader: from the file, or from the process writing it.

The queries here serve both a running `Outbox.status()` and `sensorkit
outbox status` run while no writer is running. A running writer holds the
file exclusively (see `sensorkit.outbox.store.open_database`), so it publishes its
status every few seconds to a small JSON file in RAM (`/dev/shm`), and
`read_status` returns that instead. `retry_dead` and `purge_dead` need the
writer stopped.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sensorkit.errors import OutboxError
from sensorkit.outbox import held as held_table
from sensorkit.outbox.codec import stored_value
from sensorkit.outbox.held import HeldStatus
from sensorkit.outbox.store import (
    BUSY_TIMEOUT_S,
    HotIndex,
    delete_dead,
    flag_dead,
    hot_index,
    id_range,
    open_existing,
    schema_version,
    timestamp_of,
    writer_pid,
)
from sensorkit.readings import json_value

SNAPSHOT_DIR = "/dev/shm"  # RAM: a running writer publishes its status here, where writing costs no disk
SNAPSHOT_PREFIX = "sensorkit-outbox-"
LOCKED_OUT_TIMEOUT_S = 0.2  # how long to try the file itself while a writer holds it
REASONS_SHOWN = 3  # dead-letter reasons a status names per uploader



@dataclass(frozen=True)
class UploaderStatus:
    """Where one uploader's delivery stands."""

    name: str
    waiting: int  # stored readings not yet delivered to it
    oldest_waiting_ms: int | None  # timestamp of the oldest of them
    delivered: int  # readings delivered since the outbox was created
    last_success_ms: int | None
    last_error: str | None
    last_error_ms: int | None
    dead_letters: int  # readings it refused, kept with the reason
    dead_letters_to_retry: int  # of those, flagged by `retry-dead` for another try
    dead_letter_reasons: tuple[tuple[str, int], ...] = ()  # the commonest reasons, with how many each

    def oldest_waiting_age_s(self, now_ms: int) -> float | None:
        return None if self.oldest_waiting_ms is None else max(0.0, (now_ms - self.oldest_waiting_ms) / 1000)


@dataclass(frozen=True)
class DeadLetter:
    """A reading an uploader's server refused, with the server's reason."""

    uploader: str
    series: str
    timestamp_ms: int
    value: Any  # a number, a bool, text (str) or bytes, as the reading had it
    reason: str
    dead_ms: int  # when it was refused (last refused, after a retry)
    retry: bool  # flagged by `retry-dead` for another try
    media_type: str | None = None  # of bytes

    def to_dict(self) -> dict[str, Any]:
        """As JSON: the value as in a JSON line (bytes as base64, with "encoding" and "media_type")."""
        return {"uploader": self.uploader, "series": self.series, "timestamp_ms": self.timestamp_ms,
                **json_value(self.value, self.media_type), "reason": self.reason, "dead_ms": self.dead_ms,
                "retry": self.retry}


@dataclass(frozen=True)
class OutboxStatus:
    """A snapshot of the outbox. `unsaved` and `last_write_error` are known only to the writing process."""

    path: str
    file_bytes: int  # the database and its write-ahead log
    stored: int  # readings in the file (delivered ones are removed now and then)
    dropped: int  # readings dropped undelivered (bounds, or memory while the disk refused writes)
    dropped_by_series: tuple[tuple[str, int], ...]
    uploaders: tuple[UploaderStatus, ...]
    unsaved: int = 0  # readings still in memory, waiting for their commit
    last_write_error: str | None = None
    writer_pid: int | None = None  # set when the status comes from the running writer's snapshot
    as_of_ms: int | None = None  # when that snapshot was taken
    held: tuple[HeldStatus, ...] = ()  # readings held while the clock was not synchronised, per boot

    def uploader(self, name: str) -> UploaderStatus:
        for status in self.uploaders:
            if status.name == name:
                return status
        raise KeyError(name)


def file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(f"{path}{suffix}").st_size
        except FileNotFoundError:
            pass
    return total


def status_of(conn: sqlite3.Connection, path: Path, hot: HotIndex,
              uploaders: Sequence[str] | None = None) -> OutboxStatus:
    """Read the status from the database; `uploaders` None means every uploader with a cursor."""
    floor, next_id = id_range(conn)
    cursors = {row[0]: row[1:] for row in conn.execute(
        "SELECT uploader, last_id, delivered, last_success_ms, last_error, last_error_ms FROM cursor")}
    dead = {row[0]: row[1:] for row in conn.execute(
        "SELECT uploader, count(*), total(retry) FROM dead_letter GROUP BY uploader")}
    reasons: dict[str, list[tuple[str, int]]] = {}
    for uploader, reason, count in conn.execute(
            "SELECT uploader, reason, count(*) AS n FROM dead_letter GROUP BY uploader, reason "
            "ORDER BY uploader, n DESC, reason"):
        shown = reasons.setdefault(uploader, [])
        if len(shown) < REASONS_SHOWN:
            shown.append((reason, count))
    names = list(uploaders) if uploaders is not None else sorted(cursors)
    statuses = []
    for name in names:
        last_id, delivered, success_ms, error, error_ms = cursors.get(name, (floor - 1, 0, None, None, None))
        first_waiting = max(last_id + 1, floor)
        waiting = max(0, next_id - first_waiting)
        dead_count, dead_retry = dead.get(name, (0, 0))
        statuses.append(UploaderStatus(
            name=name,
            waiting=waiting,
            oldest_waiting_ms=timestamp_of(conn, hot, first_waiting) if waiting else None,
            delivered=delivered,
            last_success_ms=success_ms,
            last_error=error,
            last_error_ms=error_ms,
            dead_letters=dead_count,
            dead_letters_to_retry=int(dead_retry),
            dead_letter_reasons=tuple(reasons.get(name, ())),
        ))
    by_series: dict[str, int] = {}
    for series, count in conn.execute(
            "SELECT s.series, d.count FROM dropped d JOIN series s ON s.id = d.series_id"):
        by_series[series] = by_series.get(series, 0) + count
    return OutboxStatus(
        path=str(path),
        file_bytes=file_bytes(path),
        stored=next_id - floor,
        dropped=sum(by_series.values()),
        dropped_by_series=tuple(sorted(by_series.items(), key=lambda item: (-item[1], item[0]))),
        uploaders=tuple(statuses),
        held=held_table.summary(conn),
    )


# ---------------------------------------------------------------------- the running writer's snapshot
def snapshot_path(path: Path) -> Path | None:
    """Where the writer of `path` publishes its status; None where there is no RAM file system."""
    if not os.path.isdir(SNAPSHOT_DIR):
        return None
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(SNAPSHOT_DIR) / f"{SNAPSHOT_PREFIX}{digest}.json"


def publish_snapshot(status: OutboxStatus, target: Path) -> None:
    """Write `status` to `target` atomically (a reader never sees half of it)."""
    fields = asdict(status)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(json.dumps(fields))
    os.replace(temporary, target)


def _load_snapshot(target: Path) -> OutboxStatus:
    fields = json.loads(target.read_text())
    fields["uploaders"] = tuple(
        UploaderStatus(**dict(u, dead_letter_reasons=tuple(map(tuple, u.get("dead_letter_reasons", ())))))
        for u in fields["uploaders"])
    fields["dropped_by_series"] = tuple((name, count) for name, count in fields["dropped_by_series"])
    fields["held"] = tuple(HeldStatus(**h) for h in fields.get("held", ()))
    return OutboxStatus(**fields)


def _writer_in_the_way(path: Path, action: str) -> OutboxError | None:
    pid = writer_pid(path)
    if pid is None:
        return None
    return OutboxError(f"cannot {action}: the outbox {path} is in use by sensorkit run (pid {pid}); stop it "
                       "first (e.g. `systemctl stop sensorkit`), then try again")


# ---------------------------------------------------------------------- for the CLI, from another process
def read_status(path: str | os.PathLike[str], uploaders: Sequence[str] | None = None) -> OutboxStatus:
    """The status of the outbox at `path`: from the file, or from the running writer's snapshot.

    A snapshot has `writer_pid` and `as_of_ms` set (it is a few seconds old at most).
    """
    path = Path(path)
    in_the_way = _writer_in_the_way(path, "read its status")
    if in_the_way is not None:
        target = snapshot_path(path)
        if target is not None:
            try:
                return _load_snapshot(target)
            except (OSError, ValueError, TypeError, KeyError):
                pass  # not published (yet): a writer that shares the file can still be read directly
    try:
        conn = open_existing(path, writable=False, timeout_s=LOCKED_OUT_TIMEOUT_S if in_the_way else BUSY_TIMEOUT_S)
    except OutboxError:
        if in_the_way is not None:
            raise in_the_way from None
        raise
    try:
        return status_of(conn, path, hot_index(conn), uploaders)
    except sqlite3.Error as exc:
        if in_the_way is not None:
            raise in_the_way from None
        raise OutboxError(f"cannot read the outbox {path}: {exc}") from None
    finally:
        conn.close()


def dead_letters(path: str | os.PathLike[str], uploader: str | None = None) -> list[DeadLetter]:
    """Every dead letter (of one uploader, or all), oldest refusal first. Needs the writer stopped."""
    path = Path(path)
    in_the_way = _writer_in_the_way(path, "list its dead letters")
    if in_the_way is not None:
        raise in_the_way
    conn = open_existing(path, writable=False)
    params: tuple[str, ...] = ()
    try:
        # A file of schema 1, not yet upgraded by `sensorkit run`, is read as it is: it has no media types.
        media_type = "d.media_type" if schema_version(conn) >= 2 else "NULL"
        sql = (f"SELECT d.uploader, s.series, d.timestamp_ms, s.kind, d.value, {media_type}, d.reason, d.dead_ms, "
               "d.retry FROM dead_letter d JOIN series s ON s.id = d.series_id")
        if uploader is not None:
            sql += " WHERE d.uploader = ?"
            params = (uploader,)
        rows = conn.execute(sql + " ORDER BY d.id", params).fetchall()
    except sqlite3.Error as exc:
        raise OutboxError(f"cannot read the outbox {path}: {exc}") from None
    finally:
        conn.close()
    letters = []
    for name, series, ts, kind, stored, media_type, reason, dead_ms, retry in rows:
        value, media_type = stored_value(kind, stored, media_type)
        letters.append(DeadLetter(name, series, ts, value, reason, dead_ms, bool(retry), media_type))
    return letters


def retry_dead(path: str | os.PathLike[str], uploader: str | None = None) -> int:
    """Flag dead letters for another try: the next `sensorkit run` sends them. Needs the writer stopped."""
    return _with_writer_stopped(path, "flag dead letters for another try", flag_dead, uploader)


def purge_dead(path: str | os.PathLike[str], uploader: str | None = None) -> int:
    """Delete dead letters for good; how many. Needs the writer stopped."""
    return _with_writer_stopped(path, "purge dead letters", delete_dead, uploader)


def purge_held(path: str | os.PathLike[str], keep_boot: str | None) -> int:
    """Delete the held readings of every boot but `keep_boot` (this one's); how many. Needs the writer stopped."""
    return _with_writer_stopped(path, "purge held readings", lambda conn, p, boot: held_table.purge(conn, p, boot),
                                keep_boot)


def _with_writer_stopped(path: str | os.PathLike[str], action: str, change: Any, uploader: str | None) -> int:
    path = Path(path)
    in_the_way = _writer_in_the_way(path, action)
    if in_the_way is not None:
        raise in_the_way
    conn = open_existing(path, writable=True)
    try:
        return change(conn, path, uploader)
    finally:
        conn.close()
