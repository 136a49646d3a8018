"""An emulated I2C bus: a drop-in for `smbus2.SMBus` with chips attached.

Each call is mapped onto the I2C messages the Linux kernel would put on the
wire for it (``i2c_smbus_xfer_emulated``, which is what a Raspberry Pi's
i2c-bcm2835 adapter uses for every SMBus call), and each message onto a
chip's `write()` or `read()`. Failures come back the way smbus2 reports them
on a Pi: a missing device or a NACK is ``OSError(EREMOTEIO)``, a bus held
low is ``OSError(ETIMEDOUT)``.
"""
from __future__ import annotations

import ctypes
import errno
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, Union, runtime_checkable

if TYPE_CHECKING:  # smbus2 is needed at run time only by i2c_rdwr callers
    from smbus2 import i2c_msg

# 7-bit addresses a device may use: 0x00-0x02 and 0x78-0x7F are reserved
# (general call, CBUS, 10-bit prefix, ...) by the I2C-bus specification §3.1.12.
MIN_ADDRESS = 0x03
MAX_ADDRESS = 0x77
# uapi/linux/i2c.h: the SMBus block limit and the read flag of an i2c_msg.
I2C_SMBUS_BLOCK_MAX = 32
I2C_M_RD = 0x0001
# uapi/linux/i2c-dev.h: most messages one I2C_RDWR ioctl accepts.
I2C_RDWR_IOCTL_MAX_MSGS = 42
# What i2c-bcm2835 reports for I2C_FUNCS: I2C_FUNC_I2C | I2C_FUNC_SMBUS_EMUL.
# SMBus block reads are not in it (the adapter cannot do I2C_M_RECV_LEN).
BCM2835_FUNCS = 0x0EFF0009
# A released SDA line reads as ones.
IDLE_BYTE = 0xFF


class Nack(Exception):  # noqa: N818 - named after the bus condition
    """Raised by a chip to not-acknowledge its address or a byte."""


@runtime_checkable
class I2CChip(Protocol):
    """What a device on the emulated bus implements.

    `write(b"")` is an address-only probe (write_quick, i2cdetect); a chip
    that is present returns, one that should NACK raises `Nack`. `read(n)`
    returns up to `n` bytes; missing bytes read as 0xFF.
    """

    def write(self, data: bytes) -> None: ...

    def read(self, length: int) -> bytes: ...


# One wire-level message: (address, bytes to write) or (address, count to read).
_Msg = tuple[int, Union[bytes, int]]


def _remote_io_error() -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error")


