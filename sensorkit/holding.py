"""Timestamps that survive a clock you can't trust: the point every reading passes on its way out.

A reading leaves the process (to the outbox and so to the uploaders, or on
JSON lines) only with a timestamp the clock vouches for. The rules:

* Trusted or held. A reading is *trusted* when the clock had been seen
  synchronised before it was taken: its monotonic time (`Reading.mono_ms`,
  read just before its wall time) is later than the moment the sync was
  seen. Every other reading is *held*: kept with its monotonic time and the
  boot id, durably in the outbox's `held` table (no uploader sees it; no
  bound of the ordinary records drops it), or in memory without an outbox.
  A reading without `mono_ms` (a source that did not stamp with
  `sensorkit.clock.stamp`) is judged when it arrives here, and its
  monotonic time is guessed from its age on the wall clock.
* Release. Once the clock is synchronised, every held reading of this boot
  is stamped ``wall_now - (mono_now - mono_reading)`` (CLOCK_MONOTONIC is
  system-wide, so that holds across a restart of sensorkit within the boot)
  and moved to the ordinary records in the order they were taken, in one
  transaction, before any reading taken after them; JSON lines print them
  then. A held reading that arrives after the release is stamped at once.
* Another boot. Readings held in a boot that ended before its clock was
  synchronised cannot be stamped (that boot's monotonic clock is gone):
  they stay in the outbox, flagged, never sent, shown by `sensorkit outbox
  status`, until `sensorkit outbox purge-held` deletes them.
* Steps. The sampler schedules on the monotonic clock, so a step of the wall
  clock neither bursts nor stalls it. Within a series a timestamp never
  goes below the last one handed on: after a step back a reading is stamped
  the last one + 1 ms (a warning says so, once per step) until the clock
  has caught up; a step forward simply shows as a gap.

Where a reading source hooks in: it stamps with `sensorkit.clock.stamp(clock)`
(wall and monotonic ms, on the run's clock), puts the monotonic ms in
`Reading.mono_ms`, and hands its readings to `Timestamps.add` (the sink the
sampler is given), never to the outbox or an output directly.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Callable

from sensorkit.clock import boot_id, mono_ms, synchronized
from sensorkit.errors import OutboxError
from sensorkit.readings import Reading

log = logging.getLogger(__name__)

Show = Callable[[list[Reading]], None]
MAX_HELD_IN_MEMORY = 100_000  # without an outbox: the oldest beyond this are dropped, with a warning
UNKNOWN_AGE_MS = 600_000  # at most this far back is a reading without `mono_ms` placed by its wall time


class Timestamps:
    """The sink between the reading sources and what takes readings out (`outbox`, `show`, `live`).

    `show` gets readings whose time is known, in order (JSON lines); `live`
    gets every reading as it is taken, held ones included (the console).
    Thread-safe: sensor workers and event threads call `add` at once.
    """

    def __init__(self, clock: Any, *, outbox: Any = None, show: Show | None = None, live: Show | None = None,
                 max_held_in_memory: int = MAX_HELD_IN_MEMORY) -> None:
        self._clock = clock
        self._outbox = outbox
        self._show = show
        self._live = live
        self._max_memory = max_held_in_memory
        self._boot = boot_id(clock)
        self._lock = threading.Lock()
        self._synced_at: int | None = None  # the monotonic ms at which the clock was first seen synchronised
        self._memory: list[tuple[int, Reading]] = []  # held without an outbox: (monotonic ms, reading)
        self._last: dict[str, int] = {}  # series -> the last timestamp handed on
        self._stepped_back = False  # inside a step back: warned once
        self.held = 0  # readings of this boot held now
        self.released = 0
        self.earlier_boots = 0  # readings kept from boots that never synchronised
        if outbox is not None:
            for held in outbox.status().held:
                if held.boot_id == self._boot:
                    self.held += held.count
                else:
                    self.earlier_boots += held.count
                    log.warning("the outbox keeps %d reading(s) taken in an earlier boot (%s) whose clock was "
                                "never synchronised: they cannot be given a right time and are never sent; "
                                "`sensorkit outbox status` shows them, `sensorkit outbox purge-held` deletes them",
                                held.count, held.boot_id)

    @property
    def synchronized(self) -> bool:
        return self._synced_at is not None

    def add(self, readings: Sequence[Reading]) -> None:
        """Take readings from a source: hand on the trusted ones, hold the others, release when the clock is set."""
        if not readings:
            return
        self._pass(readings)
        if self._live is not None:
            self._live(list(readings))

    def tick(self) -> None:
        """Release what is held once the clock is set, without waiting for a new reading (the run calls this
        a few times a second: a run of only [[watch]] tables may take no reading for hours)."""
        if self._synced_at is None or self.held or self._memory:
            self._pass(())

    def _pass(self, readings: Sequence[Reading]) -> None:
        with self._lock:  # held: what is handed on goes out in the order it was sorted in
            released, out = self._sort(readings)  # released: already in the outbox's records
            if out and self._outbox is not None:
                self._outbox.add(out)  # first: an output that fails never costs a reading
            if (released or out) and self._show is not None:
                self._show(released + out)

    def _sort(self, readings: Sequence[Reading]) -> tuple[list[Reading], list[Reading]]:
        """(held readings released, now in the outbox's records; readings to hand on), in order."""
        if self._synced_at is None and synchronized(self._clock):
            self._synced_at = mono_ms(self._clock)  # read after the answer: see sensorkit.clock.stamp
            log.info("the system clock is synchronised%s", f": {self.held:,} held reading(s) get their time now"
                     if self.held else "")
        synced_at = self._synced_at
        now_mono = now_wall = None
        trusted: list[tuple[int, Reading]] = []
        held: list[tuple[int, Reading]] = []
        for reading in readings:
            mono = reading.mono_ms
            if mono is None:  # judged now, placed by its age on the wall clock
                if now_mono is None or now_wall is None:
                    now_mono, now_wall = mono_ms(self._clock), self._clock.time_ms()
                if synced_at is not None and now_mono > synced_at:
                    trusted.append((now_mono, reading))
                    continue
                mono = now_mono - min(max(0, now_wall - reading.timestamp_ms), UNKNOWN_AGE_MS)
            elif synced_at is not None and mono > synced_at:
                trusted.append((mono, reading))
                continue
            held.append((mono, reading))
        if synced_at is None:
            self._keep(held)
            return [], []
        released: list[Reading] = []
        out: list[Reading] = []
        if self.held or self._memory:
            try:
                released, out = self._release()
            except OutboxError:  # logged by the outbox; all stay held, and the next add tries again
                self._keep(held + trusted)  # all of them after those already held: in order
                return [], []
        if held:  # taken before the sync, arrived after the release: stamped at once
            out += self._stamp(held)
        return released, out + self._in_order([reading for _, reading in trusted])

    def _keep(self, held: list[tuple[int, Reading]]) -> None:
        if not held:
            return
        self.held += len(held)
        if self._outbox is not None:
            self._outbox.add_held([(self._boot, mono, reading) for mono, reading in held])
            return
        self._memory.extend(held)
        excess = len(self._memory) - self._max_memory
        if excess > 0:
            del self._memory[:excess]
            self.held -= excess
            log.warning("%d reading(s) held in memory while the clock is not synchronised were dropped (at most "
                        "%d are kept without an outbox)", excess, self._max_memory)

    def _release(self) -> tuple[list[Reading], list[Reading]]:
        """(those the outbox moved to its records itself, those still to hand on), stamped, in order."""
        released = self._outbox.release(self._boot, self._stamp) if self._outbox is not None else []
        out = self._stamp(sorted(self._memory, key=lambda item: item[0]))
        self._memory = []
        self.released += len(released) + len(out)
        self.held = 0
        return released, out

    def _stamp(self, held: list[tuple[int, Reading]]) -> list[Reading]:
        """Held readings (in the order taken) stamped from the monotonic anchor of now, in series order."""
        if not held:
            return []
        anchor_mono = mono_ms(self._clock)
        anchor_wall = self._clock.time_ms()
        return self._in_order([replace(r, timestamp_ms=anchor_wall - (anchor_mono - mono), mono_ms=mono)
                               for mono, r in held])

    def _in_order(self, readings: list[Reading]) -> list[Reading]:
        """Readings with every series' timestamps rising: never below the last one handed on + 1 ms."""
        last = self._last
        out = readings
        for index, reading in enumerate(readings):
            before = last.get(reading.series)
            if before is not None and reading.timestamp_ms <= before:
                if reading.timestamp_ms < before and not self._stepped_back:
                    self._stepped_back = True
                    log.warning("the system clock went back %.3f s (series '%s'): its readings are stamped 1 ms "
                                "after the last one until the clock has caught up",
                                (before - reading.timestamp_ms) / 1000, reading.series)
                if out is readings:
                    out = list(readings)
                reading = out[index] = replace(reading, timestamp_ms=before + 1)
            elif before is not None and self._stepped_back and reading.timestamp_ms > before + 1:
                self._stepped_back = False
            last[reading.series] = reading.timestamp_ms
        return out

    def note(self) -> str | None:
        """What the console says of the clock: None while all is well."""
        if self._synced_at is None:
            return (f"clock not synchronised: {self.held:,} reading(s) held until it is (values shown live; "
                    "their times are set at the sync)")
        if self.earlier_boots:
            return (f"{self.earlier_boots:,} reading(s) from an earlier boot that never synchronised are kept, "
                    "not sent (`sensorkit outbox status`)")
        return None
