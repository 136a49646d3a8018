"""Sensirion SHT4x (SHT40/SHT41/SHT43/SHT45) temperature and humidity over I2C.

One-byte commands, no clock stretching: the driver writes a measurement
command, waits, and reads temperature and humidity words with CRCs; a read
header while the chip is busy (measuring or heating) is NACKed. References
are to the SHT4x datasheet (version 6, February 2023; the numbers match
later revisions): Table 5 timing, Table 8 commands, §4.6 conversion, §4.9
heater.

Identity: the SHT4x has no ID register; its serial number (0x89, two words
with CRCs) is the check. An SHT3x at the same address acknowledges the one
byte but takes it for half of a 16-bit command: it processes nothing and the
read is NACKed. The driver then reads the SHT3x status register (0xF32D) and,
when one answers, raises WrongChip naming it.

Heater: `heater = "high-1s"` (etc.) fires the named heater command after each
measurement, so the reading itself is never the heated one: the heater
command ends with a measurement of the heated sensor, which says nothing
about the air and is left unread. The datasheet designs the heater for at
most a 10 % duty cycle; the driver skips a pulse that would exceed it (and
`conversion_time_s` makes the minimum interval ten pulse lengths), and skips
it above 65 °C, where the heater should not be used.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from drivers import DriverConfigError, DriverError, NotReady, WrongChip
from drivers._sensirion import WORD_BYTES, SensirionDriver, bus_label, query_words

log = logging.getLogger(__name__)

ADDRESSES = (0x44, 0x45, 0x46)  # product list: ...-AD1B 0x44, ...-BD1B 0x45, SHT40-CD1B 0x46
QUANTITIES = ("temperature", "humidity")
PRECISIONS = ("high", "medium", "low")
HEATERS = ("off", "high-1s", "high-0.1s", "medium-1s", "medium-0.1s", "low-1s", "low-0.1s")

# Table 8: measure T & RH, by precision (repeatability).
_CMD_MEASURE = {"high": 0xFD, "medium": 0xF6, "low": 0xE0}
# Table 5: measurement duration, max (typ. 6.9 / 3.7 / 1.3 ms).
_MEASURE_MAX_S = {"high": 0.0083, "medium": 0.0045, "low": 0.0016}
# What Sensirion's embedded-i2c-sht4x waits (10 / 5 / 2 ms): margin over Table 5,
# which some boards need (zephyrproject-rtos/zephyr#80652 read too early at 8.2 ms).
_MEASURE_WAIT_S = {"high": 0.010, "medium": 0.005, "low": 0.002}
# Table 8: heater, then a high-precision measurement just before it switches off.
# name -> (command, heater-on time nominal s, command duration max s).
_HEATER = {
    "high-1s": (0x39, 1.0, 1.1), "high-0.1s": (0x32, 0.1, 0.11),  # 200 mW
    "medium-1s": (0x2F, 1.0, 1.1), "medium-0.1s": (0x24, 0.1, 0.11),  # 110 mW
    "low-1s": (0x1E, 1.0, 1.1), "low-0.1s": (0x15, 0.1, 0.11),  # 20 mW
}  # fmt: skip
# §4.9: "designed for a maximum duty cycle of 10%" of the heater-on time.
HEATER_MAX_DUTY = 0.10
# Above this the heater should not be used (Zephyr's SHT4X_HEATER_MAX_TEMP, from §4.9).
HEATER_MAX_TEMPERATURE_C = 65.0
_DUTY_SLACK_S = 0.001  # scheduling jitter that must not cost a pulse
_CMD_SERIAL = 0x89  # Table 8: serial number, 2 words + CRC each
_SERIAL_WAIT_S = 0.001  # Table 8 gives 0.01 ms; one bus-friendly millisecond
_CMD_SOFT_RESET = 0x94  # Table 8
_SOFT_RESET_S = 0.001  # Table 5: t_SR max
# §4.6: T = -45 + 175 * S_T / (2^16 - 1); RH = -6 + 125 * S_RH / (2^16 - 1).
_RAW_FULL_SCALE = 65535.0
# The SHT3x status read (SHT3x-DIS §4.11), to name an SHT3x answering here.
_SHT3X_CMD_STATUS = 0xF32D
_SHT3X_COMMAND_GAP_S = 0.001


def raw_to_celsius(raw: int) -> float:
    """§4.6: T = -45 + 175 * S_T / (2^16 - 1)."""
    return -45.0 + 175.0 * raw / _RAW_FULL_SCALE


def raw_to_humidity(raw: int) -> float:
    """§4.6: RH = -6 + 125 * S_RH / (2^16 - 1), unclipped (it spans -6 .. 119 %RH)."""
    return -6.0 + 125.0 * raw / _RAW_FULL_SCALE


def clip_humidity(rh: float) -> float:
    """§4.6: the formula can leave 0..100 %RH; the datasheet crops the result to that range."""
    return min(100.0, max(0.0, rh))


def conversion_time_s(precision: str = "high", heater: str = "off", **_: Any) -> float:
    """The shortest interval between readings these options allow, in seconds.

    Without the heater, the measurement time (Table 5). With it, every reading
    is followed by a heater pulse, so readings can come no faster than the
    10 % duty cycle allows: ten times the pulse's duration (11 s for the
    1-s commands, 1.1 s for the 0.1-s ones).
    """
    measure_s = _MEASURE_MAX_S.get(precision, _MEASURE_MAX_S["high"])
    if heater not in _HEATER:
        return measure_s
    _, _, pulse_s = _HEATER[heater]
    return max(measure_s + pulse_s, pulse_s / HEATER_MAX_DUTY)


def identify(bus: Any, address: int, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """"SHT4x" when an SHT4x answers at `address`, else None.

    Sends the serial-number command (0x89, one byte) and reads 6 bytes; an
    SHT4x keeps no state from it. On an SHT3x the byte is half a command: it
    is not processed but sets status bit 1 ("last command not processed"),
    so at 0x44/0x45 run `drivers.sht3x.identify` first.
    """
    words = query_words(bus, address, bytes([_CMD_SERIAL]), 2, wait_s=_SERIAL_WAIT_S, sleep=sleep)
    return "SHT4x" if words is not None else None


class SHT4x(SensirionDriver):
    """An SHT4x on an smbus2-compatible bus.

    `clock` (monotonic seconds) keeps the heater within its duty cycle and
    lets a reading wait out a pulse still running; inject the same clock the
    twin uses in tests.
    """

    PART = "SHT4x"
    ADDRESSES = ADDRESSES

    def __init__(
        self,
        bus: object,
        address: int = 0x44,
        *,
        precision: str = "high",
        heater: str = "off",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(address, int) or isinstance(address, bool) or address not in ADDRESSES:
            raise DriverConfigError(
                f"SHT4x address {address!r} is not possible: the part number says it "
                "(SHT4x-AD1B 0x44, -BD1B 0x45, SHT40-CD1B 0x46)"
            )
        if precision not in PRECISIONS:
            raise DriverConfigError(f"SHT4x precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if heater not in HEATERS:
            raise DriverConfigError(
                f"SHT4x heater {heater!r} is not one of {', '.join(HEATERS)} "
                "(power high 200 mW, medium 110 mW, low 20 mW; for 1 s or 0.1 s)"
            )
        super().__init__(bus, address, sleep)
        self.precision = precision
        self.heater = heater
        self._clock = clock
        self._serial: int | None = None
        self._last_pulse_at: float | None = None  # clock time the last heater pulse started
        self._busy_until = 0.0  # clock time the last heater pulse ends
        self.heater_pulses = 0

    # -- identity ----------------------------------------------------------------

    def _absent_message(self) -> str:
        label = bus_label(self._bus)
        return (
            f"no SHT4x answered at 0x{self.address:02X} on I2C bus {label}: check the wiring "
            "of SDA, SCL, VCC (1.08-3.6 V: an SHT4x is not 5 V tolerant) and GND, that the "
            "configured address matches the part number (AD1B 0x44, BD1B 0x45, CD1B 0x46), "
            f"and what `i2cdetect -y {label}` shows"
        )

    def _identify_at(self, address: int) -> str | None:
        return identify(self._bus, address, sleep=self._sleep)

    def _foreign(self) -> WrongChip | None:
        words = query_words(
            self._bus, self.address, _SHT3X_CMD_STATUS.to_bytes(2, "big"), 1,
            wait_s=_SHT3X_COMMAND_GAP_S, sleep=self._sleep,
        )
        if words is None:
            return None
        return WrongChip(
            f"an SHT3x (status 0x{words[0]:04X}) answers at 0x{self.address:02X} on I2C bus "
            f'{bus_label(self._bus)}, not an SHT4x: set driver = "sht3x"',
            found="SHT3x",
        )

    def _setup(self, recovering: bool) -> None:
        if recovering and self._serial is not None:
            # It was an SHT4x: a reset aborts whatever it was doing, a heater pulse too (§4.8).
            self.soft_reset()
        self._serial = None
        self._serial = self._read_serial(identity=True)

    def _read_serial(self, identity: bool = False) -> int:
        self._send(bytes([_CMD_SERIAL]))
        self._sleep(_SERIAL_WAIT_S)
        data = self._try_read(2 * WORD_BYTES)
        if data is None:
            foreign = self._foreign() if identity else None
            if foreign is not None:
                raise foreign
            raise NotReady(
                f"SHT4x at 0x{self.address:02X} took the serial-number command but sent "
                "nothing: it may be busy (a heater pulse lasts up to 1.1 s), or it is not an "
                "SHT4x; if this repeats, power-cycle it and run `sensorkit detect`"
            )
        high, low = self._words(data, ("serial high", "serial low"))
        return (high << 16) | low

    # -- measuring -----------------------------------------------------------------

    def _wait_for_pulse(self) -> None:
        """A heater pulse of ours may still run: its reads would be NACKed."""
        remaining = self._busy_until - self._clock()
        if remaining > 0:
            self._sleep(remaining)

    def _measure(self) -> dict[str, float]:
        self._wait_for_pulse()
        raw_t, raw_rh = self._query(
            bytes([_CMD_MEASURE[self.precision]]), ("temperature", "humidity"),
            _MEASURE_WAIT_S[self.precision],
        )
        reading = {
            "temperature": round(raw_to_celsius(raw_t), 2),
            "humidity": round(clip_humidity(raw_to_humidity(raw_rh)), 2),
        }
        if self.heater != "off":
            self._maybe_pulse(reading["temperature"])
        return reading

    def _maybe_pulse(self, temperature: float) -> None:
        """Fire the heater unless that would break the duty cycle or it is too hot for it."""
        command, _, pulse_s = _HEATER[self.heater]
        now = self._clock()
        if temperature > HEATER_MAX_TEMPERATURE_C:
            return
        if self._last_pulse_at is not None:
            if now - self._last_pulse_at < pulse_s / HEATER_MAX_DUTY - _DUTY_SLACK_S:
                return
        try:
            self._send(bytes([command]))
        except DriverError as exc:
            # The reading is good; the next read checks the chip again.
            log.warning("SHT4x at 0x%02X: heater pulse not sent: %s", self.address, exc)
            self._ready, self._recovering = False, True
            return
        self._last_pulse_at, self._busy_until = now, now + pulse_s
        self.heater_pulses += 1

    # -- other commands ----------------------------------------------------------

    def serial_number(self) -> int:
        """The 32-bit serial number (also read as the identity check)."""
        self._wait_for_pulse()
        return self._read_serial()

    def soft_reset(self) -> None:
        """Table 8: 0x94; aborts a measurement or heater pulse, back to idle within 1 ms."""
        self._send(bytes([_CMD_SOFT_RESET]))
        self._sleep(_SOFT_RESET_S)
        self._busy_until = 0.0

    def __repr__(self) -> str:
        return f"SHT4x(address=0x{self.address:02X}, precision={self.precision!r}, heater={self.heater!r})"


__all__ = [
    "ADDRESSES",
    "HEATERS",
    "HEATER_MAX_DUTY",
    "PRECISIONS",
    "QUANTITIES",
    "SHT4x",
    "clip_humidity",
    "conversion_time_s",
    "identify",
    "raw_to_celsius",
    "raw_to_humidity",
]
