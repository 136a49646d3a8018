"""Sampler: the grid, isolation of slow sensors, back-off, bus locking — on a fake clock."""
from __future__ import annotations

import queue
import threading

import pytest

from sensorkit.clock import FakeClock
from sensorkit.readings import Reading
from sensorkit.sampler import SampledSensor, Sampler

WAIT_S = 10.0  # how long a test waits for a worker thread before calling it stuck


def sensor(name: str, interval_s: float, read=None, **kwargs) -> SampledSensor:
    return SampledSensor(
        name=name,
        read=read or (lambda: {"temperature": 21.5}),
        interval_s=interval_s,
        series={"temperature": (f"{name}_temperature", "°C")},
        **kwargs,
    )


class Collector:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.queue: queue.Queue[Reading] = queue.Queue()

    def __call__(self, batch: list[Reading]) -> None:
        for reading in batch:
            self.readings.append(reading)
            self.queue.put(reading)

    def by_sensor(self, name: str) -> list[Reading]:
        return [r for r in self.readings if r.sensor == name]


def run_inline(sampler: Sampler, clock: FakeClock, until_s: float, step_s: float) -> None:
    sampler.start()
    end = clock.monotonic() + until_s
    while clock.monotonic() <= end:
        sampler.poll()
        clock.advance(step_s)


def test_sampler_keeps_each_sensor_on_its_own_grid(fake_clock: FakeClock) -> None:
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler(
        [sensor("fast", 0.5), sensor("slow", 2.0)], sink, clock=fake_clock, threaded=False
    )
    run_inline(sampler, fake_clock, until_s=10.0, step_s=0.25)
    fast = [r.timestamp_ms - start_ms for r in sink.by_sensor("fast")]
    slow = [r.timestamp_ms - start_ms for r in sink.by_sensor("slow")]
    assert fast == [500 * n for n in range(21)]
    assert slow == [2000 * n for n in range(6)]


def test_sampler_does_not_drift_when_polled_late(fake_clock: FakeClock) -> None:
    """Polls that come late (by 37 ms each) must not push later samples off the grid."""
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([sensor("s", 1.0)], sink, clock=fake_clock, threaded=False)
    sampler.start()
    fake_clock.advance(0.037)
    for _ in range(10_000):
        sampler.poll()
        fake_clock.advance(1.0)
    stamps = [r.timestamp_ms - start_ms for r in sink.readings]
    assert len(stamps) == 10_000
    # Each sample is 37 ms late, but the nth is still due at n seconds: nothing accumulates.
    assert stamps == [n * 1000 + 37 for n in range(10_000)]


def test_sampler_skips_missed_slots_after_a_stall(fake_clock: FakeClock) -> None:
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([sensor("s", 1.0)], sink, clock=fake_clock, threaded=False)
    sampler.start()
    sampler.poll()  # slot 0
    fake_clock.advance(5.5)  # the process was stopped for a while
    sampler.poll()  # late: takes one sample now...
    fake_clock.advance(0.5)
    sampler.poll()  # ...and the next one back on the grid at 6 s, not 5.5 + 1
    stamps = [r.timestamp_ms - start_ms for r in sink.readings]
    assert stamps == [0, 5500, 6000]


def test_sampler_backs_off_a_failing_sensor_and_recovers(fake_clock: FakeClock, caplog) -> None:
    attempts: list[float] = []
    healthy = threading.Event()

    def flaky() -> dict[str, float]:
        attempts.append(fake_clock.monotonic())
        if not healthy.is_set():
            raise OSError(121, "Remote I/O error")
        return {"temperature": 20.0}

    sink = Collector()
    sampler = Sampler([sensor("flaky", 1.0, flaky)], sink, clock=fake_clock, threaded=False,
                      max_backoff_s=8.0)
    t0 = fake_clock.monotonic()
    run_inline(sampler, fake_clock, until_s=40.0, step_s=0.25)
    offsets = [round(a - t0) for a in attempts]
    # attempts at 0, 1, 2 then doubling gaps (2, 4, 8) capped at 8 s, always on whole-second slots
    assert offsets[:6] == [0, 1, 2, 4, 8, 16]
    assert all(b - a <= 8 for a, b in zip(offsets, offsets[1:]))
    status = sampler.status()[0]
    assert status.failures == len(attempts) and status.samples == 0
    assert "OSError: [Errno 121] Remote I/O error" in status.last_error
    assert "sensor 'flaky' failed (1 in a row)" in caplog.text

    healthy.set()
    fake_clock.advance(8.0)
    sampler.poll()
    status = sampler.status()[0]
    assert status.samples == 1 and status.consecutive_failures == 0 and status.last_error is None
    assert len(sink.readings) == 1


def test_sampler_isolates_a_hanging_sensor(fake_clock: FakeClock) -> None:
    """A read that never returns only costs its own sensor its slots."""
    release = threading.Event()
    started = threading.Event()

    def hang() -> dict[str, float]:
        started.set()
        release.wait(WAIT_S)
        return {"temperature": 1.0}

    sink = Collector()
    sampler = Sampler([sensor("stuck", 1.0, hang), sensor("fine", 1.0)], sink, clock=fake_clock)
    try:
        sampler.start()
        for _ in range(5):
            sampler.poll()
            assert sink.queue.get(timeout=WAIT_S).sensor == "fine"
            fake_clock.advance(1.0)
        assert started.is_set()
        statuses = {s.name: s for s in sampler.status()}
        assert statuses["fine"].samples == 5
        assert statuses["stuck"].samples == 0 and statuses["stuck"].overruns == 4
    finally:
        release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []


