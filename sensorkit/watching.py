"""`[[watch]]`: directories whose added and changed files become readings, through the outbox to Byteport.

What the seed's `poll_directory_and_store_upon_content_change` does, inside
`sensorkit run`: each watch looks at its directory every `interval` (on the
monotonic clock) and hands each file that was added or changed since it was
last stored to the same sink as the sampler, as one Reading: series = the
file's name, sensor = the watch's name, quantity `FILE_QUANTITY`, value the
text (valid UTF-8 without NUL) or else the bytes with their media type. So a
watched file goes through the outbox and survives an outage and kill -9 like
any reading. Change detection is `sensorkit.filechanges`, the same code as
the Byteport client's poller.

Restarts: each watch keeps the state of what it last stored (name -> size,
mtime, SHA-256) in `<state dir>/watch-<name>.json`, a small file replaced
atomically, written only after the outbox committed (and fsynced) the
readings it records. A kill -9 in between sends a file again after the
restart; nothing is ever recorded that was not committed, so nothing is
lost. (A power cut, unlike a kill, can still lose a file in one case: the
outbox's committer thread took it first and has not fsynced it yet, within
the outbox's sync_interval; `commit(sync=True)` has nothing left to sync.)
Without an outbox (a run that only prints) the state is in memory.

Where the readings go: the Byteport uploader gets `routes` (watch name ->
device uid and compression, `uploader_options`); uploaders that cannot
carry files (iobeam, MQTT) skip them (`skipping_files`), which keeps them out
of their dead letters.
"""
from __future__ import annotations

import json
import logging
import math
import mimetypes
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sensorkit.clock import SystemClock, stamp
from sensorkit.errors import OutboxError
from sensorkit.filechanges import Change, ChangeDetector, FileState, Problem
from sensorkit.readings import MAX_VALUE_BYTES, Reading
from sensorkit.uploaders.settings import byteport_name_problem

log = logging.getLogger(__name__)

FILE_QUANTITY = "file"  # the quantity of a watched file's reading: no sensor measures it
STATE_VERSION = 1
DEFAULT_MEDIA_TYPE = "application/octet-stream"


