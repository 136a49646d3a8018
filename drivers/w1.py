"""The Linux w1 subsystem in sysfs: bus masters, the w1_therm families, bulk conversions.

Under `/sys/bus/w1/devices` (the root is passed in, so tests and --simulate
use a fake tree) the kernel shows each bus master (`w1_bus_masterN`) and
each 1-Wire device, named by its ROM code (`28-00000a1b2c3d`: family code,
48-bit number). w1_therm adds the thermometers' files (see drivers.ds18b20)
and, on a master with a bulk-capable sensor, `therm_bulk_read`: writing
``trigger`` converts every sensor on that master at once (SKIP ROM + CONVERT
T), and each sensor's next `temperature` read returns that result without
converting again. `W1Bus` does this once for all the sensors that share it.

Kernel references are to drivers/w1/w1.c, drivers/w1/slaves/w1_therm.c and
Documentation/ABI/testing/sysfs-driver-w1_therm.
"""
from __future__ import annotations

import errno
import logging
import re
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Callable

from drivers import BusError, NotReady

log = logging.getLogger(__name__)

DEVICES_ROOT = Path("/sys/bus/w1/devices")
CONV_TIME_FILE = "conv_time"  # July 2020: the conversion time the kernel waits, ms
BULK_FILE = "therm_bulk_read"  # on w1_bus_masterN, while a bulk-capable sensor is present
# therm_bulk_read_store() compares the write's size with sizeof("trigger"):
# the newline `echo` adds is part of the command, "trigger" alone is ignored.
BULK_TRIGGER = "trigger\n"
BULK_IN_PROGRESS, BULK_NONE = -1, 0  # therm_bulk_read status; 1 = results not yet read
SERIAL_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{12})$")  # "%02x-%012llx", w1.c
MASTER_RE = re.compile(r"^w1_bus_master(\d+)$")
# What a master waits when a sensor's conv_time cannot be read: 12 bit, the
# longest any w1_therm family takes (w1_DS18B20_convert_time()).
FALLBACK_CONVERSION_S = 0.75
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


def boot_config_hint(w1_pin: int | None) -> str:
    line = "dtoverlay=w1-gpio" if w1_pin in (None, 4) else f"dtoverlay=w1-gpio,gpiopin={w1_pin}"
    other = " (add ,gpiopin=N when the data wire is not on GPIO4)" if w1_pin in (None, 4) else ""
    return (f"add `{line}`{other} to /boot/firmware/config.txt (/boot/config.txt on Raspberry Pi OS "
            "before Bookworm), then reboot")



def read_attribute(path: Path) -> str:
    """A sysfs read; "" when the kernel failed it (empty, or EIO from kernels that say so)."""
    try:
        return path.read_text()
    except OSError as exc:
        if exc.errno == errno.EIO:
            return ""
        if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
            raise Vanished() from exc
        raise BusError(exc.errno, f"cannot read {path}: {exc.strerror or exc}") from exc


class Vanished(Exception):
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
                longest = max(longest, int(read_attribute(self.root / serial / CONV_TIME_FILE)) / 1000.0)
            except (ValueError, Vanished, BusError):
                longest = max(longest, FALLBACK_CONVERSION_S)
        return longest or FALLBACK_CONVERSION_S

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
        # trigger_bulkread_attribute() sleeps the conversion time before the write
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
            return int(read_attribute(path).strip() or BULK_NONE)
        except (ValueError, Vanished):
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


__all__ = [
    "BULK_POLL_S",
    "DEVICES_ROOT",
    "Family",
    "Vanished",
    "W1Bus",
    "boot_config_hint",
    "read_attribute",
    "scan",
]
