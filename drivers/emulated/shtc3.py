"""Register-level twin of a Sensirion SHTC3 humidity sensor, and an SHTC1 sibling.

Follows the SHTC3 datasheet (version 1, July 2018): 16-bit commands, results
read as 16-bit words each followed by a CRC-8. After power-up the chip is
idle (awake). Asleep (0xB098) it acknowledges its address but takes only
the wake-up command 0x3517; every other command and every read is NACKed.
Waking up and a soft reset take up to 240 µs, during which it answers
nothing; while measuring it acknowledges no read or write header at all.
A result can be read once. Attach it at 0x70.

Modelling choices where the datasheet leaves room:

- Clock-stretching measurement commands (0x7CA2, 0x5C24, 0x6458, 0x44DE)
  are answered at once, as if the master had been held for the measurement.
- An unknown command is NACKed (the SHTC3 has no status register to flag
  it in); a one-byte write is acknowledged and ignored (half a command).
- Wake-up while awake is acknowledged and changes nothing.

`EmulatedSHTC1` is the sibling for "wrong-chip": an SHTC1 (SHTW1/SHTW2)
answers the same ID command with its own product code (bit 11 clear, so
(ID & 0x083F) == 0x0007), has no sleep mode (it NACKs 0x3517 and 0xB098, as
commands it does not know; Sensirion's driver ignores that NACK) and
measures in 14.4 ms / 0.94 ms.
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers._crc import crc8
from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

CMD_WAKEUP = 0x3517
CMD_SLEEP = 0xB098
CMD_SOFT_RESET = 0x805D
CMD_READ_ID = 0xEFC8
# measurement commands -> (power mode, temperature first?, clock stretching?)
CMD_MEASURE = {
    0x7866: ("normal", True, False), 0x58E0: ("normal", False, False),
    0x609C: ("low", True, False), 0x401A: ("low", False, False),
    0x7CA2: ("normal", True, True), 0x5C24: ("normal", False, True),
    0x6458: ("low", True, True), 0x44DE: ("low", False, True),
}  # fmt: skip
WAKEUP_S = 0.00024  # §3: power-up / wake-up time, max
SOFT_RESET_S = 0.00024  # §3: soft reset time, max
DEFAULT_ID_WORD = 0x0887  # xxxx'1xxx'xx00'0111: (ID & 0x083F) == 0x0807
SHTC1_ID_WORD = 0x0047  # xxxx'0xxx'xx00'0111: (ID & 0x083F) == 0x0007

# §5 conversion inverted: S = (T + 45) / 175 * 2^16, S = RH / 100 * 2^16.
RAW_MAX = 0xFFFF
FULL_SCALE = 65536


def celsius_to_raw(temperature: float) -> int:
    """Inverse of T = -45 + 175 * S / 2^16, rounded and clamped to 16 bits."""
    return max(0, min(RAW_MAX, round((temperature + 45.0) / 175.0 * FULL_SCALE)))


def humidity_to_raw(humidity: float) -> int:
    """Inverse of RH = 100 * S / 2^16, rounded and clamped to 16 bits."""
    return max(0, min(RAW_MAX, round(humidity / 100.0 * FULL_SCALE)))


class EmulatedSHTC3(EmulatedI2CDevice):
    """An SHTC3 on an emulated bus; see the module docstring for its behaviour."""

    HAS_SLEEP = True
    # §3: measurement duration, max.
    MEASUREMENT_MAX_S = {"normal": 0.0121, "low": 0.0008}

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        id_word: int = DEFAULT_ID_WORD,
    ) -> None:
        if not 0 <= id_word <= 0xFFFF:
            raise ValueError(f"id_word must fit in 16 bits, got {id_word!r}")
        super().__init__(clock=clock)
        self.temperature = temperature
        self.humidity = humidity
        self.id_word = id_word
        self.commands: list[int] = []  # every command taken, for tests
        self._power_on_state()

    def _power_on_state(self) -> None:
        self.asleep = False
        self._response: bytes | None = None
        self._ready_at = -math.inf
        self._unresponsive_until = -math.inf

    def _words(self, *words: int) -> bytes:
        out = bytearray()
        for word in words:
            pair = word.to_bytes(2, "big")
            crc = crc8(pair)
            out += pair + bytes([crc ^ 0xFF if self.corrupt_crc else crc])
        return bytes(out)

    def _measuring(self, now: float) -> bool:
        return self._response is not None and now < self._ready_at

    # -- I2CChip -------------------------------------------------------------

    def _write(self, data: bytes, now: float) -> None:
        if now < self._unresponsive_until or self._measuring(now):
            raise Nack()  # waking up, resetting or measuring: no header is acknowledged
        if not data:
            return  # address-only probe (asleep too: the wake-up needs the address ACKed)
        if len(data) < 2:
            if self.asleep:
                raise Nack()
            return  # half a command: nothing to do
        command = int.from_bytes(data[:2], "big")
        if self.asleep:
            if command != CMD_WAKEUP:
                raise Nack()
            self.asleep = False
            self._unresponsive_until = now + WAKEUP_S
        elif command in CMD_MEASURE:
            mode, t_first, stretch = CMD_MEASURE[command]
            t, rh = celsius_to_raw(self.temperature), humidity_to_raw(self.humidity)
            self._response = self._words(t, rh) if t_first else self._words(rh, t)
            self._ready_at = now if stretch else now + self.MEASUREMENT_MAX_S[mode]
        elif command == CMD_READ_ID:
            self._response, self._ready_at = self._words(self.id_word), now
        elif command == CMD_SOFT_RESET:
            self._power_on_state()
            self._unresponsive_until = now + SOFT_RESET_S
        elif self.HAS_SLEEP and command == CMD_SLEEP:
            self.asleep, self._response = True, None
        elif self.HAS_SLEEP and command == CMD_WAKEUP:
            pass  # already awake
        else:
            raise Nack()  # unknown command
        self.commands.append(command)

    def _read(self, length: int, now: float) -> bytes:
        if now < self._unresponsive_until or self.asleep:
            raise Nack()
        if self._response is None or now < self._ready_at:
            raise Nack()  # no result (yet)
        data, self._response = self._response, None  # read once
        return data[:length]


class EmulatedSHTC1(EmulatedSHTC3):
    """An SHTC1 where an SHTC3 is configured: another product code, no sleep mode."""

    HAS_SLEEP = False
    # Sensirion embedded-sht shtc1.c (14400 µs); low power 0.94 ms max (SHTC1 low-power app note).
    MEASUREMENT_MAX_S = {"normal": 0.0144, "low": 0.00094}

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        temperature: float = 22.0,
        humidity: float = 45.0,
        id_word: int = SHTC1_ID_WORD,
    ) -> None:
        super().__init__(clock=clock, temperature=temperature, humidity=humidity, id_word=id_word)


__all__ = ["EmulatedSHTC1", "EmulatedSHTC3", "celsius_to_raw", "humidity_to_raw"]
