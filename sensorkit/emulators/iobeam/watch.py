"""What tests see of the local iobeam server's imports: a log of accepted ones and a hold mid-import."""
from __future__ import annotations

import threading
from typing import NamedTuple

from sensorkit.emulators import EmulatorError
from sensorkit.emulators.iobeam.store import StoredPoint
from sensorkit.emulators.iobeam.wire import Value


class ImportRecord(NamedTuple):
    """One accepted import, as stored: the device and its points in request order."""

    device_id: str
    points: tuple[StoredPoint, ...]


HOLD_STAGES = ("before_store", "after_store")
HOLD_LIMIT_S = 60.0  # a held import goes on by itself after this long, so a forgotten hold cannot hang a test


def _record(device_id: str, points: list[tuple[str, int, Value]]) -> ImportRecord:
    return ImportRecord(device_id, tuple(StoredPoint(device_id, *point) for point in points))


class ImportWatch:
    """What tests see of imports: a log of accepted ones (when kept) and a hold at a chosen stage.

    A hold makes the next imports wait at `stage` ("before_store": read and
    checked, nothing stored; "after_store": stored, not yet answered) until
    `release`, which is how a test kills a client in the middle of a send.
    """

    def __init__(self, keep: bool) -> None:
        self.held: ImportRecord | None = None  # the import that last reached the hold
        self._lock = threading.Lock()
        self._counted = threading.Condition(threading.Lock())
        self._accepted = 0  # points in accepted imports, repeats included
        self._log: list[ImportRecord] | None = [] if keep else None
        self._stage: str | None = None
        self._reached = threading.Event()
        self._open = threading.Event()
        self._open.set()

    def hold(self, stage: str) -> threading.Event:
        if stage not in HOLD_STAGES:
            raise ValueError(f"stage must be one of {', '.join(HOLD_STAGES)}, not {stage!r}")
        with self._lock:
            self._stage = stage
            self.held = None
            self._reached.clear()
            self._open.clear()
            return self._reached

    def release(self) -> None:
        with self._lock:
            self._stage = None
            self._open.set()

    def at(self, stage: str, device_id: str, points: list[tuple[str, int, Value]]) -> None:
        with self._lock:
            held = self._stage == stage
            if held:
                self.held = _record(device_id, points)
                self._reached.set()
        if held:
            self._open.wait(HOLD_LIMIT_S)

    def stored(self, device_id: str, points: list[tuple[str, int, Value]]) -> None:
        with self._counted:
            self._accepted += len(points)
            self._counted.notify_all()
        if self._log is not None:
            record = _record(device_id, points)
            with self._lock:
                self._log.append(record)

    @property
    def accepted(self) -> int:
        with self._counted:
            return self._accepted

    def wait_accepted(self, count: int, timeout_s: float | None) -> bool:
        with self._counted:
            return self._counted.wait_for(lambda: self._accepted >= count, timeout_s)

    @property
    def log(self) -> list[ImportRecord]:
        if self._log is None:
            raise EmulatorError("imports are logged only by an emulator made with keep_imports=True")
        with self._lock:
            return list(self._log)

