"""Files as Byteport fields: a file's text as a value, a directory as one store, and polling a directory.

A file's name is its field name and its UTF-8 text the value. What cannot
be stored that way (a name Byteport refuses, content that is not UTF-8
text, a file that cannot be read) is reported, never sent half-right.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from sensorkit.clock import SystemClock
from sensorkit.errors import UploadError
from sensorkit.filechanges import Change, ChangeDetector, FileState
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


def _problem_of(name: str) -> str | None:
    why = byteport_name_problem(name)
    return f"the file name is not a Byteport field name: it {why}" if why else None


def _detector(directory: str | os.PathLike[str]) -> ChangeDetector:
    # Every file, hidden ones too (their names are refused, and said so): the reference client's listing.
    return ChangeDetector(directory, pattern=None, name_problem=_problem_of)


def _text(change: Change, problems: dict[str, str]) -> str | None:
    try:
        return change.content.decode("utf-8")
    except UnicodeDecodeError:
        problems[change.name] = "its content is not UTF-8 text (store it with base64_encode_and_store_file)"
        return None


def read_directory(directory: str | os.PathLike[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({field: text} of the directory's files, {name: why it was skipped}); subdirectories are not entered."""
    scan = _detector(directory).scan({})
    problems = {problem.name: problem.why for problem in scan.problems}
    data = {}
    for change in scan.changes:
        text = _text(change, problems)
        if text is not None:
            data[change.name] = text
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
        self._detector = _detector(directory)
        self._stored: dict[str, FileState] = {}  # field -> the state of the content the server has
        self._pending: dict[str, tuple[str, int, FileState]] = {}  # field -> (content, ms first seen, state)
        self._failing = False

    @property
    def pending(self) -> dict[str, str]:
        """Fields with content not stored yet (a failed store's), and that content."""
        return {name: content for name, (content, _, _) in self._pending.items()}

    def poll(self) -> list[str]:
        """Look once and store what changed; the fields stored (a failed store is logged, and kept)."""
        try:
            scan = self._detector.scan(self._stored)
        except OSError as exc:
            self._failed(f"cannot read the directory {self.directory}: {exc.strerror}")
            return []
        problems = {problem.name: problem.why for problem in scan.problems}
        now_ms = self._clock.time_ms()
        for name in scan.removed(self._stored):
            del self._stored[name]  # removed: when it comes back, it is added again
        for name, state in scan.unchanged.items():
            self._stored[name] = state
            self._pending.pop(name, None)  # changed back to what the server has
        for change in scan.changes:
            content = _text(change, problems)
            if content is None:
                continue
            seen = self._pending.get(change.name)
            first_ms = seen[1] if seen is not None and seen[0] == content else now_ms
            self._pending[change.name] = (content, first_ms, change.state)
        for name, why in problems.items():
            self._warn_once(name, why)
        by_time: dict[int, dict[str, str]] = {}
        for name, (content, ms, _) in self._pending.items():
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
            for name in data:
                self._stored[name] = self._pending.pop(name)[2]
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
