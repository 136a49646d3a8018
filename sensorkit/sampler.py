"""The sampler: every sensor on its own interval, on a fixed grid, isolated from the others.

Scheduling rules:

* The nth sample of a sensor is due at ``start + phase + n * interval``
  (monotonic clock), so errors never accumulate into drift.
* Each sensor reads in its own worker thread: a slow or hanging sensor only
  ever delays itself. When its previous read is still running at its next
  slot, that slot is skipped and counted (`overruns`), never queued.
* Sensors that share a bus share a lock, so their readings never interleave.
  A sensor that cannot get the bus within one interval fails that slot.
* A failing sensor backs off exponentially (1, 2, 4 ... intervals, capped at
  `max_backoff_s`), always landing on its own grid, is reported, and never
  stops the run.
* The timestamp of a reading is the wall clock at the moment the
  measurement is triggered (after the bus is ours, just before `read()`).
"""
from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

from sensorkit.clock import SystemClock
from sensorkit.readings import Reading, Value

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]
TriggerHook = Callable[[str, float, float, int], None]  # name, due, actual (monotonic), wall ms


class BusBusy(Exception):
    """The bus stayed taken by another sensor for a whole interval."""


@dataclass(frozen=True)
class SampledSensor:
    """What the sampler needs to know of one sensor."""

    name: str
    read: Callable[[], Mapping[str, Value]]
    interval_s: float
    series: Mapping[str, tuple[str, str]]  # quantity -> (series name, unit)
    lock: Any | None = None  # a threading.Lock shared by the sensors of one bus
    lock_name: str = ""
    phase_s: float = 0.0


def to_readings(sensor: SampledSensor, values: Mapping[str, Value], timestamp_ms: int) -> list[Reading]:
    """The readings of one measurement: one per quantity the sensor publishes."""
    return [
        Reading(sensor.series[q][0], sensor.name, q, v, sensor.series[q][1], timestamp_ms)
        for q, v in values.items()
        if q in sensor.series
    ]


@dataclass(frozen=True)
class SensorStatus:
    """A snapshot of how one sensor is doing."""

    name: str
    samples: int
    failures: int
    consecutive_failures: int
    overruns: int
    last_error: str | None
    last_ok_ms: int | None
    next_due_in_s: float


class _State:
    def __init__(self, sensor: SampledSensor) -> None:
        self.sensor = sensor
        self.slot = 0
        self.due = 0.0
        self.busy = False
        self.busy_since = 0.0  # monotonic: when the measurement now pending was queued (for health())
        self.samples = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.overruns = 0
        self.last_error: str | None = None
        self.last_ok_ms: int | None = None
        self.last_taken_ms: int | None = None  # the timestamp of the last measurement begun
        self.queue: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None


