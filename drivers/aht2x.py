"""Aosong AHT20 family (AHT20, AHT21, AHT25, AM2301B, DHT20) and AHT10 over I2C.

References: DHT20/AHT20 datasheets (Aosong v1.0, 2021) §7.3-7.4 and the
AHT10 technical manual §5. The status byte is what a plain one-byte read
returns (the datasheets' "send 0x71" is the read header 0x38 << 1 | 1):
bit 7 busy, bit 3 calibrated. A measurement is: write 0xAC 0x33 0x00, wait
80 ms, read status + 5 data bytes (+ CRC-8 on the AHT20 family, poly 0x31
init 0xFF over the six bytes). The status leads the frame, so no separate
status poll is needed: two transactions per reading, the datasheet minimum.

`variant` chooses the protocol ("aht20", the default, or "aht10"); it is
not auto-detected, because the only difference the bus shows before a
reading is which initialisation command the chip accepts, and sending an
AHT20 the AHT10's 0xE1 is what newer AHT20s NACK (Adafruit AHTx0 issue #17).

There is no ID register. The identity check (first read, and after every
failed one) reads the status and, when the chip is not calibrated, sends
the variant's initialisation command (0xBE 0x08 0x00 or 0xE1 0x08 0x00).
What `WrongChip` can tell: an AHT10 where "aht20" is configured (it
refuses 0xBE, the twin's model of the AHT10), and an AHT20 where "aht10" is
configured, when it is uncalibrated and refuses 0xE1. What it cannot: AHT20
from AHT21/AHT25/AM2301B/DHT20 (one protocol, no ID), a calibrated AHT20
where "aht10" is configured (it answers the AHT10 protocol, only its CRC
goes unread), a calibrated AHT10 that accepts 0xBE (then its missing CRC
shows as a ChecksumError whose message names the variant), or another kind
of chip at 0x38 that happens to answer like one.

The formulas cannot leave 0..100 %RH; a temperature at either end of the
20-bit range (-50 or 150 °C, outside the -40..85 °C rating) is the
converter's end stop, not a measurement, and raises ImplausibleReading.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers import (
    ChecksumError,
    DriverConfigError,
    DriverError,
    ImplausibleReading,
    NotReady,
    SensorNotFound,
    WrongChip,
)
from drivers._crc import crc8
from drivers._driver import Driver
from drivers._i2c_io import Link, all_ff, all_ff_advice, bus_label

ADDRESSES = (0x38, 0x39)  # 0x39: AHT10 with its ADR pin high (AHT10 pin 1; Adafruit AHTX0 0x39)
QUANTITIES = ("temperature", "humidity")
VARIANTS = ("aht20", "aht10")


def detected_options(part: str) -> dict[str, str]:
    """The config options `sensorkit detect` prints for a part that `identify` named."""
    return {"variant": "aht10"} if part == "AHT10" else {}
PARTS = {"aht20": "AHT20", "aht10": "AHT10"}

_CMD_TRIGGER = b"\xAC\x33\x00"  # DHT20 §7.4 step 2
_CMD_INIT = {"aht20": b"\xBE\x08\x00", "aht10": b"\xE1\x08\x00"}  # AHT20 / AHT10 initialisation
_CMD_SOFT_RESET = b"\xBA"
_STATUS_BUSY = 0x80
_STATUS_CALIBRATED = 0x08
_STATUS_READY_AHT20 = 0x18  # DHT20 §7.4 step 1: initialise when (status & 0x18) != 0x18
_FRAME_LENGTH = {"aht20": 7, "aht10": 6}
_MEASURE_S = 0.080  # DHT20 §7.4 step 3 (AHT10: "over 75 ms")
_MARGIN_S = 0.002
_POLL_S = 0.010  # "otherwise continue to wait": poll every 10 ms, as Adafruit's driver does
_POLLS = 3
_INIT_WAIT_S = 0.010  # DHT20 §7.4 step 2: wait 10 ms
_SOFT_RESET_S = 0.020  # "the soft reset takes less than 20 ms"
_POWER_ON_S = 0.100  # AHT20: 40 ms, DHT20 module: "no less than 100 ms"
_FULL_SCALE = 1 << 20


def conversion_time_s(**_: object) -> float:
    """One measurement: 80 ms (no option changes it) plus the driver's margin."""
    return _MEASURE_S + _MARGIN_S


