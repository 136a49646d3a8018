"""Maxim 1-Wire thermometers (the Linux w1_therm family) read through sysfs.

DS18S20 (family 10), DS1822 (22), DS18B20 (28), DS1825 / MAX31850 (3B) and
DS28EA00 (42). The kernel's w1_therm driver does the 1-Wire traffic and shows
each sensor as a directory under `/sys/bus/w1/devices` (the root is passed in,
so tests and --simulate use a fake tree):

- reading a sensor's `temperature` (kernels with the May 2020 rewrite, Linux
  5.8+) or `w1_slave` (every kernel) starts a conversion and blocks until it
  is done: N sensors read one by one cost N conversion times;
- writing ``trigger`` to its master's `therm_bulk_read` converts every sensor
  on that master at once (SKIP ROM + CONVERT T), after which each sensor's
  next `temperature` read returns the bulk result without converting again.
  `W1Bus` does that once for all the DS18B20 objects that share it.

Kernel references are to drivers/w1/slaves/w1_therm.c and
Documentation/ABI/testing/sysfs-driver-w1_therm; datasheet references to the
DS18B20 datasheet (Maxim, 19-7487).
"""
from __future__ import annotations

import errno
import logging
import re
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

from drivers import (
    BusError,
    ChecksumError,
    DriverConfigError,
    DriverError,
    ImplausibleReading,
    NotReady,
    SensorNotFound,
)

log = logging.getLogger(__name__)

QUANTITIES = ("temperature",)
DEVICES_ROOT = Path("/sys/bus/w1/devices")
W1_SLAVE_FILE = "w1_slave"
TEMPERATURE_FILE = "temperature"  # 2020 rewrite: millidegrees, "%d\n"
RESOLUTION_FILE = "resolution"  # 2020 rewrite: "9".."12", absent on the DS18S20
CONV_TIME_FILE = "conv_time"  # July 2020: conversion time the kernel waits, ms
BULK_FILE = "therm_bulk_read"  # on w1_bus_masterN, while a bulk-capable sensor is present
# therm_bulk_read_store() compares the write's size with sizeof("trigger"):
# the newline `echo` adds is part of the command, "trigger" alone is ignored.
BULK_TRIGGER = "trigger\n"
BULK_IN_PROGRESS, BULK_NONE = -1, 0  # therm_bulk_read status; 1 = results not yet read

SERIAL_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{12})$")  # "%02x-%012llx", w1.c
MASTER_RE = re.compile(r"^w1_bus_master(\d+)$")

# Datasheet Table 3 (thermometer resolution configuration): max conversion time.
CONVERSION_TIME_S = {9: 0.09375, 10: 0.1875, 11: 0.375, 12: 0.75}
DS18S20_CONVERSION_S = 0.75  # DS18S20 datasheet; w1_DS18S20_convert_time()
DEFAULT_RESOLUTION = 12  # datasheet: factory default R1 = R0 = 1

# Datasheet memory map: the temperature register powers up at +85 °C (0550h)
# and byte 6 reads 0Ch until a conversion has run (converted parts show
# 10h - (LSB & 0Fh) there). 07FFh with 0Ch is the kernel's "insufficient power"
# (features bit 0 in w1_therm.c, 127.94 °C). DS18S20: 85 °C is 00AAh.
POWER_ON_RAW = 0x0550
INSUFFICIENT_POWER_RAW = 0x07FF
DS18S20_POWER_ON_RAW = 0x00AA
POWER_ON_BYTE6 = 0x0C
# Values that need a look at the scratchpad before they can be trusted: the
# power-on value, "insufficient power" (0x07FF * 1000 / 16 in C) and the 0
# an all-zero scratchpad gives (its CRC is 0 too, so the kernel accepts it).
SUSPECT_MILLIDEGREES = (85000, 127937, 0)
ALL_ONES = b"\xff" * 9  # nobody drives the line: unplugged, or no power

# Before the one retry of a failed read: the kernel has already retried the
# scratchpad 5 times (W1_THERM_MAX_TRY); a sensor that browned out needs a
# moment on its supply before the next conversion.
RETRY_DELAY_S = 0.1
# Waiting for a bulk conversion someone else restarted: poll this often, at
# most one more conversion time plus this margin.
BULK_POLL_S = 0.05
BULK_WAIT_MARGIN_S = 0.25
# A bulk result is used by the other sensors of its master for this long; after
# it a sensor converts afresh rather than report an old temperature.
BULK_RESULT_MAX_AGE_S = 1.0