class Sampler:
    def __init__(
        self,
        sensors: Sequence[SampledSensor],
        sink: Sink,
        *,
        clock: Any = None,
        threaded: bool = True,
        max_backoff_s: float = 300.0,
        on_trigger: TriggerHook | None = None,
    ) -> None:
        names = [s.name for s in sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique: {names}")
        for sensor in sensors:
            if not sensor.interval_s > 0:
                raise ValueError(f"sensor '{sensor.name}': interval must be > 0")
        self._clock = clock or SystemClock()
        self._sink = sink
        self._threaded = threaded
        self._max_backoff_s = max_backoff_s
        self._on_trigger = on_trigger
        self._states = [_State(s) for s in sensors]
        self._lock = threading.Lock()
        self._start: float | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Fix the grid at the current monotonic time and start the workers."""
        if self._start is not None:
            raise RuntimeError("sampler already started")
        self._start = self._clock.monotonic()
        for state in self._states:
            state.due = self._due(state, 0)
            if self._threaded:
                state.thread = threading.Thread(
                    target=self._worker, args=(state,), name=f"sensor-{state.sensor.name}", daemon=True
                )
                state.thread.start()

    def stop(self, timeout_s: float = 2.0) -> list[str]:
        """Stop the workers; returns the names of sensors still stuck in a read."""
        self._stopping = True
        for state in self._states:
            state.queue.put(None)
        stuck = []
        for state in self._states:
            if state.thread is not None:
                state.thread.join(timeout_s)
                if state.thread.is_alive():
                    stuck.append(state.sensor.name)
        return stuck

    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        """Sample until `stop` is set or `duration_s` has passed."""
        if self._start is None:
            self.start()
        assert self._start is not None
        end = self._start + duration_s if duration_s is not None else math.inf
        # The run covers [start, start + duration): a slot due exactly at the end is not taken.
        while not stop.is_set() and self._clock.monotonic() < end:
            wait_s = self.poll()
            remaining = end - self._clock.monotonic()
            if remaining <= 0 or self._clock.wait(stop, min(wait_s, remaining)):
                break

    # ------------------------------------------------------------------ scheduling
    def _due(self, state: _State, slot: int) -> float:
        assert self._start is not None
        return self._start + state.sensor.phase_s + slot * state.sensor.interval_s

    def poll(self) -> float:
        """Trigger every sensor whose slot has come; returns seconds until the next slot."""
        if self._start is None:
            self.start()
        now = self._clock.monotonic()
        for state in self._states:
            if now < state.due:
                continue
            with self._lock:
                busy = state.busy
                if not busy:
                    state.busy = True
                    state.busy_since = now
                else:
                    state.overruns += 1
                    log.warning(
                        "sensor '%s' is still busy with its previous reading: slot skipped",
                        state.sensor.name,
                    )
                due = state.due
                self._advance(state, now)
            if busy:
                continue
            if self._threaded:
                state.queue.put(due)
            else:
                self._measure(state, due)
        return max(0.0, min(s.due for s in self._states) - self._clock.monotonic())

    def _backoff_s(self, sensor: SampledSensor, failures: int) -> float:
        """Time from one failed try to the next: 1, 2, 4 ... intervals, capped."""
        return min(self._max_backoff_s, sensor.interval_s * 2 ** (failures - 1))

    def _advance(self, state: _State, now: float) -> None:
        """Move to the next slot on the grid, past `now` and past any back-off."""
        interval = state.sensor.interval_s
        earliest = now
        if state.consecutive_failures:
            backoff = self._backoff_s(state.sensor, state.consecutive_failures)
            earliest = now + max(0.0, backoff - interval)
        slot = state.slot + 1
        if self._due(state, slot) <= earliest:
            assert self._start is not None
            slot = math.floor((earliest - self._start - state.sensor.phase_s) / interval) + 1
        state.slot = slot
        state.due = self._due(state, slot)

    # ------------------------------------------------------------------ measuring
    def _worker(self, state: _State) -> None:
        while True:
            due = state.queue.get()
            if due is None or self._stopping:
                return
            self._measure(state, due)

    def _measure(self, state: _State, due: float) -> None:
        sensor = state.sensor
        readings: list[Reading] = []
        error: str | None = None
        failures = 0
        try:
            lock = sensor.lock
            if lock is not None and not lock.acquire(timeout=max(sensor.interval_s, 0.001)):
                raise BusBusy(f"{sensor.lock_name or 'the bus'} stayed busy for a whole interval")
            try:
                actual = self._clock.monotonic()
                timestamp_ms = self._clock.time_ms()
                if timestamp_ms == state.last_taken_ms:
                    # A late reading and the next slot in one millisecond: a second reading of the same
                    # instant says nothing new, and a series may hold one value per timestamp.
                    self._skip_same_instant(state)
                    return
                state.last_taken_ms = timestamp_ms
                if self._on_trigger is not None:
                    self._on_trigger(sensor.name, due, actual, timestamp_ms)
                values = sensor.read()
            finally:
                if lock is not None:
                    lock.release()
            readings = to_readings(sensor, values, timestamp_ms)
        except Exception as exc:  # noqa: BLE001 - a driver's failure must never end the run
            error = f"{type(exc).__name__}: {exc}"
            log.debug("sensor '%s' failed", sensor.name, exc_info=True)
        with self._lock:
            state.busy = False
            if error is None:
                recovered = state.consecutive_failures
                state.samples += 1
                state.consecutive_failures = 0
                state.last_error = None
                state.last_ok_ms = readings[0].timestamp_ms if readings else state.last_ok_ms
            else:
                recovered = 0
                state.failures += 1
                state.consecutive_failures += 1
                state.last_error = error
                failures = state.consecutive_failures
        if error is not None:
            self._report_failure(state, error, failures)
        elif recovered:
            log.warning("sensor '%s' answers again after %d failed reading(s)", sensor.name, recovered)
        if readings:
            self._sink(readings)

    def _skip_same_instant(self, state: _State) -> None:
        with self._lock:
            state.busy = False
            state.overruns += 1
        log.warning("sensor '%s' was read late and its next slot fell in the same millisecond: slot skipped",
                    state.sensor.name)

    def _report_failure(self, state: _State, error: str, failures: int) -> None:
        # First failure and then every doubling: visible, without flooding a log for days.
        if failures & (failures - 1) == 0:
            backoff = self._backoff_s(state.sensor, failures)
            log.warning(
                "sensor '%s' failed (%d in a row): %s — next try in %.1f s",
                state.sensor.name,
                failures,
                error,
                backoff,
            )

    # ------------------------------------------------------------------ status
    def status(self) -> list[SensorStatus]:
        now = self._clock.monotonic()
        with self._lock:
            return [
                SensorStatus(
                    name=s.sensor.name,
                    samples=s.samples,
                    failures=s.failures,
                    consecutive_failures=s.consecutive_failures,
                    overruns=s.overruns,
                    last_error=s.last_error,
                    last_ok_ms=s.last_ok_ms,
                    next_due_in_s=max(0.0, s.due - now),
                )
                for s in self._states
            ]

    # ------------------------------------------------------------------ health
    def health(self, stale_after_s: float) -> list[str]:
        """What keeps the sampler from making progress, for a watchdog; empty while it is alive.

        Alive: `poll()` keeps up (no slot is overdue by more than
        `stale_after_s`, since every poll moves each due slot past now), every
        sensor's worker thread runs, and no measurement has been pending for
        more than `stale_after_s` (a read that never returns). Reads only what
        the sampler keeps anyway; empty before `start()` and once stopping.
        """
        if self._start is None or self._stopping:
            return []
        now = self._clock.monotonic()
        problems = []
        with self._lock:
            late_s = now - min(s.due for s in self._states) if self._states else 0.0
            if late_s > stale_after_s:
                problems.append(f"the sampling schedule is {late_s:.0f} s behind (the sampler loop is stuck)")
            for state in self._states:
                name = state.sensor.name
                if state.busy and now - state.busy_since > stale_after_s:
                    problems.append(f"sensor '{name}' has been reading for {now - state.busy_since:.0f} s")
                if state.thread is not None and not state.thread.is_alive():
                    problems.append(f"the worker thread of sensor '{name}' has ended")
        return problems
