"""Sensirion SHT3x (SHT30/SHT31/SHT35) temperature and humidity over I2C.

Single-shot measurements without clock stretching: the Raspberry Pi's I2C
adapter (i2c-bcm2835) mishandles clock stretching, so the driver writes the
command, waits the datasheet's maximum measurement time itself and then
reads; a read the chip NACKs means "no result yet". Datasheet references are
to the SHT3x-DIS datasheet, version 5, May 2018.
"""
from __future__ import annotations

import errno
import time
from typing import Callable

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound
from drivers._crc import crc8

ADDRESSES = (0x44, 0x45)  # §3: ADDR pin low -> 0x44, high -> 0x45
QUANTITIES = ("temperature", "humidity")
REPEATABILITIES = ("high", "medium", "low")

# §4.3 Table 9: single shot, clock stretching disabled.
_CMD_MEASURE = {"high": 0x2400, "medium": 0x240B, "low": 0x2416}
# §2.2 Table 4: maximum measurement duration, seconds (Sensirion's driver: 15 ms high).
_MEASURE_MAX_S = {"high": 0.015, "medium": 0.006, "low": 0.004}
# Linux sleeps are not exact and the chip's oscillator varies; Adafruit adds 0.5 ms.
_MEASURE_MARGIN_S = 0.001
# If the first read is still NACKed, wait this much longer once before giving up.
_RETRY_WAIT_S = 0.005
_CMD_BREAK = 0x3093  # §4.8: leave periodic mode (a soft reset is ignored in it)
_CMD_SOFT_RESET = 0x30A2  # §4.9
_SOFT_RESET_S = 0.0015  # §2.2 Table 4: soft reset time, max
_CMD_HEATER_ON = 0x306D  # §4.10 Table 16
_CMD_HEATER_OFF = 0x3066  # §4.10 Table 16
_CMD_STATUS = 0xF32D  # §4.11 Table 17
_CMD_CLEAR_STATUS = 0x3041  # §4.11 Table 19
_CMD_SERIAL = 0x3780  # serial number, 2 words (Sensirion embedded-sht, Adafruit)
# §4.3 Table 9 note: at least 1 ms between a command and the next transfer.
_COMMAND_GAP_S = 0.001
# §4.13: both conversions divide by 2^16 - 1.
_RAW_FULL_SCALE = 65535.0
# NACK as reported by Linux adapters: EREMOTEIO (i2c-bcm2835), ENXIO (others).
_NACK_ERRNOS = (errno.EREMOTEIO, errno.ENXIO)


def raw_to_celsius(raw: int) -> float:
    """§4.13: T = -45 + 175 * S_T / (2^16 - 1)."""
    return -45.0 + 175.0 * raw / _RAW_FULL_SCALE


def raw_to_humidity(raw: int) -> float:
    """§4.13: RH = 100 * S_RH / (2^16 - 1)."""
    return 100.0 * raw / _RAW_FULL_SCALE


def parse_words(data: bytes, names: tuple[str, ...]) -> list[int]:
    """Split `word CRC word CRC ...` and check each CRC (§4.12).

    Raises ChecksumError naming the first word whose CRC does not match.
    """
    words = []
    for i, name in enumerate(names):
        chunk = data[3 * i : 3 * i + 3]
        expected = crc8(chunk[:2])
        if expected != chunk[2]:
            raise ChecksumError(
                f"SHT3x {name} word 0x{chunk[0]:02X}{chunk[1]:02X}: CRC expected "
                f"0x{expected:02X}, received 0x{chunk[2]:02X}; check the I2C wiring "
                "for noise (long wires, missing pull-ups)"
            )
        words.append(int.from_bytes(chunk[:2], "big"))
    return words


