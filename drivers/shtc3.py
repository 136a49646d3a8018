"""Sensirion SHTC3 temperature and humidity over I2C (address 0x70 only).

Each reading wakes the chip (0x3517), measures without clock stretching
(temperature first), reads both words with their CRCs and puts the chip back
to sleep (0xB098), where it draws well under a microampere and answers
nothing but the wake-up command. Identity: the ID register (0xEFC8) must
show the SHTC3 product code, (ID & 0x083F) == 0x0807. References are to the
SHTC3 datasheet (version 1, July 2018): §3 timing specifications, §5
operation and communication (sleep and wake-up, commands, ID register,
conversion of the signal output).

Before the first write the driver reads 6 bytes without a command: an SHTC3
never answers that unless a result is waiting (then the CRCs hold), while a
TCA9548A I2C multiplexer or an HT16K33 LED driver, both common at 0x70,
answer at once; writing the wake-up command to a TCA9548A would switch its
channels, so the driver stops with WrongChip instead.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from drivers import ChecksumError, DriverConfigError, NotReady, WrongChip
from drivers._sensirion import (
    WORD_BYTES,
    SensirionDriver,
    bus_label,
    is_nack,
    parse_words,
    probe_bus_error,
    read,
    write,
    write_read,
)

ADDRESSES = (0x70,)  # §5: fixed I2C address
QUANTITIES = ("temperature", "humidity")
POWER_MODES = ("normal", "low")

_CMD_WAKEUP = 0x3517  # §5: wake-up (the only command a sleeping SHTC3 takes)
_CMD_SLEEP = 0xB098  # §5: sleep
_WAKEUP_MAX_S = 0.00024  # §3: power-up / wake-up time, max
_WAKEUP_S = 0.0003  # what the driver waits after a wake-up (Adafruit waits 250 µs)
_CMD_SOFT_RESET = 0x805D  # §5: soft reset
_SOFT_RESET_S = 0.0003  # §3: soft reset time max 240 µs (Zephyr's SHTCX_SOFT_RESET_TIME_US)
_CMD_READ_ID = 0xEFC8  # §5: read-out of the ID register
# §5: bits 11 and 5:0 hold the product code: xxxx'1xxx'xx00'0111 for the SHTC3.
ID_MASK = 0x083F
ID_SHTC3 = 0x0807
ID_SHTC1 = 0x0007  # SHTC1/SHTW1/SHTW2: same bits, bit 11 clear (Linux shtc1.c, Zephyr shtcx.h)
# §5: measurement commands, clock stretching disabled, temperature first.
_CMD_MEASURE = {"normal": 0x7866, "low": 0x609C}
# §3: measurement duration max 12.1 ms (typ. 10.8), low power 0.8 ms (typ. 0.7).
_MEASURE_MAX_S = {"normal": 0.0121, "low": 0.0008}
_MEASURE_MARGIN_S = {"normal": 0.0009, "low": 0.0002}  # Adafruit sleeps 13 ms / 1 ms
_RAW_FULL_SCALE = 65536.0  # §5 conversion: both formulas divide by 2^16


def raw_to_celsius(raw: int) -> float:
    """§5: T = -45 + 175 * S_T / 2^16."""
    return -45.0 + 175.0 * raw / _RAW_FULL_SCALE


def raw_to_humidity(raw: int) -> float:
    """§5: RH = 100 * S_RH / 2^16."""
    return 100.0 * raw / _RAW_FULL_SCALE


def id_names(id_word: int) -> str | None:
    """The part an ID register word names: "SHTC3", "SHTC1" or None."""
    code = id_word & ID_MASK
    return {ID_SHTC3: "SHTC3", ID_SHTC1: "SHTC1"}.get(code)


def conversion_time_s(power_mode: str = "normal", **_: Any) -> float:
    """Wake-up plus the longest measurement for `power_mode`, in seconds (§3)."""
    return _WAKEUP_MAX_S + _MEASURE_MAX_S.get(power_mode, _MEASURE_MAX_S["normal"])


def _plain_read(bus: Any, address: int) -> str:
    """Read 6 bytes without a command: "nack", "result" (an SHTC3's waiting result) or "other"."""
    try:
        data = read(bus, address, 2 * WORD_BYTES)
    except OSError as exc:
        if is_nack(exc):
            return "nack"
        raise
    try:
        parse_words("SHTC3", address, data, ("temperature", "humidity"))
    except ChecksumError:
        return "other"
    return "result"


def _read_id(bus: Any, address: int) -> int | None:
    """The ID register (write 0xEFC8, repeated start, read word + CRC); None when NACKed or garbled."""
    try:
        data = write_read(bus, address, _CMD_READ_ID.to_bytes(2, "big"), WORD_BYTES)
    except OSError as exc:
        if is_nack(exc):
            return None
        raise
    try:
        (word,) = parse_words("SHTC3", address, data, ("ID",))
    except ChecksumError:
        return None
    return word


def identify(bus: Any, address: int = 0x70, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """"SHTC3" when an SHTC3 answers at `address`, else None.

    What it sends: a 6-byte read with no command (anything that answers it
    without valid CRCs is not an SHTC3, and gets no write); then the ID
    command 0xEFC8 with a 3-byte read. An asleep SHTC3 NACKs that, so it
    sends wake-up 0x3517, reads the ID, and sends sleep 0xB098, leaving the
    chip asleep as it was. The one state it can lose: a result an awake
    SHTC3 held for another program (the plain read takes it). A bus failure
    other than a NACK raises BusError.
    """
    try:
        if _plain_read(bus, address) == "other":
            return None
        word = _read_id(bus, address)
        if word is None:
            write(bus, address, _CMD_WAKEUP.to_bytes(2, "big"))
            sleep(_WAKEUP_S)
            try:
                word = _read_id(bus, address)
            finally:
                write(bus, address, _CMD_SLEEP.to_bytes(2, "big"))
    except OSError as exc:
        if is_nack(exc):
            return None
        raise probe_bus_error(bus, exc) from exc
    return "SHTC3" if word is not None and id_names(word) == "SHTC3" else None


class SHTC3(SensirionDriver):
    """An SHTC3 on an smbus2-compatible bus; asleep between readings."""

    PART = "SHTC3"
    ADDRESSES = ADDRESSES

    def __init__(
        self,
        bus: object,
        address: int = 0x70,
        *,
        power_mode: str = "normal",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if address != 0x70 or isinstance(address, bool):
            raise DriverConfigError(f"SHTC3 address {address!r} is not possible: an SHTC3 is always at 0x70")
        if power_mode not in POWER_MODES:
            raise DriverConfigError(
                f"SHTC3 power_mode {power_mode!r} is not one of {', '.join(POWER_MODES)} "
                "(normal: 12.1 ms, low: 0.8 ms and noisier)"
            )
        super().__init__(bus, address, sleep)
        self.power_mode = power_mode
        self.id_word: int | None = None
        self._awake = False

    # -- identity ----------------------------------------------------------------

    def _absent_message(self) -> str:
        label = bus_label(self._bus)
        return (
            f"no SHTC3 answered at 0x70 on I2C bus {label}: check the wiring of SDA, SCL, "
            f"VCC (1.62-3.6 V) and GND, and what `i2cdetect -y {label}` shows (an SHTC3 is "
            "always at 0x70)"
        )

    def _wrong_id(self, word: int) -> WrongChip:
        label = bus_label(self._bus)
        found = id_names(word)
        if found == "SHTC1":
            return WrongChip(
                f"an SHTC1-family sensor (ID 0x{word:04X}: SHTC1, SHTW1 or SHTW2) answers at 0x70 on "
                f"I2C bus {label}, not an SHTC3 ((ID & 0x083F) would be 0x0807); sensorkit has no "
                "driver for it",
                found="SHTC1",
            )
        return WrongChip(
            f"the chip at 0x70 on I2C bus {label} answers the SHTC3 ID command with 0x{word:04X}, "
            "which is no SHTC3 ((ID & 0x083F) must be 0x0807)",
        )

    def _foreign(self) -> WrongChip | None:
        try:
            word = _read_id(self._bus, self.address)
        except OSError:
            return None
        if word is None or id_names(word) == "SHTC3":
            return None
        return self._wrong_id(word)

    def _setup(self, recovering: bool) -> None:
        try:
            verdict = _plain_read(self._bus, self.address)
        except OSError as exc:
            raise self._bus_error(exc) from exc
        if verdict == "other":
            raise WrongChip(
                f"something at 0x70 on I2C bus {bus_label(self._bus)} answers a read without a "
                "command, which an SHTC3 never does: a TCA9548A I2C multiplexer or an HT16K33 LED "
                "driver uses 0x70 too (sensorkit sends nothing more, so a multiplexer keeps its "
                "channels)",
            )
        self._wake()
        if recovering:
            self._send(_CMD_SOFT_RESET.to_bytes(2, "big"))
            self._sleep(_SOFT_RESET_S)
        try:
            data = write_read(self._bus, self.address, _CMD_READ_ID.to_bytes(2, "big"), WORD_BYTES)
        except OSError as exc:
            if is_nack(exc):
                raise NotReady(
                    "SHTC3 at 0x70 woke up but NACKed the ID command; if this repeats, power-cycle it"
                ) from exc
            raise self._bus_error(exc) from exc
        (word,) = self._words(data, ("ID",))
        if id_names(word) != "SHTC3":
            raise self._wrong_id(word)
        self.id_word = word

    def _wake(self) -> None:
        self._send(_CMD_WAKEUP.to_bytes(2, "big"))
        self._sleep(_WAKEUP_S)
        self._awake = True

    def _go_to_sleep(self) -> None:
        """Best effort: a chip still measuring NACKs it, and then stays awake until the next read."""
        self._awake = False
        try:
            write(self._bus, self.address, _CMD_SLEEP.to_bytes(2, "big"))
        except OSError:
            pass

    # -- measuring -----------------------------------------------------------------

    def _measure(self) -> dict[str, float]:
        try:
            if not self._awake:
                self._wake()
            raw_t, raw_rh = self._query(
                _CMD_MEASURE[self.power_mode].to_bytes(2, "big"), ("temperature", "humidity"),
                _MEASURE_MAX_S[self.power_mode] + _MEASURE_MARGIN_S[self.power_mode],
            )
        finally:
            self._go_to_sleep()
        # The formula maps 0..65535 into 0..100 %RH: nothing to clip.
        return {
            "temperature": round(raw_to_celsius(raw_t), 2),
            "humidity": round(raw_to_humidity(raw_rh), 2),
        }

    def soft_reset(self) -> None:
        """0x805D (the chip must be awake for it); it comes back idle, awake."""
        if not self._awake:
            self._wake()
        self._send(_CMD_SOFT_RESET.to_bytes(2, "big"))
        self._sleep(_SOFT_RESET_S)

    def __repr__(self) -> str:
        return f"SHTC3(address=0x70, power_mode={self.power_mode!r})"


__all__ = [
    "ADDRESSES",
    "ID_MASK",
    "ID_SHTC3",
    "POWER_MODES",
    "QUANTITIES",
    "SHTC3",
    "conversion_time_s",
    "id_names",
    "identify",
    "raw_to_celsius",
    "raw_to_humidity",
]
