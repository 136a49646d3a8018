"""The systemd heartbeat: WATCHDOG=1 only while the sampler and delivery make progress.

In process on a fake clock (a sampler polled by hand, a fake notify socket),
then `sensorkit run` itself under a stand-in for systemd that kills and
restarts it when the heartbeat stops, as WatchdogSec= does.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock, SystemClock
from sensorkit.delivery import Delivery
from sensorkit.outbox import Outbox
from sensorkit.sampler import SampledSensor, Sampler
from sensorkit.system import Delivering
from sensorkit.systemd import Notifier
from sensorkit.watchdog import Heartbeat, status_line
from tests.sensorkit.test_cli import write
from tests.sensorkit.test_delivery import Server, readings

WAIT_S = 10.0  # how long a test waits for a thread before calling it stuck
STALE_S = 5.0


def sensor(name: str, read=None, interval_s: float = 1.0) -> SampledSensor:
    return SampledSensor(name=name, read=read or (lambda: {"temperature": 21.5}), interval_s=interval_s,
                         series={"temperature": (f"{name}_temperature", "°C")})


class NotifySocket:
    """A bound AF_UNIX datagram socket where systemd's would be: what the heartbeat said."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(self.path)

    def messages(self, timeout_s: float = 0.0) -> list[dict[str, str]]:
        """Every datagram queued now (a local sendto has queued it by the time it returns), or within timeout_s."""
        found = []
        self.socket.settimeout(timeout_s or None)
        if not timeout_s:
            self.socket.setblocking(False)
        while True:
            try:
                data = self.socket.recv(4096).decode("utf-8")
            except (BlockingIOError, socket.timeout):
                return found
            found.append(dict(line.split("=", 1) for line in data.split("\n")))
            self.socket.setblocking(False)

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def notify(tmp_path: Path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def heartbeat(notify: NotifySocket, sampler: Sampler, delivering=None) -> Heartbeat:
    return Heartbeat(Notifier(notify.path), sampler, delivering, watchdog_s=2 * STALE_S, stale_after_s=STALE_S)


def beats(notify: NotifySocket) -> int:
    return sum("WATCHDOG" in m for m in notify.messages())


def test_heartbeat_goes_silent_while_a_read_hangs_and_comes_back_after(fake_clock: FakeClock, notify) -> None:
    release, hanging = threading.Event(), threading.Event()
    calls = []

    def sometimes_hangs() -> dict[str, float]:
        calls.append(fake_clock.monotonic())
        if len(calls) == 2:  # the second read never returns, until the test lets it
            hanging.set()
            release.wait(WAIT_S)
        return {"temperature": 20.0}

    taken = {"porch": threading.Semaphore(0), "fine": threading.Semaphore(0)}
    sampler = Sampler([sensor("porch", sometimes_hangs), sensor("fine")],
                      lambda batch: taken[batch[0].sensor].release(), clock=fake_clock)
    beat = heartbeat(notify, sampler)
    try:
        sampler.start()
        sampler.poll()
        assert taken["porch"].acquire(timeout=WAIT_S) and taken["fine"].acquire(timeout=WAIT_S)
        beat.start()
        [ready] = notify.messages(timeout_s=WAIT_S)
        assert ready["READY"] == "1" and ready["STATUS"] == "2 sensor(s), 2 answering"
        fake_clock.advance(1.0)
        sampler.poll()
        assert hanging.wait(WAIT_S)
        assert beat.beat() and beats(notify) == 1  # pending for 0 s: still fine
        for _ in range(int(STALE_S) + 1):
            fake_clock.advance(1.0)
            sampler.poll()
        assert not beat.beat()
        said = notify.messages()
        assert not any("WATCHDOG" in m for m in said)  # systemd hears nothing: it will restart the run
        assert said[-1]["STATUS"].startswith("not responding: sensor 'porch' has been reading for 6 s")
        release.set()
        assert taken["porch"].acquire(timeout=WAIT_S)  # the read returned at last
        assert beat.beat() and beats(notify) == 1
    finally:
        release.set()
        beat.stop()
        sampler.stop(timeout_s=WAIT_S)
    assert notify.messages()[-1]["STOPPING"] == "1"


def test_heartbeat_goes_silent_when_the_schedule_stops_moving(fake_clock: FakeClock, notify) -> None:
    read = threading.Event()
    sampler = Sampler([sensor("air")], lambda batch: read.set(), clock=fake_clock)
    beat = heartbeat(notify, sampler)
    sampler.start()
    try:
        sampler.poll()
        assert read.wait(WAIT_S) and beat.beat()
        fake_clock.advance(STALE_S + 2.0)  # nobody polls: the sampler loop is stuck
        assert sampler.health(STALE_S) == ["the sampling schedule is 6 s behind (the sampler loop is stuck)"]
        assert not beat.beat()
        sampler.poll()
        assert beat.beat()
    finally:
        sampler.stop(timeout_s=WAIT_S)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit it needs
def test_heartbeat_goes_silent_when_a_sensor_thread_ends(fake_clock: FakeClock, notify) -> None:
    def exits() -> dict[str, float]:
        raise SystemExit  # a BaseException: the one thing that ends a worker thread
    sampler = Sampler([sensor("odd", exits), sensor("fine")], lambda batch: None, clock=fake_clock)
    sampler.start()
    try:
        sampler.poll()
        deadline = time.monotonic() + WAIT_S
        while not sampler.health(STALE_S) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sampler.health(STALE_S) == ["the worker thread of sensor 'odd' has ended"]
        assert not heartbeat(notify, sampler).beat()
    finally:
        sampler.stop(timeout_s=WAIT_S)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit it needs
def test_heartbeat_goes_silent_when_a_delivery_thread_ends(tmp_path: Path, fake_clock: FakeClock, notify) -> None:
    box = Outbox(tmp_path / "outbox.sqlite", ["iobeam"], commit_interval_s=0.01)
    server = Server(script=[SystemExit()])
    worker = Delivery(box, "iobeam", server, send_delay_s=0.0)
    delivering = Delivering(box, [worker])
    sampler = Sampler([sensor("air")], lambda batch: None, clock=fake_clock)
    beat = heartbeat(notify, sampler, delivering)
    try:
        delivering.start()
        assert beat.beat()
        box.add(readings(3, start_ms=SystemClock().time_ms()))
        assert server.entered.wait(WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while not worker.health() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.health() == ["the delivery worker of 'iobeam' has ended"]
        assert not beat.beat()
        assert "iobeam: 3 waiting" in notify.messages()[-1]["STATUS"]
    finally:
        worker.stop(timeout_s=WAIT_S)
        box.close()


def test_heartbeat_does_nothing_outside_systemd(fake_clock: FakeClock) -> None:
    sampler = Sampler([sensor("air")], lambda batch: None, clock=fake_clock)
    beat = Heartbeat.from_environ(sampler, environ={})
    beat.start()  # no READY=1 to send, no thread
    assert beat._thread is None
    beat.stop()


def test_status_line_names_failing_sensors_and_the_backlog() -> None:
    from sensorkit.delivery import DeliveryProgress
    from sensorkit.sampler import SensorStatus

    def status(name: str, failing: int) -> SensorStatus:
        return SensorStatus(name, 3, failing, failing, 0, "SensorNotFound: x" if failing else None, None, 1.0)

    sensors = [status("air", 0), status("porch", 2), status("shed", 1), status("a", 1), status("b", 4)]
    backlog = DeliveryProgress("iobeam", 120, 0.0, None, 3, 42.4, "unreachable")
    assert status_line(sensors, [backlog]) == (
        "5 sensor(s), 1 answering, 4 failing (porch, shed, a, ...); iobeam: 120 waiting, retry in 42 s")
    assert status_line(sensors[:1], [], ["sensor 'air' has been reading for 61 s"]) == (
        "not responding: sensor 'air' has been reading for 61 s; 1 sensor(s), 1 answering")


# ---------------------------------------------------------------------- `sensorkit run` under a fake systemd

HEALTHY = """\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "500ms"

[uploader.iobeam]
project_id = 1
token_env = "IOBEAM_TOKEN"
base_url = "http://127.0.0.1:9/v1/"   # nothing listens: readings wait in the outbox
device_id = "greenhouse-1"
"""

# The simulated DHT22 hangs for good after three good transfers (boards.simulated.DHT_HANG_AFTER),
# as the library's pulse reader does after hours on a Pi.
HANGS = """\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "1s"

[[sensor]]
name = "porch"
driver = "dht22"
pin = "GPIO22"
interval = "2s"
simulate_fault = "hang"
"""


class FakeSystemd:
    """Starts `sensorkit run` as a Type=notify service with WatchdogSec=: kills it (SIGABRT) when the
    heartbeat stops for a whole timeout, and says what it saw."""

    def __init__(self, tmp_path: Path, config: Path, *args: str, watchdog_s: float = 1.0) -> None:
        self.notify = NotifySocket(tmp_path / "notify")
        self.argv = [sys.executable, "-m", "sensorkit", "run", "--simulate", "-c", str(config), *args]
        self.env = dict(os.environ, NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(int(watchdog_s * 1e6)),
                        IOBEAM_TOKEN="a.b.c", XDG_STATE_HOME=str(tmp_path / "state"))
        self.cwd = tmp_path
        self.watchdog_s = watchdog_s
        self.messages: list[dict[str, str]] = []

    def start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        self.wait_for(lambda m: "READY" in m, WAIT_S * 3)
        return process

    def wait_for(self, wanted, timeout_s: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self.notify.messages(timeout_s=0.05):
                self.messages.append(message)
                if wanted(message):
                    return message
        raise AssertionError(f"not seen within {timeout_s} s; got {self.messages}")

    def supervise(self, process: subprocess.Popen[str], for_s: float) -> bool:
        """Watch for `for_s` s; True when the watchdog fired (and the process was killed as systemd does)."""
        last = time.monotonic()
        deadline = last + for_s
        while time.monotonic() < deadline:
            for message in self.notify.messages(timeout_s=0.05):
                self.messages.append(message)
                if "WATCHDOG" in message:
                    last = time.monotonic()
            if time.monotonic() - last > self.watchdog_s:
                process.send_signal(signal.SIGABRT)  # WatchdogSignal= defaults to SIGABRT
                return True
        return False

    def close(self) -> None:
        self.notify.close()


def test_run_under_systemd_says_ready_status_watchdog_and_stopping(tmp_path: Path) -> None:
    systemd = FakeSystemd(tmp_path, write(tmp_path / "c.toml", HEALTHY), "--output", "none", "--duration", "3")
    try:
        process = systemd.start()
        assert not systemd.supervise(process, 2.5)  # a healthy run keeps the watchdog fed
        systemd.wait_for(lambda m: "STOPPING" in m, WAIT_S)
        assert process.wait(WAIT_S) == 0, process.stderr.read()
    finally:
        systemd.close()
    [ready] = [m for m in systemd.messages if "READY" in m]
    assert ready["STATUS"] == "1 sensor(s), 1 answering; iobeam: 0 waiting"
    assert sum("WATCHDOG" in m for m in systemd.messages) >= 4  # every half second for 2.5 s
    assert any(m.get("STATUS", "").startswith("1 sensor(s), 1 answering; iobeam: ") and
               not m["STATUS"].endswith(": 0 waiting") for m in systemd.messages)  # the backlog grows


def test_the_watchdog_restarts_a_run_whose_sensor_read_hangs(tmp_path: Path) -> None:
    systemd = FakeSystemd(tmp_path, write(tmp_path / "c.toml", HANGS), "--output", "jsonl")
    try:
        first = systemd.start()
        assert systemd.supervise(first, 20.0), "the heartbeat never stopped"
        assert first.wait(WAIT_S) == -signal.SIGABRT
        stacks = first.stderr.read()
        assert "not telling systemd that sensorkit is alive" in stacks
        assert "sensor 'porch' has been reading for" in stacks
        assert "drivers/emulated/dht.py" in stacks  # faulthandler: where the stuck thread was
        assert any(m.get("STATUS", "").startswith("not responding: sensor 'porch'") for m in systemd.messages)
        second = systemd.start()  # Restart=on-failure: a fresh process, a fresh library object
        assert systemd.wait_for(lambda m: "WATCHDOG" in m, WAIT_S)
        second.send_signal(signal.SIGTERM)
        systemd.wait_for(lambda m: "STOPPING" in m, WAIT_S)
        assert second.wait(WAIT_S) == 0, second.stderr.read()
        second.stderr.close()
    finally:
        systemd.close()
