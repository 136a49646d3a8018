"""The outbox's four proofs, end to end: `sensorkit run` in a subprocess against a local cloud server.

Outage, crash (kill -9, at least 20 times), refusals and a full outbox, each
as a user would meet it, and each against the local iobeam server and the
local Byteport server (a `Cloud` says how to configure, read, hold and
refuse on each). The server runs in this process, so the tests can take it
down, hold a write (an import, a store) in flight, refuse a series and read
what it stored; `run` prints every reading it took (jsonl), which is what "every
reading taken" means below. These tests wait for things to happen (readings
printed, points stored), never for time to pass, except where a random
moment to kill at is the point.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from sensorkit.emulators.byteport import ByteportEmulator
from sensorkit.emulators.iobeam import IobeamEmulator
from sensorkit.errors import OutboxError
from sensorkit.outbox import Outbox
from sensorkit.outbox.status import dead_letters, read_status
from tests.sensorkit.test_cli import sensorkit, write

WAIT_S = 60.0  # the longest any one thing may take to happen on a slow, loaded machine
KILL_POINT = Path(__file__).with_name("kill_point.py")
Key = tuple[str, int]  # (series, timestamp_ms): one reading


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `condition` until it is truthy; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.01)


class Run:
    """`sensorkit run --simulate --output jsonl` in a subprocess; its readings collected as they are printed."""

    def __init__(self, workdir: Path, config: Path, cloud: Cloud, *, kill_at: int | None = None) -> None:
        prefix = [str(KILL_POINT), str(kill_at)] if kill_at is not None else ["-m", "sensorkit"]
        env = dict(os.environ, XDG_CONFIG_HOME=str(workdir / "xdg-config"),
                   XDG_STATE_HOME=str(workdir / "xdg-state"), **{cloud.secret_env: cloud.secret})
        self.process = subprocess.Popen(
            [sys.executable, *prefix, "run", "--simulate", "-c", str(config), "--output", "jsonl"],
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._lock = threading.Lock()
        self._readings: list[dict[str, Any]] = []
        self._stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        self.ended_ms: int | None = None

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            try:
                reading = json.loads(line)
            except ValueError:
                continue  # the half line a kill can leave
            with self._lock:
                self._readings.append(reading)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self._lock:
                self._stderr.append(line)

    @property
    def readings(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._readings)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "".join(self._stderr)

    def printed(self, at_least: int) -> bool:
        if self.process.poll() is not None and len(self.readings) < at_least:
            pytest.fail(f"sensorkit run ended ({self.process.returncode}) early:\n{self.stderr}")
        return len(self.readings) >= at_least

    def kill(self) -> None:
        self.ended_ms = time.time_ns() // 1_000_000
        self.process.send_signal(signal.SIGKILL)

    def stop(self) -> int:
        """SIGTERM, as systemd or Ctrl-C would; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        code = self.process.wait(WAIT_S)
        for reader in self._readers:
            reader.join(WAIT_S)
        self.process.stdout.close()
        self.process.stderr.close()
        return code

    def keys(self) -> dict[Key, Any]:
        readings = self.readings
        keys = {(r["series"], r["timestamp_ms"]): r["value"] for r in readings}
        assert len(keys) == len(readings), "a series got two readings of one millisecond"
        return keys


class Cloud:
    """One local server as the proofs use it: its [uploader.NAME] table, what it stored, holds and refusals."""

    name: str
    secret_env: str
    refusal: str  # what the server's reason says when it refuses the series 'door'

    def __init__(self, server: Any) -> None:
        self.server = server

    @property
    def secret(self) -> str:
        raise NotImplementedError

    def table(self) -> str:
        raise NotImplementedError

    def stored(self) -> dict[Key, Any]:
        raise NotImplementedError

    def writes(self) -> list[list[Key]]:
        """The readings of every accepted write (needs the server made with `keep=True`), in order."""
        raise NotImplementedError

    def hold(self, stage: str) -> threading.Event:
        raise NotImplementedError

    def held(self) -> set[Key]:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def refuse(self, series: str) -> None:
        raise NotImplementedError

    def set_down(self, down: bool) -> None:
        self.server.set_down(down)