class Family(Enum):
    """The w1_therm families, keyed by the 1-Wire family code (the serial's prefix)."""

    DS18S20 = 0x10
    DS1822 = 0x22
    DS18B20 = 0x28
    DS1825 = 0x3B
    DS28EA00 = 0x42

    @classmethod
    def of(cls, serial: str) -> Family | None:
        """The family of a sensor directory name such as "28-00000a1b2c3d", or None."""
        match = SERIAL_RE.match(serial)
        if match is None:
            return None
        try:
            return cls(int(match.group(1), 16))
        except ValueError:
            return None

    @property
    def part(self) -> str:
        return {
            Family.DS18S20: "DS18S20",
            Family.DS1822: "DS1822",
            Family.DS18B20: "DS18B20",
            Family.DS1825: "DS1825/MAX31850",
            Family.DS28EA00: "DS28EA00",
        }[self]

    @property
    def has_resolution(self) -> bool:
        """The DS18S20 has no configuration register (9 bit plus COUNT_REMAIN)."""
        return self is not Family.DS18S20

    @property
    def bulk_read(self) -> bool:
        """w1_therm_families[].bulk_read: false for the DS28EA00 only."""
        return self is not Family.DS28EA00

    @property
    def range_c(self) -> tuple[float, float]:
        # Datasheets: -55..+125 °C; a MAX31850 (same family code) reads thermocouples.
        return (-270.0, 1800.0) if self is Family.DS1825 else (-55.0, 125.0)


# --------------------------------------------------------------------------- parsing

_LINE1 = re.compile(r"^((?:[0-9a-f]{2} ){9}): crc=([0-9a-f]{2}) (YES|NO)$")
_LINE2 = re.compile(r"^((?:[0-9a-f]{2} ){9})t=(-?\d+)$")


@dataclass(frozen=True)
class W1Slave:
    """What one read of `w1_slave` says (w1_slave_show() in w1_therm.c)."""

    scratchpad: bytes  # the 9 bytes just read
    crc: int  # the CRC the kernel computed over bytes 0-7
    crc_ok: bool  # the "YES" / "NO" verdict
    retained: bytes  # line 2: the last scratchpad that passed its CRC
    millidegrees: int  # t=, computed from the bytes just read


def parse_w1_slave(text: str) -> W1Slave:
    """Parse the two lines of `w1_slave`; ValueError when it is not that (empty included)."""
    lines = text.rstrip("\n").split("\n")
    first = _LINE1.match(lines[0]) if len(lines) == 2 else None
    second = _LINE2.match(lines[1]) if first else None
    if first is None or second is None:
        raise ValueError(f"not w1_therm output: {text!r}")
    return W1Slave(
        scratchpad=bytes.fromhex(first.group(1)),
        crc=int(first.group(2), 16),
        crc_ok=first.group(3) == "YES",
        retained=bytes.fromhex(second.group(1)),
        millidegrees=int(second.group(2)),
    )


def parse_temperature(text: str) -> int:
    """Millidegrees from the `temperature` file; ValueError when empty or not a number."""
    value = text.strip()
    if not re.fullmatch(r"-?\d+", value):
        raise ValueError(f"not a temperature in millidegrees: {text!r}")
    return int(value)


def resolution_from_config(config: int) -> int:
    """Datasheet Table 3: R1 R0 in bits 6 and 5 of byte 4; 00 = 9 bit ... 11 = 12 bit."""
    return 9 + ((config >> 5) & 0b11)


def is_power_on_value(scratchpad: bytes, family: Family) -> bool:
    """True for the temperature register's reset value (or "insufficient power") with byte 6 = 0x0C."""
    raw = int.from_bytes(scratchpad[0:2], "little")
    if scratchpad[6] != POWER_ON_BYTE6:
        return False
    if family is Family.DS18S20:
        return raw == DS18S20_POWER_ON_RAW
    return raw in (POWER_ON_RAW, INSUFFICIENT_POWER_RAW)


