"""EmulatedSMBus: each smbus2 call becomes the I2C messages the kernel would send."""
from __future__ import annotations

import errno
import threading

import pytest
from smbus2 import i2c_msg

from drivers.emulated import EmulatedSMBus, I2CChip, Nack


class RecordingChip:
    """Logs every message; reads return `reply` (or raise Nack when told to)."""

    def __init__(self, reply: bytes = b"", nack_reads: bool = False) -> None:
        self.log: list[tuple[str, object]] = []
        self.reply = reply
        self.nack_reads = nack_reads
        self.nack_writes = False

    def write(self, data: bytes) -> None:
        if self.nack_writes:
            raise Nack()
        self.log.append(("w", data))

    def read(self, length: int) -> bytes:
        if self.nack_reads:
            raise Nack()
        self.log.append(("r", length))
        return self.reply


@pytest.fixture
def chip(emulated_bus: EmulatedSMBus) -> RecordingChip:
    chip = RecordingChip(reply=bytes([0x12, 0x34, 0x56, 0x78]))
    emulated_bus.attach(0x40, chip)
    return chip


def _assert_remote_io(excinfo: pytest.ExceptionInfo[OSError]) -> None:
    assert excinfo.value.errno == errno.EREMOTEIO == 121
    assert "Remote I/O error" in str(excinfo.value)


def test_emulated_smbus_chip_satisfies_protocol(chip: RecordingChip) -> None:
    assert isinstance(chip, I2CChip)


def test_emulated_smbus_constructor_shape() -> None:
    bus = EmulatedSMBus(3, force=True)
    assert bus.bus_number == 3
    assert bus.force is True
    assert not bus.closed
    unopened = EmulatedSMBus(None)
    assert unopened.closed
    unopened.open(1)
    assert unopened.bus_number == 1 and not unopened.closed


