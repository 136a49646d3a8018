"""Sampler: a read past its timeout is abandoned, the driver re-created, and sampling goes on — on a fake clock.

Hung reads block on an Event the test sets; the time the sampler sees passes
only on the fake clock. Real waiting is only for worker threads to get
somewhere, and is bounded (WAIT_S).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

import pytest

from sensorkit.clock import FakeClock
from sensorkit.sampler import MAX_HUNG_READS, SampledSensor, Sampler
from tests.sensorkit.test_sampler import WAIT_S, Collector

STEP_S = 0.001  # how often a test looks whether a worker got there (real time, bounded by WAIT_S)


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    pause = threading.Event()
    for _ in range(int(WAIT_S / STEP_S)):
        if predicate():
            return
        pause.wait(STEP_S)
    raise AssertionError(f"gave up waiting for {what}")


class HangingDriver:
    """A driver whose reads hang while `hang` is set, until the test releases them; it holds a file descriptor."""

    made = 0

    def __init__(self, hang: threading.Event, release: threading.Event) -> None:
        HangingDriver.made += 1
        self.hang, self.release = hang, release
        self.fd: int | None = os.open(os.devnull, os.O_RDONLY)
        self.entered = 0
        self.returned = 0

    def read(self) -> dict[str, float]:
        self.entered += 1
        if self.hang.is_set():
            self.release.wait(WAIT_S)
        self.returned += 1
        return {"temperature": 20.0}

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Rig:
    """One sensor whose driver hangs on demand, with the factory the composition would give it."""

    def __init__(self, name: str = "s", *, interval_s: float = 1.0, timeout_s: float = 0.5, **kwargs) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.drivers = [HangingDriver(self.hang, self.release)]
        self.sampled = SampledSensor(
            name=name,
            read=lambda: self.drivers[-1].read(),
            interval_s=interval_s,
            series={"temperature": (f"{name}_temperature", "°C")},
            timeout_s=timeout_s,
            recreate=self.recreate,
            **kwargs,
        )

    def recreate(self) -> None:
        self.drivers[-1].close()
        self.drivers.append(HangingDriver(self.hang, self.release))

    @property
    def entered(self) -> int:
        return sum(d.entered for d in self.drivers)


def status(sampler: Sampler, name: str = "s"):
    return next(s for s in sampler.status() if s.name == name)


def test_sampler_abandons_a_read_past_its_timeout_and_resumes_on_the_grid(fake_clock: FakeClock) -> None:
    rig = Rig(interval_s=1.0, timeout_s=0.5)
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([rig.sampled], sink, clock=fake_clock)
    rig.hang.set()
    try:
        sampler.start()
        sampler.poll()  # slot 0: the read hangs
        wait_until(lambda: rig.entered == 1, "the first read")
        assert sampler.poll() == pytest.approx(0.5)  # the sampler wakes for the timeout, not only for slot 1
        fake_clock.advance(0.4999)
        sampler.poll()
        assert status(sampler).failures == 0  # not yet late
        fake_clock.advance(0.0001)
        sampler.poll()  # 0.5 s: abandoned, reported at once
        abandoned = status(sampler)
        assert abandoned.failures == 1 and abandoned.abandoned == 1 and abandoned.hung == 1
        assert abandoned.last_error == (
            "ReadTimeout: no answer within 0.5 s; the read was abandoned and its driver re-created"
        )
        assert len(rig.drivers) == 1  # re-created just before the next read, not on the scheduler's thread
        rig.hang.clear()
        fake_clock.advance(0.5)
        sampler.poll()  # slot 1, on the grid, by a new worker with a new driver
        assert sink.queue.get(timeout=WAIT_S).timestamp_ms == start_ms + 1000
        assert len(rig.drivers) == 2 and rig.drivers[0].fd is None  # the old one closed
        recovered = status(sampler)
        assert recovered.samples == 1 and recovered.consecutive_failures == 0 and recovered.last_error is None
        rig.release.set()  # the hung read comes back at last: its reading is dropped
        wait_until(lambda: status(sampler).hung == 0, "the abandoned worker to end")
        assert rig.drivers[0].returned == 1
        assert [r.timestamp_ms - start_ms for r in sink.readings] == [1000]
    finally:
        rig.release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []


def test_sampler_abandoned_read_keeps_its_bus_and_the_others_fail_fast(fake_clock: FakeClock) -> None:
    """The hung read still holds the bus: its neighbours report BusBusy at once (no waiting a whole
    interval for it), never read alongside it, and read again as soon as it returns."""
    bus = threading.Lock()
    stuck = Rig("stuck", interval_s=1.0, timeout_s=0.5, lock=bus, lock_name="I2C bus 1")
    calls: list[bool] = []

    def neighbour_read() -> dict[str, float]:
        calls.append(stuck.hang.is_set() and stuck.drivers[0].returned == 0)  # True: alongside the hung read
        return {"temperature": 19.0}

    # A long interval: were it to wait for the bus, it would wait a minute (longer than the test would).
    neighbour = SampledSensor(name="neighbour", read=neighbour_read, interval_s=60.0,
                              series={"temperature": ("neighbour_temperature", "°C")},
                              lock=bus, lock_name="I2C bus 1", phase_s=0.75)
    sink = Collector()
    sampler = Sampler([stuck.sampled, neighbour], sink, clock=fake_clock)
    stuck.hang.set()
    try:
        sampler.start()
        sampler.poll()
        wait_until(lambda: stuck.entered == 1, "the hung read")
        fake_clock.advance(0.5)
        sampler.poll()  # abandoned, still holding the bus
        fake_clock.advance(0.25)
        sampler.poll()  # the neighbour's slot
        wait_until(lambda: status(sampler, "neighbour").failures == 1, "the neighbour to give up")
        assert status(sampler, "neighbour").last_error == (
            "BusBusy: I2C bus 1 is held by an abandoned read of sensor 'stuck' that has not returned yet"
        )
        assert calls == []
        stuck.hang.clear()
        stuck.release.set()
        wait_until(lambda: status(sampler, "stuck").hung == 0, "the hung read to return")
        assert not bus.locked()  # it gave the bus back on its way out
        fake_clock.advance(0.25)
        sampler.poll()  # 1.0: the stuck sensor, with a new driver
        assert sink.queue.get(timeout=WAIT_S).sensor == "stuck"
        fake_clock.advance(59.75)
        sampler.poll()  # 60.75: the neighbour, back on its grid (and the stuck sensor, late)
        assert {sink.queue.get(timeout=WAIT_S).sensor for _ in range(2)} == {"stuck", "neighbour"}
        assert calls == [False]
        assert len(stuck.drivers) == 2
    finally:
        stuck.release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []


def test_sampler_starts_no_more_reads_of_a_sensor_whose_reads_never_return(fake_clock: FakeClock) -> None:
    """A driver that hangs for good costs at most MAX_HUNG_READS threads; its slots still fail and are reported."""
    rig = Rig(interval_s=1.0, timeout_s=0.5)
    sampler = Sampler([rig.sampled], Collector(), clock=fake_clock, max_backoff_s=1.0)
    rig.hang.set()
    threads_before = threading.active_count()
    try:
        sampler.start()
        for slot in range(3 * MAX_HUNG_READS):
            failures = status(sampler).failures
            sampler.poll()
            if slot < MAX_HUNG_READS:
                wait_until(lambda n=slot: rig.entered == n + 1, "the read to start")
                fake_clock.advance(0.5)
                sampler.poll()  # abandoned
                fake_clock.advance(0.5)
            else:
                wait_until(lambda n=failures: status(sampler).failures == n + 1, "the slot to fail")
                fake_clock.advance(1.0)
        final = status(sampler)
        assert rig.entered == MAX_HUNG_READS  # no read started once that many hung
        assert final.abandoned == MAX_HUNG_READS and final.hung == MAX_HUNG_READS
        assert final.failures == 3 * MAX_HUNG_READS
        assert final.last_error == (
            f"ReadTimeout: {MAX_HUNG_READS} abandoned reads have not returned yet; no new read until one does"
        )
        assert threading.active_count() <= threads_before + MAX_HUNG_READS + 1
        rig.hang.clear()
        rig.release.set()
        wait_until(lambda: status(sampler).hung == 0, "the hung reads to return")
        sampler.poll()
        wait_until(lambda: status(sampler).samples == 1, "a reading once they did")
    finally:
        rig.release.set()
        sampler.stop(timeout_s=WAIT_S)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd")
def test_sampler_leaves_no_threads_or_descriptors_behind_after_100_abandoned_reads(fake_clock: FakeClock) -> None:
    rig = Rig(interval_s=1.0, timeout_s=0.5)
    sampler = Sampler([rig.sampled], Collector(), clock=fake_clock, max_backoff_s=1.0)
    threads_before, fds_before = threading.active_count(), open_fds()
    try:
        sampler.start()
        for n in range(100):
            rig.hang.set()
            sampler.poll()
            wait_until(lambda n=n: rig.entered == n + 1, "the read to start")
            fake_clock.advance(0.5)
            sampler.poll()  # abandoned: a new worker, and a new driver before the next read
            rig.release.set()  # the hung read comes back (late) and its worker ends
            wait_until(lambda: status(sampler).hung == 0, "the abandoned worker to end")
            rig.release.clear()
            fake_clock.advance(0.5)
        rig.hang.clear()
        sampler.poll()
        wait_until(lambda: status(sampler).samples == 1, "a good reading after them")
        final = status(sampler)
        assert final.abandoned == 100 and final.hung == 0
        assert len(rig.drivers) == 101 and all(d.fd is None for d in rig.drivers[:-1])
        assert threading.active_count() <= threads_before + 1  # the sensor's one worker
        assert open_fds() <= fds_before + 1  # the driver in use
    finally:
        rig.release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []
    assert threading.active_count() <= threads_before


def test_sampler_without_a_timeout_waits_for_a_slow_read(fake_clock: FakeClock) -> None:
    """timeout_s=None keeps the old rule: the read runs to its end, later slots are skipped meanwhile."""
    rig = Rig(interval_s=1.0, timeout_s=None)
    sampler = Sampler([rig.sampled], Collector(), clock=fake_clock)
    rig.hang.set()
    try:
        sampler.start()
        sampler.poll()
        wait_until(lambda: rig.entered == 1, "the read")
        for _ in range(5):
            fake_clock.advance(1.0)
            sampler.poll()
        assert status(sampler).overruns == 5 and status(sampler).abandoned == 0
        assert len(rig.drivers) == 1
    finally:
        rig.release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []


def test_sampler_gives_a_slot_due_as_a_read_is_abandoned_to_the_new_worker(fake_clock: FakeClock) -> None:
    """A timeout longer than the interval: slot 1 is skipped while the read runs, slot 2 (due with the
    timeout) is read by the new worker rather than skipped too."""
    rig = Rig(interval_s=1.0, timeout_s=2.0)
    sink = Collector()
    start_ms = fake_clock.time_ms()
    sampler = Sampler([rig.sampled], sink, clock=fake_clock)
    rig.hang.set()
    try:
        sampler.start()
        sampler.poll()
        wait_until(lambda: rig.entered == 1, "the hung read")
        rig.hang.clear()
        fake_clock.advance(1.0)
        sampler.poll()  # slot 1: still busy, skipped
        fake_clock.advance(1.0)
        sampler.poll()  # 2 s: abandoned, and slot 2 taken
        assert sink.queue.get(timeout=WAIT_S).timestamp_ms == start_ms + 2000
        assert status(sampler).overruns == 1 and status(sampler).abandoned == 1
    finally:
        rig.release.set()
        assert sampler.stop(timeout_s=WAIT_S) == []