def test_sampler_never_gives_a_series_two_readings_of_one_millisecond(fake_clock: FakeClock) -> None:
    """A reading held up until just before the next slot, and that slot: the second is skipped, not doubled."""
    bus = threading.Lock()
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([sensor("s", 1.0, lock=bus, lock_name="I2C bus 1", phase_s=0.0002)], sink, clock=fake_clock)
    try:
        sampler.start()
        fake_clock.advance(0.0002)
        sampler.poll()  # slot 0, on time
        assert sink.queue.get(timeout=WAIT_S).timestamp_ms == start_ms
        with bus:  # another sensor holds the bus...
            fake_clock.advance(1.0)
            sampler.poll()  # ...so slot 1's worker waits for it
            fake_clock.advance(0.9998)
        assert sink.queue.get(timeout=WAIT_S).timestamp_ms == start_ms + 2000  # taken 999.8 ms late
        fake_clock.advance(0.0003)
        sampler.poll()  # slot 2 (due at +2000.2 ms), at +2000.3: the same millisecond as slot 1's reading
        waited = threading.Event()
        for _ in range(int(WAIT_S / 0.001)):  # the worker thread decides; wait for it, boundedly
            if sampler.status()[0].overruns or waited.wait(0.001):
                break
        assert sampler.status()[0].overruns == 1 and sampler.status()[0].samples == 2
        fake_clock.advance(1.0)
        sampler.poll()  # slot 3, a millisecond of its own
        assert sink.queue.get(timeout=WAIT_S).timestamp_ms == start_ms + 3000
        assert [r.timestamp_ms - start_ms for r in sink.readings] == [0, 2000, 3000]
    finally:
        assert sampler.stop(timeout_s=WAIT_S) == []


def test_sampler_never_interleaves_readings_on_one_bus(fake_clock: FakeClock) -> None:
    bus = threading.Lock()
    inside = threading.Semaphore(1)
    overlaps: list[str] = []
    barrier = threading.Barrier(2, timeout=WAIT_S)

    def make_read(name: str):
        def read() -> dict[str, float]:
            if not inside.acquire(blocking=False):
                overlaps.append(name)
                return {"temperature": 0.0}
            try:
                # give the other worker every chance to barge in while we hold the bus
                try:
                    barrier.wait(timeout=0.05)
                except threading.BrokenBarrierError:
                    pass
            finally:
                inside.release()
            return {"temperature": 1.0}

        return read

    sink = Collector()
    sensors = [
        sensor("a", 1.0, make_read("a"), lock=bus, lock_name="I2C bus 1"),
        sensor("b", 1.0, make_read("b"), lock=bus, lock_name="I2C bus 1"),
    ]
    sampler = Sampler(sensors, sink, clock=fake_clock)
    try:
        sampler.start()
        for _ in range(3):
            barrier.reset()
            sampler.poll()
            sink.queue.get(timeout=WAIT_S)
            sink.queue.get(timeout=WAIT_S)
            fake_clock.advance(1.0)
    finally:
        sampler.stop(timeout_s=WAIT_S)
    assert overlaps == []
    assert len(sink.readings) == 6


def test_sampler_reports_a_bus_held_too_long(fake_clock: FakeClock) -> None:
    bus = threading.Lock()
    bus.acquire()  # some other sensor hung while holding the bus
    sink = Collector()
    sampler = Sampler([sensor("a", 0.001, lock=bus, lock_name="I2C bus 1")], sink,
                      clock=fake_clock, threaded=False)
    sampler.poll()
    status = sampler.status()[0]
    assert status.failures == 1
    assert "BusBusy: I2C bus 1 stayed busy" in status.last_error


def test_sampler_timestamps_the_trigger_not_the_end_of_the_read(fake_clock: FakeClock) -> None:
    def slow_read() -> dict[str, float]:
        fake_clock.sleep(0.3)  # a 300 ms conversion
        return {"temperature": 5.0}

    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([sensor("s", 1.0, slow_read)], sink, clock=fake_clock, threaded=False)
    sampler.poll()
    assert sink.readings[0].timestamp_ms == start_ms


def test_sampler_builds_readings_with_series_and_units(fake_clock: FakeClock) -> None:
    sink = Collector()
    sampled = SampledSensor(
        name="air",
        read=lambda: {"temperature": 21.25, "humidity": 40.5, "ignored": 1},
        interval_s=1.0,
        series={"temperature": ("air_temperature", "°C"), "humidity": ("greenhouse_rh", "%RH")},
    )
    Sampler([sampled], sink, clock=fake_clock, threaded=False).poll()
    assert [(r.series, r.quantity, r.value, r.unit) for r in sink.readings] == [
        ("air_temperature", "temperature", 21.25, "°C"),
        ("greenhouse_rh", "humidity", 40.5, "%RH"),
    ]


def test_sampler_run_stops_after_duration(fake_clock: FakeClock) -> None:
    """run() with a fake clock: FakeClock.wait does not block, so the loop is driven by polls."""
    sink = Collector()
    calls = []

    def read() -> dict[str, float]:
        calls.append(1)
        fake_clock.advance(0.25)  # time passes only as the sensor works
        return {"temperature": 1.0}

    sampler = Sampler([sensor("s", 1.0, read)], sink, clock=fake_clock, threaded=False)
    original_wait = fake_clock.wait

    def wait(event: threading.Event, seconds: float) -> bool:
        fake_clock.advance(seconds)
        return original_wait(event, seconds)

    fake_clock.wait = wait  # type: ignore[method-assign]
    sampler.run(threading.Event(), duration_s=5.0)
    assert len(calls) == 5


def test_sampler_rejects_duplicate_names_and_bad_intervals(fake_clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unique"):
        Sampler([sensor("a", 1.0), sensor("a", 2.0)], Collector(), clock=fake_clock)
    with pytest.raises(ValueError, match="interval must be > 0"):
        Sampler([sensor("a", 0.0)], Collector(), clock=fake_clock)
