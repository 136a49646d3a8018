"""Register-level twin of a Sensirion SHT3x (SHT30/31/35) humidity sensor.

Follows the SHT3x-DIS datasheet (v5, May 2018): 16-bit commands written MSB
first, results read as 16-bit words each followed by a CRC-8, a read that has
no result behind it is NACKed. Attach it to an `EmulatedSMBus` at 0x44 or
0x45 and set `temperature` / `humidity` to what the chip should measure.

Modelling choices where the datasheet leaves room:

- Clock-stretching commands (0x2C06/0x2C0D/0x2C10, serial 0x3780): a real
  chip holds SCL low until the result is ready; here the read is answered at
  once, as if the master had been held for the measurement time (the clock
  is not advanced).
- While a no-stretch single-shot measurement runs, writes and reads are
  NACKed (the chip is busy).
- Periodic mode: each fetch returns the values set at the time of the fetch
  (the twin has no history), provided a measurement has completed since the
  previous fetch. In periodic mode only fetch, break, a new periodic/ART
  command and the status commands are accepted; anything else is NACKed
  (Adafruit's driver notes the chip ignores a soft reset in periodic mode,
  which is why it sends break first).
- An unknown command is acknowledged but not processed: status bit 1
  ("last command not processed") is set, as Table 18 describes. So is a
  one-byte write such as an SHT4x driver's serial-number command 0x89: the
  chip acknowledges the byte (it cannot know no second one follows), processes
  nothing, and the following read is NACKed.
- The break command's 1 ms (§4.8) is not modelled: a command right after it
  is taken (the driver waits the 1 ms anyway).
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers._crc import crc8
from drivers.emulated.base import EmulatedI2CDevice
from drivers.emulated.smbus import Nack

# §4.3 Table 9: single shot, clock stretching disabled / enabled.
CMD_SINGLE_NO_STRETCH = {0x2400: "high", 0x240B: "medium", 0x2416: "low"}
CMD_SINGLE_STRETCH = {0x2C06: "high", 0x2C0D: "medium", 0x2C10: "low"}
# §4.5 Table 10: periodic mode, command -> (repeatability, measurements per second).
CMD_PERIODIC = {
    0x2032: ("high", 0.5), 0x2024: ("medium", 0.5), 0x202F: ("low", 0.5),
    0x2130: ("high", 1.0), 0x2126: ("medium", 1.0), 0x212D: ("low", 1.0),
    0x2236: ("high", 2.0), 0x2220: ("medium", 2.0), 0x222B: ("low", 2.0),
    0x2334: ("high", 4.0), 0x2322: ("medium", 4.0), 0x2329: ("low", 4.0),
    0x2737: ("high", 10.0), 0x2721: ("medium", 10.0), 0x272A: ("low", 10.0),
}  # fmt: skip
CMD_ART = 0x2B32  # §4.7 Table 12: periodic at 4 Hz ("accelerated response time")
ART_MPS = 4.0
CMD_FETCH = 0xE000  # §4.6 Table 11
CMD_BREAK = 0x3093  # §4.8 (stop periodic data acquisition)
CMD_SOFT_RESET = 0x30A2  # §4.9
CMD_HEATER_ON = 0x306D  # §4.10 Table 16
CMD_HEATER_OFF = 0x3066  # §4.10 Table 16
CMD_STATUS = 0xF32D  # §4.11 Table 17
CMD_CLEAR_STATUS = 0x3041  # §4.11 Table 19
# Serial number: 0x3780 (clock stretching) as in Sensirion's embedded-sht and
# Adafruit's drivers; 0x3682 the no-stretching variant.
CMD_SERIAL_STRETCH = 0x3780
CMD_SERIAL_NO_STRETCH = 0x3682

# §2.2 Table 4 (system timing): maximum measurement duration per repeatability,
# seconds; the same 15/6/4 ms appear in Sensirion's and other vendors' drivers.
MEASUREMENT_MAX_S = {"high": 0.015, "medium": 0.006, "low": 0.004}
# §2.2 Table 4: soft reset time t_SR (max); the chip NACKs until it is over.
# Adafruit's SHT31D driver sleeps the same 1.5 ms after 0x30A2.
SOFT_RESET_S = 0.0015

# §4.11 Table 18: status register bits.
STATUS_ALERT_PENDING = 1 << 15  # default 1 after reset
STATUS_HEATER_ON = 1 << 13
STATUS_RH_ALERT = 1 << 11
STATUS_T_ALERT = 1 << 10
STATUS_RESET_DETECTED = 1 << 4  # default 1 after reset
STATUS_COMMAND_FAILED = 1 << 1
STATUS_WRITE_CRC_FAILED = 1 << 0
# "All flags (Bit 15, 11, 10, 4) can be cleared" by 0x3041.
STATUS_CLEARABLE = STATUS_ALERT_PENDING | STATUS_RH_ALERT | STATUS_T_ALERT | STATUS_RESET_DETECTED

# §4.13: S_T = (T + 45) / 175 * (2^16 - 1), S_RH = RH / 100 * (2^16 - 1).
RAW_MAX = 0xFFFF
DEFAULT_SERIAL_NUMBER = 0x5E3A_71C4


def celsius_to_raw(temperature: float) -> int:
    """Inverse of the datasheet temperature formula, rounded and clamped to 16 bits."""
    return max(0, min(RAW_MAX, round((temperature + 45.0) / 175.0 * RAW_MAX)))


def humidity_to_raw(humidity: float) -> int:
    """Inverse of the datasheet humidity formula, rounded and clamped to 16 bits."""
    return max(0, min(RAW_MAX, round(humidity / 100.0 * RAW_MAX)))


class EmulatedSHT3x(EmulatedI2CDevice):
    """An SHT3x on an emulated bus; see the module docstring for its behaviour.

    Faults (`fault`, see `drivers.emulated.base`): "crc" flips every CRC
    byte the chip sends; "absent" NACKs everything, probes included.
    """

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
        self._unresponsive_until = -math.inf
        self._power_on_state()

    def _power_on_state(self) -> None:
        self._status = STATUS_ALERT_PENDING | STATUS_RESET_DETECTED
        self._heater = False
        self._response: bytes | None = None
        self._ready_at = -math.inf
        self._periodic_period: float | None = None
        self._periodic_first_at = 0.0
        self._fetched_count = 0

    # -- what the chip sends -------------------------------------------------

    def _words(self, *words: int) -> bytes:
        out = bytearray()
        for word in words:
            pair = word.to_bytes(2, "big")
            crc = crc8(pair)
            out += pair + bytes([crc ^ 0xFF if self.corrupt_crc else crc])
        return bytes(out)

    def _measurement(self) -> bytes:
        return self._words(celsius_to_raw(self.temperature), humidity_to_raw(self.humidity))

    def status_word(self) -> int:
        """The status register as the chip would send it now."""
        return self._status | (STATUS_HEATER_ON if self._heater else 0)

    @property
    def heater_on(self) -> bool:
        return self._heater

    @property
    def periodic(self) -> bool:
        return self._periodic_period is not None

    # -- I2CChip -------------------------------------------------------------

    def _check_listening(self, now: float) -> None:
        if now < self._unresponsive_until:
            raise Nack()  # §2.2: busy with a soft reset

    def _write(self, data: bytes, now: float) -> None:
        self._check_listening(now)
        if not data:
            return  # address-only probe: ACK
        if self._response is not None and now < self._ready_at:
            raise Nack()  # busy measuring (no clock stretching)
        if len(data) < 2:
            self._status |= STATUS_COMMAND_FAILED  # half a command is not one
            return
        command = int.from_bytes(data[:2], "big")
        extra = data[2:]
        if len(extra) == 3:
            # Write data is a word plus its CRC (§4.12); record a mismatch.
            if crc8(extra[:2]) != extra[2]:
                self._status |= STATUS_WRITE_CRC_FAILED
            else:
                self._status &= ~STATUS_WRITE_CRC_FAILED
        self._command(command, now)

    def _command(self, command: int, now: float) -> None:
        if command == CMD_STATUS:
            # Reading the status must not overwrite what it reports.
            self._response, self._ready_at = self._words(self.status_word()), now
            return
        if self.periodic and command not in (
            CMD_FETCH, CMD_BREAK, CMD_ART, CMD_CLEAR_STATUS, *CMD_PERIODIC
        ):
            self._status |= STATUS_COMMAND_FAILED
            raise Nack()
        processed = True
        self._response = None
        if command in CMD_SINGLE_NO_STRETCH:
            repeatability = CMD_SINGLE_NO_STRETCH[command]
            self._response = self._measurement()
            self._ready_at = now + MEASUREMENT_MAX_S[repeatability]
        elif command in CMD_SINGLE_STRETCH:
            self._response, self._ready_at = self._measurement(), now
        elif command in CMD_PERIODIC or command == CMD_ART:
            repeatability, mps = CMD_PERIODIC.get(command, ("high", ART_MPS))
            self._periodic_period = 1.0 / mps
            self._periodic_first_at = now + MEASUREMENT_MAX_S[repeatability]
            self._fetched_count = 0
        elif command == CMD_FETCH:
            if self.periodic:
                done = self._completed_periodic(now)
                if done > self._fetched_count:
                    # §4.6: fetching clears the data memory.
                    self._fetched_count = done
                    self._response, self._ready_at = self._measurement(), now
            else:
                processed = False
        elif command == CMD_BREAK:
            self._periodic_period = None
        elif command == CMD_SOFT_RESET:
            self._power_on_state()
            self._unresponsive_until = now + SOFT_RESET_S
            return
        elif command == CMD_HEATER_ON:
            self._heater = True
        elif command == CMD_HEATER_OFF:
            self._heater = False
        elif command == CMD_CLEAR_STATUS:
            self._status &= ~STATUS_CLEARABLE
        elif command in (CMD_SERIAL_STRETCH, CMD_SERIAL_NO_STRETCH):
            high, low = self.serial_number >> 16, self.serial_number & 0xFFFF
            self._response, self._ready_at = self._words(high, low), now
        else:
            processed = False
        if processed:
            self._status &= ~STATUS_COMMAND_FAILED
        else:
            self._status |= STATUS_COMMAND_FAILED

    def _completed_periodic(self, now: float) -> int:
        """How many periodic measurements have finished by `now`."""
        assert self._periodic_period is not None
        if now < self._periodic_first_at:
            return 0
        return 1 + int((now - self._periodic_first_at) / self._periodic_period)

    def _read(self, length: int, now: float) -> bytes:
        self._check_listening(now)
        if self._response is None or now < self._ready_at:
            raise Nack()  # §4.4/§4.6: no data (yet) -> read header NACKed
        data, self._response = self._response, None
        # The master may stop early (§4.4); past the last CRC the line idles high.
        return data[:length]


__all__ = ["EmulatedSHT3x", "celsius_to_raw", "humidity_to_raw"]
