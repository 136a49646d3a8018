"""What the Sensirion humidity drivers (SHT3x, SHT4x, SHTC3) share.

All three speak the same I2C dialect: a command is written, the master
waits the command's time itself (the Raspberry Pi's adapter mishandles clock
stretching), then reads 16-bit words each followed by a CRC-8 (poly 0x31,
init 0xFF); a read with nothing behind it is NACKed. This module holds the
plumbing (NACK vs. bus failure, word parsing, the other-address hint) and the
read/recovery skeleton; each chip module keeps its own commands and timing.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Callable

from drivers import BusError, ChecksumError, DriverError, NotReady, SensorNotFound
from drivers._crc import crc8
from drivers._driver import Driver
from drivers._i2c_io import NACK_ERRNOS, bus_error, bus_label, is_nack

# If the first read is still NACKed, wait this much longer once before giving up.
RETRY_WAIT_S = 0.005
WORD_BYTES = 3  # 16-bit word + CRC-8
ALL_ONES = 0xFF

def write(bus: Any, address: int, data: bytes) -> None:
    """One I2C write message (START, address+W, data, STOP); raises the bus's OSError."""
    from smbus2 import i2c_msg

    bus.i2c_rdwr(i2c_msg.write(address, data))


def read(bus: Any, address: int, length: int) -> bytes:
    """One I2C read message; raises the bus's OSError (a NACKed read header too)."""
    from smbus2 import i2c_msg

    msg = i2c_msg.read(address, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def write_read(bus: Any, address: int, data: bytes, length: int) -> bytes:
    """Write then read with a repeated START, as one transaction."""
    from smbus2 import i2c_msg

    out, into = i2c_msg.write(address, data), i2c_msg.read(address, length)
    bus.i2c_rdwr(out, into)
    return bytes(into)


def parse_words(part: str, address: int, data: bytes, names: Sequence[str]) -> list[int]:
    """Split `word CRC word CRC ...` and check every CRC.

    Raises ChecksumError naming the first word whose CRC does not match, with
    a message of its own when every byte is 0xFF (nothing drives SDA).
    """
    words = []
    for i, name in enumerate(names):
        chunk = data[WORD_BYTES * i : WORD_BYTES * i + WORD_BYTES]
        expected = crc8(chunk[:2])
        if expected != chunk[2]:
            if all(byte == ALL_ONES for byte in data):
                raise ChecksumError(
                    f"{part} at 0x{address:02X} sent only 0xFF bytes ({name} word 0xFFFF "
                    f"fails its CRC, expected 0x{expected:02X}): nothing drives SDA; check "
                    "the sensor's power (VCC and GND) and that nothing else holds the line"
                )
            raise ChecksumError(
                f"{part} {name} word 0x{chunk[0]:02X}{chunk[1]:02X}: CRC expected "
                f"0x{expected:02X}, received 0x{chunk[2]:02X}; check the I2C wiring "
                "for noise (long wires, missing pull-ups)"
            )
        words.append(int.from_bytes(chunk[:2], "big"))
    return words


def probe_bus_error(bus: object, exc: OSError) -> BusError:
    """A probe met a bus failure (not a NACK): the bus is the problem, not the chip."""
    return BusError(exc.errno, f"I2C bus {bus_label(bus)} failed: {exc.strerror or exc}")


def query_words(
    bus: Any,
    address: int,
    command: bytes,
    count: int,
    *,
    wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int] | None:
    """Read-only probe: write `command`, wait, read `count` words.

    None when the chip NACKs or a CRC fails (this is not that chip); a bus
    failure other than a NACK raises BusError. For `identify()` functions.
    """
    try:
        write(bus, address, command)
        sleep(wait_s)
        data = read(bus, address, WORD_BYTES * count)
    except OSError as exc:
        if is_nack(exc):
            return None
        raise probe_bus_error(bus, exc) from exc
    try:
        return parse_words("probe", address, data, [f"word {i}" for i in range(count)])
    except ChecksumError:
        return None


def article(part: str) -> str:
    """'an SHT3x', 'a BME280': the article as the part name is spoken."""
    return "an" if part[:1].upper() in "AEFHILMNORSX" else "a"


class SensirionDriver(Driver):
    """Private base of the Sensirion drivers: bus access, errors, recovery.

    A subclass sets `PART` and `ADDRESSES` and implements `_setup(recovering)`
    (the identity check and configuration, run on the first read and after
    every failed one), `_measure()` (the I/O of one reading once set up),
    `_absent_message()`, and where it can, `_identify_at(address)` (its
    module's read-only `identify`) and `_foreign()` (who else answers here).
    """

    PART = "Sensirion"
    ADDRESSES: tuple[int, ...] = ()

    def __init__(self, bus: object, address: int, sleep: Callable[[float], None]) -> None:
        self._bus = bus
        self.address = address
        self._sleep = sleep
        self._ready = False  # identity checked and configured
        self._recovering = False  # the last read failed: set up from scratch

    # -- what a subclass provides --------------------------------------------

    def _setup(self, recovering: bool) -> None:
        raise NotImplementedError

    def _measure(self) -> dict[str, float]:
        raise NotImplementedError

    def _absent_message(self) -> str:
        """The wiring advice when nothing answers at the address."""
        raise NotImplementedError

    def _foreign(self) -> SensorNotFound | None:
        """WrongChip naming what else answers at our address, if it can tell."""
        return None

    def _identify_at(self, address: int) -> str | None:
        """The part name of this family at `address` (read-only), else None."""
        return None

    # -- reading with recovery -------------------------------------------------

    def read(self) -> dict[str, float]:
        """One reading; the identity check runs first on the first read and after a failure."""
        try:
            if not self._ready:
                self._setup(self._recovering)
                self._ready, self._recovering = True, False
            return self._measure()
        except DriverError:
            self._ready, self._recovering = False, True
            raise

    # -- bus access ------------------------------------------------------------

    def _bus_label(self) -> str:
        return bus_label(self._bus)

    def _bus_error(self, exc: OSError) -> BusError:
        return bus_error(exc, self._bus, self.PART, self.address)

    def _send(self, data: bytes) -> None:
        try:
            write(self._bus, self.address, data)
        except OSError as exc:
            if is_nack(exc):
                raise self._not_found() from exc
            raise self._bus_error(exc) from exc

    def _try_read(self, length: int) -> bytes | None:
        """Read `length` bytes; None when the chip NACKs (no data ready)."""
        try:
            return read(self._bus, self.address, length)
        except OSError as exc:
            if is_nack(exc):
                return None
            raise self._bus_error(exc) from exc

    def _words(self, data: bytes, names: Sequence[str]) -> list[int]:
        return parse_words(self.PART, self.address, data, names)

    def _query(self, command: bytes, names: Sequence[str], wait_s: float) -> list[int]:
        """Write `command`, wait, read len(names) words (one retry if still NACKed)."""
        self._send(command)
        self._sleep(wait_s)
        data = self._try_read(WORD_BYTES * len(names))
        if data is None:
            self._sleep(RETRY_WAIT_S)
            data = self._try_read(WORD_BYTES * len(names))
        if data is None:
            raise NotReady(
                f"{self.PART} at 0x{self.address:02X} took the command 0x{command.hex().upper()} "
                f"but had no data {1000 * (wait_s + RETRY_WAIT_S):.1f} ms later; if this "
                "repeats, power-cycle the sensor"
            )
        return self._words(data, names)

    def _answers_address(self) -> bool:
        """Does anything acknowledge a quick write (address only) at our address?"""
        try:
            write(self._bus, self.address, b"")
        except OSError:
            return False
        return True

    def _not_found(self) -> SensorNotFound:
        """The error for a NACK at our address: something else here, the chip elsewhere, or nothing."""
        if self._answers_address():
            # The address answers but the command was refused: another chip, or ours busy.
            foreign = self._foreign()
            if foreign is not None:
                return foreign
            return SensorNotFound(
                f"something at 0x{self.address:02X} on I2C bus {self._bus_label()} acknowledges "
                f"its address but refused the {self.PART} command: another kind of chip uses "
                f"this address, or the {self.PART} is busy with a command from another program"
            )
        for other in self.ADDRESSES:
            if other == self.address:
                continue
            try:
                found = self._identify_at(other)
            except DriverError:
                found = None
            if found:
                return SensorNotFound(
                    f"no {self.PART} answered at 0x{self.address:02X} on I2C bus {self._bus_label()}; "
                    f"{article(found)} {found} answers at 0x{other:02X}: set address = "
                    f"0x{other:02X} if that one is this sensor"
                )
        return SensorNotFound(self._absent_message())

    # -- lifecycle -------------------------------------------------------------


__all__ = [
    "NACK_ERRNOS",
    "RETRY_WAIT_S",
    "SensirionDriver",
    "article",
    "bus_label",
    "is_nack",
    "parse_words",
    "probe_bus_error",
    "query_words",
    "read",
    "write",
    "write_read",
]
