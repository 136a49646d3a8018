"""What `sensorkit run` shows: one JSON object per reading, or a live table on a terminal."""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, TextIO

from sensorkit.readings import Reading


class OutputClosed(Exception):
    """The reader of our output went away (e.g. `| head`)."""


class JsonlOutput:
    """One JSON object per reading per line, flushed per batch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, readings: Sequence[Reading]) -> None:
        text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in readings)
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except BrokenPipeError:
                raise OutputClosed() from None

    def refresh(self) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        with self._lock:
            try:
                self._stream.flush()
            except BrokenPipeError:
                pass


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class ConsoleOutput:
    """A table of the latest value of every series, redrawn in place.

    Log messages are kept under the table (a handler from `log_handler()`)
    instead of scrolling it away.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        title: str,
        status: Callable[[], list[Any]] | None = None,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._stream = stream
        self._title = title
        self.status = status  # set later by whoever owns the sampler
        self._wall_ms = wall_ms
        self._latest: dict[str, Reading] = {}
        self._messages: collections.deque[str] = collections.deque(maxlen=4)
        self._lock = threading.Lock()
        self._drawn_lines = 0

    def write(self, readings: Sequence[Reading]) -> None:
        with self._lock:
            for reading in readings:
                self._latest[reading.series] = reading

    def log_handler(self) -> logging.Handler:
        console = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                with console._lock:
                    console._messages.append(f"{record.levelname.lower()}: {record.getMessage()}")

        return _Handler(logging.WARNING)

    def render(self) -> list[str]:
        now_ms = self._wall_ms()
        with self._lock:
            latest = sorted(self._latest.values(), key=lambda r: (r.sensor, r.series))
            messages = list(self._messages)
        rows = [("SERIES", "VALUE", "UNIT", "AGE")]
        for reading in latest:
            age_s = max(0.0, (now_ms - reading.timestamp_ms) / 1000)
            rows.append((reading.series, format_value(reading.value), reading.unit, f"{age_s:.1f}s"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [self._title]
        for row in rows:
            lines.append(
                f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
            )
        if len(rows) == 1:
            lines.append("  (waiting for the first readings)")
        failing = [s for s in (self.status() if self.status else []) if s.last_error]
        for status in failing:
            lines.append(f"  ! {status.name}: {status.last_error} ({status.consecutive_failures} in a row)")
        lines.extend(f"  {m}" for m in messages)
        return lines

    def refresh(self) -> None:
        lines = self.render()
        # Move up over the previous drawing and clear it, then draw anew.
        prefix = f"\x1b[{self._drawn_lines}F\x1b[J" if self._drawn_lines else ""
        try:
            self._stream.write(prefix + "\n".join(lines) + "\n")
            self._stream.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        self._drawn_lines = len(lines)

    def close(self) -> None:
        try:
            self.refresh()
        except OutputClosed:
            pass