def state_path(state_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(state_dir) / f"watch-{name}.json"


def media_type_of(file_name: str, configured: str | None) -> str:
    """The media type of a file sent as bytes: the configured one, else guessed from the name."""
    if configured is not None:
        return configured
    guessed, encoding = mimetypes.guess_type(file_name, strict=False)
    return guessed if guessed is not None and encoding is None else DEFAULT_MEDIA_TYPE


def as_text(content: bytes) -> str | None:
    """The content as text when it is valid UTF-8 without a NUL byte; None: send it as bytes."""
    if b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _name_problem(name: str) -> str | None:
    why = byteport_name_problem(name)
    return f"its name is not a Byteport field name: it {why}" if why else None


class WatchState:
    """The durable record of one watch: the state of each file as last stored (None: memory only)."""

    def __init__(self, path: Path | None, directory: Path, device_uid: str) -> None:
        self.path = path
        self._identity = {"directory": str(directory), "device_uid": device_uid}

    def load(self) -> dict[str, FileState]:
        """What was stored before; {} when there is no record, or it is of another directory or device."""
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            if {k: data.get(k) for k in self._identity} != self._identity:
                log.info("%s is of another directory or device uid: every file counts as new", self.path)
                return {}
            return {str(name): FileState.from_json(state) for name, state in data["files"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            log.warning("ignoring %s (%s): every file of the watch is sent again", self.path, exc)
            return {}

    def save(self, files: Mapping[str, FileState]) -> None:
        """Replace the record atomically (write, fsync, rename); OSError when the disk refused."""
        if self.path is None:
            return
        data = {"version": STATE_VERSION, **self._identity,
                "files": {name: state.to_json() for name, state in sorted(files.items())}}
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as out:
            json.dump(data, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path)


class Watch:
    """One `[[watch]]`: looks at its directory and makes readings of what changed since it was last handed on."""

    def __init__(self, config: Any, state: WatchState, *, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.name: str = config.name
        self.state = state
        self.detector = ChangeDetector(config.path, pattern=config.pattern, name_problem=_name_problem,
                                       max_bytes=MAX_VALUE_BYTES, wall_ns=wall_ns)
        self.sent: dict[str, FileState] = state.load()  # handed to the sink (committed, or about to be)
        self.due = 0.0
        self.dirty = False  # `sent` differs from the durable record
        self._told: set[tuple[str, str, tuple[Any, ...]]] = set()
        self._listing_failed = False

    def look(self, stamp: Callable[[], tuple[int, int]]) -> tuple[list[Reading], dict[str, FileState]]:
        """The readings of what changed, and what `sent` becomes once they are handed on."""
        try:
            scan = self.detector.scan(self.sent)
        except OSError as exc:
            if not self._listing_failed:
                log.warning("watch '%s': cannot list %s (%s); looking again every %gs", self.name,
                            self.config.path, exc.strerror or exc, self.config.interval_s)
            self._listing_failed = True
            return [], self.sent
        if self._listing_failed:
            log.warning("watch '%s': %s can be listed again", self.name, self.config.path)
            self._listing_failed = False
        for problem in scan.problems:
            self._warn_once(problem)
        after = {name: state for name, state in self.sent.items() if name in scan.seen}
        after.update(scan.unchanged)
        readings: list[Reading] = []
        if scan.changes:
            ms, mono = stamp()
            for change in scan.changes:
                readings.append(self._reading(change, ms, mono))
                after[change.name] = change.state
        return readings, after

    def _reading(self, change: Change, ms: int, mono: int) -> Reading:
        text = as_text(change.content)
        if text is not None:
            return Reading(change.name, self.name, FILE_QUANTITY, text, "", ms, mono_ms=mono)
        return Reading(change.name, self.name, FILE_QUANTITY, change.content, "", ms,
                       media_type_of(change.name, self.config.media_type), mono_ms=mono)

    def _warn_once(self, problem: Problem) -> None:
        key = (problem.name, problem.why, problem.key)
        if key in self._told:
            return
        self._told.add(key)
        log.warning("watch '%s': skipping %s: %s", self.name, self.config.path / problem.name, problem.why)


class Watching:
    """Every enabled `[[watch]]` of a run, each on its own interval, in one thread.

    `sink` takes readings as the sampler's does. `commit()` returns once every
    reading handed to the sink so far is committed to the outbox (OutboxError
    when the disk refused): only then is a watch's durable record written.
    Without `commit` (or without a `state_dir`) the record is in memory only.
    """

    def __init__(self, watches: Sequence[Any], sink: Callable[[list[Reading]], None], *, clock: Any = None,
                 commit: Callable[[], Any] | None = None, state_dir: str | os.PathLike[str] | None = None,
                 wall_ns: Callable[[], int] = time.time_ns, trusted: Callable[[], bool] | None = None) -> None:
        self._clock = clock or SystemClock()
        self._sink = sink
        # While the clock is not synchronised the sink holds what it is given, and held readings of a boot
        # that ends before the sync are never sent: the record waits for the sync, so after such a reboot
        # the files go again (with their true time) instead of counting as stored.
        self._trusted = trusted
        self._commit = commit if state_dir is not None else None
        durable = state_dir is not None and commit is not None
        self.watches = [Watch(config, WatchState(state_path(state_dir, config.name) if durable else None,
                                                 config.path, config.device_uid), wall_ns=wall_ns)
                        for config in watches if config.enabled]
        self._start: float | None = None
        self._commit_failed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stamp(self) -> tuple[int, int]:
        """(wall ms, monotonic ms) of a watch's readings: the one place they are stamped (see sensorkit.holding:
        the sink holds them while the clock is not synchronised, as it does the sampler's)."""
        return stamp(self._clock)

    def poll(self) -> float:
        """Look at every watch that is due, hand on what changed, record it once committed; seconds to the next."""
        now = self._clock.monotonic()
        if self._start is None:
            self._start = now
            for watch in self.watches:
                watch.due = now
        for watch in self.watches:
            if now < watch.due:
                continue
            interval = watch.config.interval_s
            watch.due = self._start + interval * (math.floor((now - self._start) / interval) + 1)
            readings, after = watch.look(self.stamp)
            if readings:
                try:
                    self._sink(readings)
                except Exception:  # noqa: BLE001 - the watch goes on; the files are seen again next time
                    log.exception("watch '%s': could not hand on %d file(s)", watch.name, len(readings))
                    continue
            if after != watch.sent:
                watch.sent = after
                watch.dirty = True
        self._record()
        upcoming = min((watch.due for watch in self.watches), default=now + 3600.0)
        return max(0.0, upcoming - self._clock.monotonic())

    def _record(self) -> None:
        """Commit what was handed on, then write the records of the watches that changed."""
        dirty = [watch for watch in self.watches if watch.dirty]
        if not dirty or (self._trusted is not None and not self._trusted()):
            return
        if self._commit is None:
            for watch in dirty:
                watch.dirty = False
            return
        snapshots = [(watch, dict(watch.sent)) for watch in dirty]  # all handed on before the commit
        try:
            self._commit()
        except OutboxError as exc:
            if not self._commit_failed:
                log.warning("watched files wait in memory: %s; their record is kept when the commit works", exc)
            self._commit_failed = True
            return
        self._commit_failed = False
        for watch, files in snapshots:
            try:
                watch.state.save(files)
            except OSError as exc:
                log.warning("watch '%s': could not write %s (%s): after a restart its files are sent again",
                            watch.name, watch.state.path, exc.strerror or exc)
                continue
            if watch.sent == files:
                watch.dirty = False

    # ------------------------------------------------------------------ the thread
    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        """Poll until `stop` is set or `duration_s` has passed (the worker of a run without sensors)."""
        end = self._clock.monotonic() + duration_s if duration_s is not None else math.inf
        while not stop.is_set():
            wait_s = self.poll()
            remaining = end - self._clock.monotonic()
            if remaining <= 0 or self._clock.wait(stop, min(wait_s, remaining)):
                break
        self._record()  # a record left over from a failed commit: one last try

    def start(self) -> None:
        if self.watches and self._thread is None:
            self._thread = threading.Thread(target=self.run, args=(self._stop,), name="watching", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


# --------------------------------------------------------------------------- uploaders

def watching_for(config: Any, sink: Callable[[list[Reading]], None], *, delivering: Any = None,
                 state_dir: str | os.PathLike[str] | None = None, clock: Any = None,
                 trusted: Callable[[], bool] | None = None) -> Watching:
    """The watches of a run: their readings to `sink`, recorded in `state_dir` once `delivering`'s outbox has them."""
    commit = None
    if delivering is not None:
        outbox = delivering.outbox

        def commit() -> None:
            outbox.commit(sync=True)  # fsynced: the record is never ahead of what the outbox keeps

    return Watching(config.enabled_watches, sink, clock=clock, commit=commit, state_dir=state_dir, trusted=trusted)


def uploader_options(config: Any, uploader: Any) -> dict[str, Any]:
    """What the composition passes `build_uploader` for watches: Byteport's routes (every watch, enabled or not:
    readings of a watch disabled since may still wait in the outbox)."""
    if uploader.name != "byteport" or not config.watches:
        return {}
    from sensorkit.uploaders.byteport_uploader import FileRoute

    return {"routes": {w.name: FileRoute(w.device_uid, w.compression) for w in config.watches}}


class SkippingFiles:
    """An uploader that cannot carry files (iobeam, MQTT), given only the readings that are not watched files."""

    def __init__(self, uploader: Any) -> None:
        self.uploader = uploader

    def send(self, batch: Sequence[Reading]) -> None:
        kept = [reading for reading in batch if reading.quantity != FILE_QUANTITY]
        if kept:
            self.uploader.send(kept if len(kept) != len(batch) else batch)

    def __getattr__(self, name: str) -> Any:  # name, batch_size, close, ...: the uploader's own
        return getattr(self.uploader, name)


def skipping_files(uploader_config: Any, uploader: Any) -> Any:
    return uploader if uploader_config.name == "byteport" else SkippingFiles(uploader)
