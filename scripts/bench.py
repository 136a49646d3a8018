#!/usr/bin/env python3
"""sensorkit's benchmark suite: prints a table of figures with their targets (or --json).

Benchmarks are not tests: nothing here fails a build. Run from the repo with
the project installed (`.venv/bin/python scripts/bench.py`).

Rows:
  sampler jitter p50/p99/max   actual trigger time minus its grid time, ms, with
                               10 emulated SHT3x (5 emulated I2C buses, 2 per bus)
                               sampled at 10 Hz through the whole stack
                               (config -> board -> driver -> twin -> sampler)
  sampler drift                after 10,000 samples: the largest difference, over
                               the sensors, between the wall-clock span of a
                               sensor's samples and its grid span, ms
  start-up overhead            `sensorkit --help` minus `python3 -c pass`, median, ms
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENSORS = 10
RATE_HZ = 10.0
BUSES = 5


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def sampler_config() -> str:
    buses = ", ".join(f"{n} = {{ sda = {2 * n}, scl = {2 * n + 1} }}" for n in range(1, BUSES + 1))
    pins = ", ".join(str(p) for p in range(2, 2 * BUSES + 2))
    lines = ["[device]", 'board = "generic-linux"', f"gpio_pins = [{pins}]", f"i2c_buses = {{ {buses} }}"]
    for index in range(SENSORS):
        bus, address = index // 2 + 1, 0x44 + index % 2
        lines += [
            "[[sensor]]",
            f'name = "s{index}"',
            'driver = "sht3x"',
            f"bus = {bus}",
            f"address = {address:#x}",
            f'interval = "{1000 / RATE_HZ:g}ms"',
        ]
    return "\n".join(lines) + "\n"


def bench_sampler(total_samples: int) -> dict[str, Any]:
    from sensorkit.config import parse_config
    from sensorkit.system import build_system

    config = parse_config(sampler_config(), "<bench>")
    samples: dict[str, list[tuple[float, float, int]]] = {}
    lock = threading.Lock()
    per_sensor = total_samples // SENSORS
    done = threading.Event()
    readings = [0]

    def on_trigger(name: str, due: float, actual: float, wall_ms: int) -> None:
        with lock:
            samples.setdefault(name, []).append((due, actual, wall_ms))

    def sink(batch: list[Any]) -> None:
        with lock:
            readings[0] += len(batch)

    with build_system(config, simulate=True) as system:
        sampler = system.sampler(sink, on_trigger=on_trigger)
        duration_s = per_sensor / RATE_HZ
        sampler.run(done, duration_s=duration_s)
        sampler.stop()
    jitter_ms = [(actual - due) * 1000 for rows in samples.values() for due, actual, _ in rows]
    # Drift: how far a sensor's wall-clock timestamps wander from its grid over
    # the run, i.e. the shift in the median offset between its first and last
    # ten samples (single late samples are jitter, reported above).
    drifts = []
    interval_ms = 1000 / RATE_HZ
    for rows in samples.values():
        start_due = rows[0][0]
        offsets = [wall - round((due - start_due) * 1000 / interval_ms) * interval_ms for due, _, wall in rows]
        drifts.append(abs(statistics.median(offsets[-10:]) - statistics.median(offsets[:10])))
    worst = sorted(((actual - due) * 1000, name, i) for name, rows in samples.items()
                   for i, (due, actual, _) in enumerate(rows))[-3:]
    return {
        "samples": len(jitter_ms),
        "readings": readings[0],
        "jitter_p50_ms": statistics.median(jitter_ms),
        "jitter_p99_ms": _percentile(jitter_ms, 0.99),
        "jitter_max_ms": max(jitter_ms),
        "drift_ms": max(drifts),
        "worst": [f"{name}#{i}: {late:.1f} ms" for late, name, i in worst],
    }


def _time_command(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def sensorkit_command() -> list[str]:
    script = Path(sys.executable).with_name("sensorkit")
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "sensorkit", "--help"]


def bench_startup(runs: int) -> dict[str, Any]:
    bare, tool = [], []
    command = sensorkit_command()
    for _ in range(3):  # warm the page cache
        _time_command(command)
        _time_command([sys.executable, "-c", "pass"])
    for _ in range(runs):  # interleaved, so a busy moment hits both alike
        bare.append(_time_command([sys.executable, "-c", "pass"]))
        tool.append(_time_command(command))
    return {
        "python_ms": statistics.median(bare) * 1000,
        "sensorkit_help_ms": statistics.median(tool) * 1000,
        "overhead_ms": (statistics.median(tool) - statistics.median(bare)) * 1000,
        "command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(command)),
    }


def rows_of(results: dict[str, Any]) -> list[tuple[str, float, str, str | None, bool | None]]:
    rows: list[tuple[str, float, str, str | None, bool | None]] = []
    if "sampler" in results:
        s = results["sampler"]
        rows += [
            ("sampler jitter p50 (10 sensors @ 10 Hz)", s["jitter_p50_ms"], "ms", None, None),
            ("sampler jitter p99", s["jitter_p99_ms"], "ms", "<= 2", s["jitter_p99_ms"] <= 2),
            ("sampler jitter max", s["jitter_max_ms"], "ms", None, None),
            (f"sampler drift after {s['samples']:,} samples", s["drift_ms"], "ms", "< 5", s["drift_ms"] < 5),
        ]
    if "startup" in results:
        s = results["startup"]
        rows += [
            ("python3 -c pass", s["python_ms"], "ms", None, None),
            ("sensorkit --help", s["sensorkit_help_ms"], "ms", None, None),
            ("start-up overhead", s["overhead_ms"], "ms", "<= 60", s["overhead_ms"] <= 60),
        ]
    return rows


def print_table(results: dict[str, Any]) -> None:
    rows = rows_of(results)
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>9}  unit  {'target':<7} met")
    for name, value, unit, target, met in rows:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{name:<{width}}  {value:>9.2f}  {unit:<4}  {target or '':<7} {mark}")
    print(f"\n{results['machine']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 sampler samples instead of 10,000 (10 s instead of 100 s), 10 start-ups")
    parser.add_argument("--only", choices=("sampler", "startup"), help="run one benchmark")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.only in (None, "sampler"):
        results["sampler"] = bench_sampler(1_000 if args.quick else 10_000)
    if args.only in (None, "startup"):
        results["startup"] = bench_startup(10 if args.quick else 30)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
