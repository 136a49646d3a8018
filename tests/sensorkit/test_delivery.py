"""Delivery: batches, send delay, back-off, Retry-After, bisection into dead letters, drain — on a fake clock."""
from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock, SystemClock
from sensorkit.delivery import IDLE_WAIT_S, Delivery, backoff_s, drain_all
from sensorkit.errors import PermanentUploadError, TransientUploadError
from sensorkit.outbox import Outbox
from sensorkit.readings import Reading

WAIT_S = 10.0  # how long a test waits for a worker thread before calling it stuck


def readings(count: int, *, series: str = "s0_temperature", start_ms: int = 1_700_000_000_000) -> list[Reading]:
    return [Reading(series, series.split("_")[0], "temperature", float(n), "°C", start_ms + n) for n in range(count)]


class Server:
    """The uploader side of a test: records what it took, raises what the test scripts.

    `script` holds what the next calls do: None takes the batch, an exception
    is raised. `refuse` refuses every batch holding one of these values.
    """

    batch_size = 1000

    def __init__(self, *, script: Sequence[Exception | None] = (), refuse: Sequence[float] = ()) -> None:
        self.script = list(script)
        self.refuse = set(refuse)
        self.calls: list[list[Reading]] = []
        self.taken: list[Reading] = []
        self.block: threading.Event | None = None
        self.entered = threading.Event()

    def send(self, batch: Sequence[Reading]) -> None:
        self.calls.append(list(batch))
        self.entered.set()
        if self.block is not None:
            self.block.wait(WAIT_S)
        if self.script:
            outcome = self.script.pop(0)
            if outcome is not None:
                raise outcome
        refused = sorted(r.value for r in batch if r.value in self.refuse)
        if refused:
            raise PermanentUploadError(f"422: value {refused[0]} out of range")
        self.taken.extend(batch)


