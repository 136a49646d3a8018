"""What answers on a board's I2C buses, which chip each one is, and a config block for it.

A bus is scanned the way `i2cdetect` scans by default: addresses 0x08-0x77, an
SMBus quick write at each, except in the ranges where a quick write can
upset a chip (0x30-0x37 and 0x50-0x5F, where EEPROMs and some sensors take a
write as a command), which get a one-byte read instead. An answering address
is then offered to every catalog driver that can live there, in the order of
their `probe_rank`, and each one's read-only `identify(bus, address)` says
whether the chip is its own. Those functions never reset, reconfigure or
start anything that outlives the probe (see each driver module); where one
family's identity command would harm another at the same address, the lower
rank goes first and sends only what is safe for both:

- 0x44/0x45: the SHT3x status read (0xF32D) before the SHT4x serial-number
  command (0x89), which an SHT3x would record as an unprocessed command;
- 0x40: HTU21D and HDC1080 share one probe (`drivers._probe_0x40`) that never
  sends 0xFE (an HDC1080's manufacturer-ID pointer, an HTU21D's soft reset)
  before it knows that no HTU21D is there.
"""
from __future__ import annotations

import errno
import importlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Callable

from sensorkit.catalog import DRIVERS, DriverSpec

# The world `sensorkit detect --simulate` scans without -c: one chip of each family, a second
# bus (as the i2c-gpio overlay gives a Pi: dtoverlay=i2c-gpio,bus=3,i2c_gpio_sda=23,i2c_gpio_scl=24)
# where two chips share an address.
DEMO_CONFIG = """\
[device]
board = "simulated"
i2c_buses = { 1 = { sda = 2, scl = 3 }, 3 = { sda = 23, scl = 24 } }

[[sensor]]
name = "sht3x"
driver = "sht3x"
address = 0x44

[[sensor]]
name = "sht4x"
driver = "sht4x"
bus = 3
address = 0x44

[[sensor]]
name = "shtc3"
driver = "shtc3"
address = 0x70

[[sensor]]
name = "bme280"
driver = "bme280"
address = 0x76

[[sensor]]
name = "bmp280"
driver = "bmp280"
address = 0x77

[[sensor]]
name = "aht2x"
driver = "aht2x"
address = 0x38

[[sensor]]
name = "htu21d"
driver = "htu21d"
address = 0x40

[[sensor]]
name = "hdc1080"
driver = "hdc1080"
bus = 3
address = 0x40

[[sensor]]
name = "probe"
driver = "ds18b20"
"""
DEMO_SOURCE = "<detect demo: one chip of each family>"

FIRST_ADDRESS, LAST_ADDRESS = 0x08, 0x77  # i2cdetect's default range
# i2cdetect: read byte in these ranges, quick write elsewhere.
READ_BYTE_RANGES = ((0x30, 0x37), (0x50, 0x5F))
_ABSENT_ERRNOS = (errno.EREMOTEIO, errno.ENXIO, errno.EIO)


@dataclass(frozen=True)
class Finding:
    """One answering address, and what it was found to be."""

    bus: int
    address: int
    part: str | None = None  # e.g. "BME280"; None when no driver recognised it
    driver: str | None = None  # the config's driver name for it
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "address": f"{self.address:#04x}"}


@dataclass(frozen=True)
class BusScan:
    bus: int
    findings: tuple[Finding, ...] = ()
    error: str = ""  # the bus could not be scanned (not enabled, stuck)


def probe_kind(address: int) -> str:
    """"read" or "quick": how i2cdetect probes `address` by default."""
    return "read" if any(low <= address <= high for low, high in READ_BYTE_RANGES) else "quick"


def answers(bus: Any, address: int) -> bool:
    """Whether something ACKs `address`; OSError(ETIMEDOUT) and others than a NACK propagate."""
    try:
        if probe_kind(address) == "read":
            bus.read_byte(address)
        else:
            bus.write_quick(address)
    except OSError as exc:
        if exc.errno in _ABSENT_ERRNOS:
            return False
        if exc.errno == errno.EBUSY:  # a kernel driver has it ("UU" in i2cdetect)
            return True
        raise
    return True


def candidates(address: int, drivers: Iterable[DriverSpec] | None = None) -> list[DriverSpec]:
    """The I2C drivers that can live at `address`, in the order to ask them."""
    specs = [s for s in (drivers or DRIVERS.values()) if s.transport == "i2c" and address in s.addresses]
    return sorted(specs, key=lambda s: s.probe_rank)


def _identifier(spec: DriverSpec) -> Callable[..., str | None] | None:
    module_name = spec.target.partition(":")[0]
    return getattr(importlib.import_module(module_name), "identify", None)


def identify(bus: Any, bus_number: int, address: int, *, sleep: Callable[[float], None]) -> Finding:
    """What answers at `address`: the first driver whose identify() recognises it."""
    from drivers import DriverError

    notes = []
    for spec in candidates(address):
        function = _identifier(spec)
        if function is None:
            continue
        try:
            part = _call(function, bus, address, sleep)
        except DriverError as exc:
            notes.append(f"{spec.name}: {exc}")
            continue
        if part:
            return Finding(bus_number, address, part, spec.name)
    return Finding(bus_number, address, None, None, "; ".join(notes))