def conversion_time_s(resolution: int = DEFAULT_RESOLUTION, **_: object) -> float:
    """The datasheet's maximum conversion time at `resolution` bits (the catalog's timing)."""
    try:
        return CONVERSION_TIME_S[resolution]
    except KeyError:
        raise ValueError(f"a DS18B20 converts at 9 to 12 bits, not {resolution!r}") from None


def boot_config_hint(w1_pin: int | None) -> str:
    line = "dtoverlay=w1-gpio" if w1_pin in (None, 4) else f"dtoverlay=w1-gpio,gpiopin={w1_pin}"
    other = " (add ,gpiopin=N when the data wire is not on GPIO4)" if w1_pin in (None, 4) else ""
    return (f"add `{line}`{other} to /boot/firmware/config.txt (/boot/config.txt on Raspberry Pi OS "
            "before Bookworm), then reboot")


# --------------------------------------------------------------------------- the bus


def _read(path: Path) -> str:
    """A sysfs read; "" when the kernel failed it (empty, or EIO from kernels that say so)."""
    try:
        return path.read_text()
    except OSError as exc:
        if exc.errno == errno.EIO:
            return ""
        if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise _Vanished() from exc
        raise BusError(exc.errno, f"cannot read {path}: {exc.strerror or exc}") from exc


class _Vanished(Exception):
    """The sensor's directory went away during the read."""


