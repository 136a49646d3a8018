"""Sensirion SHT3x (SHT30/SHT31/SHT35) temperature and humidity over I2C.

Single shot without clock stretching (the default): the Raspberry Pi's I2C
adapter (i2c-bcm2835) mishandles clock stretching, so the driver writes the
command, waits the datasheet's maximum measurement time itself and then
reads; a read the chip NACKs means "no result yet". Periodic mode (`mode =
"periodic"`, `mps` measurements per second) and ART (`mode = "art"`, 4 Hz)
leave the chip measuring on its own; `read()` then fetches the latest result.
`heater = true` keeps the on-chip heater on (it warms the sensor by several
degrees: for plausibility checks and to drive off condensation).

Identity: the SHT3x has no ID register; the status register (0xF32D, a word
with CRC) is the check. An SHT4x at the same address ignores that 2-byte
command (0xF3 is no SHT4x command) and has nothing to send, so the read is
NACKed; the driver then asks for an SHT4x serial number (0x89) and, when one
answers, raises WrongChip naming it. Datasheet references are to the
SHT3x-DIS datasheet, version 5, May 2018.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from drivers import DriverConfigError, NotReady, WrongChip
from drivers._sensirion import WORD_BYTES, SensirionDriver, bus_label, query_words

ADDRESSES = (0x44, 0x45)  # §3: ADDR pin low -> 0x44, high -> 0x45
QUANTITIES = ("temperature", "humidity")
REPEATABILITIES = ("high", "medium", "low")
MODES = ("single", "periodic", "art")
MPS = (0.5, 1, 2, 4, 10)  # §4.5 Table 10: measurements per second

# §4.3 Table 9: single shot, clock stretching disabled.
_CMD_MEASURE = {"high": 0x2400, "medium": 0x240B, "low": 0x2416}
# §4.5 Table 10: periodic mode, (repeatability, mps) -> command.
_CMD_PERIODIC = {
    ("high", 0.5): 0x2032, ("medium", 0.5): 0x2024, ("low", 0.5): 0x202F,
    ("high", 1): 0x2130, ("medium", 1): 0x2126, ("low", 1): 0x212D,
    ("high", 2): 0x2236, ("medium", 2): 0x2220, ("low", 2): 0x222B,
    ("high", 4): 0x2334, ("medium", 4): 0x2322, ("low", 4): 0x2329,
    ("high", 10): 0x2737, ("medium", 10): 0x2721, ("low", 10): 0x272A,
}  # fmt: skip
_CMD_ART = 0x2B32  # §4.7 Table 12: periodic with accelerated response time
_ART_MPS = 4  # §4.7: "acquiring data with a frequency of 4Hz"
_CMD_FETCH = 0xE000  # §4.6 Table 11
# §2.2 Table 4: maximum measurement duration, seconds (Sensirion's driver: 15 ms high).
_MEASURE_MAX_S = {"high": 0.015, "medium": 0.006, "low": 0.004}
# Linux sleeps are not exact and the chip's oscillator varies; Adafruit adds 0.5 ms.
_MEASURE_MARGIN_S = 0.001
_CMD_BREAK = 0x3093  # §4.8: leave periodic mode (a soft reset is ignored in it)
_BREAK_S = 0.001  # §4.8: the break "takes 1ms"
_CMD_SOFT_RESET = 0x30A2  # §4.9
_SOFT_RESET_S = 0.0015  # §2.2 Table 4: soft reset time, max
_CMD_HEATER_ON = 0x306D  # §4.10 Table 16
_CMD_HEATER_OFF = 0x3066  # §4.10 Table 16
_CMD_STATUS = 0xF32D  # §4.11 Table 17
_CMD_CLEAR_STATUS = 0x3041  # §4.11 Table 19
_STATUS_HEATER_ON = 1 << 13  # §4.11 Table 18
_CMD_SERIAL = 0x3780  # serial number, 2 words (Sensirion embedded-sht, Adafruit)
# §4.3 Table 9 note: at least 1 ms between a command and the next transfer;
# Sensirion's driver waits the same 1 ms after status, serial and fetch.
_COMMAND_GAP_S = 0.001
# §4.13: both conversions divide by 2^16 - 1.
_RAW_FULL_SCALE = 65535.0
# The SHT4x serial-number command (SHT4x datasheet Table 8), to name an SHT4x answering here.
_SHT4X_CMD_SERIAL = 0x89


def raw_to_celsius(raw: int) -> float:
    """§4.13: T = -45 + 175 * S_T / (2^16 - 1)."""
    return -45.0 + 175.0 * raw / _RAW_FULL_SCALE


def raw_to_humidity(raw: int) -> float:
    """§4.13: RH = 100 * S_RH / (2^16 - 1)."""
    return 100.0 * raw / _RAW_FULL_SCALE


def conversion_time_s(
    repeatability: str = "high", mode: str = "single", mps: float = 1, **_: Any
) -> float:
    """The longest wait for a fresh result with these options, in seconds.

    Single shot: the measurement time (§2.2 Table 4). Periodic and ART: the
    chip makes a new result every 1/mps seconds (§4.5, §4.7), so reading
    faster only fetches "no new data" (a NACK).
    """
    if mode == "periodic":
        return 1.0 / float(mps)
    if mode == "art":
        return 1.0 / _ART_MPS
    return _MEASURE_MAX_S.get(repeatability, _MEASURE_MAX_S["high"])


def identify(bus: Any, address: int, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """"SHT3x" when an SHT3x answers at `address`, else None.

    Sends the status read (0xF32D) and reads 3 bytes: it changes nothing on
    an SHT3x (even in periodic mode) and an SHT4x ignores it. Run it before
    `drivers.sht4x.identify` at 0x44/0x45: the SHT4x probe's one-byte 0x89
    sets an SHT3x's "last command not processed" status flag.
    """
    words = query_words(bus, address, _CMD_STATUS.to_bytes(2, "big"), 1, wait_s=_COMMAND_GAP_S, sleep=sleep)
    return "SHT3x" if words is not None else None


def _is_sht4x(bus: Any, address: int, sleep: Callable[[float], None]) -> bool:
    """Does an SHT4x answer its serial-number command here? (One byte; see `identify`.)"""
    return query_words(bus, address, bytes([_SHT4X_CMD_SERIAL]), 2, wait_s=_COMMAND_GAP_S, sleep=sleep) is not None


class SHT3x(SensirionDriver):
    """An SHT3x on an smbus2-compatible bus.

    The constructor does no I/O, so a sensor missing at start-up fails the
    first `read()` (SensorNotFound) rather than the program. The first read,
    and the first after a failed one, checks the identity (status register),
    resets the chip (break + soft reset) and applies `heater` and `mode`.
    """

    PART = "SHT3x"
    ADDRESSES = ADDRESSES

    def __init__(
        self,
        bus: object,
        address: int = 0x44,
        *,
        repeatability: str = "high",
        mode: str = "single",
        mps: float = 1,
        heater: bool = False,
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
        if mode not in MODES:
            raise DriverConfigError(f"SHT3x mode {mode!r} is not one of {', '.join(MODES)}")
        if isinstance(mps, bool) or mps not in MPS:
            raise DriverConfigError(
                f"SHT3x mps {mps!r} is not one the chip has: use 0.5, 1, 2, 4 or 10 "
                "measurements per second"
            )
        if not isinstance(heater, bool):
            raise DriverConfigError(f"SHT3x heater must be true or false, not {heater!r}")
        super().__init__(bus, address, sleep)
        self.repeatability = repeatability
        self.mode = mode
        self.mps = mps
        self.heater_enabled = heater
        self._periodic_running = False  # the driver started periodic/ART and did not break it
        self._first_result_s = 0.0  # wait before the first fetch after starting periodic mode

    # -- identity and configuration --------------------------------------------

    def _absent_message(self) -> str:
        label = bus_label(self._bus)
        return (
            f"no SHT3x answered at 0x{self.address:02X} on I2C bus {label}: check the "
            "wiring of SDA, SCL, VCC and GND, that the ADDR pin matches the configured "
            "address (0x44 = ADDR low, 0x45 = ADDR high), and what `i2cdetect -y "
            f"{label}` shows"
        )

    def _identify_at(self, address: int) -> str | None:
        return identify(self._bus, address, sleep=self._sleep)

    def _foreign(self) -> WrongChip | None:
        if _is_sht4x(self._bus, self.address, self._sleep):
            return WrongChip(
                f"an SHT4x answers at 0x{self.address:02X} on I2C bus {bus_label(self._bus)}, "
                'not an SHT3x: set driver = "sht4x"',
                found="SHT4x",
            )
        return None

    def _check_identity(self) -> int:
        """Read the status register; WrongChip when something else answers here."""
        self._send(_CMD_STATUS.to_bytes(2, "big"))
        self._sleep(_COMMAND_GAP_S)
        data = self._try_read(WORD_BYTES)
        if data is None:
            # The command was taken but no status followed: no SHT3x sends nothing here.
            raise self._foreign() or WrongChip(
                f"the chip at 0x{self.address:02X} on I2C bus {bus_label(self._bus)} took the "
                "SHT3x status command but sent no status: it is not an SHT3x (check the part "
                "number on the breakout, and `sensorkit detect`)"
            )
        (status,) = self._words(data, ("status",))
        return status

    def _setup(self, recovering: bool) -> None:
        self._check_identity()
        self.soft_reset()  # a known state: single shot, heater off, whatever ran before
        if self.heater_enabled:
            self._command(_CMD_HEATER_ON)
        if self.mode != "single":
            self._start_periodic()

    def _command(self, command: int) -> None:
        self._send(command.to_bytes(2, "big"))
        self._sleep(_COMMAND_GAP_S)

    def _start_periodic(self) -> None:
        if self.mode == "art":
            self._send(_CMD_ART.to_bytes(2, "big"))
        else:
            self._send(_CMD_PERIODIC[(self.repeatability, self.mps)].to_bytes(2, "big"))
        self._periodic_running = True
        self._first_result_s = _MEASURE_MAX_S["high" if self.mode == "art" else self.repeatability]

    def _break(self) -> None:
        self._send(_CMD_BREAK.to_bytes(2, "big"))
        self._sleep(_BREAK_S)
        self._periodic_running = False

    def _outside_periodic(self, action: Callable[[], Any]) -> Any:
        """Run `action` in single-shot state: §4.8 advises a break before any command but fetch."""
        if not self._periodic_running:
            return action()
        self._break()
        try:
            return action()
        finally:
            self._start_periodic()

    # -- measuring -------------------------------------------------------------

    def _measure(self) -> dict[str, float]:
        if self._periodic_running:
            raw_t, raw_rh = self._fetch()
        else:
            wait_s = _MEASURE_MAX_S[self.repeatability] + _MEASURE_MARGIN_S
            raw_t, raw_rh = self._query(
                _CMD_MEASURE[self.repeatability].to_bytes(2, "big"), ("temperature", "humidity"), wait_s
            )
        # §4.13 maps 0..65535 onto 0..100 %RH: nothing to clip; kept for the contract.
        humidity = min(100.0, max(0.0, raw_to_humidity(raw_rh)))
        return {
            "temperature": round(raw_to_celsius(raw_t), 2),
            "humidity": round(humidity, 2),
        }

    def _fetch(self) -> list[int]:
        """§4.6: fetch the latest periodic result; a NACKed read means none since the last fetch."""
        if self._first_result_s:
            self._sleep(self._first_result_s + _MEASURE_MARGIN_S)
            self._first_result_s = 0.0
        period_s = conversion_time_s(self.repeatability, self.mode, self.mps)
        for attempt in range(2):
            if attempt:
                self._sleep(period_s)  # a new result comes at the latest one period later
            self._send(_CMD_FETCH.to_bytes(2, "big"))
            self._sleep(_COMMAND_GAP_S)
            data = self._try_read(2 * WORD_BYTES)
            if data is not None:
                return self._words(data, ("temperature", "humidity"))
        raise NotReady(
            f"SHT3x at 0x{self.address:02X} in {self.mode} mode had no new measurement "
            f"{period_s + 2 * _COMMAND_GAP_S:.2f} s after the last fetch; if this repeats, "
            "power-cycle the sensor"
        )

    # -- other commands ----------------------------------------------------------

    def serial_number(self) -> int:
        """The 32-bit serial number (breaks periodic mode for it, then resumes)."""

        def query() -> int:
            high, low = self._query(_CMD_SERIAL.to_bytes(2, "big"), ("serial high", "serial low"), _COMMAND_GAP_S)
            return (high << 16) | low

        return self._outside_periodic(query)

    def status(self) -> int:
        """The 16-bit status register (§4.11 Table 18)."""
        (word,) = self._query(_CMD_STATUS.to_bytes(2, "big"), ("status",), _COMMAND_GAP_S)
        return word

    def clear_status(self) -> None:
        self._command(_CMD_CLEAR_STATUS)

    def heater(self, on: bool) -> None:
        """Switch the heater now (breaks periodic mode for it, then resumes)."""
        self._outside_periodic(lambda: self._command(_CMD_HEATER_ON if on else _CMD_HEATER_OFF))

    def soft_reset(self) -> None:
        """Break out of periodic mode (which ignores a reset), then reset.

        The chip comes back in single shot with the heater off; the next
        `read()` applies `mode` and `heater` again.
        """
        self._break()
        self._send(_CMD_SOFT_RESET.to_bytes(2, "big"))
        self._sleep(_SOFT_RESET_S)
        self._ready = False

    def __repr__(self) -> str:
        return (
            f"SHT3x(address=0x{self.address:02X}, repeatability={self.repeatability!r}, "
            f"mode={self.mode!r}, mps={self.mps!r}, heater={self.heater_enabled!r})"
        )


__all__ = [
    "ADDRESSES",
    "MODES",
    "MPS",
    "QUANTITIES",
    "SHT3x",
    "conversion_time_s",
    "identify",
    "raw_to_celsius",
    "raw_to_humidity",
]