class IobeamCloud(Cloud):
    name, secret_env, refusal = "iobeam", "IOBEAM_TOKEN", "refuses the series 'door'"
    server: IobeamEmulator

    @property
    def secret(self) -> str:
        return self.server.project_token

    def table(self) -> str:
        return (f'project_id = {self.server.project_id}\ntoken_env = "IOBEAM_TOKEN"\n'
                f'base_url = "{self.server.url}/v1/"\n')

    def stored(self) -> dict[Key, Any]:
        return {(p.series, p.time_us // 1000): p.value for p in self.server.points()}

    def writes(self) -> list[list[Key]]:
        return [[(p.series, p.time_us // 1000) for p in record.points] for record in self.server.imports]

    def hold(self, stage: str) -> threading.Event:
        return self.server.hold_imports(stage)

    def held(self) -> set[Key]:
        return {(p.series, p.time_us // 1000) for p in self.server.held_import.points}

    def release(self) -> None:
        self.server.release_imports()

    def refuse(self, series: str) -> None:
        self.server.reject_series(series)


class ByteportCloud(Cloud):
    name, secret_env, refusal = "byteport", "BYTEPORT_KEY", "refuses the field(s) 'door'"
    server: ByteportEmulator

    @property
    def secret(self) -> str:
        return self.server.key

    def table(self) -> str:
        return (f'namespace = "{self.server.namespace}"\nkey_env = "BYTEPORT_KEY"\ndevice_uid = "proof-pi"\n'
                f'base_url = "{self.server.url}/"\n')

    def stored(self) -> dict[Key, Any]:
        return {(p.field, p.ms): p.value for p in self.server.points("proof-pi")}

    def writes(self) -> list[list[Key]]:
        return [[(field, record.ms) for field, _ in record.fields] for record in self.server.stores]

    def hold(self, stage: str) -> threading.Event:
        return self.server.hold_stores(stage)

    def held(self) -> set[Key]:
        record = self.server.held_store
        return {(field, record.ms) for field, _ in record.fields}

    def release(self) -> None:
        self.server.release_stores()

    def refuse(self, series: str) -> None:
        self.server.refuse_fields(series)


@pytest.fixture(params=["iobeam", "byteport"])
def make_cloud(request: pytest.FixtureRequest) -> Callable[..., Cloud]:
    """Makes the local server of the test's cloud; `keep=True` keeps a log of its writes."""
    if request.param == "iobeam":
        make_iobeam = request.getfixturevalue("make_iobeam_server")
        return lambda keep=False: IobeamCloud(make_iobeam(keep_imports=keep))
    make_byteport = request.getfixturevalue("make_byteport_server")
    return lambda keep=False: ByteportCloud(make_byteport(keep_stores=keep))


def config_file(workdir: Path, cloud: Cloud, sensors: str, *, uploader: str = "", outbox: str = "") -> Path:
    return write(workdir / "sensorkit.toml", f"""\
[device]
board = "simulated"

{sensors}
[uploader.{cloud.name}]
{cloud.table()}send_delay = "50ms"
min_backoff = "50ms"
max_backoff = "1s"
{uploader}
[outbox]
{outbox}
""")


def sensor(name: str, driver: str, interval: str, **more: str) -> str:
    lines = [f'name = "{name}"', f'driver = "{driver}"', f'interval = "{interval}"',
             *(f"{key} = {value}" for key, value in more.items())]
    return "[[sensor]]\n" + "\n".join(lines) + "\n\n"


FAST_SENSORS = (sensor("air", "sht3x", "50ms")
                + sensor("door", "gpio_input", "10ms", pin='"GPIO17"', series='{ state = "door" }'))


def state_dir(workdir: Path) -> Path:
    return workdir / "xdg-state" / "sensorkit"


def missing(wanted: Iterable[Key], have: dict[Key, Any]) -> list[Key]:
    return sorted(key for key in wanted if key not in have)


# ------------------------------------------------------------------------------------------- outage

def test_outage_every_reading_arrives_in_order_and_once(tmp_path, make_cloud):
    cloud = make_cloud(keep=True)
    config = config_file(tmp_path, cloud, FAST_SENSORS, uploader="batch_size = 100")
    run = Run(tmp_path, config, cloud)
    wait_until(lambda: len(cloud.stored()) >= 100, "the first readings at the server")

    cloud.set_down(True)
    down_from = len(run.readings)
    wait_until(lambda: run.printed(down_from + 400), "readings taken while the server is down")
    assert len(cloud.stored()) <= down_from + 100, "nothing but the batch in flight arrived while down"
    cloud.set_down(False)
    up_at = run.readings[-1]["timestamp_ms"]

    wait_until(lambda: any(ms > up_at for _, ms in cloud.stored()), "delivery to catch up after the outage")
    assert run.stop() == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot reach" in run.stderr, "the outage is reported"

    taken = run.keys()
    assert cloud.stored() == taken, "every reading taken arrives, with its value, and nothing else"

    arrivals: dict[str, list[int]] = {}
    for write_keys in cloud.writes():
        for series, ms in write_keys:
            arrivals.setdefault(series, []).append(ms)
    repeats = 0
    for series, times in arrivals.items():
        firsts = list(dict.fromkeys(times))
        assert firsts == sorted(firsts), f"{series} arrived out of order"
        repeats += len(times) - len(firsts)
    # The only repeats allowed are those of one batch in flight when the server went away.
    assert repeats <= 100, f"{repeats} readings arrived twice"


# -------------------------------------------------------------------------------------------- crash

# Kills of each kind per run of a crash proof (x 3 kinds). The moments are drawn from a new seed every
# run, so CI covers more of them run after run; SENSORKIT_CRASH_KILLS=7 (or more) for a longer look here.
KILLS_PER_KIND = int(os.environ.get("SENSORKIT_CRASH_KILLS", "3"))
WRITES = {"INSERT", "UPDATE", "DELETE"}  # at least one mid-commit kill must land on one of these
MAX_KILLS = 3 * KILLS_PER_KIND + 20


def committed_at_kill(workdir: Path, copy_dir: Path, uploader: str = "iobeam") -> dict[Key, Any]:
    """What the killed run's outbox holds for `uploader`, read from a copy as the next run will find it."""
    shutil.rmtree(copy_dir, ignore_errors=True)
    copy_dir.mkdir()
    for source in state_dir(workdir).glob("outbox.sqlite*"):
        if not source.name.endswith(".lock"):
            shutil.copy2(source, copy_dir / source.name)
    # Counted from the file's own cursor table first, so a reader that skipped readings would show.
    file = copy_dir / "outbox.sqlite"
    try:
        waiting = read_status(file).uploader(uploader).waiting
    except OutboxError as exc:  # killed while creating it: nothing stored yet, and the next run must cope
        assert "there is no outbox" in str(exc)
        waiting = 0
    with Outbox(file, [uploader]) as outbox:  # opens, or the test fails here
        pending = {(r.series, r.timestamp_ms): r.value for _, r in outbox.pending_batch(uploader, 10**9)}
    assert len(pending) == waiting
    return pending


def held_after_kill(workdir: Path, cloud: Cloud) -> dict[Key, Any]:
    """Every reading committed before a kill: still in the outbox, or already at the server."""
    held = committed_at_kill(workdir, workdir / "copy", cloud.name)
    held.update(cloud.stored())
    return held


def test_crash_kill_9_at_random_moments_loses_nothing_committed(tmp_path, make_cloud):
    """kill -9 at random moments, in the middle of a send and inside commits; each restart delivers all."""
    seed = int(os.environ.get("SENSORKIT_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    why = f"(reproduce with SENSORKIT_CRASH_SEED={seed})"
    cloud = make_cloud()
    config = config_file(tmp_path, cloud, FAST_SENSORS, uploader="batch_size = 50",
                         outbox='commit_interval = "100ms"')
    window_ms = 100 + 1500  # commit_interval, plus a loaded machine's lateness
    kinds = ["random"] * KILLS_PER_KIND + ["mid-send"] * KILLS_PER_KIND + ["mid-commit"] * KILLS_PER_KIND
    rng.shuffle(kinds)
    kinds[0] = "mid-commit"  # the first run creates the file: die while it does
    committed: dict[Key, Any] = {}
    taken: dict[Key, Any] = {}
    seen_kill_points: list[str] = []
    for number, kind in enumerate(kinds):
        kill_at = (2 if number == 0 else rng.randint(3, 150)) if kind == "mid-commit" else None
        run = Run(tmp_path, config, cloud, kill_at=kill_at)
        now: dict[Key, Any] | None = None  # what the file and the server hold after the kill
        if kind == "random":
            wait_until(partial(run.printed, 1), f"run {number} to start {why}")
            time.sleep(rng.uniform(0.05, 2.0))  # the random moment is the point here
            run.kill()
        elif kind == "mid-send":
            wait_until(partial(run.printed, rng.randint(1, 200)), f"run {number} to sample {why}")
            held = cloud.hold(rng.choice(("before_store", "after_store")))
            try:
                assert held.wait(WAIT_S), f"run {number} never sent {why}"
                run.kill()
                run.wait()
                # Looked at before the held import goes on: what was in flight must still be in the outbox,
                # unless the server already has it.
                in_flight = cloud.held()
                now = held_after_kill(tmp_path, cloud)
                assert not missing(in_flight, now), f"run {number} lost the batch it was sending {why}"
            finally:
                cloud.release()
        code = run.wait()
        assert code == -signal.SIGKILL, f"run {number} ({kind}) ended {code} {why}:\n{run.stderr}"
        if kind == "mid-commit":
            said = re.search(r"kill point: SIGKILL at (\d+) ms inside a transaction, before: (\w+)", run.stderr)
            assert said, f"run {number} {why}: {run.stderr}"
            run.ended_ms = int(said.group(1))
            seen_kill_points.append(said.group(2))
        if now is None:
            now = held_after_kill(tmp_path, cloud)
        old_enough = {k: v for k, v in run.keys().items() if k[1] < run.ended_ms - window_ms}
        assert not missing(old_enough, now), f"run {number} ({kind}) lost committed readings {why}"
        committed.update(now)
        taken.update(run.keys())
        # About 7 in 10 statements inside a transaction are SELECTs and COMMITs, so a few kills at random
        # statements often all miss the writes: kill mid-commit again until one hit a write.
        if number == len(kinds) - 1 and not set(seen_kill_points) & WRITES and len(kinds) < MAX_KILLS:
            kinds.append("mid-commit")

    last = Run(tmp_path, config, cloud)
    wait_until(lambda: not missing(committed, cloud.stored()), f"the last run to deliver the backlog {why}")
    more = len(last.readings) + 10
    wait_until(lambda: last.printed(more), "a few more readings")
    assert last.stop() == 0, last.stderr
    taken.update(last.keys())
    at_server = cloud.stored()
    assert not missing(committed, at_server), f"committed before a kill, never delivered {why}"
    assert not missing(last.keys(), at_server), "a graceful stop delivers what it took"
    assert not missing(at_server, taken), "the server has readings nobody took"
    assert all(at_server[key] == taken[key] for key in at_server)
    assert set(seen_kill_points) & WRITES, seen_kill_points


# ----------------------------------------------------------------------------------------- refusals

def test_refused_readings_and_only_those_are_dead_letters_with_the_reason(tmp_path, make_cloud):
    cloud = make_cloud()
    cloud.refuse("door")
    sensors = (sensor("air", "sht3x", "50ms")
               + sensor("door", "gpio_input", "200ms", pin='"GPIO17"', series='{ state = "door" }'))
    config = config_file(tmp_path, cloud, sensors, uploader="batch_size = 40")
    run = Run(tmp_path, config, cloud)
    wait_until(lambda: sum(r["series"] == "door" for r in run.readings) >= 5, "door readings")
    wait_until(lambda: len(cloud.stored()) >= 100, "air readings at the server")
    assert run.stop() == 0, run.stderr
    assert "refused" in run.stderr  # the run says so, and goes on

    taken = run.keys()
    door = {k: v for k, v in taken.items() if k[0] == "door"}
    air = {k: v for k, v in taken.items() if k[0] != "door"}
    assert cloud.stored() == air
    letters = dead_letters(state_dir(tmp_path) / "outbox.sqlite")
    assert {(d.series, d.timestamp_ms): d.value for d in letters} == door
    assert {d.uploader for d in letters} == {cloud.name}
    assert all(cloud.refusal in d.reason for d in letters), letters[0].reason

    status = json.loads(sensorkit("outbox", "status", "--json", cwd=tmp_path).stdout)
    [uploader] = status["uploaders"]
    assert uploader["dead_letters"] == len(door) and uploader["waiting"] == 0
    [[reason, count]] = uploader["dead_letter_reasons"]
    assert count == len(door) and cloud.refusal in reason
    listed = sensorkit("outbox", "list-dead", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count(cloud.refusal) == len(door)


# --------------------------------------------------------------------------------------------- full

def test_full_outbox_drops_the_oldest_counted_and_logged(tmp_path, make_iobeam_server):
    cloud = IobeamCloud(make_iobeam_server())  # the bound is the outbox's own: one cloud shows it
    cloud.set_down(True)
    pins = (5, 6, 12, 13, 16, 19, 20, 21)
    sensors = "".join(sensor(f"in{pin}", "gpio_input", "10ms", pin=f'"GPIO{pin}"') for pin in pins)
    config = config_file(tmp_path, cloud, sensors, outbox="max_readings = 1000")
    run = Run(tmp_path, config, cloud)
    wait_until(lambda: run.printed(3000), "3000 readings with the server away")
    wait_until(lambda: "dropped the" in run.stderr, "the warning about dropped readings")
    cloud.set_down(False)
    up_at = run.readings[-1]["timestamp_ms"]
    wait_until(lambda: any(ms > up_at for _, ms in cloud.stored()), "delivery after the server is back")
    assert run.stop() == 0, run.stderr

    taken, at_server = run.keys(), cloud.stored()
    lost = missing(taken, at_server)
    assert not missing(at_server, taken)
    assert len(lost) >= 1000, "the bound held: the backlog was cut down"
    by_series = Counter(series for series, _ in lost)
    for series in by_series:  # the oldest of each series went, never newer ones
        kept = [ms for s, ms in at_server if s == series]
        assert max(ms for s, ms in lost if s == series) < min(kept), series

    status = read_status(state_dir(tmp_path) / "outbox.sqlite")
    assert status.dropped == len(lost), "every dropped reading is counted"
    assert dict(status.dropped_by_series) == dict(by_series)
    warned = re.findall(r"dropped the ([\d,]+) oldest undelivered reading\(s\) \(([^)]*)\) because (.*)",
                        run.stderr)
    assert sum(int(n.replace(",", "")) for n, _, _ in warned) == len(lost)
    assert all("max_readings=1,000" in because for _, _, because in warned)
    assert {name for _, listed, _ in warned for name in re.findall(r"(\w+) [\d,]+", listed)} == set(by_series)