def raw_to_humidity(s_rh: int) -> float:
    """DHT20 §7.4 step 5: RH = S_RH / 2^20 * 100 %."""
    return s_rh / _FULL_SCALE * 100.0


def raw_to_celsius(s_t: int) -> float:
    """DHT20 §7.4 step 5: T = S_T / 2^20 * 200 - 50 °C."""
    return s_t / _FULL_SCALE * 200.0 - 50.0


def unpack(frame: bytes) -> tuple[int, int, int]:
    """(status, S_RH, S_T) from status + five data bytes (20 + 20 bits)."""
    s_rh = (frame[1] << 12) | (frame[2] << 4) | (frame[3] >> 4)
    s_t = ((frame[3] & 0x0F) << 16) | (frame[4] << 8) | frame[5]
    return frame[0], s_rh, s_t


def check_crc(frame: bytes) -> None:
    """The AHT20 family's CRC-8 (poly 0x31, init 0xFF) over status + data; raises ChecksumError."""
    expected = crc8(frame[:6])
    if expected == frame[6]:
        return
    hint = (
        "; a CRC byte of 0xFF is what an AHT10 (which sends none) leaves on the bus: "
        'if it is one, set variant = "aht10"'
        if frame[6] == 0xFF
        else ""
    )
    raise ChecksumError(
        f"AHT20 frame {frame[:6].hex(' ')}: CRC expected 0x{expected:02X}, received 0x{frame[6]:02X}; "
        f"check the I2C wiring for noise (long wires, missing pull-ups){hint}"
    )


def identify(bus: object, address: int = 0x38) -> str | None:
    """"AHT20" or "AHT10" when an Aosong sensor seems to answer at `address`, else None.

    Sends one plain one-byte read (the datasheets' status read) and nothing
    else. The status has no ID: bits 4 and 3 both set is the AHT20 family's
    ready pattern (DHT20 §7.4); anything else that is not 0xFF is reported
    as an AHT10, a guess that `read()` corrects with WrongChip if wrong.
    """
    if address not in ADDRESSES:
        return None
    status = Link(bus, address, "AHT").read(1)
    if status is None or status[0] == 0xFF:
        return None
    return "AHT20" if status[0] & _STATUS_READY_AHT20 == _STATUS_READY_AHT20 else "AHT10"


