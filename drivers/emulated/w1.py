"""A fake `/sys/bus/w1/devices`: the Linux w1_therm sysfs tree with emulated thermometers.

The tree holds real files with the bytes the kernel would show
(drivers/w1/w1.c for the master, drivers/w1/slaves/w1_therm.c for the
sensors), so a driver reads it exactly as it reads sysfs. Plain files cannot
run code when they are read, so the design is:

- `sync()` is the kernel catching up: it takes what was written to the
  writable files since the last sync (``trigger`` to therm_bulk_read, a
  resolution, ``save``/``restore`` to eeprom, ...), moves conversions along on
  the injected clock and rewrites every file to what a read would return now.
  Whoever is about to read calls it: tests, and the simulated board before
  each reading.
- `sleep(seconds)` syncs, sleeps on the injected sleep, and syncs again: a
  driver given it as its `sleep` sees the kernel act while it waits, as the
  real kernel acts while a read blocks. A bulk conversion therefore shows
  therm_bulk_read ``-1`` and empty `temperature` files until its conversion
  time has passed on the clock, then ``1`` and the values measured at the
  trigger.
- Each read result is one conversion. A sync makes a new one for a sensor when
  the clock has moved since the last, or its temperature or faults were set;
  a sensor covered by a bulk conversion shows that instead. Faults are spent
  one per conversion: `crc_failures`, `power_on_reads`, `zero_reads` count
  down (``math.inf`` = always). So a sync spends one on a sensor read one by
  one, and a driver that triggers a bulk read spends one in the bulk result
  (a sync between setting a fault and a bulk read spends it unread).

What it cannot do: block a read (a single read costs no time on the clock;
the kernel's read would take the conversion time), make a write fail (a
resolution the kernel would refuse with EINVAL/EIO is just not applied), or
see reads (a bulk result stays until the clock moves on; the kernel keeps it
until each sensor was read). Both kernel generations are modelled:
``kernel="new"`` (the 2020 rewrite: temperature, resolution, therm_bulk_read,
a failed CRC shows as an empty read) and ``kernel="old"`` (w1_slave only, a
failed CRC printed with ``NO``).
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from drivers._crc import crc8_maxim

MASTER = "w1_bus_master1"
THERM_FAMILIES = {0x10: "DS18S20", 0x22: "DS1822", 0x28: "DS18B20", 0x3B: "DS1825", 0x42: "DS28EA00"}
DS18S20, DS28EA00 = 0x10, 0x42  # no configuration register / no bulk read (w1_therm.c)
KERNELS = ("new", "old")
# w1_DS18B20_convert_time(): what the kernel waits, ms (the datasheet says 93.75/187.5/375/750).
KERNEL_CONV_MS = {9: 95, 10: 190, 11: 375, 12: 750}
DS18S20_CONV_MS = 750
# Factory EEPROM: TH = 75 °C (4Bh), TL = 70 °C (46h), as in every scratchpad dump.
DEFAULT_TH, DEFAULT_TL = 0x4B, 0x46
# Datasheet: bytes 5 and 7 read FFh and 10h (DS18S20: bytes 4-5 FFh, byte 7 = COUNT_PER_C 10h).
RESERVED_5, COUNT_PER_C = 0xFF, 0x10
POWER_ON_B = 0x0550  # +85 °C, DS18B20 family
POWER_ON_S = 0x00AA  # +85 °C, DS18S20 (0.5 °C steps)
POWER_ON_BYTE6 = 0x0C
FEATURE_CHECK_RESULT = 1  # features bit 0: a power-on value becomes a failed read
EEPROM_SAVE, EEPROM_RESTORE = "save\n", "restore\n"  # eeprom_store() compares sizes with the newline
BULK_TRIGGER = "trigger\n"
OUTCOMES = ("ok", "crc", "power-on", "zeros")


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def kernel_millidegrees(scratchpad: bytes, family: int) -> int:
    """t= as w1_DS18B20_convert_temp() / w1_DS18S20_convert_temp() compute it."""
    if family != DS18S20:
        raw = int.from_bytes(scratchpad[0:2], "little", signed=True)
        return _c_div(raw * 1000, 16)
    lsb, msb, remain, per_c = scratchpad[0], scratchpad[1], scratchpad[6], scratchpad[7]
    if per_c == 0:
        return 0  # "Invalid argument for conversion"
    t = (lsb >> 1) * 1000 if msb == 0 else 1000 * (-(0x100 - lsb) >> 1)
    return t - 250 + _c_div(1000 * (per_c - remain), per_c)


def _with_crc(data: list[int]) -> bytes:
    body = bytes(b & 0xFF for b in data)
    return body + bytes([crc8_maxim(body)])


def encode_ds18b20(temperature: float, resolution: int, *, th: int = DEFAULT_TH, tl: int = DEFAULT_TL,
                   config_low: int = 0x1F) -> bytes:
    """The scratchpad of a DS18B20-family part that just converted `temperature` at `resolution` bits.

    The register is 1/16 °C two's complement; the bits below the resolution are
    left 0 (the datasheet calls them undefined). Byte 6 is 10h - (LSB & 0Fh), as
    genuine parts show it.
    """
    steps = 1 << (resolution - 8)  # 2 per °C at 9 bit ... 16 at 12 bit
    raw = round(temperature * steps) << (12 - resolution)
    raw = max(-0x8000, min(0x7FFF, raw)) & 0xFFFF
    config = (config_low & 0x9F) | ((resolution - 9) << 5)
    lsb = raw & 0xFF
    return _with_crc([lsb, raw >> 8, th, tl, config, RESERVED_5, 0x10 - (lsb & 0x0F), COUNT_PER_C])


def encode_ds18s20(temperature: float, *, th: int = DEFAULT_TH, tl: int = DEFAULT_TL) -> bytes:
    """A DS18S20 scratchpad: 0.5 °C steps plus COUNT_REMAIN for the datasheet's extended resolution.

    Datasheet: T = TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C,
    TEMP_READ being the register with its 0.5 °C bit dropped.
    """
    raw = max(-0x6E, min(0xFA, round(temperature * 2))) & 0xFFFF  # -55..+125 °C
    signed = raw - 0x10000 if raw & 0x8000 else raw
    temp_read = signed >> 1
    remain = COUNT_PER_C - round((temperature - temp_read + 0.25) * COUNT_PER_C)
    remain = max(0, min(COUNT_PER_C, remain))
    return _with_crc([raw & 0xFF, raw >> 8, th, tl, 0xFF, 0xFF, remain, COUNT_PER_C])


def rom_id(serial: str) -> bytes:
    """The 8-byte ROM code of `serial` (the `id` file): family, 48-bit number LSB first, CRC."""
    family, number = int(serial[:2], 16), int(serial[3:], 16)
    body = bytes([family]) + number.to_bytes(6, "little")
    return body + bytes([crc8_maxim(body)])


def format_w1_slave(read: bytes, crc: int, verdict: bool, retained: bytes, millidegrees: int) -> str:
    """w1_slave_show(): the bytes read, the CRC and YES/NO, the retained bytes and t=."""
    line1 = "".join(f"{b:02x} " for b in read) + f": crc={crc:02x} {'YES' if verdict else 'NO'}\n"
    return line1 + "".join(f"{b:02x} " for b in retained) + f"t={millidegrees}\n"


class EmulatedW1Sensor:
    """One emulated thermometer; `temperature` (°C) is what it measures. See the module docstring."""

    def __init__(self, serial: str, *, temperature: float = 21.0, resolution: int = 12,
                 fixed_resolution: bool = False, external_power: bool = True) -> None:
        family = int(serial[:2], 16) if len(serial) == 15 and serial[2] == "-" else -1
        if family not in THERM_FAMILIES or serial != serial.lower() or not all(
                c in "0123456789abcdef" for c in serial[:2] + serial[3:]):
            raise ValueError(f"{serial!r} is not a w1_therm serial (10-/22-/28-/3b-/42- and 12 hex digits)")
        if resolution not in KERNEL_CONV_MS:
            raise ValueError(f"resolution must be 9..12, not {resolution!r}")
        self.serial = serial
        self.family = family
        self.part = THERM_FAMILIES[family]
        self.fixed_resolution = fixed_resolution  # a clone that ignores resolution changes
        self.external_power = external_power
        self._eeprom = [DEFAULT_TH, DEFAULT_TL, 12 if fixed_resolution else resolution]
        self.th, self.tl, self.resolution = self._eeprom
        self.conv_override_ms = 0
        self.features = 0
        self._temperature = float(temperature)
        self._crc_failures: float = 0
        self._power_on_reads: float = 0
        self._zero_reads: float = 0
        self.dirty = True
        self.retained = bytes(9)  # pre-2020 kernels: sl->rom, zeros until a read passes

    # -- what tests and the simulated world set -------------------------------

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature, self.dirty = float(value), True

    @property
    def crc_failures(self) -> float:
        """Conversions still to fail their CRC (on a new kernel: every one of the kernel's 5 tries)."""
        return self._crc_failures

    @crc_failures.setter
    def crc_failures(self, count: float) -> None:
        self._crc_failures, self.dirty = count, True

    @property
    def power_on_reads(self) -> float:
        """Conversions still to show the power-on scratchpad (85 °C, byte 6 = 0x0C): a brown-out."""
        return self._power_on_reads

    @power_on_reads.setter
    def power_on_reads(self, count: float) -> None:
        self._power_on_reads, self.dirty = count, True

    @property
    def zero_reads(self) -> float:
        """Conversions still to read all-zero bytes (DQ held low; the CRC of zeros passes)."""
        return self._zero_reads

    @zero_reads.setter
    def zero_reads(self, count: float) -> None:
        self._zero_reads, self.dirty = count, True

    # -- the chip --------------------------------------------------------------

    @property
    def has_resolution(self) -> bool:
        return self.family != DS18S20

    @property
    def bulk_read(self) -> bool:
        return self.family != DS28EA00

    def conv_time_ms(self) -> int:
        """What the kernel waits for this sensor (conv_time_show())."""
        if self.conv_override_ms:
            return self.conv_override_ms
        return KERNEL_CONV_MS[self.resolution] if self.has_resolution else DS18S20_CONV_MS

    def scratchpad(self, temperature: float | None = None) -> bytes:
        """The 9 bytes after converting `temperature` (default: the current one)."""
        t = self._temperature if temperature is None else temperature
        if not self.has_resolution:
            return encode_ds18s20(t, th=self.th, tl=self.tl)
        # DS1825: the low four config bits are its AD3..AD0 pins (modelled grounded).
        low = 0x10 if self.family == 0x3B else 0x1F
        return encode_ds18b20(t, self.resolution, th=self.th, tl=self.tl, config_low=low)

    def power_on_scratchpad(self) -> bytes:
        pad = bytearray(self.scratchpad())
        raw = POWER_ON_S if self.family == DS18S20 else POWER_ON_B
        pad[0:2] = raw.to_bytes(2, "little")
        pad[6] = POWER_ON_BYTE6
        return _with_crc(list(pad[:8]))

    def power_cycle(self) -> None:
        """Power-up: the scratchpad's TH, TL and configuration come back from EEPROM."""
        self.th, self.tl, self.resolution = self._eeprom
        self.conv_override_ms = 0
        self.dirty = True

    def set_resolution(self, bits: int) -> None:
        if self.has_resolution and bits in KERNEL_CONV_MS and not self.fixed_resolution:
            self.resolution = bits
            self.conv_override_ms = 0  # "Changing the resolution reverts the conversion time"
            self.dirty = True

    def save_eeprom(self) -> None:
        self._eeprom = [self.th, self.tl, self.resolution]

    def convert(self, temperature: float | None = None) -> tuple[str, bytes]:
        """One conversion: its outcome (one of OUTCOMES) and the scratchpad read after it."""
        self.dirty = False
        for name in ("_crc_failures", "_power_on_reads", "_zero_reads"):
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                outcome = {"_crc_failures": "crc", "_power_on_reads": "power-on", "_zero_reads": "zeros"}[name]
                if outcome == "power-on":
                    return outcome, self.power_on_scratchpad()
                if outcome == "zeros":
                    return outcome, bytes(9)
                return outcome, self.scratchpad(temperature)
        return "ok", self.scratchpad(temperature)

    def __repr__(self) -> str:
        return f"EmulatedW1Sensor({self.serial!r}, temperature={self._temperature})"


class EmulatedW1Bus:
    """One emulated w1 bus master with its sensors, as files under `root`; see the module docstring."""

    def __init__(self, root: Path | str, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, kernel: str = "new", bulk_read: bool = True) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, not {kernel!r}")
        self.root = Path(root)
        self.kernel = kernel
        self.bulk_read = bulk_read and kernel == "new"
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._sensors: dict[str, EmulatedW1Sensor] = {}
        self._results: dict[str, tuple[str, bytes]] = {}
        self._shown: dict[Path, str] = {}  # what the twin last wrote to each file a user may write
        self._instant: float | None = None
        self._bulk_until: float | None = None  # a bulk conversion runs until then
        self._bulk_temperatures: dict[str, float] = {}  # measured at the trigger
        self._bulk_results: dict[str, tuple[str, bytes]] = {}
        self._bulk_shown_at: float | None = None
        self.master_dir.mkdir(parents=True, exist_ok=True)
        self.sync()

    @property
    def master_dir(self) -> Path:
        return self.root / MASTER

    @property
    def sensors(self) -> dict[str, EmulatedW1Sensor]:
        return dict(self._sensors)

    def add_sensor(self, sensor: str | EmulatedW1Sensor, **options: object) -> EmulatedW1Sensor:
        """Plug in a sensor (a serial, or one removed earlier: it powers up again)."""
        with self._lock:
            if isinstance(sensor, str):
                sensor = EmulatedW1Sensor(sensor, **options)  # type: ignore[arg-type]
            else:
                sensor.power_cycle()
            if sensor.serial in self._sensors:
                raise ValueError(f"{sensor.serial} is already on the bus")
            self._sensors[sensor.serial] = sensor
            (self.master_dir / sensor.serial).mkdir()
            os.symlink(Path(MASTER) / sensor.serial, self.root / sensor.serial)
            self._write_static(sensor)
            self.sync()
            return sensor

    def remove_sensor(self, serial: str) -> EmulatedW1Sensor:
        """Unplug it: its directory goes, as when the kernel's search stops finding it."""
        with self._lock:
            sensor = self._sensors.pop(serial)
            (self.root / serial).unlink()
            shutil.rmtree(self.master_dir / serial)
            for path in [p for p in self._shown if serial in p.parts]:
                del self._shown[path]
            self._results.pop(serial, None)
            self._bulk_results.pop(serial, None)
            self._bulk_temperatures.pop(serial, None)
            self.sync()
            return sensor

    def sleep(self, seconds: float) -> None:
        """Give this to a driver as its `sleep`: the kernel acts while it waits."""
        self.sync()
        self._sleep(seconds)
        self.sync()

    def bulk_status(self) -> int:
        """therm_bulk_read_show(): -1 converting, 1 results not yet read, 0 nothing pending."""
        if self._bulk_until is not None:
            return -1
        return 1 if self._bulk_results else 0

    # -- the kernel catching up --------------------------------------------------

    def sync(self) -> None:
        with self._lock:
            now = self._clock()
            new_instant = now != self._instant
            self._instant = now
            self._take_writes(now)
            if new_instant and self._bulk_shown_at is not None and now > self._bulk_shown_at:
                self._bulk_results.clear()  # the twin cannot see reads: treat them as read
                self._bulk_shown_at = None
            if self._bulk_until is not None and now >= self._bulk_until:
                self._bulk_until = None
                self._bulk_results = {s: self._sensors[s].convert(t)
                                      for s, t in self._bulk_temperatures.items() if s in self._sensors}
                self._bulk_shown_at = now
            for serial, sensor in self._sensors.items():
                covered = serial in self._bulk_results or (self._bulk_until is not None
                                                           and serial in self._bulk_temperatures)
                if not covered and (new_instant or sensor.dirty or serial not in self._results):
                    self._results[serial] = sensor.convert()
            self._write_all()

    def _take_writes(self, now: float) -> None:
        bulk = self.master_dir / "therm_bulk_read"
        if self._user_wrote(bulk) == BULK_TRIGGER:
            bulk_sensors = [s for s in self._sensors.values() if s.bulk_read]
            if bulk_sensors:  # trigger_bulk_read(): SKIP ROM + CONVERT T, flags -1 until done
                self._bulk_until = now + max(s.conv_time_ms() for s in bulk_sensors) / 1000.0
                self._bulk_temperatures = {s.serial: s.temperature for s in bulk_sensors}
                self._bulk_results.clear()
                self._bulk_shown_at = None
        for serial, sensor in self._sensors.items():
            device = self.master_dir / serial
            for name in ("resolution", "w1_slave"):
                value = _kstrtoint(self._user_wrote(device / name))
                if value == 0 and name == "w1_slave":
                    sensor.save_eeprom()  # w1_slave_store(): 0 saves to EEPROM
                elif value is not None:
                    sensor.set_resolution(value)
            command = self._user_wrote(device / "eeprom")
            if command == EEPROM_SAVE:
                sensor.save_eeprom()
            elif command == EEPROM_RESTORE:
                sensor.power_cycle()
            value = _kstrtoint(self._user_wrote(device / "conv_time"))
            if value is not None and value >= 0:
                # 1 = measure: the kernel times a conversion and adds 20 %.
                sensor.conv_override_ms = round(sensor.conv_time_ms() * 1.2) if value == 1 else value
            value = _kstrtoint(self._user_wrote(device / "features"))
            if value is not None and 0 <= value <= 3:
                sensor.features = value
            alarms = (self._user_wrote(device / "alarms") or "").split()
            if len(alarms) == 2 and all(_kstrtoint(a) is not None for a in alarms):
                tl, th = sorted(max(-55, min(125, int(a))) for a in alarms)
                sensor.th, sensor.tl = th & 0xFF, tl & 0xFF
                sensor.dirty = True

    def _user_wrote(self, path: Path) -> str | None:
        """What a user wrote to `path` since the twin last wrote it, or None."""
        if path not in self._shown:
            return None
        try:
            content = path.read_text()
        except OSError:
            return None
        return content if content != self._shown[path] else None

    # -- the files ---------------------------------------------------------------

    def _put(self, path: Path, content: str | bytes, *, writable: bool = False) -> None:
        data = content.encode() if isinstance(content, str) else content
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a reader sees the old or the new content, never half
        if writable:
            self._shown[path] = data.decode()

    def _write_static(self, sensor: EmulatedW1Sensor) -> None:
        device = self.master_dir / sensor.serial
        self._put(device / "name", f"{sensor.serial}\n")
        self._put(device / "id", rom_id(sensor.serial))
        if self.kernel == "new":
            self._put(device / "eeprom", "", writable=True)

    def _write_all(self) -> None:
        master = self.master_dir
        self._put(master / "w1_master_name", f"{MASTER}\n")
        self._put(master / "w1_master_slaves", "".join(f"{s}\n" for s in self._sensors) or "not found.\n")
        self._put(master / "w1_master_slave_count", f"{len(self._sensors)}\n")
        bulk = master / "therm_bulk_read"
        if self.bulk_read and any(s.bulk_read for s in self._sensors.values()):
            self._put(bulk, f"{self.bulk_status()}\n", writable=True)
        elif bulk.exists():  # device_remove_file() when the last bulk-capable sensor goes
            bulk.unlink()
            self._shown.pop(bulk, None)
        for serial, sensor in self._sensors.items():
            self._write_sensor(sensor, master / serial)

    def _write_sensor(self, sensor: EmulatedW1Sensor, device: Path) -> None:
        serial = sensor.serial
        converting = self._bulk_until is not None and serial in self._bulk_temperatures
        outcome, pad = self._bulk_results.get(serial) or self._results[serial]
        if self.kernel == "old":
            self._put(device / "w1_slave", self._old_w1_slave(sensor, outcome, pad))
            return
        failed = converting or outcome == "crc" or (
            outcome == "power-on" and sensor.features & FEATURE_CHECK_RESULT)
        millidegrees = kernel_millidegrees(pad, sensor.family)
        if failed:  # the show functions return 0 bytes
            w1_slave = temperature = ""
        else:
            w1_slave = format_w1_slave(pad, crc8_maxim(pad[:8]), True, pad, millidegrees)
            temperature = f"{millidegrees}\n"
        self._put(device / "w1_slave", w1_slave, writable=True)
        self._put(device / "temperature", temperature)
        if sensor.has_resolution:
            self._put(device / "resolution", f"{sensor.resolution}\n", writable=True)
        self._put(device / "ext_power", f"{int(sensor.external_power)}\n")
        self._put(device / "conv_time", f"{sensor.conv_time_ms()}\n", writable=True)
        self._put(device / "features", f"{sensor.features}\n", writable=True)
        tl = sensor.tl - 256 if sensor.tl > 127 else sensor.tl
        th = sensor.th - 256 if sensor.th > 127 else sensor.th
        self._put(device / "alarms", f"{tl} {th}\n", writable=True)

    def _old_w1_slave(self, sensor: EmulatedW1Sensor, outcome: str, pad: bytes) -> str:
        read = pad
        if outcome == "crc":  # a bit flipped on the wire: the CRC byte no longer matches
            read = bytes([pad[0] ^ 0x10]) + pad[1:]
        crc = crc8_maxim(read[:8])
        verdict = crc == read[8]
        if verdict:
            sensor.retained = read
        return format_w1_slave(read, crc, verdict, sensor.retained, kernel_millidegrees(read, sensor.family))


def _kstrtoint(text: str | None) -> int | None:
    """kstrtoint(buf, 10): an optional sign, digits, one trailing newline."""
    if text is None:
        return None
    body = text[:-1] if text.endswith("\n") else text
    digits = body[1:] if body[:1] in "+-" else body
    return int(body) if digits.isdigit() else None


__all__ = [
    "KERNELS",
    "MASTER",
    "OUTCOMES",
    "EmulatedW1Bus",
    "EmulatedW1Sensor",
    "encode_ds18b20",
    "encode_ds18s20",
    "format_w1_slave",
    "kernel_millidegrees",
    "rom_id",
]
