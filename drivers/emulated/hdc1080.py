"""Register-level twin of a TI HDC1080 humidity and temperature sensor.

Follows TI SNAS672A (HDC1080 datasheet, Jan 2016) §8.5-8.6: an 8-bit
pointer set by every write; writing the pointer 0x00 (temperature) or 0x01
(humidity) starts a conversion, a write of pointer 0x02 plus two bytes sets
the configuration; reads return the registers from the pointer on; a read
while a conversion runs is NACKed (the Linux hdc100x driver relies on it:
"the address phase of a transfer not getting an ACK"). Attach it at 0x40.

Modelling choices where the datasheet leaves room:

- Conversion times are the datasheet's typical values (Electrical
  Characteristics; the same table as the Linux driver's
  ``hdc100x_int_time``): T 6.35/3.65 ms (14/11 bit), RH 6.5/3.85/2.5 ms
  (14/11/8 bit). With MODE = 1 any trigger acquires T then RH.
- A result is quantised to the configured resolution (the low bits are 0);
  the two LSBs are always 0 (§8.6.1-8.6.2).
- A read past the addressed register goes on to the next register address
  (0x00 -> 0x01 is what the datasheet's one-transaction T+RH read needs);
  the pointer itself stays where it was written.
- Reserved registers (0x03-0xFA) read as 0x0000; writes to them, to the
  results and to the ID registers are ignored ("should not be written").
- Power-up and the RST bit: the chip NACKs for 15 ms (the start-up time
  the datasheet gives; it gives none for a soft reset, so the same is used).
- The heater bit is stored and reported (`heater_on`); its warming is not
  modelled. The battery status bit reads 0 (VDD above 2.8 V).
- Serial ID: TI gives "first 2 bytes" (0xFB), "mid 2 bytes" (0xFC) and "last
  byte bit" (0xFD) of a 41-bit ID; the twin puts SERIAL[40:25], [24:9] and
  [8:0] (in bits 15:7 of 0xFD) there, a reading of that table not checked bit
  by bit against a part.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

REG_TEMPERATURE = 0x00
REG_HUMIDITY = 0x01
REG_CONFIG = 0x02
REG_SERIAL_FIRST, REG_SERIAL_MID, REG_SERIAL_LAST = 0xFB, 0xFC, 0xFD
REG_MANUFACTURER_ID = 0xFE
REG_DEVICE_ID = 0xFF
MANUFACTURER_ID = 0x5449  # §8.6.5: "TI"
DEVICE_ID = 0x1050  # §8.6.6
CONFIG_RESET = 0x1000  # §8.6 Table 1: MODE = 1
CONFIG_RST = 1 << 15
CONFIG_HEAT = 1 << 13
CONFIG_MODE = 1 << 12
CONFIG_TRES = 1 << 10
CONFIG_HRES_SHIFT = 8
CONFIG_WRITABLE = CONFIG_HEAT | CONFIG_MODE | CONFIG_TRES | (0b11 << CONFIG_HRES_SHIFT)
# Electrical Characteristics, conversion time (typical), seconds.
TEMPERATURE_CONVERSION_S = {14: 0.00635, 11: 0.00365}
HUMIDITY_CONVERSION_S = {14: 0.0065, 11: 0.00385, 8: 0.0025}
HRES_BITS = {0b00: 14, 0b01: 11, 0b10: 8}
STARTUP_S = 0.015
DEFAULT_SERIAL_ID = 0x0_27C3_5A19_4F  # 41 bits: SERIAL ID[40:0]


def celsius_to_raw(temperature: float, bits: int = 14) -> int:
    """§8.6.1 inverted: S = (T + 40) / 165 * 2^16, to `bits` bits, clamped to the register."""
    return _quantise((temperature + 40.0) / 165.0 * 65536.0, bits)


def humidity_to_raw(humidity: float, bits: int = 14) -> int:
    """§8.6.2 inverted: S = RH / 100 * 2^16, to `bits` bits, clamped to the register."""
    return _quantise(humidity / 100.0 * 65536.0, bits)


def _quantise(scaled: float, bits: int) -> int:
    step = 1 << (16 - bits)
    return max(0, min(0x10000 - step, round(scaled / step) * step))


class EmulatedHDC1080(EmulatedI2CDevice):
    """An HDC1080 on an emulated bus; see the module docstring."""

    has_crc = False

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        serial_id: int = DEFAULT_SERIAL_ID,
        device_id: int = DEVICE_ID,
    ) -> None:
        if not 0 <= serial_id < 1 << 41:
            raise ValueError(f"serial_id must fit in 41 bits, got {serial_id!r}")
        super().__init__(clock=clock)
        self.temperature = temperature
        self.humidity = humidity
        self.serial_id = serial_id
        self.device_id = device_id  # 0x1000 makes it an HDC1000/HDC1008/HDC1010
        self._listening_at = -math.inf
        self._power_on_state()

    def _power_on_state(self) -> None:
        self._pointer = REG_TEMPERATURE  # §8.6: POR value of the pointer
        self._config = CONFIG_RESET
        self._t_raw = 0x0000
        self._rh_raw = 0x0000
        self._busy_until = -math.inf
        self._pending: tuple[int | None, int | None] | None = None

    def power_cycle(self) -> None:
        """Power the chip off and on: registers reset, deaf for the start-up time."""
        self._power_on_state()
        self._listening_at = self._clock() + STARTUP_S

    # -- state -----------------------------------------------------------------

    @property
    def config(self) -> int:
        return self._config

    @property
    def heater_on(self) -> bool:
        return bool(self._config & CONFIG_HEAT)

    @property
    def pointer(self) -> int:
        return self._pointer

    @property
    def temperature_bits(self) -> int:
        return 11 if self._config & CONFIG_TRES else 14

    @property
    def humidity_bits(self) -> int:
        return HRES_BITS.get((self._config >> CONFIG_HRES_SHIFT) & 0b11, 14)

    def converting(self, now: float | None = None) -> bool:
        return (self._clock() if now is None else now) < self._busy_until

    # -- I2CChip ---------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if now < self._listening_at:
            raise Nack()
        if not data:
            return  # address probe
        self._pointer = data[0]
        if self._pointer in (REG_TEMPERATURE, REG_HUMIDITY):
            self._trigger(self._pointer, now)  # a new trigger aborts a running conversion
        elif self._pointer == REG_CONFIG and len(data) >= 3:
            self._write_config(int.from_bytes(data[1:3], "big"), now)

    def _write_config(self, value: int, now: float) -> None:
        if value & CONFIG_RST:
            self._power_on_state()
            self._pointer = REG_CONFIG
            self._listening_at = now + STARTUP_S
            return
        self._config = value & CONFIG_WRITABLE  # reserved bits "must be 0", BTST is read-only

    def _trigger(self, register: int, now: float) -> None:
        t_bits, rh_bits = self.temperature_bits, self.humidity_bits
        both = bool(self._config & CONFIG_MODE)
        t_raw = celsius_to_raw(self.temperature, t_bits) if both or register == REG_TEMPERATURE else None
        rh_raw = humidity_to_raw(self.humidity, rh_bits) if both or register == REG_HUMIDITY else None
        duration = (TEMPERATURE_CONVERSION_S[t_bits] if t_raw is not None else 0.0) + (
            HUMIDITY_CONVERSION_S[rh_bits] if rh_raw is not None else 0.0
        )
        self._pending = (t_raw, rh_raw)
        self._busy_until = now + duration

    def _settle(self, now: float) -> None:
        if self._pending is not None and now >= self._busy_until:
            t_raw, rh_raw = self._pending
            self._t_raw = self._t_raw if t_raw is None else t_raw
            self._rh_raw = self._rh_raw if rh_raw is None else rh_raw
            self._pending = None

    def register(self, pointer: int) -> int:
        """The 16-bit content of register `pointer` as the chip would send it now."""
        self._settle(self._clock())
        return self._register(pointer)

    def _register(self, pointer: int) -> int:
        serial = self.serial_id
        return {
            REG_TEMPERATURE: self._t_raw,
            REG_HUMIDITY: self._rh_raw,
            REG_CONFIG: self._config,
            REG_SERIAL_FIRST: (serial >> 25) & 0xFFFF,
            REG_SERIAL_MID: (serial >> 9) & 0xFFFF,
            REG_SERIAL_LAST: (serial & 0x1FF) << 7,
            REG_MANUFACTURER_ID: MANUFACTURER_ID,
            REG_DEVICE_ID: self.device_id,
        }.get(pointer, 0x0000)

    def _read(self, length: int, now: float) -> bytes:
        if now < self._listening_at or now < self._busy_until:
            raise Nack()  # §8.5: a read during a conversion is not acknowledged
        self._settle(now)
        out = bytearray()
        pointer = self._pointer
        while len(out) < length:
            out += self._register(pointer).to_bytes(2, "big")
            pointer = (pointer + 1) & 0xFF
        return bytes(out[:length])


__all__ = ["DEVICE_ID", "MANUFACTURER_ID", "EmulatedHDC1080", "celsius_to_raw", "humidity_to_raw"]