class SHT3x:
    """An SHT3x on an smbus2-compatible bus.

    The constructor does no I/O, so a sensor missing at start-up fails the
    first `read()` (SensorNotFound) rather than the program.
    """

    def __init__(
        self,
        bus: object,
        address: int = 0x44,
        *,
        repeatability: str = "high",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(address, int) or address not in ADDRESSES:
            raise DriverConfigError(
                f"SHT3x address {address!r} is not possible: use 0x44 (ADDR pin low) "
                "or 0x45 (ADDR pin high)"
            )
        if repeatability not in REPEATABILITIES:
            raise DriverConfigError(
                f"SHT3x repeatability {repeatability!r} is not one of "
                f"{', '.join(REPEATABILITIES)}"
            )
        self._bus = bus
        self.address = address
        self.repeatability = repeatability
        self._sleep = sleep

    # -- bus access ----------------------------------------------------------

    def _bus_label(self) -> str:
        number = getattr(self._bus, "bus_number", None)
        return "<bus>" if number is None else str(number)

    def _bus_error(self, exc: OSError) -> BusError:
        return BusError(
            exc.errno,
            f"I2C bus {self._bus_label()} failed talking to the SHT3x at "
            f"0x{self.address:02X} ({exc.strerror or exc}); a line held low or a "
            "loose SDA/SCL wire is the usual cause",
        )

    def _write(self, command: int) -> None:
        from smbus2 import i2c_msg

        try:
            self._bus.i2c_rdwr(i2c_msg.write(self.address, command.to_bytes(2, "big")))
        except OSError as exc:
            if exc.errno in _NACK_ERRNOS:
                raise SensorNotFound(
                    f"no SHT3x answered at 0x{self.address:02X} on I2C bus "
                    f"{self._bus_label()}: check the wiring of SDA, SCL, VCC and GND, "
                    "that the ADDR pin matches the configured address (0x44 = ADDR "
                    "low, 0x45 = ADDR high), and what `i2cdetect -y "
                    f"{self._bus_label()}` shows"
                ) from exc
            raise self._bus_error(exc) from exc

    def _try_read(self, length: int) -> bytes | None:
        """Read `length` bytes; None when the chip NACKs (no data ready)."""
        from smbus2 import i2c_msg

        msg = i2c_msg.read(self.address, length)
        try:
            self._bus.i2c_rdwr(msg)
        except OSError as exc:
            if exc.errno in _NACK_ERRNOS:
                return None
            raise self._bus_error(exc) from exc
        return bytes(msg)

    def _query(self, command: int, names: tuple[str, ...], wait_s: float) -> list[int]:
        self._write(command)
        self._sleep(wait_s)
        data = self._try_read(3 * len(names))
        if data is None:
            self._sleep(_RETRY_WAIT_S)
            data = self._try_read(3 * len(names))
        if data is None:
            raise NotReady(
                f"SHT3x at 0x{self.address:02X} took the command 0x{command:04X} but "
                f"had no data {1000 * (wait_s + _RETRY_WAIT_S):.1f} ms later; if this "
                "repeats, power-cycle the sensor"
            )
        return parse_words(data, names)

    # -- public API ----------------------------------------------------------

    def read(self) -> dict[str, float]:
        """One single-shot measurement: temperature °C and humidity %RH, 2 decimals."""
        wait_s = _MEASURE_MAX_S[self.repeatability] + _MEASURE_MARGIN_S
        raw_t, raw_rh = self._query(
            _CMD_MEASURE[self.repeatability], ("temperature", "humidity"), wait_s
        )
        # A no-op for the SHT3x formula (0..65535 maps onto 0..100) but kept so
        # the contract holds for any future variant with an offset (SHT4x has one).
        humidity = min(100.0, max(0.0, raw_to_humidity(raw_rh)))
        return {
            "temperature": round(raw_to_celsius(raw_t), 2),
            "humidity": round(humidity, 2),
        }

    def serial_number(self) -> int:
        high, low = self._query(_CMD_SERIAL, ("serial high", "serial low"), _COMMAND_GAP_S)
        return (high << 16) | low

    def status(self) -> int:
        """The 16-bit status register (§4.11 Table 18)."""
        (word,) = self._query(_CMD_STATUS, ("status",), _COMMAND_GAP_S)
        return word

    def clear_status(self) -> None:
        self._write(_CMD_CLEAR_STATUS)
        self._sleep(_COMMAND_GAP_S)

    def heater(self, on: bool) -> None:
        self._write(_CMD_HEATER_ON if on else _CMD_HEATER_OFF)
        self._sleep(_COMMAND_GAP_S)

    def soft_reset(self) -> None:
        """Break out of periodic mode (which ignores a reset), then reset."""
        self._write(_CMD_BREAK)
        self._sleep(_COMMAND_GAP_S)
        self._write(_CMD_SOFT_RESET)
        self._sleep(_SOFT_RESET_S)

    def close(self) -> None:
        """Nothing to release: the board owns the bus."""

    def __enter__(self) -> SHT3x:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SHT3x(address=0x{self.address:02X}, repeatability={self.repeatability!r})"


__all__ = ["ADDRESSES", "QUANTITIES", "SHT3x", "raw_to_celsius", "raw_to_humidity"]
