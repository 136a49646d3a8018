from __future__ import annotations

import pytest

from drivers._crc import crc8


def test_crc8_sht3x_datasheet_example() -> None:
    # SHT3x datasheet §4.12 Table 20.
    assert crc8(b"\xBE\xEF") == 0x92


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"\xDC", 0x79), (b"\x68\x3A", 0x7C), (b"\x4E\x85", 0x6B)],
)
def test_crc8_htu21d_datasheet_examples_with_init_zero(data: bytes, expected: int) -> None:
    # HTU21D datasheet (HPC199_3) p.14 worked examples, CRC init 0x00.
    assert crc8(data, init=0x00) == expected


def test_crc8_init_changes_result() -> None:
    assert crc8(b"\xBE\xEF", init=0x00) != crc8(b"\xBE\xEF")


def test_crc8_empty_data_is_init() -> None:
    assert crc8(b"") == 0xFF
    assert crc8(b"", init=0x00) == 0x00


def test_crc8_detects_single_bit_flip() -> None:
    assert crc8(b"\xBE\xEE") != 0x92
