"""One chip's address on an smbus2-compatible bus: transfers with the errors sorted.

Every I2C driver takes its NACK rule, bus label and bus-error message from here; the AHT2x,
HTU21D and HDC1080 drivers (and the 0x40 probe) also use `Link` for their transfers. Every
transfer is one `i2c_rdwr` call, i.e. one bus transaction with repeated
starts between its messages, so what the driver sends is exactly what the
datasheet's sequence diagrams show. A NACK comes back as ``None`` (for these
chips it usually means "busy" or "not there", which only the caller can
tell apart); any other failure of the adapter is a `BusError`.
"""
from __future__ import annotations

import errno
from typing import Union

from drivers import BusError

# NACK as reported by Linux adapters: EREMOTEIO (i2c-bcm2835), ENXIO (others).
NACK_ERRNOS = (errno.EREMOTEIO, errno.ENXIO)

# One message of a combined transfer: bytes to write, or a count to read.
Message = Union[bytes, int]


def bus_label(bus: object) -> str:
    number = getattr(bus, "bus_number", None)
    return "<bus>" if number is None else str(number)


def is_nack(exc: OSError) -> bool:
    """Whether an adapter error is the chip not acknowledging (absent, or busy)."""
    return exc.errno in NACK_ERRNOS


def bus_error(exc: OSError, bus: object, part: str, address: int) -> BusError:
    """The BusError for an adapter failure that is not a NACK."""
    return BusError(
        exc.errno,
        f"I2C bus {bus_label(bus)} failed talking to the {part} at 0x{address:02X} ({exc.strerror or exc}); "
        "a line held low or a loose SDA/SCL wire is the usual cause",
    )


def all_ff(*chunks: bytes) -> bool:
    """True when every byte read is 0xFF: nothing drives SDA low (see `all_ff_advice`)."""
    data = b"".join(chunks)
    return bool(data) and all(byte == 0xFF for byte in data)


def all_ff_advice(part: str, address: int, bus: object) -> str:
    return (
        f"the device at 0x{address:02X} on I2C bus {bus_label(bus)} acknowledges but every byte "
        f"it sends reads 0xFF, so no {part} is driving SDA: check the sensor's VCC and GND (an "
        "unpowered chip can still let the pull-ups answer) and that SDA is not shorted to VCC"
    )


class Link:
    """Transfers to one address; see the module docstring."""

    def __init__(self, bus: object, address: int, part: str) -> None:
        self.bus = bus
        self.address = address
        self.part = part

    def bus_error(self, exc: OSError) -> BusError:
        return bus_error(exc, self.bus, self.part, self.address)

    def transfer(self, *messages: Message) -> list[bytes] | None:
        """One combined transfer; the bytes of each read message, or None on a NACK."""
        from smbus2 import i2c_msg

        msgs = [
            i2c_msg.read(self.address, m) if isinstance(m, int) else i2c_msg.write(self.address, m)
            for m in messages
        ]
        try:
            self.bus.i2c_rdwr(*msgs)
        except OSError as exc:
            if is_nack(exc):
                return None
            raise self.bus_error(exc) from exc
        return [bytes(msg) for msg, m in zip(msgs, messages) if isinstance(m, int)]

    def write(self, data: bytes) -> bool:
        """Write `data`; False when the chip NACKs its address or a byte."""
        return self.transfer(bytes(data)) is not None

    def read(self, length: int) -> bytes | None:
        """A bare read (no command first); None when NACKed."""
        got = self.transfer(length)
        return None if got is None else got[0]

    def write_read(self, data: bytes, length: int) -> bytes | None:
        """Write, repeated start, read: one transaction; None when NACKed."""
        got = self.transfer(bytes(data), length)
        return None if got is None else got[0]


__all__ = ["NACK_ERRNOS", "Link", "all_ff", "all_ff_advice", "bus_error", "bus_label", "is_nack"]
