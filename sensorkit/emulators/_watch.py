"""What tests see of an emulator's writes: a log of accepted ones and a hold in the middle of one.

Any write the emulator accepts (an iobeam import, a Byteport store) is a
record; `points` says how many data points it carried. Records are made
only when a test will see them (a hold reached, a kept log): the caller
passes a function that makes one, so an emulator under a benchmark's load
builds none. A hold makes the
next writes wait at a stage ("before_store": read and checked, nothing
stored; "after_store": stored, not yet answered) until `release`, which is
how a test kills a client in the middle of a send.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

from sensorkit.emulators import EmulatorError

HOLD_STAGES = ("before_store", "after_store")
HOLD_LIMIT_S = 60.0  # a held write goes on by itself after this long, so a forgotten hold cannot hang a test

R = TypeVar("R")


class WriteWatch(Generic[R]):
    """A log of accepted writes (when kept), a count of their points, and a hold at a chosen stage."""

    def __init__(self, keep: bool, what: str = "writes") -> None:
        self.held: R | None = None  # the write that last reached the hold
        self._what = what
        self._lock = threading.Lock()
        self._counted = threading.Condition(threading.Lock())
        self._accepted = 0  # points in accepted writes, repeats included
        self._log: list[R] | None = [] if keep else None
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

    def at(self, stage: str, record: Callable[[], R]) -> None:
        with self._lock:
            held = self._stage == stage
            if held:
                self.held = record()
                self._reached.set()
        if held:
            self._open.wait(HOLD_LIMIT_S)

    def stored(self, record: Callable[[], R], points: int) -> None:
        with self._counted:
            self._accepted += points
            self._counted.notify_all()
        if self._log is not None:
            made = record()
            with self._lock:
                self._log.append(made)

    @property
    def accepted(self) -> int:
        with self._counted:
            return self._accepted

    def wait_accepted(self, count: int, timeout_s: float | None) -> bool:
        with self._counted:
            return self._counted.wait_for(lambda: self._accepted >= count, timeout_s)

    @property
    def log(self) -> list[R]:
        if self._log is None:
            raise EmulatorError(f"{self._what} are logged only by an emulator made with keep_{self._what}=True")
        with self._lock:
            return list(self._log)