class AHT2x(Driver):
    """An AHT20-family sensor or an AHT10 on an smbus2-compatible bus; the constructor does no I/O."""

    def __init__(
        self,
        bus: object,
        address: int = 0x38,
        *,
        variant: str = "aht20",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if variant not in VARIANTS:
            raise DriverConfigError(f"AHT2x variant {variant!r} is not one of {', '.join(VARIANTS)}")
        if not isinstance(address, int) or address not in ADDRESSES:
            raise DriverConfigError(
                f"AHT2x address {address!r} is not possible: use 0x38 (or 0x39 for an AHT10 with ADR high)"
            )
        if address == 0x39 and variant != "aht10":
            raise DriverConfigError(
                'AHT2x address 0x39 exists only on the AHT10 (ADR pin high): the AHT20 family is fixed at 0x38; '
                'set variant = "aht10" or address = 0x38'
            )
        self._bus = bus
        self.address = address
        self.variant = variant
        self.part = PARTS[variant]
        self._sleep = sleep
        self._link = Link(bus, address, self.part)
        self._checked = False
        self._reset_next = False

    # -- identity --------------------------------------------------------------

    def _not_found(self) -> SensorNotFound:
        label = bus_label(self._bus)
        other = 0x39 if self.address == 0x38 else 0x38
        status = Link(self._bus, other, self.part).read(1)  # read-only: the status byte
        if status is not None and status[0] != 0xFF:
            if self.variant == "aht10":
                fix = f"an AHT10 answers at 0x{other:02X} (ADR pin {'high' if other == 0x39 else 'low'})"
                return SensorNotFound(
                    f"nothing answers at 0x{self.address:02X} on I2C bus {label}; {fix}: set address = 0x{other:02X}"
                )
            return SensorNotFound(
                f"nothing answers at 0x38 on I2C bus {label}; a device answers at 0x39, which only an AHT10 "
                'with its ADR pin high uses: set variant = "aht10" and address = 0x39'
            )
        return SensorNotFound(
            f"no {self.part} answered at 0x{self.address:02X} on I2C bus {label}: check the wiring of SDA, "
            f"SCL, VCC and GND, the pull-ups, and what `i2cdetect -y {label}` shows"
        )

    def _status(self) -> int:
        data = self._link.read(1)
        if data is None:
            raise self._not_found()
        return data[0]

    def _check_identity(self) -> None:
        data = self._link.read(1)
        if data is None:
            self._sleep(_POWER_ON_S)  # a chip still starting up does not answer yet
            data = self._link.read(1)
        if data is None:
            raise self._not_found()
        status = data[0]
        if status == 0xFF:
            raise SensorNotFound(all_ff_advice(self.part, self.address, self._bus))
        if self._reset_next:
            self.soft_reset()
            status = self._status()
        if status & _STATUS_BUSY:
            self._sleep(_MEASURE_S)  # a measurement of an earlier, failed read still running
            status = self._status()
        ready = _STATUS_READY_AHT20 if self.variant == "aht20" else _STATUS_CALIBRATED
        if status & ready != ready:
            self._initialise()
        self._checked, self._reset_next = True, False

    def _initialise(self) -> None:
        if not self._link.write(_CMD_INIT[self.variant]):
            if self.variant == "aht20":
                raise WrongChip(
                    f"the chip at 0x{self.address:02X} is not calibrated and refuses the AHT20 initialisation "
                    '0xBE 0x08 0x00, as an AHT10 does: if it is an AHT10, set variant = "aht10"',
                    found="AHT10",
                )
            raise WrongChip(
                f"the chip at 0x{self.address:02X} is not calibrated and refuses the AHT10 initialisation "
                '0xE1 0x08 0x00, as AHT20-family chips do: set variant = "aht20"',
                found="AHT20",
            )
        self._sleep(_INIT_WAIT_S)
        status = self._status()
        if status & _STATUS_BUSY:
            self._sleep(_POLL_S)
            status = self._status()
        if not status & _STATUS_CALIBRATED:
            raise NotReady(
                f"{self.part} at 0x{self.address:02X} still reports itself uncalibrated (status 0x{status:02X}) "
                "after the initialisation command: power-cycle the sensor"
            )

    def soft_reset(self) -> None:
        """0xBA: restart without a power cycle (< 20 ms)."""
        if not self._link.write(_CMD_SOFT_RESET):
            raise self._not_found()
        self._sleep(_SOFT_RESET_S)
        self._checked = False

    # -- measuring -------------------------------------------------------------

    def _measure(self) -> bytes:
        if not self._link.write(_CMD_TRIGGER):
            raise self._not_found()
        self._sleep(_MEASURE_S + _MARGIN_S)
        length = _FRAME_LENGTH[self.variant]
        for _ in range(_POLLS + 1):
            frame = self._link.read(length)
            if frame is None:
                raise self._not_found()
            if all_ff(frame):
                raise SensorNotFound(all_ff_advice(self.part, self.address, self._bus))
            if not frame[0] & _STATUS_BUSY:
                return frame
            self._sleep(_POLL_S)
        raise NotReady(
            f"{self.part} at 0x{self.address:02X} still busy {1000 * (_MEASURE_S + _POLLS * _POLL_S):.0f} ms "
            "after the trigger; the driver resets it before the next reading"
        )

    def read(self) -> dict[str, float]:
        """One measurement: temperature °C and humidity %RH, 2 decimals."""
        try:
            if not self._checked:
                self._check_identity()
            frame = self._measure()
            if self.variant == "aht20":
                check_crc(frame)
            status, s_rh, s_t = unpack(frame)
            if not status & _STATUS_CALIBRATED:
                raise NotReady(f"{self.part} at 0x{self.address:02X} lost its calibration bit (status 0x{status:02X})")
            if s_t in (0, _FULL_SCALE - 1):
                raise ImplausibleReading(
                    f"{self.part} temperature {raw_to_celsius(s_t):.2f} °C is the converter's end stop "
                    "(outside the -40..85 °C the chip is rated for), not a measurement: check the sensor's power"
                )
        except DriverError as exc:
            self._checked = False
            self._reset_next = isinstance(exc, NotReady)
            raise
        return {"temperature": round(raw_to_celsius(s_t), 2), "humidity": round(raw_to_humidity(s_rh), 2)}

    def __repr__(self) -> str:
        return f"AHT2x(address=0x{self.address:02X}, variant={self.variant!r})"


__all__ = [
    "ADDRESSES",
    "QUANTITIES",
    "VARIANTS",
    "AHT2x",
    "check_crc",
    "conversion_time_s",
    "identify",
    "raw_to_celsius",
    "raw_to_humidity",
    "unpack",
]
