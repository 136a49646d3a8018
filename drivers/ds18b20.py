"""Maxim 1-Wire thermometers (the Linux w1_therm family) read through sysfs.

DS18S20 (family 10), DS1822 (22), DS18B20 (28), DS1825 / MAX31850 (3B) and
DS28EA00 (42). The kernel's w1_therm driver does the 1-Wire traffic and shows
each sensor as a directory under `/sys/bus/w1/devices`: reading its
`temperature` (kernels with the May 2020 rewrite, Linux 5.8+) or `w1_slave`
(every kernel) starts a conversion and blocks until it is done, so N sensors
read one by one cost N conversion times. Sensors that share a `W1Bus`
(drivers.w1) convert together through their master's `therm_bulk_read`:
one conversion time for all.

Kernel references are to drivers/w1/slaves/w1_therm.c and
Documentation/ABI/testing/sysfs-driver-w1_therm; datasheet references to the
DS18B20 datasheet (Maxim, 19-7487).
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from drivers import (
    ChecksumError,
    DriverConfigError,
    DriverError,
    ImplausibleReading,
    NotReady,
    SensorNotFound,
)
from drivers._driver import Driver
from drivers.w1 import (
    BULK_POLL_S,
    DEVICES_ROOT,
    SERIAL_RE,
    Family,
    Vanished,
    W1Bus,
    boot_config_hint,
    read_attribute,
    scan,
)

log = logging.getLogger(__name__)

QUANTITIES = ("temperature",)
W1_SLAVE_FILE = "w1_slave"
TEMPERATURE_FILE = "temperature"  # 2020 rewrite: millidegrees, "%d\n"
RESOLUTION_FILE = "resolution"  # 2020 rewrite: "9".."12", absent on the DS18S20

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


# --------------------------------------------------------------------------- one sensor


class _Transient(Exception):
    """A failed read worth one retry; `error` is what to raise when the retry fails too."""

    def __init__(self, error: DriverError) -> None:
        super().__init__(str(error))
        self.error = error


class DS18B20(Driver):
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

    def __repr__(self) -> str:
        return f"DS18B20({str(self._bus.root)!r}, {self.serial!r}, resolution={self.resolution})"

    # -- one attempt ---------------------------------------------------------

    def _attempt(self, *, first: bool) -> dict[str, float]:
        device = self._bus.root / self.serial
        try:
            if not device.is_dir():
                raise Vanished()
            if self._missing:  # back after a power cycle: its RAM settings are gone
                self._missing = self._resolution_ok = self._resolution_written = False
            self._apply_resolution(device)
            millidegrees = self._measure(device, first=first)
        except Vanished:
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
        text = read_attribute(path)
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
        text = read_attribute(device / W1_SLAVE_FILE)
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
            current = int(read_attribute(path).strip())
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
    "BULK_POLL_S",
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
