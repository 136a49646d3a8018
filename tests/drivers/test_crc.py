from __future__ import annotations

import pytest

from drivers._crc import crc8, crc8_maxim


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


def test_crc8_maxim_an27_rom_example() -> None:
    # Maxim application note 27: ROM code 02 1C B8 01 00 00 00 has CRC 0xA2.
    assert crc8_maxim(bytes.fromhex("021CB801000000")) == 0xA2


@pytest.mark.parametrize(
    ("scratchpad", "expected"),
    [
        # Linux w1_therm's sysfs example (DS18B20 at 23.125 °C), CRC in byte 8.
        ("72014b467fff0e10", 0x57),
        # DS18B20 power-on scratchpad (50h 05h ... 0Ch 10h).
        ("50054b467fff0c10", 0x1C),
        # DS18S20 power-on scratchpad, listed as a "bad rom" by pre-2020 w1_therm.
        ("aa004b46ffff0c10", 0x87),
        # A line nobody drives reads all 1s; zeros are the CRC's fixed point.
        ("ffffffffffffffff", 0xC9),
        ("0000000000000000", 0x00),
    ],
)
def test_crc8_maxim_known_scratchpads(scratchpad: str, expected: int) -> None:
    assert crc8_maxim(bytes.fromhex(scratchpad)) == expected


def test_crc8_maxim_of_data_plus_its_crc_is_zero() -> None:
    data = bytes.fromhex("021CB801000000")
    assert crc8_maxim(data + bytes([crc8_maxim(data)])) == 0