def _call(function: Callable[..., str | None], bus: Any, address: int, sleep: Callable[[float], None]) -> str | None:
    try:
        return function(bus, address, sleep=sleep)
    except TypeError:  # an identify() that waits for nothing takes no sleep
        return function(bus, address)


def scan_bus(bus: Any, bus_number: int, *, sleep: Callable[[float], None]) -> BusScan:
    """Every answering address of one bus, each identified where a driver knows it."""
    found = []
    try:
        for address in range(FIRST_ADDRESS, LAST_ADDRESS + 1):
            if answers(bus, address):
                found.append(identify(bus, bus_number, address, sleep=sleep))
    except OSError as exc:
        why = "a line is held low (stuck bus)" if exc.errno == errno.ETIMEDOUT else (exc.strerror or str(exc))
        return BusScan(bus_number, tuple(found), f"I2C bus {bus_number} failed during the scan: {why}; check "
                       "SDA/SCL wiring and that no device holds the bus, then power-cycle the sensors")
    return BusScan(bus_number, tuple(found))


def scan(transports: Any, buses: Iterable[int], *, sleep: Callable[[float], None]) -> list[BusScan]:
    """Scan every bus in `buses` on `transports`; a bus that cannot be opened is reported, not raised."""
    from boards import BoardError

    scans = []
    for number in sorted(buses):
        try:
            bus = transports.i2c(number)
        except BoardError as exc:
            scans.append(BusScan(number, (), str(exc)))
            continue
        scans.append(scan_bus(bus, number, sleep=sleep))
    return scans


@dataclass(frozen=True)
class W1Finding:
    serial: str
    part: str  # the family's part name, from the serial's family code
    temperature_c: float | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class W1Scan:
    root: str
    found: tuple[W1Finding, ...] = ()
    error: str = ""  # no 1-wire bus: what to add to the boot config


def scan_w1(root: Any, *, sleep: Callable[[float], None], clock: Callable[[], float], w1_pin: int | None) -> W1Scan:
    """The thermometers on the board's 1-wire bus, each read once; or why there is no bus."""
    from drivers import DriverError
    from drivers.ds18b20 import DS18B20, Family, W1Bus

    bus = W1Bus(root, sleep=sleep, clock=clock, w1_pin=w1_pin)
    if not bus.masters():
        return W1Scan(str(root), (), bus.diagnose())
    found = []
    for serial in bus.scan():
        family = Family.of(serial)
        part = family.name if family is not None else "1-wire thermometer"
        try:
            value = DS18B20(root, serial, bus=bus, sleep=sleep, clock=clock, w1_pin=w1_pin).read()["temperature"]
            found.append(W1Finding(serial, part, value))
        except DriverError as exc:
            found.append(W1Finding(serial, part, None, str(exc)))
    return W1Scan(str(root), tuple(found), "" if found else bus.diagnose())


def w1_block(finding: W1Finding, *, taken: set[str]) -> str:
    """A `[[sensor]]` table for one 1-wire thermometer, picked by its serial."""
    name = f"ds18b20_{finding.serial[-6:]}"
    while name in taken:
        name += "x"
    taken.add(name)
    return "\n".join(["[[sensor]]", f'name = "{name}"', 'driver = "ds18b20"', f'serial = "{finding.serial}"',
                      'interval = "30s"'])


def sensor_block(finding: Finding, *, default_bus: int | None, taken: set[str]) -> str:
    """A ready-to-paste `[[sensor]]` table for a recognised chip, in the config's own keys."""
    assert finding.driver is not None
    spec = DRIVERS[finding.driver]
    name = f"{finding.driver}_{finding.address:02x}"
    if finding.bus != default_bus:
        name += f"_bus{finding.bus}"
    while name in taken:
        name += "x"
    taken.add(name)
    lines = ["[[sensor]]", f'name = "{name}"', f'driver = "{finding.driver}"']
    if finding.bus != default_bus:
        lines.append(f"bus = {finding.bus}")
    lines.append(f"address = {finding.address:#04x}")
    lines.append(f'interval = "{_interval(spec)}"')
    # A driver module may say which options the part it identified needs (an AHT10's variant).
    module = importlib.import_module(spec.target.partition(":")[0])
    options = getattr(module, "detected_options", lambda part: {})(finding.part)
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in options.items())
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _interval(spec: DriverSpec) -> str:
    from sensorkit.durations import format_duration

    return format_duration(spec.default_interval_s)


__all__ = [
    "BusScan",
    "Finding",
    "W1Finding",
    "W1Scan",
    "answers",
    "candidates",
    "identify",
    "probe_kind",
    "scan",
    "scan_bus",
    "scan_w1",
    "sensor_block",
    "w1_block",
]
