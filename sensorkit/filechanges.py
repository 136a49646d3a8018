"""What changed in a directory since each file was last recorded: the one change detector.

`[[watch]]` (sensorkit.watching) and the Byteport client's
`poll_directory_and_store_upon_content_change` both ask it the same question:
given the state each file had when it was last stored (size, mtime, content
hash), which files are new or hold other content now?

A file whose size and mtime are what was recorded is not read again, unless
it was recorded while "racy": modified less than `RACY_NS` before it was
read, so that a second write within the file system's mtime granularity
(2 s on FAT, a clock tick elsewhere) could leave the same size and mtime
behind. Such a file is read and hashed until its state settles (git treats
its index the same way). A file rewritten with the same content is
unchanged: what counts is the hash.

Subdirectories are never entered; anything but a regular file (or a link to
one) is passed over.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RACY_NS = 3_000_000_000  # younger than this when read: the stat alone cannot prove the file unchanged


@dataclass(frozen=True)
class FileState:
    """A file as it was when its content was read: size, mtime, the SHA-256 of the content."""

    size: int
    mtime_ns: int
    sha256: str
    settled: bool = True  # False: modified within RACY_NS of being read; an equal stat proves nothing

    def to_json(self) -> list[Any]:
        return [self.size, self.mtime_ns, self.sha256, self.settled]

    @classmethod
    def from_json(cls, value: Any) -> FileState:
        """The state `to_json` wrote; ValueError for anything else."""
        if (not isinstance(value, list) or len(value) != 4 or type(value[0]) is not int
                or type(value[1]) is not int or not isinstance(value[2], str) or len(value[2]) != 64
                or not isinstance(value[3], bool)):
            raise ValueError(f"not a file state: {value!r}")
        return cls(value[0], value[1], value[2], value[3])


@dataclass(frozen=True)
class Change:
    """A file that is new, or whose content is not what was recorded: its content and its new state."""

    name: str
    content: bytes
    state: FileState


@dataclass(frozen=True)
class Problem:
    """A file that was passed over, and why. `key` tells one occurrence from the next (a new size, mtime)."""

    name: str
    why: str
    key: tuple[Any, ...] = ()


@dataclass
class Scan:
    """One look at a directory."""

    changes: list[Change] = field(default_factory=list)  # oldest mtime first
    unchanged: dict[str, FileState] = field(default_factory=dict)  # content as recorded (its state now)
    problems: list[Problem] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # every file listed, problems included

    def removed(self, known: Mapping[str, Any]) -> list[str]:
        """The recorded names that are no longer in the directory."""
        return sorted(set(known) - self.seen)


class ChangeDetector:
    """Finds the files of `directory` that were added or changed against a record of their states.

    `pattern` is a glob on the file name (`fnmatch`, case-sensitive); as in a
    shell, `*` does not match a leading dot, so hidden files (an editor's
    swap file, a writer's temporary) are left alone unless the pattern
    starts with a dot. None takes every file, hidden ones included.
    `name_problem(name)` says why a name cannot be used (None when it can).
    `max_bytes` bounds a file's size. `wall_ns` is the time the file system
    stamps mtimes with (the real clock: mtimes are not ours to fake).
    """

    def __init__(self, directory: str | os.PathLike[str], *, pattern: str | None = "*",
                 name_problem: Callable[[str], str | None] | None = None, max_bytes: int | None = None,
                 wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.directory = Path(directory)
        self.pattern = pattern
        self._name_problem = name_problem
        self._max_bytes = max_bytes
        self._wall_ns = wall_ns

    def _matches(self, name: str) -> bool:
        if self.pattern is None:
            return True
        if name.startswith(".") and not self.pattern.startswith("."):
            return False
        return fnmatch.fnmatchcase(name, self.pattern)

    def _listing(self) -> list[tuple[str, os.stat_result]]:
        """(name, stat) of the matching regular files, oldest mtime first (by name at equal mtimes).

        OSError when the directory itself cannot be listed.
        """
        found = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not self._matches(entry.name):
                    continue
                try:
                    if entry.is_file():
                        found.append((entry.name, entry.stat()))
                except OSError:
                    continue  # removed while we looked
        return sorted(found, key=lambda item: (item[1].st_mtime_ns, item[0]))

    def scan(self, known: Mapping[str, FileState]) -> Scan:
        """What is new or changed against `known` (name -> state last recorded). OSError: no listing."""
        scan = Scan()
        for name, listed in self._listing():
            scan.seen.add(name)
            why = self._name_problem(name) if self._name_problem is not None else None
            if why:
                scan.problems.append(Problem(name, why))
                continue
            stamp = (listed.st_size, listed.st_mtime_ns)
            if self._too_big(scan, name, listed.st_size, stamp):
                continue
            before = known.get(name)
            if before is not None and before.settled and (before.size, before.mtime_ns) == stamp:
                scan.unchanged[name] = before
                continue
            read = self._read(scan, name, stamp)
            if read is None:
                continue
            content, state = read
            if before is not None and before.sha256 == state.sha256:
                scan.unchanged[name] = state
            else:
                scan.changes.append(Change(name, content, state))
        return scan

    def _too_big(self, scan: Scan, name: str, size: int, stamp: tuple[int, int]) -> bool:
        if self._max_bytes is None or size <= self._max_bytes:
            return False
        scan.problems.append(Problem(name, f"it is {size:,} bytes, more than the {self._max_bytes:,} a value may "
                                     "hold: make it smaller (or compress it before writing it)", stamp))
        return True

    def _read(self, scan: Scan, name: str, stamp: tuple[int, int]) -> tuple[bytes, FileState] | None:
        path = self.directory / name
        try:
            with open(path, "rb") as file:
                # The stat before the read: a write during the read changes the mtime, and the next
                # look reads the file again.
                opened = os.fstat(file.fileno())
                limit = self._max_bytes
                content = file.read() if limit is None else file.read(limit + 1)
        except FileNotFoundError:
            scan.problems.append(Problem(name, "it was removed before it could be read", stamp))
            return None
        except OSError as exc:
            scan.problems.append(Problem(name, f"it cannot be read: {exc.strerror or exc}", stamp))
            return None
        if self._too_big(scan, name, len(content), (opened.st_size, opened.st_mtime_ns)):
            return None
        settled = opened.st_mtime_ns + RACY_NS < self._wall_ns()
        return content, FileState(opened.st_size, opened.st_mtime_ns, hashlib.sha256(content).hexdigest(), settled)