class W1Bus:
    """The w1_therm sensors one sysfs root shows, their bus masters, and bulk conversions.

    Share one between the DS18B20 objects of a root: a bulk conversion one of
    them starts then serves the others, so N sensors on a master cost one
    conversion time. `lock` is for callers that read them from several threads.
    """

    def __init__(
        self,
        root: Path | str = DEVICES_ROOT,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        w1_pin: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.w1_pin = w1_pin
        self.lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock
        self._bulk: dict[str, tuple[float, set[str]]] = {}  # master -> (done at, serials not yet taken)
        self._bulk_refused: set[str] = set()

    @property
    def sleep(self) -> Callable[[float], None]:
        """The sleep this bus waits with; give it to the DS18B20s that share the bus."""
        return self._sleep

    def masters(self) -> list[str]:
        """The bus masters (w1_bus_master1, ...), in number order."""
        try:
            names = [p.name for p in self.root.iterdir() if MASTER_RE.match(p.name)]
        except OSError:
            return []
        return sorted(names, key=lambda n: int(MASTER_RE.match(n).group(1)))  # type: ignore[union-attr]

    def scan(self) -> list[str]:
        """The serials of the thermometers present, sorted (other 1-Wire devices are left out)."""
        try:
            names = [p.name for p in self.root.iterdir()]
        except OSError:
            return []
        return sorted(n for n in names if Family.of(n) is not None)

    def master_of(self, serial: str) -> str | None:
        return next((m for m in self.masters() if (self.root / m / serial).is_dir()), None)

    def bulk_available(self, master: str) -> bool:
        return master not in self._bulk_refused and (self.root / master / BULK_FILE).is_file()

    def conversion_time_s(self, master: str) -> float:
        """The longest conversion on `master`: what the kernel waits after a bulk trigger."""
        longest = 0.0
        for serial in self.scan():
            if not (self.root / master / serial).is_dir():
                continue
            try:
                longest = max(longest, int(_read(self.root / serial / CONV_TIME_FILE)) / 1000.0)
            except (ValueError, _Vanished, BusError):
                longest = max(longest, CONVERSION_TIME_S[DEFAULT_RESOLUTION])
        return longest or CONVERSION_TIME_S[DEFAULT_RESOLUTION]

    def bulk_convert(self, master: str) -> bool:
        """Convert every bulk-capable sensor on `master` at once; False when bulk reads cannot be used."""
        path = self.root / master / BULK_FILE
        conversion_s = self.conversion_time_s(master)
        started = self._clock()
        try:
            path.write_text(BULK_TRIGGER)
        except PermissionError:
            self._bulk_refused.add(master)
            log.warning("%s is writable by root only: reading the sensors on %s one by one "
                        "(one conversion time each)", path, master)
            return False
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BusError(exc.errno, f"cannot trigger a bulk conversion on {master}: {exc.strerror or exc}") from exc
        # trigger_bulk_read() sleeps the conversion time before the write
        # returns; a write that came back sooner (a signal, an emulated kernel)
        # has not waited it.
        remaining = conversion_s - (self._clock() - started)
        if remaining > 0:
            self._sleep(remaining)
        deadline = self._clock() + conversion_s + BULK_WAIT_MARGIN_S
        while self._bulk_status(path) == BULK_IN_PROGRESS:
            if self._clock() >= deadline:
                raise NotReady(f"the bulk conversion on {master} was still running {conversion_s:.2f} s "
                               "after it should have ended: is another program triggering therm_bulk_read?")
            self._sleep(BULK_POLL_S)
        serials = {s for s in self.scan() if (self.root / master / s).is_dir() and Family.of(s).bulk_read}  # type: ignore[union-attr]
        self._bulk[master] = (self._clock(), serials)
        return True

    def _bulk_status(self, path: Path) -> int:
        try:
            return int(_read(path).strip() or BULK_NONE)
        except (ValueError, _Vanished):
            return BULK_NONE

    def take_bulk_result(self, master: str, serial: str) -> bool:
        """True (once) when a recent bulk conversion on `master` left a result for `serial`."""
        done_at, pending = self._bulk.get(master, (0.0, set()))
        if serial not in pending or self._clock() - done_at > BULK_RESULT_MAX_AGE_S:
            return False
        pending.discard(serial)
        return True

    def diagnose(self, serial: str | None = None) -> str:
        """Why `serial` (or any sensor) is not to be found, and what to check."""
        masters = self.masters()
        if not masters:
            why = "does not exist" if not self.root.is_dir() else "has no bus master"
            return f"no 1-wire bus: {self.root} {why}; {boot_config_hint(self.w1_pin)}"
        found = self.scan()
        pin = f"GPIO{self.w1_pin}" if self.w1_pin is not None else "its GPIO (GPIO4 by default)"
        wiring = (f"check the data wire (DQ) to {pin}, GND and 3.3 V, and the 4.7 kOhm pull-up "
                  "between DQ and 3.3 V")
        if not found:
            return (f"the 1-wire bus ({', '.join(masters)}) finds no thermometer: {wiring}; if DQ is on "
                    f"another GPIO, {boot_config_hint(None)}")
        assert serial is not None
        family = Family.of(serial)
        part = family.part if family else "sensor"
        return (f"no {part} {serial} on the 1-wire bus (found: {', '.join(found)}): {wiring}, "
                "or set serial to one of those")


def scan(root: Path | str = DEVICES_ROOT) -> list[str]:
    """The serials of the w1_therm thermometers under `root`; `Family.of(serial)` names each."""
    return W1Bus(root).scan()


# --------------------------------------------------------------------------- one sensor


class _Transient(Exception):
    """A failed read worth one retry; `error` is what to raise when the retry fails too."""

    def __init__(self, error: DriverError) -> None:
        super().__init__(str(error))
        self.error = error


class DS18B20:
    """One w1_therm thermometer (any family above), picked by its serial.

    `read()` gives ``{"temperature": °C}`` at the kernel's millidegree
    precision. A failed read (CRC, all-zero scratchpad, power-on value) is
    retried once; the constructor does no I/O. Several sensors of one root
    should share a `bus` so they convert together (see `W1Bus`).
    """

    def __init__(
        self,
        root: Path | str,
        serial: str,
        *,
        resolution: int = DEFAULT_RESOLUTION,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        bus: W1Bus | None = None,
        bulk: bool = True,
        w1_pin: int | None = None,
    ) -> None:
        serial = serial.lower() if isinstance(serial, str) else serial
        if not isinstance(serial, str) or not SERIAL_RE.match(serial):
            raise DriverConfigError(f"1-wire serial {serial!r} is not of the form 28-00000a1b2c3d "
                                    "(family code, dash, 12 hex digits): `ls /sys/bus/w1/devices` lists them")
        family = Family.of(serial)
        if family is None:
            known = ", ".join(f"{f.value:02x} ({f.part})" for f in Family)
            raise DriverConfigError(f"1-wire device {serial} is not a thermometer w1_therm reads; "
                                    f"its family code must be one of {known}")
        if type(resolution) is not int or resolution not in CONVERSION_TIME_S:
            raise DriverConfigError(f"resolution must be 9, 10, 11 or 12 bits, not {resolution!r}")
        if not family.has_resolution and resolution != DEFAULT_RESOLUTION:
            raise DriverConfigError(f"a {family.part} ({serial}) has no resolution setting (9 bit extended "
                                    "by its count registers, 750 ms per conversion): remove resolution")
        self.serial = serial
        self.family = family
        self.resolution = resolution
        self._bus = bus or W1Bus(root, sleep=sleep, clock=clock, w1_pin=w1_pin)
        if Path(root) != self._bus.root:
            raise DriverConfigError(f"the shared W1Bus reads {self._bus.root}, not {root}")
        self._sleep = sleep
        self._bulk = bulk
        self._resolution_ok = False
        self._resolution_written = False
        self._missing = False

    @property
    def part(self) -> str:
        return self.family.part

    @property
    def bus(self) -> W1Bus:
        return self._bus

    def conversion_s(self) -> float:
        return DS18S20_CONVERSION_S if self.family is Family.DS18S20 else CONVERSION_TIME_S[self.resolution]

    # -- public API ----------------------------------------------------------

    def read(self) -> dict[str, float]:
        try:
            return self._attempt(first=True)
        except _Transient as failure:
            log.debug("%s %s: %s; trying once more", self.part, self.serial, failure)
            # A brown-out resets the configuration register to its EEPROM copy.
            self._resolution_ok = self._resolution_written = False
            self._sleep(RETRY_DELAY_S)
        try:
            return self._attempt(first=False)
        except _Transient as failure:
            raise failure.error from None

    def close(self) -> None:
        """Nothing to release: the kernel owns the bus."""

    def __enter__(self) -> DS18B20:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DS18B20({str(self._bus.root)!r}, {self.serial!r}, resolution={self.resolution})"

    # -- one attempt ---------------------------------------------------------

    def _attempt(self, *, first: bool) -> dict[str, float]:
        device = self._bus.root / self.serial
        try:
            if not device.is_dir():
                raise _Vanished()
            if self._missing:  # back after a power cycle: its RAM settings are gone
                self._missing = self._resolution_ok = self._resolution_written = False
            self._apply_resolution(device)
            millidegrees = self._measure(device, first=first)
        except _Vanished:
            self._missing = True
            raise SensorNotFound(self._bus.diagnose(self.serial)) from None
        celsius = millidegrees / 1000.0
        low, high = self.family.range_c
        if not low <= celsius <= high:
            raise ImplausibleReading(f"{self.part} {self.serial} read {celsius:.3f} °C, outside the "
                                     f"{low:g}..{high:g} °C it can measure: check its power and wiring")
        return {"temperature": celsius}

    def _measure(self, device: Path, *, first: bool) -> int:
        path = device / TEMPERATURE_FILE
        if not path.is_file():  # a kernel before the 2020 rewrite: w1_slave only
            return self._read_w1_slave(device, check_resolution=True).millidegrees
        if first:
            self._bulk_convert()
        text = _read(path)
        if not text.strip():
            raise _Transient(self._nothing_read())
        try:
            millidegrees = parse_temperature(text)
        except ValueError as exc:
            raise _Transient(ChecksumError(f"{self.part} {self.serial}: {exc}")) from None
        if millidegrees in SUSPECT_MILLIDEGREES:
            # 85 °C and 0 °C are also what a sensor without a conversion behind
            # it shows: only the scratchpad (a fresh conversion) tells them apart.
            return self._read_w1_slave(device, check_resolution=False).millidegrees
        return millidegrees

    def _bulk_convert(self) -> None:
        bus = self._bus
        if not (self._bulk and self.family.bulk_read):
            return
        master = bus.master_of(self.serial)
        if master is None or not bus.bulk_available(master) or bus.take_bulk_result(master, self.serial):
            return
        if bus.bulk_convert(master):
            bus.take_bulk_result(master, self.serial)

    def _read_w1_slave(self, device: Path, *, check_resolution: bool) -> W1Slave:
        text = _read(device / W1_SLAVE_FILE)
        if not text.strip():
            raise _Transient(self._nothing_read())
        try:
            data = parse_w1_slave(text)
        except ValueError as exc:
            raise _Transient(ChecksumError(f"{self.part} {self.serial}: {exc}")) from None
        name = f"{self.part} {self.serial}"
        pad = data.scratchpad.hex(" ")
        if not data.crc_ok:
            if data.scratchpad == ALL_ONES:
                raise _Transient(SensorNotFound(
                    f"{name} reads all 1s (ff ...: crc={data.crc:02x} NO): nothing drives the line — the "
                    "sensor is unplugged or unpowered; check its DQ, GND and 3.3 V wires"))
            raise _Transient(ChecksumError(
                f"{name}: scratchpad {pad} failed its CRC (computed {data.crc:02x}, sent "
                f"{data.scratchpad[8]:02x}); check the 4.7 kOhm pull-up and the cable (long or noisy "
                "cables need a stronger pull-up)"))
        if not any(data.scratchpad):
            raise _Transient(ChecksumError(
                f"{name}: all nine scratchpad bytes read 0 — the CRC of zeros is 0, so the kernel took "
                "it, but it is not a reading: DQ was held low; check for a short between DQ and GND"))
        if is_power_on_value(data.scratchpad, self.family):
            raise _Transient(NotReady(
                f"{name} shows its power-on value ({pad}; byte 6 = 0x0C): it was reset or lost power "
                "and has no conversion behind it — check its 3.3 V and GND (with parasite power, "
                "the pull-up must hold DQ high through the conversion)"))
        if check_resolution and self.family.has_resolution:
            actual = resolution_from_config(data.scratchpad[4])
            if actual != self.resolution:
                raise DriverConfigError(
                    f"{name} converts at {actual} bit (its EEPROM setting) and this kernel's w1_therm "
                    f"cannot change it (no {RESOLUTION_FILE} file before Linux 5.8): set resolution = "
                    f"{actual}, or update the kernel")
        return data

    def _nothing_read(self) -> ChecksumError:
        return ChecksumError(
            f"the kernel read nothing from {self.part} {self.serial}: its scratchpad failed the CRC "
            "on every try (w1_therm tries 5 times) or it did not answer; check the DQ wire, the "
            "4.7 kOhm pull-up from DQ to 3.3 V and the sensor's power")

    def _apply_resolution(self, device: Path) -> None:
        """Set the configured resolution where the kernel has a `resolution` file; verify it once."""
        path = device / RESOLUTION_FILE
        if self._resolution_ok or not self.family.has_resolution or not path.is_file():
            return
        try:
            current = int(_read(path).strip())
        except ValueError:
            return  # empty: the kernel could not ask the sensor; the measurement will say why
        if current < 0:
            return  # "-errno": same
        if current == self.resolution:
            self._resolution_ok = True
            return
        name = f"{self.part} {self.serial}"
        if self._resolution_written:
            raise DriverConfigError(f"{name} stays at {current} bit after being set to {self.resolution}: "
                                    f"some DS18B20 clones are fixed at 12 bit; set resolution = {current}")
        try:
            path.write_text(f"{self.resolution}\n")
        except PermissionError:
            raise DriverConfigError(
                f"cannot set {name} to {self.resolution} bit: {path} is writable by root only; run "
                f"sensorkit as root, or set it once by hand (`echo {self.resolution} | sudo tee {path}`, "
                f"then `echo save | sudo tee {device / 'eeprom'}` to keep it across power cycles)") from None
        except OSError as exc:
            # w1_DS18B20_set_resolution() reads the register back and says EIO when it did not change.
            raise DriverConfigError(f"{name} refused {self.resolution} bit ({exc.strerror or exc}): some "
                                    f"DS18B20 clones are fixed at 12 bit; set resolution = {current}") from None
        self._resolution_written = True


__all__ = [
    "CONVERSION_TIME_S",
    "DEVICES_ROOT",
    "DS18B20",
    "QUANTITIES",
    "Family",
    "W1Bus",
    "W1Slave",
    "boot_config_hint",
    "conversion_time_s",
    "is_power_on_value",
    "parse_temperature",
    "parse_w1_slave",
    "resolution_from_config",
    "scan",
]
