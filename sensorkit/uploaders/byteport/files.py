"""Files as Byteport fields: a file's text as a value, a directory as one store, and polling a directory.

A file's name is its field name and its UTF-8 text the value. What cannot
be stored that way (a name Byteport refuses, content that is not UTF-8
text, a file that cannot be read) is reported, never sent half-right.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from sensorkit.clock import SystemClock
from sensorkit.errors import UploadError
from sensorkit.uploaders.settings import byteport_name_problem

log = logging.getLogger(__name__)


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's content as text; ValueError when it is not UTF-8 (binary goes by base64_encode_and_store_file)."""
    with open(path, "rb") as file:
        content = file.read()
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{os.fspath(path)} is not UTF-8 text (byte {exc.start}); store it with "
                         "base64_encode_and_store_file") from None


def _entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if entry.is_file():
                    found.append((entry.stat().st_mtime_ns, entry.name, entry))
            except OSError:
                continue  # removed while we looked
    # Oldest first, as the reference client listed them; by name when two share an mtime.
    yield from (entry for _, _, entry in sorted(found, key=lambda f: f[:2]))


def read_directory(directory: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({field: text} of the directory's files, {name: why it was skipped}); subdirectories are not entered."""
    data: dict[str, str] = {}
    problems: dict[str, str] = {}
    for entry in _entries(Path(directory)):
        why = byteport_name_problem(entry.name)
        if why:
            problems[entry.name] = f"the file name is not a Byteport field name: it {why}"
            continue
        try:
            data[entry.name] = read_text(entry.path)
        except ValueError:
            problems[entry.name] = "its content is not UTF-8 text (store it with base64_encode_and_store_file)"
        except OSError as exc:
            problems[entry.name] = f"it cannot be read: {exc.strerror}"
    return data, problems


class DirectoryPoller:
    """Stores the files of one directory that were added or changed since they were last stored.

    `client` is a ByteportHttpClient. A change is stamped with the time it
    was first seen; a store that fails leaves it pending, so the next poll
    sends it again with the same `_ts` (the same points, if the first try did
    arrive after all). Pending changes of different times go in one store per
    time. A file that changes again before it was stored is sent with its
    newest content only.
    """

    def __init__(self, client: Any, directory: str | os.PathLike[str], device_uid: str, *, clock: Any = None,
                 warn_once: Callable[[str, str], None] | None = None) -> None:
        self._client = client
        self.directory = Path(directory)
        self.device_uid = device_uid
        self._clock = clock if clock is not None else SystemClock()
        self._warn_once = warn_once or (lambda name, why: log.warning("Byteport: skipping %r: %s", name, why))
        self._stored: dict[str, str] = {}  # field -> the content the server has
        self._pending: dict[str, tuple[str, int]] = {}  # field -> (content, ms first seen)
        self._failing = False

    @property
    def pending(self) -> dict[str, str]:
        """Fields with content not stored yet (a failed store's), and that content."""
        return {name: content for name, (content, _) in self._pending.items()}

    def poll(self) -> list[str]:
        """Look once and store what changed; the fields stored (a failed store is logged, and kept)."""
        try:
            current, problems = read_directory(self.directory)
        except OSError as exc:
            self._failed(f"cannot read the directory {self.directory}: {exc.strerror}")
            return []
        for name, why in problems.items():
            self._warn_once(name, why)
        now_ms = self._clock.time_ms()
        for name in set(self._stored) - set(current):
            del self._stored[name]  # removed: when it comes back, it is added again
        for name, content in current.items():
            seen = self._pending.get(name)
            if self._stored.get(name) == content:
                self._pending.pop(name, None)  # changed back to what the server has
            elif seen is None or seen[0] != content:
                self._pending[name] = (content, now_ms)
        by_time: dict[int, dict[str, str]] = {}
        for name, (content, ms) in self._pending.items():
            by_time.setdefault(ms, {})[name] = content
        stored: list[str] = []
        for ms in sorted(by_time):
            data = by_time[ms]
            try:
                self._client.store(data, self.device_uid, timestamp_ms=ms)
            except (UploadError, ValueError) as exc:
                self._failed(f"could not store {', '.join(sorted(data))} from {self.directory} ({exc}); trying "
                             "again at the next poll")
                break
            for name, content in data.items():
                self._stored[name] = content
                del self._pending[name]
            stored.extend(data)
        else:
            if self._failing:
                log.info("Byteport: storing from %s works again", self.directory)
            self._failing = False
        return stored

    def _failed(self, message: str) -> None:
        # The first failure of a spell is a warning; its repeats, every poll, are debug.
        log.log(logging.DEBUG if self._failing else logging.WARNING, "Byteport: %s", message)
        self._failing = True

    def run(self, poll_interval: float, stop: threading.Event,
            wait: Callable[[float], bool] | None = None) -> None:
        """Poll until `stop` is set; between polls `wait(poll_interval)` (True: stop now), default stop.wait."""
        wait = wait or stop.wait
        while not stop.is_set():
            self.poll()
            if wait(poll_interval) or stop.is_set():
                return
