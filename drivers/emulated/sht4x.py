"""Register-level twin of a Sensirion SHT4x (SHT40/41/43/45) humidity sensor.

Follows the SHT4x datasheet: one-byte commands (Table 8), no clock
stretching, results read as 16-bit words each followed by a CRC-8; a read
header while the chip is busy measuring or heating, or with no result
behind it, is NACKed; a result can be read once (§4.1). Attach it at 0x44,
0x45 or 0x46 and set `temperature` / `humidity` to what it should measure.

Modelling choices where the datasheet leaves room:

- The first byte of a write is the command; further bytes in the same write
  are ignored. So an SHT3x driver's 0xF32D (status) is the unknown 0xF3 and
  does nothing (a following read is NACKed), while its 0x2400 measurement
  command is the SHT4x heater command 0x24: that is why an SHT3x driver
  must check the identity before measuring.
- Unknown commands are acknowledged and ignored. While busy, writes are
  acknowledged (the chip listens for a soft reset, which aborts any
  command, §4.8); other commands are ignored and the running one goes on.
- The serial number is ready at once (Table 8: 0.01 ms, less than a
  repeated START takes).
- A heater command's result is the measurement at command time; the twin
  has no thermal model, so it shows no heating. `heater_pulses` and
  `heater_on_s` count what the chip was asked to heat, for duty-cycle checks.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers._crc import crc8
from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

# Table 8: measure T & RH with high / medium / low precision.
CMD_MEASURE = {0xFD: "high", 0xF6: "medium", 0xE0: "low"}
# Table 5: measurement duration, max.
MEASUREMENT_MAX_S = {"high": 0.0083, "medium": 0.0045, "low": 0.0016}
# Table 8: heater commands -> (power W, heater-on time s, duration until the result, max s).
CMD_HEATER = {
    0x39: (0.200, 1.0, 1.1), 0x32: (0.200, 0.1, 0.11),
    0x2F: (0.110, 1.0, 1.1), 0x24: (0.110, 0.1, 0.11),
    0x1E: (0.020, 1.0, 1.1), 0x15: (0.020, 0.1, 0.11),
}  # fmt: skip
CMD_SERIAL = 0x89  # Table 8
CMD_SOFT_RESET = 0x94  # Table 8
SOFT_RESET_S = 0.001  # Table 5: t_SR max; the chip answers nothing meanwhile

# §4.6 inverted: S_T = (T + 45) / 175 * (2^16 - 1), S_RH = (RH + 6) / 125 * (2^16 - 1).
RAW_MAX = 0xFFFF
DEFAULT_SERIAL_NUMBER = 0x0F2B_93C1


def celsius_to_raw(temperature: float) -> int:
    """Inverse of the datasheet temperature formula, rounded and clamped to 16 bits."""
    return max(0, min(RAW_MAX, round((temperature + 45.0) / 175.0 * RAW_MAX)))


def humidity_to_raw(humidity: float) -> int:
    """Inverse of the datasheet humidity formula (-6 + 125 * S / 65535), rounded and clamped."""
    return max(0, min(RAW_MAX, round((humidity + 6.0) / 125.0 * RAW_MAX)))


class EmulatedSHT4x(EmulatedI2CDevice):
    """An SHT4x on an emulated bus; see the module docstring for its behaviour."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        serial_number: int = DEFAULT_SERIAL_NUMBER,
    ) -> None:
        if not 0 <= serial_number <= 0xFFFF_FFFF:
            raise ValueError(f"serial_number must fit in 32 bits, got {serial_number!r}")
        super().__init__(clock=clock)
        self.temperature = temperature
        self.humidity = humidity
        self.serial_number = serial_number
        self.heater_pulses = 0
        self.heater_on_s = 0.0
        self.commands: list[int] = []  # every command byte taken, for tests
        # "stops-answering": a first reading is only 4 transfers; fall silent within it,
        # right after the identity check, so `sensorkit read --simulate` shows the fault.
        self.answers_before_silence = 2
        self._power_on_state()
        self._unresponsive_until = -math.inf

    def _power_on_state(self) -> None:
        self._response: bytes | None = None
        self._ready_at = -math.inf
        self._busy_until = -math.inf

    def _words(self, *words: int) -> bytes:
        out = bytearray()
        for word in words:
            pair = word.to_bytes(2, "big")
            crc = crc8(pair)
            out += pair + bytes([crc ^ 0xFF if self.corrupt_crc else crc])
        return bytes(out)

    def _measurement(self) -> bytes:
        return self._words(celsius_to_raw(self.temperature), humidity_to_raw(self.humidity))

    def busy(self, now: float | None = None) -> bool:
        """Measuring or heating (reads are NACKed)."""
        return (self._clock() if now is None else now) < self._busy_until

    # -- I2CChip -------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if now < self._unresponsive_until:
            raise Nack()  # resetting
        if not data:
            return  # address-only probe: ACK
        command = data[0]
        if command == CMD_SOFT_RESET:
            self.commands.append(command)
            self._power_on_state()  # aborts a measurement or heater pulse
            self._unresponsive_until = now + SOFT_RESET_S
            return
        if self.busy(now):
            return  # heard, not acted on
        if command in CMD_MEASURE:
            self._start(self._measurement(), now + MEASUREMENT_MAX_S[CMD_MEASURE[command]])
        elif command in CMD_HEATER:
            _, on_s, total_s = CMD_HEATER[command]
            self.heater_pulses += 1
            self.heater_on_s += on_s
            self._start(self._measurement(), now + total_s)
        elif command == CMD_SERIAL:
            high, low = self.serial_number >> 16, self.serial_number & 0xFFFF
            self._start(self._words(high, low), now)
        else:
            return  # unknown: acknowledged, ignored
        self.commands.append(command)

    def _start(self, response: bytes, ready_at: float) -> None:
        self._response, self._ready_at, self._busy_until = response, ready_at, ready_at

    def _read(self, length: int, now: float) -> bytes:
        if now < self._unresponsive_until or self._response is None or now < self._ready_at:
            raise Nack()  # §4.1: busy, or nothing to send
        data, self._response = self._response, None  # §4.1: read once
        return data[:length]


__all__ = ["EmulatedSHT4x", "celsius_to_raw", "humidity_to_raw"]
