"""Clocks: monotonic time for scheduling, wall-clock ms for timestamps.

Everything that waits or stamps takes a clock, so tests swap in `FakeClock`
and never sleep for time to pass.
"""
from __future__ import annotations

import threading
import time


class SystemClock:
    """The real clocks of this machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait for `event` at most `seconds`; True when it was set."""
        return event.wait(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to (or when something sleeps on it).

    `sleep()` advances time at once, so a driver that waits for a conversion
    finishes instantly in tests while an emulated chip sharing the clock sees
    the full delay pass. Thread-safe.
    """

    def __init__(self, *, wall_ms: int = 1_700_000_000_000, mono: float = 1000.0) -> None:
        self._lock = threading.Lock()
        self._mono = float(mono)
        self._wall_offset_ms = wall_ms - round(mono * 1000)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def time_ms(self) -> int:
        with self._lock:
            return self._wall_offset_ms + round(self._mono * 1000)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._mono += seconds

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Does not block: reports whether `event` is set, time stays put."""
        return event.is_set()


def local_time(when_ms: int, *, ms: bool = False) -> str:
    """`when_ms` (UTC ms since the epoch) as this machine's local time, for people to read."""
    import datetime

    stamp = datetime.datetime.fromtimestamp(when_ms / 1000)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (f".{when_ms % 1000:03d}" if ms else "")