class EmulatedSMBus:
    """`smbus2.SMBus` look-alike whose devices are Python objects.

    ``bus.attach(0x44, EmulatedSHT3x())`` puts a chip on the bus; drivers
    then talk to it through the same calls they use on real hardware.
    Set `stuck` to emulate SDA or SCL held low. `transactions`,
    `bytes_written` and `bytes_read` count what went over the wire (one
    transaction per bus call, i.e. per ioctl, failed ones included).
    """

    def __init__(self, bus: int | str | None = 1, force: bool = False) -> None:
        self.bus_number: int | str | None = None
        self.force = force
        self.address: int | None = None
        self.funcs = 0
        self.stuck = False
        self._chips: dict[int, I2CChip] = {}
        self._open = False
        # The kernel serialises ioctls on one adapter; so do we.
        self._lock = threading.RLock()
        self.transactions = 0
        self.bytes_written = 0
        self.bytes_read = 0
        if bus is not None:
            self.open(bus)

    # -- lifecycle -----------------------------------------------------------

    def open(self, bus: int | str) -> None:
        if not isinstance(bus, (int, str)) or isinstance(bus, bool):
            raise TypeError(f"Unexpected type(bus)={type(bus)}")
        with self._lock:
            self.bus_number = bus
            self.funcs = BCM2835_FUNCS
            self._open = True

    def close(self) -> None:
        with self._lock:
            self._open = False
            self.address = None

    def __enter__(self) -> EmulatedSMBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return not self._open

    # -- wiring --------------------------------------------------------------

    def attach(self, address: int, chip: I2CChip) -> None:
        """Connect `chip` at 7-bit `address` (0x03..0x77)."""
        if not isinstance(address, int) or not MIN_ADDRESS <= address <= MAX_ADDRESS:
            raise ValueError(
                f"I2C address {address!r} is outside 0x{MIN_ADDRESS:02X}..0x{MAX_ADDRESS:02X}"
            )
        with self._lock:
            if address in self._chips:
                raise ValueError(
                    f"address 0x{address:02X} is already used by {self._chips[address]!r}"
                )
            self._chips[address] = chip

    def detach(self, address: int) -> I2CChip:
        """Disconnect and return the chip at `address` (KeyError if none)."""
        with self._lock:
            return self._chips.pop(address)

    def chip_at(self, address: int) -> I2CChip | None:
        with self._lock:
            return self._chips.get(address)

    def reset_counters(self) -> None:
        with self._lock:
            self.transactions = 0
            self.bytes_written = 0
            self.bytes_read = 0

    # -- the wire ------------------------------------------------------------

    def _transfer(self, msgs: Sequence[_Msg]) -> list[bytes]:
        """Run one combined transfer; return what each read message received."""
        with self._lock:
            if not self._open:
                raise OSError(errno.EBADF, "Bad file descriptor")
            for address, _ in msgs:
                if not 0 <= address <= 0x7F:
                    # i2c-dev rejects an address that is not 7-bit.
                    raise OSError(errno.EINVAL, "Invalid argument")
            self.transactions += 1
            if self.stuck:
                raise OSError(errno.ETIMEDOUT, "Connection timed out")
            received: list[bytes] = []
            for address, payload in msgs:
                chip = self._chips.get(address)
                if chip is None:
                    raise _remote_io_error()
                try:
                    if isinstance(payload, bytes):
                        chip.write(payload)
                        self.bytes_written += len(payload)
                    else:
                        data = bytes(chip.read(payload))[:payload]
                        data += bytes([IDLE_BYTE]) * (payload - len(data))
                        self.bytes_read += payload
                        received.append(data)
                except Nack:
                    # The adapter stops the whole combined transfer at the first NACK.
                    raise _remote_io_error() from None
            return received

    def _smbus(self, i2c_addr: int, force: bool | None, msgs: Sequence[_Msg]) -> list[bytes]:
        with self._lock:
            self.address = i2c_addr
            return self._transfer(msgs)

    # -- smbus2.SMBus methods ------------------------------------------------

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._smbus(i2c_addr, force, [(i2c_addr, b"")])

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._smbus(i2c_addr, force, [(i2c_addr, 1)])[0][0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._smbus(i2c_addr, force, [(i2c_addr, bytes([value & 0xFF]))])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        msgs = [(i2c_addr, bytes([register & 0xFF])), (i2c_addr, 1)]
        return self._smbus(i2c_addr, force, msgs)[0][0]

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        data = bytes([register & 0xFF, value & 0xFF])
        self._smbus(i2c_addr, force, [(i2c_addr, data)])

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        msgs = [(i2c_addr, bytes([register & 0xFF])), (i2c_addr, 2)]
        return int.from_bytes(self._smbus(i2c_addr, force, msgs)[0], "little")

    def write_word_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        data = bytes([register & 0xFF]) + (value & 0xFFFF).to_bytes(2, "little")
        self._smbus(i2c_addr, force, [(i2c_addr, data)])

    def process_call(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> int:
        data = bytes([register & 0xFF]) + (value & 0xFFFF).to_bytes(2, "little")
        msgs = [(i2c_addr, data), (i2c_addr, 2)]
        return int.from_bytes(self._smbus(i2c_addr, force, msgs)[0], "little")

    def _block_reply(self, raw: bytes) -> list[int]:
        count = raw[0]
        if count > I2C_SMBUS_BLOCK_MAX:
            # The kernel refuses a block count over 32 with EPROTO.
            raise OSError(errno.EPROTO, "Protocol error")
        return list(raw[1 : count + 1])

    def read_block_data(
        self, i2c_addr: int, register: int, force: bool | None = None
    ) -> list[int]:
        """SMBus block read: count byte then that many bytes.

        The real length is decided by the chip mid-transfer (I2C_M_RECV_LEN);
        a chip here sees one read of 33 bytes and the count is taken from the
        first. Note a Raspberry Pi's adapter does not support this call.
        """
        msgs = [(i2c_addr, bytes([register & 0xFF])), (i2c_addr, I2C_SMBUS_BLOCK_MAX + 1)]
        return self._block_reply(self._smbus(i2c_addr, force, msgs)[0])

    def write_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {I2C_SMBUS_BLOCK_MAX} bytes")
        payload = bytes([register & 0xFF, len(data)] + [b & 0xFF for b in data])
        self._smbus(i2c_addr, force, [(i2c_addr, payload)])

    def block_process_call(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> list[int]:
        if len(data) > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {I2C_SMBUS_BLOCK_MAX} bytes")
        payload = bytes([register & 0xFF, len(data)] + [b & 0xFF for b in data])
        msgs = [(i2c_addr, payload), (i2c_addr, I2C_SMBUS_BLOCK_MAX + 1)]
        return self._block_reply(self._smbus(i2c_addr, force, msgs)[0])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if length > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Desired block length over {I2C_SMBUS_BLOCK_MAX} bytes")
        msgs = [(i2c_addr, bytes([register & 0xFF])), (i2c_addr, max(0, length))]
        return list(self._smbus(i2c_addr, force, msgs)[0])

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > I2C_SMBUS_BLOCK_MAX:
            raise ValueError(f"Data length cannot exceed {I2C_SMBUS_BLOCK_MAX} bytes")
        payload = bytes([register & 0xFF] + [b & 0xFF for b in data])
        self._smbus(i2c_addr, force, [(i2c_addr, payload)])

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None:
        """Combined transfer of `smbus2.i2c_msg`s; read messages are filled in place."""
        if not 0 < len(i2c_msgs) <= I2C_RDWR_IOCTL_MAX_MSGS:
            raise OSError(errno.EINVAL, "Invalid argument")
        wire: list[_Msg] = []
        for msg in i2c_msgs:
            if msg.flags & I2C_M_RD:
                wire.append((msg.addr, int(msg.len)))
            else:
                wire.append((msg.addr, bytes(msg)))
        with self._lock:
            received = iter(self._transfer(wire))
            for msg in i2c_msgs:
                if msg.flags & I2C_M_RD:
                    data = next(received)
                    ctypes.memmove(msg.buf, data, len(data))


__all__ = ["EmulatedSMBus", "I2CChip", "Nack"]
