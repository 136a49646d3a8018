"""Register-level twin of the Aosong AHT20 family (AHT20/AHT21/AHT25/AM2301B/DHT20) and the AHT10.

Follows the DHT20/AHT20 datasheets (Aosong, v1.0 2021, §7.3-7.4) and the
AHT10 technical manual (§5.3-5.4): a read returns the status byte (bit 7
busy, bit 3 calibrated), five bytes of 20-bit humidity and 20-bit
temperature and, on the AHT20 family only, a CRC-8 (poly 0x31, init 0xFF)
over those six bytes. The status is read with a plain read: the "0x71" of
the datasheet is the read header (0x38 << 1 | 1), not a command. Commands:
0xAC 0x33 0x00 trigger (80 ms, AHT10 "over 75 ms"), 0xBA soft reset
(< 20 ms), initialisation 0xBE 0x08 0x00 (AHT20) or 0xE1 0x08 0x00 (AHT10).

`variant` = "aht20" (default) or "aht10"; `EmulatedAHT10` is the latter,
the sibling that answers under "wrong-chip" where an AHT20 is configured.

Modelling choices where the datasheets leave room:

- A read during a measurement ACKs and shows the busy bit, with the
  previous result behind it (the datasheets: "if the status bit [7] is 0 the
  data can be read normally ... otherwise continue to wait").
- A command byte the chip does not know is NACKed: newer AHT20s NACK the
  AHT10's 0xE1 (Adafruit_CircuitPython_AHTx0 issue #17, seen on a logic
  analyser); the AHT10 is assumed to treat 0xBE the same way (its manual lists
  only 0xE1, 0xAC, 0xBA). A trigger while busy is acknowledged and ignored.
- Power-on: an AHT20-family chip is calibrated (status 0x18: the DHT20
  datasheet initialises only when ``status & 0x18 != 0x18``); an AHT10 is
  not until it gets 0xE1 with the CAL bit (Linux aht10 and Adafruit always
  send it first); its mode bits 6:5 come from that command's first parameter.
  `power_cycle()` makes the chip deaf for the start-up time (40 ms AHT20,
  20 ms AHT10). By default the chip has been powered long before.
- A soft reset keeps an AHT20's calibration (it is in OTP) and clears an
  AHT10's, which "restores the default settings".
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers._crc import crc8
from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

CMD_TRIGGER = 0xAC
TRIGGER_PARAMETERS = b"\x33\x00"
CMD_INIT_AHT20 = 0xBE
CMD_INIT_AHT10 = 0xE1
CMD_SOFT_RESET = 0xBA
STATUS_BUSY = 0x80
STATUS_AHT10_MODE = 0x60  # AHT10 Table 10: 00 NOR, 01 CYC, 1x CMD
STATUS_AHT20_BIT4 = 0x10  # set with bit 3 on a ready AHT20 (the datasheets' 0x18 check)
STATUS_CALIBRATED = 0x08
MEASUREMENT_S = {"aht20": 0.080, "aht10": 0.075}
INIT_S = 0.010  # AHT20 datasheet: wait 10 ms after initialising
SOFT_RESET_S = 0.020
POWER_ON_S = {"aht20": 0.040, "aht10": 0.020}
VARIANTS = ("aht20", "aht10")
FULL_SCALE = 1 << 20


def humidity_to_raw(humidity: float) -> int:
    """Inverse of RH = S / 2^20 * 100, rounded and clamped to 20 bits."""
    return max(0, min(FULL_SCALE - 1, round(humidity / 100.0 * FULL_SCALE)))


def celsius_to_raw(temperature: float) -> int:
    """Inverse of T = S / 2^20 * 200 - 50, rounded and clamped to 20 bits."""
    return max(0, min(FULL_SCALE - 1, round((temperature + 50.0) / 200.0 * FULL_SCALE)))


def pack(s_rh: int, s_t: int) -> bytes:
    """The five data bytes: 20 bits of humidity, then 20 bits of temperature."""
    return bytes([s_rh >> 12, (s_rh >> 4) & 0xFF, ((s_rh & 0x0F) << 4) | (s_t >> 16), (s_t >> 8) & 0xFF, s_t & 0xFF])


class EmulatedAHT2x(EmulatedI2CDevice):
    """An AHT20-family chip (or, with ``variant="aht10"``, an AHT10); see the module docstring."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        variant: str = "aht20",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        self.variant = variant
        self.has_crc = variant == "aht20"  # the AHT10 sends no CRC
        super().__init__(clock=clock)
        self.temperature = temperature
        self.humidity = humidity
        self._listening_at = -math.inf
        self._power_on_state()

    def _power_on_state(self) -> None:
        self.calibrated = self.variant == "aht20"
        self._mode = 0
        self._data = bytes(5)  # no measurement yet
        self._pending: bytes | None = None
        self._busy_until = -math.inf

    def power_cycle(self) -> None:
        self._power_on_state()
        self._listening_at = self._clock() + POWER_ON_S[self.variant]

    def status(self, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        status = STATUS_BUSY if now < self._busy_until else 0
        if self.calibrated:
            status |= STATUS_CALIBRATED | (STATUS_AHT20_BIT4 if self.variant == "aht20" else 0)
        if self.variant == "aht10":
            status |= self._mode
        return status

    # -- I2CChip ---------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if now < self._listening_at:
            raise Nack()
        if not data:
            return  # address probe
        command, parameters = data[0], data[1:]
        init = CMD_INIT_AHT20 if self.variant == "aht20" else CMD_INIT_AHT10
        if command == CMD_TRIGGER:
            if parameters[:2] == TRIGGER_PARAMETERS and now >= self._busy_until:
                self._settle(now)
                self._pending = pack(humidity_to_raw(self.humidity), celsius_to_raw(self.temperature))
                self._busy_until = now + MEASUREMENT_S[self.variant]
        elif command == init:
            if parameters[:1] and parameters[0] & STATUS_CALIBRATED:
                self.calibrated = True
            if self.variant == "aht10" and parameters[:1]:
                self._mode = parameters[0] & STATUS_AHT10_MODE
            self._busy_until = max(self._busy_until, now + INIT_S)
        elif command == CMD_SOFT_RESET:
            calibrated = self.calibrated and self.variant == "aht20"
            self._power_on_state()
            self.calibrated = calibrated
            self._listening_at = now + SOFT_RESET_S
        else:
            raise Nack()  # not a command this chip knows

    def _settle(self, now: float) -> None:
        if self._pending is not None and now >= self._busy_until:
            self._data, self._pending = self._pending, None

    def _read(self, length: int, now: float) -> bytes:
        if now < self._listening_at:
            raise Nack()
        self._settle(now)
        frame = bytes([self.status(now)]) + self._data
        if self.variant == "aht20":
            crc = crc8(frame)
            frame += bytes([crc ^ 0xFF if self.corrupt_crc else crc])
        return frame[:length]  # an AHT10 stops after six bytes: the line idles high


class EmulatedAHT10(EmulatedAHT2x):
    """An AHT10: no CRC, initialised with 0xE1; the AHT20's "wrong-chip" sibling."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("variant", "aht10")
        super().__init__(**kwargs)  # type: ignore[arg-type]


__all__ = ["EmulatedAHT10", "EmulatedAHT2x", "celsius_to_raw", "humidity_to_raw", "pack"]
