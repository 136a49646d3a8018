"""The sampler: every sensor on its own interval, on a fixed grid, isolated from the others.

Scheduling rules:

* The nth sample of a sensor is due at ``start + phase + n * interval``
  (monotonic clock), so errors never accumulate into drift.
* Each sensor reads in its own worker thread: a slow or hanging sensor only
  ever delays itself. When its previous read is still running at its next
  slot, that slot is skipped and counted (`overruns`), never queued.
* Sensors that share a bus share a lock, so their readings never interleave.
  A sensor that cannot get the bus within one interval fails that slot.
* A read that takes longer than the sensor's `timeout_s` is abandoned: its
  worker is left to finish (or not) on its own and is never joined, a fresh
  worker takes the sensor's next slot on the grid, the failure is reported
  like any other, and the driver is closed and re-created (`recreate`) just
  before the next read. At most `MAX_HUNG_READS` abandoned reads of one
  sensor may still be running; beyond that its slots fail without starting
  another, so a driver that hangs for good cannot pile up threads.
* An abandoned read keeps its bus lock until it returns, so sensors on one
  bus still never read at once. Meanwhile the other sensors of that bus (and
  the sensor itself) fail their slots at once with `BusBusy` naming the hung
  sensor, back off like any failing sensor, and read again as soon as the
  hung read returns. A read that never returns keeps its bus for good: only
  a restart (or a power cycle of the sensor) frees it. Timeouts need the
  threaded sampler; inline (`threaded=False`) reads run to the end.
* A failing sensor backs off exponentially (1, 2, 4 ... intervals, capped at
  `max_backoff_s`), always landing on its own grid, is reported, and never
  stops the run.
* The timestamp of a reading is the wall clock at the moment the
  measurement is triggered (after the bus is ours, just before `read()`),
  with the monotonic time read just before it (`Reading.mono_ms`): the grid
  never looks at the wall clock, so a step of it neither bursts nor stalls
  sampling; what a step or an unsynchronised clock does to timestamps is
  `sensorkit.holding`'s (the sink's) business.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from sensorkit.clock import SystemClock
from sensorkit.readings import Reading, Value
from sensorkit.sampled import BusBusy, ReadTimeout, SampledSensor, SensorStatus, to_readings  # noqa: F401 - the sampler's API

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]
TriggerHook = Callable[[str, float, float, int], None]  # name, due, actual (monotonic), wall ms


MAX_HUNG_READS = 3  # abandoned reads of one sensor that may still be running
HAND_OFF_AHEAD_S = 0.002  # threaded, real clock: how early a slot goes to its worker, which then waits for it


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
        self.last_event_ms: int | None = None  # the timestamp of the last event (an edge) recorded
        self.last_sent_ms: int | None = None  # the timestamp of the last interval reading handed on
        self.queue: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        # A worker serves one generation; abandoning its read starts the next.
        self.generation = 0
        self.started: float | None = None  # monotonic start of the read under way, None between reads
        self.recreate_pending = False
        self.abandoned = 0
        self.hung: list[threading.Thread] = []  # workers of abandoned reads, while they still run

    def still_hung(self) -> int:
        """How many abandoned reads still run (the caller holds the sampler's lock)."""
        self.hung = [t for t in self.hung if t.is_alive()]
        return len(self.hung)


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
        hand_off_ahead_s: float | None = None,
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
        # Threaded on the real clock, a slot goes to its worker a little early and the worker waits for
        # it itself: one thread wakes at the slot instead of two in a row (the poll loop, then the worker),
        # which halves the chances of waking late. A fake clock has no real time to wait in.
        if hand_off_ahead_s is None:
            hand_off_ahead_s = HAND_OFF_AHEAD_S if threaded and isinstance(self._clock, SystemClock) else 0.0
        self._ahead_s = hand_off_ahead_s
        self._states = [_State(s) for s in sensors]
        self._by_name = {state.sensor.name: state for state in self._states}
        self._lock = threading.Lock()
        self._holders: dict[int, tuple[_State, int]] = {}  # id(bus lock) -> (state, generation) holding it
        self._start: float | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Fix the grid at the current monotonic time and start the workers."""
        if self._start is not None:
            raise RuntimeError("sampler already started")
        if self._threaded:  # workers first: with a hundred sensors, starting them takes longer than a slot
            for state in self._states:
                self._start_worker(state)
        self._start = self._clock.monotonic()
        for state in self._states:
            state.due = self._due(state, 0)

    def add(self, sensor: SampledSensor) -> None:
        """Put a sensor found while running (a thermometer plugged in) on the grid: from its next slot on."""
        state = _State(sensor)
        with self._lock:
            if self._start is not None:
                now = self._clock.monotonic()
                state.slot = max(0, math.ceil((now - self._start - sensor.phase_s) / sensor.interval_s))
                state.due = self._due(state, state.slot)
            self._states.append(state)
            self._by_name[sensor.name] = state
            started = self._start is not None
        if started and self._threaded:
            self._start_worker(state)

    def _start_worker(self, state: _State) -> None:
        """A worker for the state's current generation, with a slot queue of its own."""
        state.queue = queue.SimpleQueue()
        state.thread = threading.Thread(
            target=self._worker, args=(state, state.generation, state.queue),
            name=f"sensor-{state.sensor.name}", daemon=True,
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
                # Real time (threads to end), not the sampler's clock. A read abandoned earlier gets the
                # same while to come back: it may just have been let go.
                deadline = time.monotonic() + timeout_s
                with self._lock:
                    threads = [state.thread, *state.hung]
                for thread in threads:
                    thread.join(max(0.0, deadline - time.monotonic()))
                with self._lock:
                    hung = state.still_hung()
                if state.thread.is_alive() or hung:
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
        soon = now + self._ahead_s
        for state in self._states:
            # Abandoning first frees a slot that falls due just as a read runs late. The first look is
            # without the lock (cheap, on the path of every trigger): a read not under way cannot be late.
            if self._threaded and state.started is not None and state.sensor.timeout_s is not None:
                self._abandon_if_late(state, now)
            if soon < state.due:
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
                self._measure(state, due, state.generation)
        return max(0.0, self._next_event() - self._ahead_s - self._clock.monotonic())

    def _next_event(self) -> float:
        """The monotonic time of the next slot or of the next read timeout, whichever is sooner."""
        soonest = min(s.due for s in self._states)
        if self._threaded:
            for state in self._states:
                started, timeout_s = state.started, state.sensor.timeout_s
                if started is not None and timeout_s is not None:
                    soonest = min(soonest, started + timeout_s)
        return soonest

    def _abandon_if_late(self, state: _State, now: float) -> None:
        """Leave a read past its timeout to its worker; a new worker takes the next slot."""
        sensor = state.sensor
        assert sensor.timeout_s is not None
        with self._lock:
            if state.started is None or now - state.started < sensor.timeout_s:
                return
            late_s = now - state.started
            state.generation += 1  # the old worker's result, should it come, is dropped
            state.started = None
            state.busy = False
            state.recreate_pending = sensor.recreate is not None
            state.abandoned += 1
            state.failures += 1
            state.consecutive_failures += 1
            failures = state.consecutive_failures
            then = " and its driver re-created" if sensor.recreate is not None else ""
            error = (f"ReadTimeout: no answer within {sensor.timeout_s:g} s; "
                     f"the read was abandoned{then}")
            state.last_error = error
            assert state.thread is not None
            state.hung.append(state.thread)
        log.debug("sensor '%s': read abandoned after %.3f s", sensor.name, late_s)
        self._start_worker(state)
        self._report_failure(state, error, failures)

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
    def _worker(self, state: _State, generation: int, slots: queue.SimpleQueue[float | None]) -> None:
        while True:
            due = slots.get()
            if due is None or self._stopping:
                return
            # Handed over ahead of its time (see __init__): wait for it here. A sleep, not a timed
            # SimpleQueue.get(): in CPython 3.11 that blocks for good when its deadline passes between
            # two of its own tries (a negative remaining timeout means "forever" to the lock).
            self._clock.sleep(due - self._clock.monotonic())
            self._measure(state, due, generation)
            if generation != state.generation:
                return  # its read was abandoned: a newer worker has the sensor now

    def _measure(self, state: _State, due: float, generation: int) -> None:
        sensor = state.sensor
        readings: list[Reading] = []
        error: str | None = None
        failures = 0
        try:
            with self._lock:
                hung = state.still_hung()
            if hung >= MAX_HUNG_READS:
                raise ReadTimeout(f"{hung} abandoned reads have not returned yet; no new read until one does")
            lock = sensor.lock
            if lock is not None:
                self._acquire(sensor, lock)
            try:
                with self._lock:
                    state.started = self._clock.monotonic()
                    if lock is not None:
                        self._holders[id(lock)] = (state, generation)
                if state.recreate_pending:
                    assert sensor.recreate is not None
                    sensor.recreate()
                    state.recreate_pending = False
                actual = self._clock.monotonic()
                timestamp_ms = self._clock.time_ms()
                if timestamp_ms == state.last_taken_ms:
                    # A late reading and the next slot in one millisecond: a second reading of the same
                    # instant says nothing new, and a series may hold one value per timestamp.
                    self._skip_same_instant(state, generation)
                    return
                state.last_taken_ms = timestamp_ms
                if self._on_trigger is not None:
                    self._on_trigger(sensor.name, due, actual, timestamp_ms)
                values = sensor.read()
            finally:
                if lock is not None:
                    with self._lock:
                        self._holders.pop(id(lock), None)
                    lock.release()
            readings = to_readings(sensor, values, timestamp_ms, int(actual * 1000))
        except Exception as exc:  # noqa: BLE001 - a driver's failure must never end the run
            error = f"{type(exc).__name__}: {exc}"
            log.debug("sensor '%s' failed", sensor.name, exc_info=True)
        with self._lock:
            if generation != state.generation:
                log.info("sensor '%s': an abandoned read came back; its result is dropped", sensor.name)
                return
            state.busy = False
            state.started = None
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
            with self._lock:
                if state.last_event_ms == readings[0].timestamp_ms:
                    return  # an edge in the same millisecond: the edge wins
                state.last_sent_ms = readings[0].timestamp_ms
            self._sink(readings)

    def event(self, name: str, values: Mapping[str, Value]) -> None:
        """An event of sensor `name` (an input's edge), recorded as readings of its own, stamped now.

        Called from the event's own thread (gpiozero's). In the millisecond of an interval reading
        the edge wins: an interval reading not yet handed on is dropped; one already handed on keeps
        its millisecond, and the edge is stamped the next one, so a series never holds two values
        for one timestamp.
        """
        state = self._by_name[name]
        mono_ms = int(self._clock.monotonic() * 1000)  # first: see sensorkit.clock.stamp
        timestamp_ms = self._clock.time_ms()
        with self._lock:
            if state.last_sent_ms is not None and timestamp_ms <= state.last_sent_ms:
                timestamp_ms = state.last_sent_ms + 1
            if state.last_event_ms is not None and timestamp_ms <= state.last_event_ms:
                timestamp_ms = state.last_event_ms + 1
            state.last_event_ms = timestamp_ms
        self._sink(to_readings(state.sensor, values, timestamp_ms, mono_ms))

    def _acquire(self, sensor: SampledSensor, lock: Any) -> None:
        """Take the bus, waiting at most an interval; at once when an abandoned read holds it."""
        with self._lock:
            holder = self._holders.get(id(lock))
        hung = holder is not None and holder[1] != holder[0].generation
        if lock.acquire(timeout=0 if hung else max(sensor.interval_s, 0.001)):
            return
        bus = sensor.lock_name or "the bus"
        if hung:
            assert holder is not None
            raise BusBusy(f"{bus} is held by an abandoned read of sensor '{holder[0].sensor.name}' "
                          "that has not returned yet")
        raise BusBusy(f"{bus} stayed busy for a whole interval")

    def _skip_same_instant(self, state: _State, generation: int) -> None:
        with self._lock:
            if generation != state.generation:
                return
            state.busy = False
            state.started = None
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
                    abandoned=s.abandoned,
                    hung=len([t for t in s.hung if t.is_alive()]),
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
