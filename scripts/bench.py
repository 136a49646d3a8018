#!/usr/bin/env python3
"""sensorkit's benchmark suite: prints a table of figures with their targets (or --json).

Benchmarks are not tests: nothing here fails a build. Run from the repo with
the project installed (`.venv/bin/python scripts/bench.py`).

Rows:
  sampler jitter p50/p99/max   actual trigger time minus its grid time, ms, with
                               N emulated SHT3x (N/2 emulated I2C buses, 2 per bus)
                               sampled through the whole stack (config -> board ->
                               driver -> twin -> sampler), 100 s each (10 s with
                               --quick): 10 sensors at 10 Hz, 50 and 100 at 1 Hz
  timer floor p50/p99          one thread waiting for a 100 Hz grid and nothing else, ms
                               (before the runs, and beside each run in the same process)
                               late: what this machine's scheduler costs any sampler
                               (when its p99 is above the jitter target, the machine
                               is too busy for the jitter rows to mean much)
  sampler drift                after 10,000 samples of the 10 x 10 Hz run: the
                               largest difference, over the sensors, between the
                               wall-clock span of a sensor's samples and its grid span, ms
  start-up overhead            `sensorkit --help` minus `python3 -c pass`, median, ms
  outbox ingest                readings/s into the outbox from 10 sampler-like threads
                               (2 readings per add, as an SHT3x gives), the committer
                               thread at its defaults, until the last one is committed
  outbox bytes/reading         bytes the process writes to disk per reading (/proc/self/io
                               write_bytes, which counts a 4 KB page each time one is
                               dirtied: fsyncs, WAL, checkpoints and cursor writes
                               included) at the default settings, 10 sensors at 1 Hz with
                               1 and 2 quantities each, a delivery with a do-nothing
                               uploader at its defaults: an hour simulated on a fake clock
                               (commits at the 1 s cadence the committer keeps, os.sync()
                               every 30 s for the kernel's writeback), then, without
                               --quick, 10 minutes in real time (committer and delivery
                               threads, 10 sensor threads, the kernel's own writeback)
  outbox with text             the ingest and simulated bytes/reading rows again with
                               100-byte UTF-8 text values instead of numbers (numbers keep
                               their 14-byte records; text goes to the content table)
  outbox drain                 readings/s through the read/acknowledge path alone: a
                               backlog drained in batches of 1000 to a do-nothing uploader,
                               and the draining process's peak RSS (VmHWM)
  iobeam readings/s            Readings through the iobeam uploader to the local iobeam
                               server (memory storage) on 127.0.0.1, batches of 1000, one
                               client; requests per 1000 readings (floor 1: tables where
                               1 sensor x 2 series share timestamps, the series format
                               for 10 sensors read at different moments)
  sensorkit run drain          a backlog (10 sensors x 2, read at different moments) put in
                               the outbox first, delivered to the local server by
                               `sensorkit run` (uploader defaults: batches of 1000), from
                               the command's start until the last reading is there; the
                               run's peak RSS (VmHWM) then; once more with the server's
                               --latency-ms 20. Every run starts with its bytecode cached
                               (PYTHONPYCACHEPREFIX, after a warm-up run), as an installed
                               package's is even where PYTHONDONTWRITEBYTECODE is set
  original iobeam side by side the original iobeam 0.11 client's send(), sensorkit's client's
                               send() (both in their own process, 200,000 points in 20
                               one-column DataStores, send() timed alone) and the drain
                               above on the same points, each on a fresh local server,
                               alternated, medians of 3 (and, where orjson is installed,
                               the drain once more with it hidden); skipped with a note
                               unless --iobeam-original DIR (see there) makes the original run
  byteport stores/s            stores the Byteport uploader makes to the local Byteport server
                               (memory storage) on 127.0.0.1, by POST and by GET: 10 SHT3x-like
                               sensors read at distinct moments, one store per sampling instant;
                               requests per sampling instant (the floor is 1)
The outbox rows need a directory on a real disk (write_bytes stays 0 on tmpfs):
/var/tmp, or $SENSORKIT_BENCH_DIR.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENSORS = 10
# The sampler jitter runs: (sensors, rate in Hz), two SHT3x per emulated I2C bus.
JITTER_RUNS = ((10, 10.0), (50, 1.0), (100, 1.0))
JITTER_P99_TARGET_MS = 0.5
REALTIME_S = 600  # the real-time outbox rows: long enough for the kernel's writeback and a checkpoint to count
BENCH_DIR_PREFIX = "sensorkit-bench-"  # under /var/tmp or $SENSORKIT_BENCH_DIR; every run removes its own
WRITEBACK_S = 30  # the kernel's dirty_expire_centisecs, by default


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def sampler_config(sensors: int, rate_hz: float) -> str:
    buses = (sensors + 1) // 2
    bus_pins = ", ".join(f"{n} = {{ sda = {2 * n}, scl = {2 * n + 1} }}" for n in range(1, buses + 1))
    pins = ", ".join(str(p) for p in range(2, 2 * buses + 2))
    lines = ["[device]", 'board = "generic-linux"', f"gpio_pins = [{pins}]", f"i2c_buses = {{ {bus_pins} }}"]
    for index in range(sensors):
        bus, address = index // 2 + 1, 0x44 + index % 2
        lines += [
            "[[sensor]]",
            f'name = "s{index}"',
            'driver = "sht3x"',
            f"bus = {bus}",
            f"address = {address:#x}",
            f'interval = "{1000 / rate_hz:g}ms"',
        ]
    return "\n".join(lines) + "\n"


def bench_sampler(sensors: int, rate_hz: float, duration_s: float) -> dict[str, Any]:
    from sensorkit.config import parse_config
    from sensorkit.system import build_system

    config = parse_config(sampler_config(sensors, rate_hz), "<bench>")
    samples: dict[str, list[tuple[float, float, int]]] = {}
    lock = threading.Lock()
    done = threading.Event()
    readings = [0]

    def on_trigger(name: str, due: float, actual: float, wall_ms: int) -> None:
        with lock:
            samples.setdefault(name, []).append((due, actual, wall_ms))

    def sink(batch: list[Any]) -> None:
        with lock:
            readings[0] += len(batch)

    # A bare 100 Hz wait beside the sampler, in the same process at the same time: what the machine
    # alone costs a waking thread while the run goes on (steal time, other work), for comparison.
    beside: dict[str, Any] = {}
    probe = threading.Thread(target=lambda: beside.update(bench_timer_floor(duration_s, stop=done)), daemon=True)
    with build_system(config, simulate=True) as system:
        sampler = system.sampler(sink, on_trigger=on_trigger)
        probe.start()
        sampler.run(done, duration_s=duration_s)
        done.set()
        probe.join()
        sampler.stop()
    jitter_ms = [(actual - due) * 1000 for rows in samples.values() for due, actual, _ in rows]
    # Drift: how far a sensor's wall-clock timestamps wander from its grid over
    # the run, i.e. the shift in the median offset between its first and last
    # ten samples (single late samples are jitter, reported above).
    drifts = []
    interval_ms = 1000 / rate_hz
    for rows in samples.values():
        start_due = rows[0][0]
        offsets = [wall - round((due - start_due) * 1000 / interval_ms) * interval_ms for due, _, wall in rows]
        drifts.append(abs(statistics.median(offsets[-10:]) - statistics.median(offsets[:10])))
    worst = sorted(((actual - due) * 1000, name, i) for name, rows in samples.items()
                   for i, (due, actual, _) in enumerate(rows))[-3:]
    return {
        "sensors": sensors,
        "rate_hz": rate_hz,
        "samples": len(jitter_ms),
        "readings": readings[0],
        "jitter_p50_ms": statistics.median(jitter_ms),
        "jitter_p99_ms": _percentile(jitter_ms, 0.99),
        "jitter_max_ms": max(jitter_ms),
        "drift_ms": max(drifts),
        "beside_p50_ms": beside["p50_ms"],
        "beside_p99_ms": beside["p99_ms"],
        "worst": [f"{name}#{i}: {late:.1f} ms" for late, name, i in worst],
    }


def jitter_run(text: str) -> tuple[int, float]:
    """`--jitter 100x1`: 100 sensors at 1 Hz."""
    sensors, _, rate = text.partition("x")
    try:
        return int(sensors), float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SENSORSxHZ like 100x1, got {text!r}") from None


def bench_timer_floor(duration_s: float, rate_hz: float = 100.0, stop: threading.Event | None = None
                      ) -> dict[str, Any]:
    event = stop or threading.Event()
    late_ms = []
    start = time.monotonic()
    for n in range(1, int(duration_s * rate_hz) + 1):
        due = start + n / rate_hz
        if event.wait(max(0.0, due - time.monotonic())):
            break
        late_ms.append((time.monotonic() - due) * 1000)
    return {"p50_ms": statistics.median(late_ms), "p99_ms": _percentile(late_ms, 0.99), "max_ms": max(late_ms)}


def bench_samplers(quick: bool, runs: list[tuple[int, float]] | None = None) -> list[dict[str, Any]]:
    return [bench_sampler(sensors, rate_hz, 10.0 if quick else 100.0) for sensors, rate_hz in runs or JITTER_RUNS]


def _time_command(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start


def sensorkit_command() -> list[str]:
    script = Path(sys.executable).with_name("sensorkit")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "sensorkit", "--help"]


def bench_startup(runs: int) -> dict[str, Any]:
    """`sensorkit --help` against a bare `python3 -c pass`, both with their bytecode cached, as installed."""
    bare, tool = [], []
    command = sensorkit_command()
    with tempfile.TemporaryDirectory(prefix=BENCH_DIR_PREFIX, dir=_bench_parent()) as cache:
        env = _cached_bytecode_env(cache)
        for _ in range(3):  # warm the page cache, compile and cache the bytecode
            _time_command(command, env)
            _time_command([sys.executable, "-c", "pass"], env)
        for _ in range(runs):  # interleaved, so a busy moment hits both alike
            bare.append(_time_command([sys.executable, "-c", "pass"], env))
            tool.append(_time_command(command, env))
    return {
        "python_ms": statistics.median(bare) * 1000,
        "sensorkit_help_ms": statistics.median(tool) * 1000,
        "overhead_ms": (statistics.median(tool) - statistics.median(bare)) * 1000,
        "command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(command)),
    }


class _NullUploader:
    """Takes every batch at once: what is left to measure is the outbox's read/acknowledge path."""

    batch_size = 1000

    def send(self, batch: Any) -> None:
        return None


