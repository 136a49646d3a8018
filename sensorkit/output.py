"""What `sensorkit run` shows: one JSON object per reading, or a live table on a terminal."""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, TextIO

from sensorkit.readings import Reading


class OutputClosed(Exception):
    """The reader of our output went away (e.g. `| head`)."""


# Characters that end a line for str.splitlines() and for JavaScript, which json.dumps(ensure_ascii=False)
# leaves as they are; escaped, a reading is one line for every reader, not only for those splitting at "\n".
_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class JsonlOutput:
    """One JSON object per reading per line, flushed per batch."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, readings: Sequence[Reading]) -> None:
        text = "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in readings)
        for char, escaped in _LINE_BREAKS.items():
            if char in text:
                text = text.replace(char, escaped)
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except OSError:  # a closed pipe, or EIO from a terminal that hung up
                raise OutputClosed() from None

    def refresh(self) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        with self._lock:
            try:
                self._stream.flush()
            except OSError:
                pass


class NoOutput:
    """Prints nothing: for a service, whose readings go only to the uploaders (and not into its journal)."""

    def write(self, readings: Sequence[Reading]) -> None:
        """Nothing to print."""

    def refresh(self) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        """Nothing to flush."""


CONSOLE_TEXT_SHOWN = 24  # characters of a text value in the live table


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, str):  # on one line, and short: the table has one row per series
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= CONSOLE_TEXT_SHOWN else shown[:CONSOLE_TEXT_SHOWN - 2] + "…\""
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
        size: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self._stream = stream
        # (columns, lines) of the terminal, asked at every redraw so a resize is seen at once.
        self._size = size or (lambda: terminal_size(stream))
        self._drawn_size: tuple[int, int] | None = None
        self._title = title
        self.status = status  # set later by whoever owns the sampler
        self.delivery: Callable[[], list[Any]] | None = None  # DeliveryProgress per uploader
        self.clock_note: Callable[[], str | None] | None = None  # "clock not synchronised ..." while it is not
        self._backlog: dict[str, int] = {}  # the largest backlog since each uploader was last up to date
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
        note = self.clock_note() if self.clock_note else None
        if note:
            lines.append(f"  ! {note}")
        for row in rows:
            lines.append(
                f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
            )
        if len(rows) == 1:
            lines.append("  (waiting for the first readings)")
        failing = [s for s in (self.status() if self.status else []) if s.last_error]
        for status in failing:
            lines.append(f"  ! {status.name}: {status.last_error} ({status.consecutive_failures} in a row)")
        for progress in self.delivery() if self.delivery else []:
            start = self._backlog.get(progress.uploader, 0)
            self._backlog[progress.uploader] = max(start, progress.waiting) if progress.waiting else 0
            lines.append(f"  → {delivery_line(progress, self._backlog[progress.uploader])}")
        lines.extend(f"  {m}" for m in messages)
        return lines

    def refresh(self) -> None:
        size = self._size()
        lines = fit(self.render(), *size)
        if self._drawn_size is not None and size != self._drawn_size:
            # The terminal was resized: what was drawn may have been rewrapped or cut, so its
            # height on screen is unknown. Draw from the top of the screen instead.
            prefix = "\x1b[H"
        elif self._drawn_lines:
            # Every line drawn fits in one screen row, so the drawing is exactly that many rows:
            # back to its first row (CR + cursor up, which every terminal knows).
            prefix = f"\r\x1b[{self._drawn_lines}A"
        else:
            prefix = ""
        # Each row is overwritten and cleared to its end, then what is below the new drawing is
        # cleared. Never "erase below" from the top-left corner: tmux then pushes the whole screen
        # into its scrollback (scroll-on-clear), a copy per redraw.
        text = prefix + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J"
        try:
            self._stream.write(text)
            self._stream.flush()
        except OSError:  # a closed pipe, or EIO from a terminal that hung up
            raise OutputClosed() from None
        self._drawn_lines = len(lines)
        self._drawn_size = size

    def close(self) -> None:
        try:
            self.refresh()
        except OutputClosed:
            pass


def terminal_size(stream: TextIO) -> tuple[int, int]:
    """(columns, lines) of the terminal `stream` writes to; 80 x 24 when it is none."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return 80, 24
    return size.columns or 80, size.lines or 24


def fit(lines: list[str], columns: int, rows: int) -> list[str]:
    """`lines` made to fit the screen: none wraps (cut with "…"), and no more than fit below each other.

    A line as wide as the terminal would leave the cursor in the last column, where terminals
    differ about wrapping; one column is kept free. Lines beyond the screen's height would scroll
    the top of the table away, where no cursor movement reaches it to redraw.
    """
    width = max(1, columns - 1)
    cut = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    height = max(1, rows - 1)
    if len(cut) > height:
        hidden = len(cut) - (height - 1)
        cut = cut[: height - 1] + [f"  … {hidden} more line(s): make the terminal taller"[:width]]
    return cut


BAR_WIDTH = 20
BACKLOG_SHOWN = 1000  # from this many readings waiting, a drain gets a progress bar


def delivery_line(progress: Any, backlog: int = 0) -> str:
    """One uploader's state: up to date, draining a backlog (bar, rate, time left), or retrying."""
    name, waiting = progress.uploader, progress.waiting
    if progress.failures and progress.retry_in_s is not None:
        return (f"{name}: {waiting:,} waiting; next try in {progress.retry_in_s:.0f} s "
                f"({progress.failures} failed in a row: {progress.last_error})")
    if waiting < BACKLOG_SHOWN:
        return f"{name}: up to date" if waiting == 0 else f"{name}: {waiting:,} waiting"
    rate = progress.rate_per_s
    if rate <= 0 or progress.time_left_s is None:
        return f"{name}: {waiting:,} waiting"
    share = 1 - waiting / max(backlog, waiting)
    filled = round(share * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"{name}: [{bar}] {waiting:,} waiting, {rate:,.0f}/s, {_clock_text(progress.time_left_s)} left"


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