def test_emulated_smbus_write_quick_probe_is_acked(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.write_quick(0x40)
    assert chip.log == [("w", b"")]


def test_emulated_smbus_absent_address_raises_remote_io(emulated_bus: EmulatedSMBus) -> None:
    with pytest.raises(OSError) as excinfo:
        emulated_bus.write_quick(0x41)
    _assert_remote_io(excinfo)
    with pytest.raises(OSError) as excinfo:
        emulated_bus.read_byte_data(0x41, 0x00)
    _assert_remote_io(excinfo)


def test_emulated_smbus_chip_nack_raises_remote_io(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    chip.nack_writes = True
    with pytest.raises(OSError) as excinfo:
        emulated_bus.write_byte(0x40, 0x01)
    _assert_remote_io(excinfo)


def test_emulated_smbus_read_byte(emulated_bus: EmulatedSMBus, chip: RecordingChip) -> None:
    assert emulated_bus.read_byte(0x40) == 0x12
    assert chip.log == [("r", 1)]


def test_emulated_smbus_write_byte_masks_to_8_bits(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.write_byte(0x40, 0x1A5)  # ctypes c_uint8 keeps the low byte
    assert chip.log == [("w", b"\xA5")]


def test_emulated_smbus_read_byte_data_is_write_then_read(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.read_byte_data(0x40, 0xD0) == 0x12
    assert chip.log == [("w", b"\xD0"), ("r", 1)]


def test_emulated_smbus_write_byte_data(emulated_bus: EmulatedSMBus, chip: RecordingChip) -> None:
    emulated_bus.write_byte_data(0x40, 0xF4, 0x27)
    assert chip.log == [("w", b"\xF4\x27")]


def test_emulated_smbus_read_word_data_is_little_endian(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.read_word_data(0x40, 0x02) == 0x3412
    assert chip.log == [("w", b"\x02"), ("r", 2)]


def test_emulated_smbus_write_word_data_is_little_endian(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.write_word_data(0x40, 0x02, 0xABCD)
    assert chip.log == [("w", b"\x02\xCD\xAB")]


def test_emulated_smbus_process_call(emulated_bus: EmulatedSMBus, chip: RecordingChip) -> None:
    assert emulated_bus.process_call(0x40, 0x05, 0x0102) == 0x3412
    assert chip.log == [("w", b"\x05\x02\x01"), ("r", 2)]


def test_emulated_smbus_read_block_data_uses_count_byte(emulated_bus: EmulatedSMBus) -> None:
    chip = RecordingChip(reply=bytes([3, 0xA, 0xB, 0xC, 0xD]))
    emulated_bus.attach(0x50, chip)
    assert emulated_bus.read_block_data(0x50, 0x10) == [0xA, 0xB, 0xC]
    assert chip.log == [("w", b"\x10"), ("r", 33)]


def test_emulated_smbus_read_block_data_count_over_32_is_protocol_error(
    emulated_bus: EmulatedSMBus,
) -> None:
    emulated_bus.attach(0x50, RecordingChip(reply=bytes([40])))
    with pytest.raises(OSError) as excinfo:
        emulated_bus.read_block_data(0x50, 0x10)
    assert excinfo.value.errno == errno.EPROTO


def test_emulated_smbus_write_block_data_sends_count(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.write_block_data(0x40, 0x20, [1, 2, 3])
    assert chip.log == [("w", b"\x20\x03\x01\x02\x03")]
    with pytest.raises(ValueError):
        emulated_bus.write_block_data(0x40, 0x20, [0] * 33)


def test_emulated_smbus_read_i2c_block_data(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.read_i2c_block_data(0x40, 0x88, 3) == [0x12, 0x34, 0x56]
    assert chip.log == [("w", b"\x88"), ("r", 3)]


def test_emulated_smbus_read_i2c_block_data_over_32_is_value_error(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    with pytest.raises(ValueError):
        emulated_bus.read_i2c_block_data(0x40, 0x88, 33)
    assert chip.log == []  # rejected before touching the wire
    assert emulated_bus.transactions == 0


def test_emulated_smbus_write_i2c_block_data(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.write_i2c_block_data(0x40, 0xF2, [0x01, 0x27])
    assert chip.log == [("w", b"\xF2\x01\x27")]
    with pytest.raises(ValueError):
        emulated_bus.write_i2c_block_data(0x40, 0xF2, [0] * 33)


def test_emulated_smbus_short_read_is_padded_with_ff(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.read_i2c_block_data(0x40, 0x00, 6) == [0x12, 0x34, 0x56, 0x78, 0xFF, 0xFF]


def test_emulated_smbus_long_reply_is_truncated(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.read_i2c_block_data(0x40, 0x00, 2) == [0x12, 0x34]


def test_emulated_smbus_i2c_rdwr_fills_read_messages(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    write = i2c_msg.write(0x40, [0x24, 0x00])
    read = i2c_msg.read(0x40, 6)
    emulated_bus.i2c_rdwr(write, read)
    assert chip.log == [("w", b"\x24\x00"), ("r", 6)]
    assert list(read) == [0x12, 0x34, 0x56, 0x78, 0xFF, 0xFF]
    assert bytes(read) == b"\x12\x34\x56\x78\xFF\xFF"
    assert len(read) == 6


def test_emulated_smbus_i2c_rdwr_stops_at_first_nack(emulated_bus: EmulatedSMBus) -> None:
    first = RecordingChip(reply=b"\x01")
    emulated_bus.attach(0x40, first)
    later = RecordingChip(reply=b"\x02")
    emulated_bus.attach(0x41, later)
    msgs = [i2c_msg.write(0x40, [1]), i2c_msg.write(0x42, [2]), i2c_msg.read(0x41, 1)]
    with pytest.raises(OSError) as excinfo:
        emulated_bus.i2c_rdwr(*msgs)
    _assert_remote_io(excinfo)
    assert first.log == [("w", b"\x01")]
    assert later.log == []  # never reached
    assert bytes(msgs[2]) == b"\x00"  # buffer untouched


def test_emulated_smbus_i2c_rdwr_read_nack(emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.attach(0x40, RecordingChip(nack_reads=True))
    with pytest.raises(OSError) as excinfo:
        emulated_bus.i2c_rdwr(i2c_msg.read(0x40, 2))
    _assert_remote_io(excinfo)


def test_emulated_smbus_i2c_rdwr_without_messages_is_invalid(
    emulated_bus: EmulatedSMBus,
) -> None:
    with pytest.raises(OSError) as excinfo:
        emulated_bus.i2c_rdwr()
    assert excinfo.value.errno == errno.EINVAL


def test_emulated_smbus_stuck_bus_times_out(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.stuck = True
    with pytest.raises(OSError) as excinfo:
        emulated_bus.read_byte(0x40)
    assert excinfo.value.errno == errno.ETIMEDOUT == 110
    with pytest.raises(OSError) as excinfo:
        emulated_bus.i2c_rdwr(i2c_msg.write(0x40, [0]))
    assert excinfo.value.errno == errno.ETIMEDOUT
    assert chip.log == []
    emulated_bus.stuck = False
    assert emulated_bus.read_byte(0x40) == 0x12


def test_emulated_smbus_closed_bus_raises_ebadf(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    emulated_bus.close()
    emulated_bus.close()  # idempotent
    with pytest.raises(OSError) as excinfo:
        emulated_bus.read_byte(0x40)
    assert excinfo.value.errno == errno.EBADF
    emulated_bus.open(1)
    assert emulated_bus.read_byte(0x40) == 0x12  # chips stay wired across reopen


def test_emulated_smbus_context_manager_closes() -> None:
    with EmulatedSMBus(1) as bus:
        assert not bus.closed
    assert bus.closed


def test_emulated_smbus_counters(emulated_bus: EmulatedSMBus, chip: RecordingChip) -> None:
    emulated_bus.write_byte_data(0x40, 0x01, 0x02)
    emulated_bus.read_i2c_block_data(0x40, 0x00, 4)
    assert emulated_bus.transactions == 2
    assert emulated_bus.bytes_written == 3
    assert emulated_bus.bytes_read == 4
    emulated_bus.reset_counters()
    assert (emulated_bus.transactions, emulated_bus.bytes_written, emulated_bus.bytes_read) == (
        0,
        0,
        0,
    )


@pytest.mark.parametrize("address", [0x00, 0x02, 0x78, 0x7F, 0x80, -1])
def test_emulated_smbus_attach_rejects_reserved_address(
    emulated_bus: EmulatedSMBus, address: int
) -> None:
    with pytest.raises(ValueError):
        emulated_bus.attach(address, RecordingChip())


def test_emulated_smbus_attach_accepts_range_ends(emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.attach(0x03, RecordingChip())
    emulated_bus.attach(0x77, RecordingChip())
    emulated_bus.write_quick(0x03)
    emulated_bus.write_quick(0x77)


def test_emulated_smbus_attach_twice_is_value_error(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    with pytest.raises(ValueError, match="0x40"):
        emulated_bus.attach(0x40, RecordingChip())


def test_emulated_smbus_detach_and_chip_at(
    emulated_bus: EmulatedSMBus, chip: RecordingChip
) -> None:
    assert emulated_bus.chip_at(0x40) is chip
    assert emulated_bus.detach(0x40) is chip
    assert emulated_bus.chip_at(0x40) is None
    with pytest.raises(OSError):
        emulated_bus.write_quick(0x40)


def test_emulated_smbus_address_beyond_7_bits_is_invalid(emulated_bus: EmulatedSMBus) -> None:
    with pytest.raises(OSError) as excinfo:
        emulated_bus.read_byte(0x80)
    assert excinfo.value.errno == errno.EINVAL


class _SlowChip:
    """Detects two transfers overlapping inside the bus."""

    def __init__(self) -> None:
        self.inside = 0
        self.overlap = False

    def write(self, data: bytes) -> None:
        self.inside += 1
        if self.inside > 1:
            self.overlap = True
        threading.Event().wait(0.001)  # widen the window a concurrent call could use
        self.inside -= 1

    def read(self, length: int) -> bytes:
        return b""


def test_emulated_smbus_serialises_threads(emulated_bus: EmulatedSMBus) -> None:
    chip = _SlowChip()
    emulated_bus.attach(0x10, chip)

    def hammer() -> None:
        for _ in range(20):
            emulated_bus.write_byte(0x10, 1)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not chip.overlap
    assert emulated_bus.transactions == 80