def _bench_parent() -> str | None:
    return os.environ.get("SENSORKIT_BENCH_DIR") or ("/var/tmp" if os.path.isdir("/var/tmp") else None)


def _bench_dir() -> str:
    return tempfile.mkdtemp(prefix=BENCH_DIR_PREFIX, dir=_bench_parent())


def _fs_type(path: str) -> str:
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and path.startswith(fields[1]) and len(fields[1]) > len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def _write_bytes() -> int | None:
    try:
        with open("/proc/self/io") as io:
            for line in io:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _sensor_readings(sensor: int, count: int, start_ms: int) -> list[Any]:
    from sensorkit.readings import Reading

    return [Reading(f"s{sensor}_temperature", f"s{sensor}", "temperature", 20.0 + (n % 500) / 100, "°C",
                    start_ms + n) for n in range(count)]


def bench_outbox_ingest(directory: str, total: int, make: Any = _sensor_readings) -> dict[str, Any]:
    from sensorkit.clock import SystemClock
    from sensorkit.outbox import Outbox

    per_thread = total // SENSORS
    now_ms = SystemClock().time_ms()
    cycles = [make(i, 1000, now_ms) for i in range(SENSORS)]  # built before the clock starts
    # Ten threads adding flat out is a flood no sampler makes: room for all of it in memory, so that
    # the figure is how fast the committer (at its defaults otherwise) gets readings into the file.
    outbox = Outbox(os.path.join(directory, "ingest.sqlite"), ["iobeam"], max_pending=total)
    outbox.start()

    def sensor(index: int) -> None:
        mine = cycles[index]
        for n in range(0, per_thread, 2):
            outbox.add(mine[n % 1000:n % 1000 + 2])

    threads = [threading.Thread(target=sensor, args=(i,)) for i in range(SENSORS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outbox.stop()  # the last commit
    elapsed = time.perf_counter() - start
    status = outbox.status()
    outbox.close()
    return {"readings": per_thread * SENSORS, "seconds": elapsed, "per_s": per_thread * SENSORS / elapsed,
            "stored": status.stored, "dropped": status.dropped}


def bench_outbox_bytes(directory: str, seconds: int, quantities: int, *, text: bool = False) -> dict[str, Any]:
    from sensorkit.clock import FakeClock
    from sensorkit.delivery import Delivery
    from sensorkit.outbox import Outbox
    from sensorkit.readings import Reading

    clock = FakeClock(wall_ms=int(time.time() * 1000))
    path = os.path.join(directory, f"bytes{quantities}{'text' if text else ''}.sqlite")
    # What simulated time misses is the kernel's writeback: it writes dirty pages out after ~30 s, and
    # the next write to such a page counts again in write_bytes. os.sync() every 30 simulated seconds
    # stands in for it (it flushes the whole machine, as the kernel's flusher would, only sooner).
    outbox = Outbox(path, ["iobeam"], clock=clock)  # the defaults; commits come from add() on the fake clock
    delivery = Delivery(outbox, "iobeam", _NullUploader(), clock=clock)
    names = ("temperature", "humidity")[:quantities]
    warm_up_s = 120  # the first two minutes fill the ring of hot slots, a cost paid once
    next_step = 0.0
    start_bytes = readings = 0
    for second in range(warm_up_s + seconds):
        if second == warm_up_s:
            start_bytes, readings = _write_bytes() or 0, 0
        for sensor in range(SENSORS):
            ts = clock.time_ms()
            outbox.add([Reading(f"s{sensor}_{q}", f"s{sensor}", q,
                                _text_value(second, k) if text else 20.0 + (second % 300) / 10 + k, "", ts)
                        for k, q in enumerate(names)])
            readings += quantities
        if clock.monotonic() >= next_step:
            next_step = clock.monotonic() + delivery.step()
        clock.advance(1.0)
        if second % WRITEBACK_S == WRITEBACK_S - 1:
            os.sync()
    outbox.commit()
    written = (_write_bytes() or 0) - start_bytes
    status = outbox.status()
    outbox.close()
    return {"readings": readings, "simulated_s": seconds, "write_bytes": written,
            "per_reading": written / readings, "file_bytes": status.file_bytes, "waiting": status.uploaders[0].waiting}


TEXT_BYTES = 100  # the text rows' value size


def _text_value(n: int, k: int = 0) -> str:
    return f"{n:08d}.{k} ".ljust(TEXT_BYTES, "x")  # 100 bytes of UTF-8, different every time


def _text_readings(sensor: int, count: int, start_ms: int) -> list[Any]:
    from sensorkit.readings import Reading

    return [Reading(f"s{sensor}_note", f"s{sensor}", "note", _text_value(n), "", start_ms + n) for n in range(count)]


def bench_outbox_text(directory: str, quick: bool) -> dict[str, Any]:
    """The ingest and simulated bytes/reading rows with 100-byte text values instead of numbers."""
    return {
        "ingest": bench_outbox_ingest(directory, 100_000 if quick else 500_000, make=_text_readings),
        "bytes1": bench_outbox_bytes(directory, 600 if quick else 3600, 1, text=True),
    }


def bench_outbox_bytes_realtime(directory: str, seconds: int, quantities: int) -> dict[str, Any]:
    """The same as bench_outbox_bytes in real time: the committer and delivery threads, the kernel's writeback."""
    from sensorkit.clock import SystemClock
    from sensorkit.delivery import Delivery
    from sensorkit.outbox import Outbox
    from sensorkit.readings import Reading

    clock = SystemClock()
    outbox = Outbox(os.path.join(directory, f"realtime{quantities}.sqlite"), ["iobeam"])
    delivery = Delivery(outbox, "iobeam", _NullUploader())
    outbox.start()
    delivery.start()
    names = ("temperature", "humidity")[:quantities]
    stop = threading.Event()
    counts = [0] * SENSORS

    def sensor(index: int) -> None:  # 1 Hz on its own phase, like the sampler's workers
        due = clock.monotonic() + index / SENSORS
        while not clock.wait(stop, due - clock.monotonic()):
            ts = clock.time_ms()
            outbox.add([Reading(f"s{index}_{q}", f"s{index}", q, 20.0 + k + (ts % 3000) / 100, "", ts)
                        for k, q in enumerate(names)])
            counts[index] += quantities
            due += 1.0

    threads = [threading.Thread(target=sensor, args=(i,), daemon=True) for i in range(SENSORS)]
    for thread in threads:
        thread.start()
    clock.wait(threading.Event(), 5.0)  # warm up: the file exists, the first commits are done
    start_bytes, start_count = _write_bytes() or 0, sum(counts)
    clock.wait(threading.Event(), seconds)
    written, readings = (_write_bytes() or 0) - start_bytes, sum(counts) - start_count
    stop.set()
    for thread in threads:
        thread.join()
    delivery.stop()
    outbox.close()
    return {"readings": readings, "seconds": seconds, "write_bytes": written, "per_reading": written / readings}


def bench_outbox_drain(directory: str, total: int) -> dict[str, Any]:
    from sensorkit.clock import SystemClock
    from sensorkit.outbox import Outbox

    path = os.path.join(directory, "drain.sqlite")
    now_ms = SystemClock().time_ms() - total  # one reading a ms, ending now
    outbox = Outbox(path, ["iobeam"], max_pending=total)
    for first in range(0, total, 10_000):
        outbox.add(_sensor_readings(first // 10_000 % SENSORS, min(10_000, total - first), now_ms + first))
        outbox.commit()
    outbox.close()
    # The drain runs in a fresh process, so its peak RSS is its own.
    child = subprocess.run([sys.executable, "-c", _DRAIN_CHILD, path], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    drained = json.loads(child.stdout)
    return {"readings": total, **drained, "per_s": total / drained["seconds"], "file_bytes": os.path.getsize(path)}


_DRAIN_CHILD = """
import json, sys, time
from sensorkit.delivery import Delivery
from sensorkit.outbox import Outbox

class _NullUploader:
    def send(self, batch):
        return None

start = time.perf_counter()
outbox = Outbox(sys.argv[1], ["iobeam"])
delivery = Delivery(outbox, "iobeam", _NullUploader(), batch_size=1000)
batches = 0
while outbox.waiting("iobeam"):
    delivery.step(now=True)
    batches += 1
outbox.close()
# VmHWM, not ru_maxrss: the latter also counts the parent's pages this process had before exec.
peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"seconds": time.perf_counter() - start, "batches": batches, "max_rss_mb": peak_kb / 1024}))
"""


def _realtime_rows(directory: str) -> dict[str, Any]:
    """Both real-time rows at once, each in its own process (write_bytes is per process)."""
    children = {
        f"realtime{q}": subprocess.Popen([sys.executable, __file__, "--outbox-realtime", str(q), directory],
                                         stdout=subprocess.PIPE, text=True)
        for q in (1, 2)
    }
    return {key: json.loads(child.communicate()[0]) for key, child in children.items()}


def bench_outbox(quick: bool) -> dict[str, Any]:
    directory = _bench_dir()
    try:
        return {
            "directory": directory,
            "filesystem": _fs_type(directory),
            "ingest": bench_outbox_ingest(directory, 100_000 if quick else 500_000),
            "bytes1": bench_outbox_bytes(directory, 600 if quick else 3600, 1),
            "bytes2": bench_outbox_bytes(directory, 600 if quick else 3600, 2),
            "drain": bench_outbox_drain(directory, 200_000 if quick else 1_000_000),
            "text": bench_outbox_text(directory, quick),
            **({} if quick else _realtime_rows(directory)),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def bench_iobeam(batches: int) -> dict[str, Any]:
    """Readings/s delivered to the local iobeam server by one uploader, batches of 1000 readings.

    Two layouts: one sensor with two series sharing timestamps (an SHT3x), and
    ten such sensors at distinct times (a table each, so more requests).
    """
    from sensorkit.emulators.iobeam import IobeamEmulator
    from sensorkit.readings import Reading
    from sensorkit.uploaders import build_uploader
    from sensorkit.uploaders.settings import IOBEAM, UploaderConfig

    results: dict[str, Any] = {}
    for label, sensors in (("1x2", 1), ("10x2", 10)):
        with IobeamEmulator() as server, tempfile.TemporaryDirectory() as state:
            values = {k.name: k.default for k in IOBEAM.keys if k.default is not None}
            values.update(project_id=server.project_id, token=server.project_token, base_url=server.url,
                          device_id="bench")
            uploader = build_uploader(UploaderConfig("iobeam", values), state)
            uploader.ensure_device()
            per_sensor = 1000 // (2 * sensors)
            start_ms = 1_700_000_000_000
            batch_list = []
            for b in range(batches):
                batch = []
                for i in range(per_sensor):
                    for s in range(sensors):
                        t = start_ms + (b * per_sensor + i) * 1000 + s
                        batch.append(Reading(f"s{s}_temperature", f"s{s}", "temperature", 20.0 + i % 7, "°C", t))
                        batch.append(Reading(f"s{s}_humidity", f"s{s}", "humidity", 50.0 + i % 5, "%RH", t))
                batch_list.append(batch)
            before = server.request_count(method="POST", path="/v1/imports")
            began = time.perf_counter()
            for batch in batch_list:
                uploader.send(batch)
            took = time.perf_counter() - began
            sent = sum(len(b) for b in batch_list)
            requests_made = server.request_count(method="POST", path="/v1/imports") - before
            assert len(server.points()) == sent, "the server must hold every reading sent"
            results[f"iobeam_{label}_readings_per_s"] = sent / took
            results[f"iobeam_{label}_requests_per_1000"] = requests_made * 1000 / sent
    return results


def _floor_readings(total: int, start_ms: int) -> list[Any]:
    """`total` readings of 10 SHT3x-like sensors read at different moments (sensor s at +s ms), 2 series each."""
    from sensorkit.readings import Reading

    out = []
    for i in range(total // 2):
        sensor, t = i % 10, start_ms + (i // 10) * 1000 + i % 10
        out += [Reading(f"s{sensor}_temperature", f"s{sensor}", "temperature", 20.0 + i % 50 / 10, "°C", t),
                Reading(f"s{sensor}_humidity", f"s{sensor}", "humidity", 50.0 + i % 30 / 10, "%RH", t)]
    return out


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# What a drain run samples besides its backlog: one simulated SHT3x (the uploader table follows).
DRAIN_SENSOR = """[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "1s"

"""


def bench_iobeam_drain(total: int, *, latency_ms: float = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A backlog of `total` readings delivered by `sensorkit run` to the local iobeam server, as a Pi would.

    The backlog (10 SHT3x-like sensors read at different moments) is put in
    the run's outbox first; the run is the real command with the uploader at
    its defaults (batches of 1000) and one simulated sensor. Timed from the
    command's start until the backlog's last reading is at the server; its
    peak RSS (VmHWM) and CPU read then. `latency_ms` delays every answer of
    the server; `env` replaces the command's environment.
    """
    from sensorkit.emulators.iobeam import IobeamEmulator
    from sensorkit.outbox import Outbox

    with IobeamEmulator(latency_ms=latency_ms) as server, \
            tempfile.TemporaryDirectory(prefix=BENCH_DIR_PREFIX, dir=_bench_parent()) as state:
        outbox = Outbox(Path(state) / "outbox.sqlite", ["iobeam"])
        start_ms = time.time_ns() // 1_000_000 - (total // 20) * 1000  # recent: within max_age
        backlog = _floor_readings(total, start_ms)
        for first in range(0, len(backlog), 10_000):
            outbox.add(backlog[first:first + 10_000])
            outbox.commit()
        outbox.close()
        newest = backlog[-1]
        last = (newest.series, newest.timestamp_ms)  # delivered in order: once it is there, all are
        del backlog
        config = Path(state) / "sensorkit.toml"
        config.write_text(DRAIN_SENSOR + f"""[uploader.iobeam]
project_id = {server.project_id}
token = "{server.project_token}"
base_url = "{server.url}/v1/"
""")
        command = [*sensorkit_command()[:-1], "run", "--simulate", "-c", str(config), "--state-dir", state,
                   "--output", "jsonl"]
        began = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        try:
            # The first request (the device's registration, just before the first import) is when the run has
            # started and delivery begins: the drain's own time runs from there, as a timed send() does.
            while not server.requests and child.poll() is None:
                time.sleep(0.001)
            first_request_s = time.perf_counter() - began
            # Waiting on the server's count of accepted points costs no query and no store lock, so the
            # check does not slow the drain it measures. The backlog is delivered in order, so once that
            # many points were accepted its last reading is there; a resent batch would make the count
            # pass too soon, which the one exact look-up then catches.
            expected = total
            while True:
                if server.wait_for_points(expected, timeout_s=0.2):
                    took = time.perf_counter() - began
                    cpu_s = _cpu_s(child.pid)
                    newest_there = [p.time_us // 1000 for d in server.devices()
                                    for p in server.points(d.device_id, last[0])[-1:]]
                    if last[1] in newest_there:
                        break
                    expected = server.accepted_points + 1
                if child.poll() is not None:
                    raise RuntimeError(f"sensorkit run ended early: {child.stderr.read()}")
            with open(f"/proc/{child.pid}/status") as status:
                peak_kb = int(status.read().split("VmHWM:")[1].split()[0])
        finally:
            child.terminate()
            child.communicate(timeout=60)
        backlog_points = sum(1 for p in server.points() if p.series.startswith("s"))
        requests_made = server.request_count(method="POST", path="/v1/imports")
        assert backlog_points == total, f"the server must hold every reading of the backlog, has {backlog_points:,}"
        return {"readings": total, "seconds": took, "per_s": total / took, "cpu_s": cpu_s,
                "start_s": first_request_s, "per_s_sending": total / (took - first_request_s),
                "requests_per_1000": requests_made * 1000 / total, "max_rss_mb": peak_kb / 1024,
                "latency_ms": latency_ms}


# -------------------------------------------------------------- iobeam against the original client (issue 12 §4)
# The original iobeam 0.11 client is not a dependency: the side-by-side rows run it from a directory given
# with --iobeam-original DIR (or $SENSORKIT_BENCH_IOBEAM), made with
#     pip install --no-deps --target DIR iobeam==0.11.0 pyjwt
# (--no-deps: its enum34 requirement would shadow the standard enum module on Python 3).
ORIGINAL_IOBEAM_ENV = "SENSORKIT_BENCH_IOBEAM"
SIDE_BY_SIDE_READINGS = 200_000

# One client in its own process, as `sensorkit run` is: 20 one-column DataStores filled first, then one
# send(), timed alone (wall and CPU). One-column stores because the original's send() turns addDataPoint
# series into exactly those before sending (the same requests), and because its DataPoint cannot take a
# float on Python 3 (its __hash__ returns usec + value). argv: original|sensorkit URL PROJECT TOKEN TOTAL
_CLIENT_CHILD = """
import json, sys, time
which, url, project_id, token, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
if which == "original":
    from iobeam import iobeam as ib
    client = ib.ClientBuilder(project_id, token).setBackend(url + "/v1/").registerOrSetId("original").build()
else:
    from sensorkit.uploaders import iobeam as ib
    client = ib.Iobeam(None, project_id, token, backend=url).registerOrSetId("sensorkit")
stores = {}
start_ms = 1_700_000_000_000
for i in range(total // 2):
    sensor, t = i % 10, start_ms + (i // 10) * 1000 + i % 10
    for name, value in ((f"s{sensor}_temperature", 20.0 + i % 50 / 10), (f"s{sensor}_humidity", 50.0 + i % 30 / 10)):
        store = stores.get(name) or stores.setdefault(name, client.createDataStore([name]))
        store.add(t, {name: value})
began, cpu = time.perf_counter(), time.process_time()
client.send()
print(json.dumps({"seconds": time.perf_counter() - began, "cpu_s": time.process_time() - cpu}))
"""


def original_iobeam_path(given: str | None) -> str | None:
    """The directory holding the original iobeam client, or None (with the reason printed) when it cannot run."""
    path = given or os.environ.get(ORIGINAL_IOBEAM_ENV)
    probe = [sys.executable, "-c", "from iobeam import iobeam; import jwt"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (path, str(ROOT)) if p)}
    if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
        return path or ""
    return None


def _cached_bytecode_env(cache: str) -> dict[str, str]:
    """The environment for a benchmarked process whose bytecode is cached (in `cache`), as an installed package's is.

    A machine with PYTHONDONTWRITEBYTECODE set would otherwise compile every
    module at every start, a cost the start-up of `sensorkit run` pays and a
    client timed from its send() does not.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def bench_iobeam_client(which: str, total: int, original_path: str, *,
                        env: dict[str, str] | None = None) -> dict[str, Any]:
    """One client (`original` or `sensorkit`) sending `total` points with one send() to a fresh local server."""
    from sensorkit.emulators.iobeam import IobeamEmulator

    with IobeamEmulator() as server:
        path = os.pathsep.join(p for p in ((original_path if which == "original" else ""), str(ROOT)) if p)
        child = subprocess.run([sys.executable, "-c", _CLIENT_CHILD, which, server.url, str(server.project_id),
                                server.project_token, str(total)],
                               capture_output=True, text=True, env={**(env or os.environ), "PYTHONPATH": path})
        if child.returncode:
            raise RuntimeError(f"the {which} client failed: {child.stderr[-2000:]}")
        result = json.loads(child.stdout)
        stored = len(server.points())
        assert stored == total, f"the server must hold every point the {which} client sent, has {stored:,}"
        requests_made = server.request_count(method="POST", path="/v1/imports")
    return {**result, "per_s": total / result["seconds"], "requests_per_1000": requests_made * 1000 / total}


def bench_iobeam_side_by_side(total: int, repeats: int, original_path: str | None,
                              env: dict[str, str] | None = None) -> dict[str, Any]:
    """The original client's send(), sensorkit's client's send() and `sensorkit run` draining, on the same points.

    Each run gets a fresh local server and its own process (bytecode cached,
    after one warm-up run of each); the order of the three alternates between
    repeats, so a busy moment of a shared machine does not fall on one of
    them only. Medians, and ratios of medians.
    """
    if original_path is None:
        return {"skipped": "the original iobeam 0.11 client is not importable: make a directory with "
                           "`pip install --no-deps --target DIR iobeam==0.11.0 pyjwt` and pass "
                           f"--iobeam-original DIR (or set ${ORIGINAL_IOBEAM_ENV})"}
    runs: dict[str, list[dict[str, Any]]] = {"original": [], "sensorkit": [], "drain": []}
    hide_orjson = tempfile.mkdtemp(prefix=BENCH_DIR_PREFIX, dir=_bench_parent())
    if _json_encoder() == "orjson":  # the drain once more as where orjson is not installed
        runs["drain_stdlib_json"] = []
        Path(hide_orjson, "orjson.py").write_text('raise ImportError("hidden by the benchmark")\n')
    stdlib_env = {**(env or os.environ), "PYTHONPATH": hide_orjson}

    def run(which: str, readings: int) -> dict[str, Any]:
        if which == "drain":
            return bench_iobeam_drain(readings, env=env)
        if which == "drain_stdlib_json":
            return bench_iobeam_drain(readings, env=stdlib_env)
        return bench_iobeam_client(which, readings, original_path, env=env)

    for which in runs:  # warm-up, not counted: bytecode compiled and cached, files in the page cache
        run(which, 20_000)
    try:
        for repeat in range(repeats):
            order = list(runs)
            for which in (order if repeat % 2 == 0 else order[::-1]):
                runs[which].append(run(which, total))
    finally:
        shutil.rmtree(hide_orjson, ignore_errors=True)
    out: dict[str, Any] = {"readings": total, "repeats": repeats, "json": _json_encoder()}
    for which, results in runs.items():
        keys = ("per_s", "cpu_s", "requests_per_1000") + (("per_s_sending", "start_s") if "drain" in which else ())
        out[which] = {key: statistics.median(r[key] for r in results) for key in keys}
        out[which]["all_per_s"] = [r["per_s"] for r in results]
    for which in ("sensorkit", "drain"):
        out[f"{which}_ratio"] = out[which]["per_s"] / out["original"]["per_s"]
    out["drain_sending_ratio"] = out["drain"]["per_s_sending"] / out["original"]["per_s"]
    if "drain_stdlib_json" in out:
        out["drain_stdlib_json_ratio"] = out["drain_stdlib_json"]["per_s"] / out["original"]["per_s"]
    return out


def _json_encoder() -> str:
    from sensorkit.uploaders import http

    return "orjson" if getattr(http, "_orjson", None) is not None else "json (standard library)"


def bench_byteport(instants: int) -> dict[str, Any]:
    """Stores/s to the local Byteport server by POST and by GET, and requests per sampling instant.

    Ten sensors with two series each, every sensor read at its own moment
    (so every reading's instant is one sensor's), sent in batches of 1000
    readings by one uploader, as delivery would.
    """
    from sensorkit.emulators.byteport import ByteportEmulator
    from sensorkit.readings import Reading
    from sensorkit.uploaders import build_uploader
    from sensorkit.uploaders.settings import BYTEPORT, UploaderConfig

    start_ms = 1_700_000_000_000
    readings = []
    for i in range(instants // 10):
        for s in range(10):
            t = start_ms + i * 1000 + s * 37
            readings += [Reading(f"s{s}_temperature", f"s{s}", "temperature", 20.0 + i % 7, "°C", t),
                         Reading(f"s{s}_humidity", f"s{s}", "humidity", 50.0 + i % 5, "%RH", t)]
    batches = [readings[i:i + 1000] for i in range(0, len(readings), 1000)]
    moments = len({r.timestamp_ms for r in readings})
    results: dict[str, Any] = {"instants": moments}
    for method in ("post", "get"):
        with ByteportEmulator() as server, tempfile.TemporaryDirectory() as state:
            values = {k.name: k.default for k in BYTEPORT.keys if k.default is not None}
            values.update(namespace=server.namespace, key=server.key, device_uid="bench", base_url=server.url,
                          method=method)
            uploader = build_uploader(UploaderConfig("byteport", values), state)
            began = time.perf_counter()
            for batch in batches:
                uploader.send(batch)
            took = time.perf_counter() - began
            made = server.request_count(path=f"/api/v1/timeseries/{server.namespace}/bench/", status=200)
            assert len(server.points()) == len(readings), "the server must hold every reading sent"
            results[f"{method}_stores_per_s"] = made / took
            results[f"{method}_readings_per_s"] = len(readings) / took
            results[f"{method}_requests_per_instant"] = made / moments
    return results


# ------------------------------------------------------------------------------------------------ mqtt
# The MQTT rows: a local mosquitto (started here, its defaults but for the port, anonymous access
# and unlimited queues for the bench's own subscriber), `sensorkit run` processes against it.

TUNED_MOSQUITTO = "set_tcp_nodelay true\nmax_inflight_messages 1000\n"
MQTT_FLEET_DEVICES = 100
MQTT_FLEET_SECONDS = 60
# The fleet's devices run the built-in demo's sensors, with the MQTT uploader added.
FLEET_UPLOADER = """
[uploader.mqtt]
host = "127.0.0.1"
port = {port}
device_id = "{device}"
homeassistant = true
"""


class _LocalMosquitto:
    """mosquitto on a free 127.0.0.1 port, with $SYS every second; a context manager."""

    port: int

    def __init__(self, directory: str, *, tuned: bool = False) -> None:
        import socket

        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
        if binary is None:
            raise RuntimeError("no mosquitto here (apt-get install mosquitto)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        conf = Path(directory) / "mosquitto.conf"
        # tuned: no Nagle on the broker's side, and a Receive Maximum of 1000 rather than 20
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n"
                        "max_queued_messages 0\n" + (TUNED_MOSQUITTO if tuned else ""))
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)

    def __enter__(self) -> _LocalMosquitto:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)

    def cpu_s(self) -> float:
        return _cpu_s(self.process.pid)


class _Counter:
    """The bench's own MQTT client: counts the readings that arrive per topic prefix, and $SYS figures."""

    def __init__(self, port: int, *filters: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.port = port
        self.lock = threading.Lock()
        self.readings: dict[str, set[tuple[str, int]]] = {}
        self.messages = 0
        self.synced = False
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter",
                                  protocol=paho.MQTTv311)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f, 1) for f in filters] or [("sensorkit/bench-sync", 1)])
        self.client.loop_start()
        if not subscribed.wait(30):
            raise RuntimeError("the bench's subscriber could not subscribe")

    def _message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            if message.topic == "sensorkit/bench-sync":
                self.synced = True
                return
            self.messages += 1
            prefix, _, series = message.topic.rpartition("/")
            if series in ("status", "state") or prefix.endswith("/status"):
                return
            doc = json.loads(message.payload)
            self.readings.setdefault(prefix, set()).add((series, doc["timestamp_ms"]))

    def sync(self) -> None:
        """A marker through the broker: once it is back, everything published before it is here."""
        with self.lock:
            before = self.messages
        self.client.publish("sensorkit/bench-sync", b"{}", qos=1).wait_for_publish(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.lock:
                if self.synced:
                    self.synced = False
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the marker did not come back ({self.messages - before} messages meanwhile)")

    def packets_received(self) -> int:
        """mosquitto's count of packets received ($SYS/broker/messages/received: PUBLISH and the few
        CONNECT, SUBSCRIBE and PINGREQ; 2.0 has no count of PUBLISH alone), as of its last $SYS update."""
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        time.sleep(1.5)  # mosquitto updates $SYS every second (sys_interval 1)
        got = threading.Event()
        value: list[int] = []
        viewer = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sys", protocol=paho.MQTTv311)
        viewer.on_message = lambda client, userdata, message: (value.append(int(message.payload)), got.set())
        viewer.connect("127.0.0.1", self.port)
        viewer.subscribe("$SYS/broker/messages/received")
        viewer.loop_start()
        try:
            if not got.wait(30):
                raise RuntimeError("no $SYS figure from mosquitto")
            return value[0]
        finally:
            viewer.disconnect()
            viewer.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) / 1024


def bench_mqtt_drain(total: int, *, tuned: bool = False) -> dict[str, Any]:
    """A backlog of `total` readings delivered by `sensorkit run` to the local mosquitto at QoS 1.

    As the iobeam drain: the backlog (10 SHT3x-like sensors) is put in the
    run's outbox first; the run is the real command with the uploader at its
    defaults (QoS 1, batches of 1000) and one simulated sensor. Timed from the
    command's start until the backlog's last reading is at the bench's
    subscriber (of that one series: delivered in order, once it is there all
    are); the run's peak RSS read then. Messages per reading: the packets
    mosquitto received ($SYS) over the backlog's size (the run's own live
    readings, status and discovery included, and a few CONNECT/PINGREQ).
    `tuned`: the broker with TUNED_MOSQUITTO's settings.
    """
    from sensorkit.outbox import Outbox
    from sensorkit.readings import Reading

    with tempfile.TemporaryDirectory(dir=_bench_dir()) as state, _LocalMosquitto(state, tuned=tuned) as broker:
        outbox_file = Path(state) / "outbox.sqlite"
        outbox = Outbox(outbox_file, ["mqtt"])
        start_ms = time.time_ns() // 1_000_000 - (total // 20) * 1000
        batch: list[Any] = []
        for i in range(total // 2):
            sensor, t = i % 10, start_ms + (i // 10) * 1000 + i % 10
            batch += [Reading(f"s{sensor}_temperature", f"s{sensor}", "temperature", 20.5, "°C", t),
                      Reading(f"s{sensor}_humidity", f"s{sensor}", "humidity", 50.5, "%RH", t)]
            newest = batch[-1]
            if len(batch) >= 10_000:
                outbox.add(batch)
                outbox.commit()
                batch = []
        outbox.add(batch)
        outbox.commit()
        outbox.close()
        last = (newest.series, newest.timestamp_ms)
        config = Path(state) / "sensorkit.toml"
        config.write_text(DRAIN_SENSOR + f"""[uploader.mqtt]
host = "127.0.0.1"
port = {broker.port}
device_id = "bench"
""")
        counter = _Counter(broker.port, f"sensorkit/bench/{last[0]}")
        before = counter.packets_received()
        command = [*sensorkit_command()[:-1], "run", "--simulate", "-c", str(config), "--state-dir", state,
                   "--output", "jsonl"]
        began = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                if child.poll() is not None:
                    raise RuntimeError(f"sensorkit run ended early: {child.stderr.read()}")
                with counter.lock:
                    if last in counter.readings.get("sensorkit/bench", ()):
                        break
                time.sleep(0.2)
            took = time.perf_counter() - began
            peak_mb = _peak_rss_mb(child.pid)
        finally:
            child.terminate()
            child.communicate(timeout=60)
        # less the second $SYS viewer's CONNECT and SUBSCRIBE, and the counter's PUBACKs
        packets = counter.packets_received() - before - 2 - counter.messages
        counter.close()
        return {"readings": total, "per_s": total / took, "messages_per_reading": packets / total,
                "max_rss_mb": peak_mb}


def bench_mqtt_fleet(devices: int, seconds: float) -> dict[str, Any]:
    """`devices` processes of `sensorkit run --simulate` (the demo's sensors, Home Assistant on) publishing
    to one local mosquitto: their CPU per device over `seconds` once all are delivering, and whether the
    broker got every reading each printed (a subscriber of the bench's own counts them)."""
    from sensorkit.system import DEMO_CONFIG

    with tempfile.TemporaryDirectory(dir=_bench_dir()) as work, _LocalMosquitto(work) as broker:
        counter = _Counter(broker.port, "sensorkit/#")
        runs = []
        for number in range(devices):
            device = f"dev{number:03d}"
            directory = Path(work) / device
            directory.mkdir()
            uploader = FLEET_UPLOADER.format(port=broker.port, device=device)
            (directory / "sensorkit.toml").write_text(DEMO_CONFIG + uploader)
            out = open(directory / "readings.jsonl", "w")  # noqa: SIM115 - closed below
            child = subprocess.Popen([*sensorkit_command()[:-1], "run", "--simulate", "-c",
                                      str(directory / "sensorkit.toml"), "--state-dir", str(directory / "state"),
                                      "--output", "jsonl"], stdout=out, stderr=subprocess.DEVNULL)
            runs.append((device, child, out, directory))
        try:
            deadline = time.monotonic() + 600
            while True:  # warm: every device started and delivering
                with counter.lock:
                    delivering = sum(1 for d, *_ in runs if counter.readings.get(f"sensorkit/{d}"))
                if delivering == devices:
                    break
                if time.monotonic() > deadline or any(c.poll() is not None for _, c, _, _ in runs):
                    raise RuntimeError(f"only {delivering} of {devices} devices delivered")
                time.sleep(0.5)
            cpu_before = sum(_cpu_s(c.pid) for _, c, _, _ in runs)
            broker_before = broker.cpu_s()
            began = time.monotonic()
            time.sleep(seconds)
            span = time.monotonic() - began
            cpu = sum(_cpu_s(c.pid) for _, c, _, _ in runs) - cpu_before
            broker_cpu = broker.cpu_s() - broker_before
            rss = statistics.mean(_peak_rss_mb(c.pid) for _, c, _, _ in runs)
        finally:
            for _, child, _, _ in runs:
                child.terminate()
            for _, child, out, _ in runs:
                child.wait(120)
                out.close()
        counter.sync()  # what the runs delivered before they stopped has reached the counter
        printed = lost = 0
        for device, _, _, directory in runs:
            taken = {(r["series"], r["timestamp_ms"]) for r in map(json.loads, (directory / "readings.jsonl")
                                                                     .read_text().splitlines())}
            printed += len(taken)
            with counter.lock:
                lost += len(taken - counter.readings.get(f"sensorkit/{device}", set()))
        counter.close()
        return {"devices": devices, "seconds": span, "cpu_percent_per_device": 100 * cpu / span / devices,
                "broker_cpu_percent": 100 * broker_cpu / span, "mean_peak_rss_mb": rss,
                "readings": printed, "lost": lost}


def rows_of(results: dict[str, Any]) -> list[tuple[str, float, str, str | None, bool | None]]:
    rows: list[tuple[str, float, str, str | None, bool | None]] = []
    if "timer_floor" in results:
        f = results["timer_floor"]
        rows += [
            ("timer floor p50 (a bare 100 Hz wait)", f["p50_ms"], "ms", None, None),
            ("  timer floor p99", f["p99_ms"], "ms", None, None),
        ]
    for s in results.get("sampler", []):
        p99, target = s["jitter_p99_ms"], JITTER_P99_TARGET_MS
        rows += [
            (f"sampler jitter p50 ({s['sensors']} sensors @ {s['rate_hz']:g} Hz)", s["jitter_p50_ms"], "ms",
             None, None),
            ("  sampler jitter p99", p99, "ms", f"<= {target:g}", p99 <= target),
            ("  sampler jitter max", s["jitter_max_ms"], "ms", None, None),
            ("  a bare 100 Hz wait beside it, p50", s["beside_p50_ms"], "ms", None, None),
            ("  a bare 100 Hz wait beside it, p99", s["beside_p99_ms"], "ms", None, None),
        ]
        if s is results["sampler"][0]:
            rows.append((f"  sampler drift after {s['samples']:,} samples", s["drift_ms"], "ms", "< 5",
                         s["drift_ms"] < 5))
    if "startup" in results:
        s = results["startup"]
        rows += [
            ("python3 -c pass", s["python_ms"], "ms", None, None),
            ("sensorkit --help", s["sensorkit_help_ms"], "ms", None, None),
            ("start-up overhead", s["overhead_ms"], "ms", "<= 60", s["overhead_ms"] <= 60),
        ]
    if "outbox" in results:
        o = results["outbox"]
        rows.append(("outbox ingest (10 threads, committer)", o["ingest"]["per_s"], "/s", ">= 50000",
                     o["ingest"]["per_s"] >= 50_000 and o["ingest"]["dropped"] == 0))
        for q in (1, 2):
            simulated = o[f"bytes{q}"]["per_reading"]
            minutes = o[f"bytes{q}"]["simulated_s"] / 60
            rows.append((f"outbox bytes/reading, 10 sensors x {q} @ 1 Hz, {minutes:g} min simulated", simulated,
                         "B", "<= 200", simulated <= 200))
            if f"realtime{q}" in o:
                real = o[f"realtime{q}"]["per_reading"]
                rows.append((f"  same, {o[f'realtime{q}']['seconds']} s in real time", real, "B", "<= 200",
                             real <= 200))
        if "text" in o:
            t = o["text"]
            rows += [
                (f"outbox ingest, {TEXT_BYTES}-byte text values", t["ingest"]["per_s"], "/s", None, None),
                (f"outbox bytes/reading, 10 sensors x 1 @ 1 Hz, {TEXT_BYTES}-byte text, "
                 f"{t['bytes1']['simulated_s'] / 60:g} min simulated", t["bytes1"]["per_reading"], "B", None, None),
            ]
        rows += [
            (f"outbox drain, {o['drain']['readings']:,} to a null uploader", o["drain"]["per_s"], "/s",
             ">= 20000", o["drain"]["per_s"] >= 20_000),
            ("outbox drain: peak RSS of that process", o["drain"]["max_rss_mb"], "MB", None, None),
        ]
    if "drain" in results.get("iobeam", {}):
        i = results["iobeam"]
        floor_met = i["iobeam_10x2_requests_per_1000"] <= 1
        rows += [
            ("iobeam: readings/s, batches of 1000, 1 sensor x 2 series", i["iobeam_1x2_readings_per_s"], "/s",
             None, None),
            ("iobeam: requests per 1000 readings, same", i["iobeam_1x2_requests_per_1000"], "req", "1",
             i["iobeam_1x2_requests_per_1000"] <= 1),
            ("iobeam: readings/s, batches of 1000, 10 sensors x 2 at different moments",
             i["iobeam_10x2_readings_per_s"], "/s", None, None),
            ("iobeam: requests per 1000 readings, same", i["iobeam_10x2_requests_per_1000"], "req", "1", floor_met),
            (f"sensorkit run draining {i['drain']['readings']:,} waiting readings to iobeam",
             i["drain"]["per_s"], "/s", ">= 20000", i["drain"]["per_s"] >= 20_000),
            ("  requests per 1000 readings in that drain", i["drain"]["requests_per_1000"], "req", "1",
             i["drain"]["requests_per_1000"] <= 1.01),  # the simulated sensor's own readings add a few
            ("  peak RSS of sensorkit run during that drain", i["drain"]["max_rss_mb"], "MB", "<= 60",
             i["drain"]["max_rss_mb"] <= 60),
        ]
    if "byteport" in results:
        b = results["byteport"]
        for method in ("post", "get"):
            rows += [
                (f"byteport: stores/s by {method.upper()}, 10 sensors x 2 at distinct moments",
                 b[f"{method}_stores_per_s"], "/s", None, None),
                ("  readings/s, same", b[f"{method}_readings_per_s"], "/s", None, None),
                ("  requests per sampling instant, same", b[f"{method}_requests_per_instant"], "req", "1",
                 b[f"{method}_requests_per_instant"] <= 1),
            ]
    rows += _side_by_side_rows(results)
    return rows


def _side_by_side_rows(results: dict[str, Any]) -> list[tuple[str, float, str, str | None, bool | None]]:
    """The rows of the latency drain and of the original iobeam client beside sensorkit's (issue 12 §4)."""
    rows: list[tuple[str, float, str, str | None, bool | None]] = []
    i = results.get("iobeam", {})
    if "latency_drain" in i:
        d = i["latency_drain"]
        rows += [(f"sensorkit run draining {d['readings']:,} (10 sensors x 2) with --latency-ms {d['latency_ms']:g}",
                  d["per_s"], "/s", ">= 20000", d["per_s"] >= 20_000),
                 ("  requests per 1000 readings in that drain", d["requests_per_1000"], "req", "1",
                  d["requests_per_1000"] <= 1.01)]
    v = i.get("vs_original")
    if v is None:
        return rows
    if "skipped" in v:
        results.setdefault("notes", []).append(f"original iobeam rows skipped: {v['skipped']}")
        return rows
    n = f"{v['readings']:,}"
    for which, label in (("original", f"original iobeam 0.11 client, one send() of {n} points"),
                         ("sensorkit", "sensorkit's iobeam client, the same send()"),
                         ("drain", f"sensorkit run draining the same {n} from its outbox, from its start")):
        rows.append((label, v[which]["per_s"], "/s", None, None))
        rows.append(("  its CPU per 1000 readings", v[which]["cpu_s"] * 1000 / v["readings"] * 1000, "ms",
                     None, None))
    d = v["drain"]
    rows += [(f"  same drain from its first request ({d['start_s']:.2f} s after its start)", d["per_s_sending"],
              "/s", None, None),
             ("  sensorkit client / original", v["sensorkit_ratio"], "x", None, None),
             ("  sensorkit run drain / original, from its start", v["drain_ratio"], "x", ">= 1.0",
              v["drain_ratio"] >= 1.0),
             ("  sensorkit run drain / original, from its first request", v["drain_sending_ratio"], "x", ">= 1.0",
              v["drain_sending_ratio"] >= 1.0)]
    if "drain_stdlib_json" in v:
        plain = v["drain_stdlib_json"]
        rows += [("the same drain with orjson hidden (standard-library JSON), from its start", plain["per_s"], "/s",
                  None, None),
                 ("  its CPU per 1000 readings", plain["cpu_s"] * 1000 / v["readings"] * 1000, "ms", None, None),
                 ("  / original", v["drain_stdlib_json_ratio"], "x", None, None)]
    if "mqtt" in results:
        m = results["mqtt"]
        i = results.get("iobeam", {}).get("drain")
        goal = f">= {i['per_s']:,.0f}" if i else None
        rows += [
            (f"sensorkit run draining {m['drain']['readings']:,} waiting readings to mosquitto, QoS 1",
             m["drain"]["per_s"], "/s", goal, m["drain"]["per_s"] >= i["per_s"] if i else None),
            ("  MQTT messages per reading in that drain", m["drain"]["messages_per_reading"], "msg", None, None),
            ("  peak RSS of sensorkit run during that drain", m["drain"]["max_rss_mb"], "MB", "<= 60",
             m["drain"]["max_rss_mb"] <= 60),
            (f"  same, {m['tuned']['readings']:,} readings, mosquitto with set_tcp_nodelay and "
             "max_inflight_messages 1000", m["tuned"]["per_s"], "/s", None, None),
            (f"{m['fleet']['devices']} sensorkit run processes to one broker: CPU per device",
             m["fleet"]["cpu_percent_per_device"], "%", None, None),
            ("  mosquitto's CPU for all of them", m["fleet"]["broker_cpu_percent"], "%", None, None),
            ("  readings printed / lost at the broker", m["fleet"]["readings"], "rd", "0 lost",
             m["fleet"]["lost"] == 0),
        ]
    return rows


def print_table(results: dict[str, Any]) -> None:
    rows = rows_of(results)
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'benchmark':<{width}}  {'value':>9}  unit  {'target':<8} met")
        for name, value, unit, target, met in rows:
            mark = "" if met is None else ("yes" if met else "NO")
            print(f"{name:<{width}}  {value:>9.2f}  {unit:<4}  {target or '':<8} {mark}")
    if "drivers" in results:
        import bench_drivers

        print()
        for label, figure in bench_drivers.rows(results["drivers"]):
            print(f"{label}: {figure}")
    if "outbox" in results:
        print(f"\noutbox rows measured in {results['outbox']['directory']} ({results['outbox']['filesystem']})")
    vs_original = results.get("iobeam", {}).get("vs_original", {})
    if "json" in vs_original:
        print(f"\nside by side with the original iobeam client: medians of {vs_original['repeats']} alternated runs; "
              f"sensorkit encoded JSON with {vs_original['json']}")
    for note in results.get("notes", []):
        print(f"\n{note}")
    print(f"\n{results['machine']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true",
                        help="sampler runs of 10 s instead of 100 s, 10 start-ups, smaller outbox runs")
    parser.add_argument("--only", choices=("sampler", "startup", "outbox", "iobeam", "iobeam-original", "byteport",
                                           "drivers", "mqtt"),
                        help="run one benchmark (iobeam-original: the latency drain and the side-by-side rows only)")
    parser.add_argument("--jitter", type=jitter_run, action="append", metavar="SENSORSxHZ",
                        help="sampler runs to make instead of 10x10, 50x1 and 100x1 (repeatable)")
    parser.add_argument("--iobeam-original", metavar="DIR",
                        help="a directory holding the original iobeam 0.11 client and pyjwt (pip install --no-deps "
                        "--target DIR iobeam==0.11.0 pyjwt), for the side-by-side rows; "
                        f"default ${ORIGINAL_IOBEAM_ENV}")
    parser.add_argument("--outbox-realtime", nargs=2, metavar=("QUANTITIES", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.outbox_realtime:
        quantities, directory = args.outbox_realtime
        print(json.dumps(bench_outbox_bytes_realtime(directory, REALTIME_S, int(quantities))))
        return 0
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.only in (None, "sampler"):
        results["timer_floor"] = bench_timer_floor(10.0)
        results["sampler"] = bench_samplers(args.quick, args.jitter)
    if args.only in (None, "startup"):
        results["startup"] = bench_startup(10 if args.quick else 30)
    if args.only in (None, "outbox"):
        results["outbox"] = bench_outbox(args.quick)
    if args.only in (None, "iobeam", "iobeam-original"):
        # Every `sensorkit run` of these rows starts with its bytecode cached, as an installed package's is.
        with tempfile.TemporaryDirectory(prefix=BENCH_DIR_PREFIX, dir=_bench_parent()) as cache:
            env = _cached_bytecode_env(cache)
            bench_iobeam_drain(2_000, env=env)  # warm-up, not counted
            iobeam_rows = results.setdefault("iobeam", {})
            if args.only != "iobeam-original":
                iobeam_rows.update(bench_iobeam(5 if args.quick else 20))
                iobeam_rows["drain"] = bench_iobeam_drain(100_000 if args.quick else 1_000_000, env=env)
            iobeam_rows["latency_drain"] = bench_iobeam_drain(100_000 if args.quick else 200_000, latency_ms=20,
                                                              env=env)
            iobeam_rows["vs_original"] = bench_iobeam_side_by_side(
                SIDE_BY_SIDE_READINGS, 1 if args.quick else 3, original_iobeam_path(args.iobeam_original), env)
    if args.only in (None, "byteport"):
        results["byteport"] = bench_byteport(2_000 if args.quick else 10_000)
    if args.only in (None, "drivers"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_drivers

        results["drivers"] = bench_drivers.bench_drivers()
    if args.only in (None, "mqtt"):
        results["mqtt"] = {
            "drain": bench_mqtt_drain(100_000 if args.quick else 1_000_000),
            "tuned": bench_mqtt_drain(100_000, tuned=True),
            "fleet": bench_mqtt_fleet(*((20, 15) if args.quick else (MQTT_FLEET_DEVICES, MQTT_FLEET_SECONDS))),
        }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
