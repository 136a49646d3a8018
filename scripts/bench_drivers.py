"""Benchmark rows for the drivers: bus cost per reading, time beyond the conversion, 1-wire bulk reads.

Run through `scripts/bench.py --only drivers` (or this file alone for its table). Each I2C chip
is read by its driver from its twin on an emulated bus: the bus counts transactions (one per
ioctl) and bytes, and a fake clock makes the conversion waits instant, so the wall time of a
reading is what it costs beyond its conversion delay (Python, the driver, the emulated bus).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.emulated import EmulatedSMBus  # noqa: E402
from sensorkit.catalog import DRIVERS, load  # noqa: E402
from sensorkit.clock import FakeClock  # noqa: E402

# The fewest transactions and bytes (written + read) one reading can take by each datasheet,
# without clock stretching (the Pi's adapter mishandles it), and why.
DATASHEET_MINIMUM = {
    "sht3x": (2, 8, "command (2 B), then the 6-byte result once converted"),
    "sht4x": (2, 7, "command (1 B), then the 6-byte result"),
    "shtc3": (4, 12, "wake-up, measure, 6-byte result, sleep: asleep, it answers nothing but wake-up"),
    "bme280": (2, 11, "ctrl_meas write for a forced conversion (2 B), then pointer + 8-byte burst"),
    "bmp280": (2, 9, "ctrl_meas write (2 B), then pointer + 6-byte burst"),
    "aht2x": (2, 10, "trigger (3 B), then status + 5 data bytes + CRC once converted"),
    "htu21d": (3, 8, "RH command, RH read + T command (repeated start), T read (2 on Si70xx: T from the RH"
               " conversion)"),
    "hdc1080": (2, 5, "pointer 0x00 starts the conversion, then one 4-byte read (a read during it is NACKed)"),
}
READINGS = 200  # per chip, after the first (which also checks the identity)


def i2c_reading_cost(driver: str) -> dict[str, Any]:
    """Steady-state transactions, bytes and µs per reading of `driver` against its twin."""
    spec = DRIVERS[driver]
    clock = FakeClock()
    bus = EmulatedSMBus(1)
    address = spec.addresses[0]
    bus.attach(address, load(spec.twin)(clock=clock.monotonic))
    sensor = spec.load_class()(bus, address, sleep=clock.sleep)
    sensor.read()  # identity check, set-up
    bus.reset_counters()
    started = time.perf_counter()
    for _ in range(READINGS):
        clock.advance(spec.min_interval({}))
        sensor.read()
    elapsed = time.perf_counter() - started
    transactions, moved = bus.transactions / READINGS, (bus.bytes_written + bus.bytes_read) / READINGS
    minimum = DATASHEET_MINIMUM[driver]
    return {"driver": driver, "transactions": transactions, "bytes": moved, "minimum_transactions": minimum[0],
            "minimum_bytes": minimum[1], "why": minimum[2], "us_per_reading": 1e6 * elapsed / READINGS}


def w1_read_cost(count: int, *, bulk: bool, resolution: int = 12) -> float:
    """Fake-clock seconds to read `count` DS18B20 once on one emulated bus."""
    from drivers.ds18b20 import DS18B20, W1Bus
    from drivers.emulated import EmulatedW1Bus

    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        twin = EmulatedW1Bus(Path(tmp), clock=clock.monotonic, sleep=clock.sleep)
        serials = [f"28-0000{i:08x}" for i in range(count)]
        for serial in serials:
            twin.add_sensor(serial, resolution=resolution)
        shared = W1Bus(twin.root, sleep=twin.sleep, clock=clock.monotonic)
        # One by one: each sensor converts for itself (what N `temperature` reads cost on a kernel);
        # bulk: they share one W1Bus, so the first read's trigger converts them all.
        sensors = [DS18B20(twin.root, s, resolution=resolution, sleep=twin.sleep, clock=clock.monotonic,
                           bus=shared if bulk else None) for s in serials]
        start = clock.monotonic()
        for sensor in sensors:
            sensor.read()
        return clock.monotonic() - start


EDGE_CONFIG = """\
[device]
board = "simulated"
i2c_buses = { 1 = { sda = 2, scl = 3 }, 3 = { sda = 23, scl = 24 }, 4 = { sda = 5, scl = 6 } }
""" + "".join(f'\n[[sensor]]\nname = "air{i}"\ndriver = "sht3x"\nbus = {(1, 3, 4)[i % 3]}\n'
              f'address = {0x44 + (i // 3) % 2:#04x}\ninterval = "100ms"\n' for i in range(6)) + "".join(
    f'\n[[sensor]]\nname = "in{i}"\ndriver = "gpio_input"\npin = {16 + i}\ninterval = "100ms"\n' for i in range(4)) + (
    '\n[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = 27\ninterval = "1w"\n')  # its edges only


def edge_delays(seconds: float = 5.0, rate_hz: float = 100.0) -> dict[str, float]:
    """Edge -> timestamp delay of a gpio_input's edges while 10 other sensors sample at 10 Hz.

    The edges are driven on gpiozero's mock pin at `rate_hz`; the delay is the reading's
    timestamp minus the wall time the edge was made. With MockFactory the edge callback runs in
    the thread that drives the pin (on a Pi, lgpio's callback thread adds its own latency).
    """
    import threading

    from sensorkit.config import parse_config
    from sensorkit.system import build_system

    config = parse_config(EDGE_CONFIG, "<edge bench>")
    stamped: list[int] = []
    made: list[float] = []
    with build_system(config, simulate=True) as system:
        def sink(readings: list[Any]) -> None:
            stamped.extend(r.timestamp_ms for r in readings if r.sensor == "door")

        sampler = system.sampler(sink)
        stop = threading.Event()
        worker = threading.Thread(target=sampler.run, args=(stop,), daemon=True)
        worker.start()
        pin = system.transports.pin_factory().pin(27)
        period = 1.0 / rate_hz
        next_at = time.monotonic()
        for i in range(int(seconds * rate_hz)):
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
            made.append(time.time_ns() / 1e6)
            (pin.drive_high if i % 2 == 0 else pin.drive_low)()
        stop.set()
        worker.join(5)
        sampler.stop()
    edges = stamped[-len(made):] if len(stamped) >= len(made) else []  # the first one is the interval reading
    # A timestamp is whole ms, taken in the callback: its delay is at most (stamp + 1 ms) - made.
    delays = [max(0.0, stamp + 1.0 - at) for stamp, at in zip(edges, made)]
    return {"edges": int(seconds * rate_hz), "recorded": len(delays),
            "max_ms": max(delays) if delays else float("nan"),
            "p99_ms": sorted(delays)[int(0.99 * (len(delays) - 1))] if delays else float("nan")}


def bench_drivers() -> dict[str, Any]:
    from drivers.ds18b20 import conversion_time_s

    chips = [i2c_reading_cost(name) for name in DATASHEET_MINIMUM]
    conversion = conversion_time_s(12)
    w1 = {n: {"one_by_one": w1_read_cost(n, bulk=False) / conversion, "bulk": w1_read_cost(n, bulk=True) / conversion}
          for n in (1, 4, 16)}
    return {"chips": chips, "w1_conversion_s": conversion, "w1": w1, "edges": edge_delays()}


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for chip in results["chips"]:
        out.append((f"{chip['driver']}: I2C transactions / bytes per reading (datasheet minimum)",
                    f"{chip['transactions']:g} / {chip['bytes']:g} ({chip['minimum_transactions']} / "
                    f"{chip['minimum_bytes']})"))
        out.append((f"{chip['driver']}: time per reading beyond the conversion delay",
                    f"{chip['us_per_reading']:.0f} µs"))
    for count, cost in results["w1"].items():
        out.append((f"{count} DS18B20 on one bus: read time one by one / bulk, in 12-bit conversion times",
                    f"{cost['one_by_one']:.2f} / {cost['bulk']:.2f}"))
    edges = results["edges"]
    out.append(("gpio_input edges at 100/s while 10 sensors sample at 10 Hz: edge-to-timestamp delay p99 / max "
                "(recorded of made)", f"{edges['p99_ms']:.2f} / {edges['max_ms']:.2f} ms ({edges['recorded']} of "
                f"{edges['edges']})"))
    return out


def main() -> None:
    for label, figure in rows(bench_drivers()):
        print(f"| {label} | {figure} |")


if __name__ == "__main__":
    main()