@pytest.fixture
def outbox(tmp_path: Path, fake_clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", ["iobeam", "byteport"], clock=fake_clock)
    yield box
    box.close()


def fill(outbox: Outbox, count: int, **kwargs: object) -> list[Reading]:
    batch = readings(count, **kwargs)  # type: ignore[arg-type]
    outbox.add(batch)
    outbox.commit()
    return batch


def delivery(outbox: Outbox, server: Server, clock: FakeClock, **kwargs: object) -> Delivery:
    kwargs.setdefault("send_delay_s", 0.0)
    return Delivery(outbox, "iobeam", server, clock=clock, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- batches
def test_delivery_sends_batches_in_order_and_moves_the_cursor(outbox: Outbox, fake_clock: FakeClock) -> None:
    sent = fill(outbox, 25)
    server = Server()
    worker = delivery(outbox, server, fake_clock, batch_size=10)
    assert [worker.step() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [len(call) for call in server.calls] == [10, 10, 5]
    assert server.taken == sent
    assert outbox.waiting("iobeam") == 0 and outbox.waiting("byteport") == 25
    assert worker.step() == IDLE_WAIT_S


def test_delivery_takes_the_batch_size_of_its_uploader(outbox: Outbox, fake_clock: FakeClock) -> None:
    server = Server()
    server.batch_size = 7
    assert Delivery(outbox, "iobeam", server, clock=fake_clock).batch_size == 7


def test_delivery_gathers_a_trickle_for_send_delay(outbox: Outbox, fake_clock: FakeClock) -> None:
    server = Server()
    worker = delivery(outbox, server, fake_clock, batch_size=100, send_delay_s=5.0)
    fill(outbox, 10)
    assert worker.step() == 5.0
    fake_clock.advance(3)
    fill(outbox, 10)
    assert worker.step() == 2.0 and server.calls == []
    fake_clock.advance(2)
    assert worker.step() == 0.0
    assert [len(call) for call in server.calls] == [20]
    fill(outbox, 100)  # a full batch goes at once
    assert worker.step() == 0.0 and len(server.calls) == 2


# ---------------------------------------------------------------------- transient errors
def test_backoff_doubles_up_to_its_cap_less_jitter() -> None:
    rng = random.Random(3)
    waits = [backoff_s(n, min_s=1, max_s=60, jitter=0.0, rng=rng) for n in range(1, 10)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    jittered = [backoff_s(4, min_s=1, max_s=60, jitter=0.5, rng=rng) for _ in range(200)]
    assert all(4.0 <= w <= 8.0 for w in jittered) and len(set(jittered)) > 100
    assert backoff_s(10_000, min_s=1, max_s=300, jitter=0, rng=rng) == 300


def test_delivery_backs_off_and_records_the_error(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 5)
    server = Server(script=[TransientUploadError("503 Service Unavailable")] * 3)
    worker = delivery(outbox, server, fake_clock, min_backoff_s=1, max_backoff_s=300, jitter=0)
    assert worker.step() == 1.0
    assert worker.step() == 1.0 and len(server.calls) == 1  # still backing off: no request
    fake_clock.advance(1)
    assert worker.step() == 2.0
    fake_clock.advance(2)
    assert worker.step() == 4.0
    status = outbox.status().uploader("iobeam")
    assert status.last_error == "TransientUploadError: 503 Service Unavailable" and status.waiting == 5
    progress = worker.progress()
    assert (progress.failures, progress.retry_in_s) == (3, 4.0)
    fake_clock.advance(4)
    assert worker.step() == 0.0 and len(server.taken) == 5
    assert worker.progress().failures == 0 and outbox.status().uploader("iobeam").last_success_ms is not None


def test_delivery_honours_a_longer_retry_after(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 5)
    server = Server(script=[TransientUploadError("429", retry_after_s=30), TransientUploadError("429", 0.5),
                            TransientUploadError("429", 10**6)])
    worker = delivery(outbox, server, fake_clock, min_backoff_s=1, jitter=0, max_retry_after_s=3600)
    assert worker.step() == 30.0  # the server's wait is longer than ours
    fake_clock.advance(30)
    assert worker.step() == 2.0  # ours is longer
    fake_clock.advance(2)
    assert worker.step() == 3600.0  # a silly Retry-After is capped


def test_delivery_survives_an_uploader_bug(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 3)
    worker = delivery(outbox, Server(script=[KeyError("oops")]), fake_clock, jitter=0)
    assert worker.step() == 1.0
    assert "unexpected KeyError" in (outbox.status().uploader("iobeam").last_error or "")


# ---------------------------------------------------------------------- permanent errors
def test_delivery_bisects_a_refused_batch_into_dead_letters(outbox: Outbox, fake_clock: FakeClock) -> None:
    sent = fill(outbox, 16)
    server = Server(refuse=[5.0, 11.0])
    worker = delivery(outbox, server, fake_clock, batch_size=16)
    assert worker.step() == 0.0
    assert [r.value for r in server.taken] == [float(n) for n in range(16) if n not in (5, 11)]
    assert server.taken == sorted(server.taken, key=lambda r: r.timestamp_ms)  # in order
    assert len(server.calls) < 16 + 2 * 4  # halving, not one request per reading
    status = outbox.status().uploader("iobeam")
    assert (status.waiting, status.dead_letters) == (0, 2)
    assert outbox.waiting("byteport") == 16  # the other uploader is not concerned
    assert sent[5] in [r for call in server.calls if len(call) == 1 for r in call]


def test_delivery_transient_error_during_bisection_keeps_what_was_taken(outbox: Outbox,
                                                                         fake_clock: FakeClock) -> None:
    fill(outbox, 8)
    # 8 refused -> [0..3] taken -> [4..7] refused -> [4,5] fails for a while
    server = Server(script=[None, None, None, TransientUploadError("timeout")], refuse=[6.0])
    worker = delivery(outbox, server, fake_clock, batch_size=8, jitter=0)
    assert worker.step() == 1.0
    assert [r.value for r in server.taken] == [0.0, 1.0, 2.0, 3.0]
    assert outbox.waiting("iobeam") == 4
    fake_clock.advance(1)
    assert worker.step() == 0.0
    assert [r.value for r in server.taken] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0]
    assert outbox.status().uploader("iobeam").dead_letters == 1


def test_delivery_sends_dead_letters_again_after_retry_dead(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 4)
    server = Server(refuse=[1.0, 2.0])
    worker = delivery(outbox, server, fake_clock)
    worker.step()
    assert outbox.status().uploader("iobeam").dead_letters == 2
    server.refuse = {2.0}  # the server changed its mind about one of them
    assert outbox.retry_dead("iobeam") == 2
    assert worker.step() == 0.0
    assert [r.value for r in server.taken] == [0.0, 3.0, 1.0]
    status = outbox.status().uploader("iobeam")
    assert (status.dead_letters, status.dead_letters_to_retry) == (1, 0)


# ---------------------------------------------------------------------- threads, stop and drain
def test_delivery_thread_delivers_as_readings_are_committed(tmp_path: Path) -> None:
    clock = SystemClock()
    box = Outbox(tmp_path / "outbox.sqlite", ["iobeam"], commit_interval_s=0.01)
    server = Server()
    worker = Delivery(box, "iobeam", server, send_delay_s=0.0)
    box.start()
    worker.start()
    try:
        box.add(readings(30, start_ms=clock.time_ms()))
        assert server.entered.wait(WAIT_S)
        assert worker.drain(WAIT_S)
        assert len(server.taken) == 30
    finally:
        worker.stop()
        box.close()


def test_everything_runs_at_once_and_every_uploader_gets_every_reading_in_order(tmp_path: Path) -> None:
    clock = SystemClock()
    box = Outbox(tmp_path / "outbox.sqlite", ["iobeam", "byteport"], commit_interval_s=0.005)
    servers = {"iobeam": Server(), "byteport": Server()}
    workers = [Delivery(box, name, server, batch_size=50, send_delay_s=0.01) for name, server in servers.items()]
    box.start()
    for worker in workers:
        worker.start()
    now_ms = clock.time_ms()

    def sensor(name: str) -> None:
        for n in range(400):
            box.add([Reading(f"{name}_count", name, "count", n, "", now_ms + n)])

    sensors = [threading.Thread(target=sensor, args=(f"s{i}",)) for i in range(4)]
    try:
        for thread in sensors:
            thread.start()
        for thread in sensors:
            thread.join(WAIT_S)
        box.stop()  # the last commit
        assert drain_all(workers, WAIT_S) == {"iobeam": True, "byteport": True}
    finally:
        for worker in workers:
            worker.stop()
        box.close()
    for server in servers.values():
        assert len(server.taken) == 1600  # no failures: exactly once
        for i in range(4):
            assert [r.value for r in server.taken if r.sensor == f"s{i}"] == list(range(400))


def test_drain_sends_at_once_and_tries_once_while_backing_off(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 30)
    server = Server(script=[TransientUploadError("down")])
    worker = delivery(outbox, server, fake_clock, batch_size=20, send_delay_s=60.0)
    assert worker.step() > 0  # now backing off
    assert worker.drain(WAIT_S)  # one last try despite the back-off, and the partial batch goes too
    assert len(server.taken) == 30 and outbox.waiting("iobeam") == 0


def test_drain_stops_at_the_first_failure(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 30)
    server = Server(script=[None, TransientUploadError("down"), None])
    worker = delivery(outbox, server, fake_clock, batch_size=10)
    assert not worker.drain(WAIT_S)
    assert len(server.calls) == 2 and outbox.waiting("iobeam") == 20


def test_drain_all_shares_one_deadline(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 5)
    first = delivery(outbox, Server(), fake_clock)
    second = Delivery(outbox, "byteport", Server(), clock=fake_clock, send_delay_s=30)
    assert drain_all([first, second], WAIT_S) == {"iobeam": True, "byteport": True}


def test_a_batch_in_flight_at_shutdown_is_sent_again_next_time(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    clock = FakeClock()
    box = Outbox(path, ["iobeam"], clock=clock)
    sent = fill(box, 5)
    server = Server()
    server.block = threading.Event()
    worker = Delivery(box, "iobeam", server, clock=clock, send_delay_s=0)
    assert not worker.drain(0.05)  # the server hangs past the deadline: the process exits anyway
    assert server.entered.is_set()
    box.close()  # what exiting does; the late acknowledgement then cannot land
    server.block.set()
    worker.stop(WAIT_S)
    again = Outbox(path, ["iobeam"], clock=clock)
    server_again = Server()
    Delivery(again, "iobeam", server_again, clock=clock, send_delay_s=0).step()
    again.close()
    assert server_again.taken == sent  # at least once: nothing lost


def test_delivery_progress_shows_rate_and_time_left(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 100)
    worker = delivery(outbox, Server(), fake_clock, batch_size=10)
    for _ in range(4):
        worker.step()
        fake_clock.advance(0.5)
    progress = worker.progress()
    assert progress.waiting == 60
    assert progress.rate_per_s == pytest.approx(20.0)  # 40 readings over the last 2 s
    assert progress.time_left_s == pytest.approx(3.0)
    assert progress.retry_in_s is None and progress.last_error is None


def test_one_failing_uploader_does_not_hold_back_another(outbox: Outbox, fake_clock: FakeClock) -> None:
    fill(outbox, 10)
    good, bad = Server(), Server(script=[TransientUploadError("down")] * 10)
    workers = [delivery(outbox, good, fake_clock),
               Delivery(outbox, "byteport", bad, clock=fake_clock, send_delay_s=0, rng=random.Random(2))]
    for worker in workers:
        worker.step()
    assert len(good.taken) == 10 and bad.taken == []
    assert outbox.waiting("iobeam") == 0 and outbox.waiting("byteport") == 10
