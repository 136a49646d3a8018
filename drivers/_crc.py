"""CRC-8s: Sensirion's (and similar humidity sensors') and Maxim's 1-Wire one.

`crc8` takes the polynomial and initial value as parameters: SHT3x/SHT4x/
SHTC3/AHT20 use init 0xFF, HTU21D/Si7021 use init 0x00. `crc8_maxim` is the
1-Wire CRC (ROM codes and DS18B20-family scratchpads), which shifts LSB first.
"""
from __future__ import annotations

# SHT3x datasheet v5 (May 2018) §4.12 Table 20: CRC-8, polynomial 0x31
# (x^8 + x^5 + x^4 + 1), init 0xFF, no reflection, final XOR 0x00.
SENSIRION_POLY = 0x31
SENSIRION_INIT = 0xFF


def crc8(data: bytes, *, poly: int = SENSIRION_POLY, init: int = SENSIRION_INIT) -> int:
    """CRC-8 of `data`, MSB first, no reflection, no final XOR.

    >>> hex(crc8(b"\\xBE\\xEF"))
    '0x92'
    """
    crc = init & 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ poly) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


# Maxim application note 27: x^8 + x^5 + x^4 + 1, processed LSB first, so the
# polynomial is used reflected (0x8C); init 0x00, no final XOR. The DS18B20
# datasheet ("CRC Generation") uses the same generator for ROM and scratchpad.
MAXIM_POLY_REFLECTED = 0x8C


def crc8_maxim(data: bytes) -> int:
    """The Dallas/Maxim 1-Wire CRC-8 of `data`.

    >>> hex(crc8_maxim(bytes.fromhex("021CB801000000")))  # AN27's ROM example
    '0xa2'
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ MAXIM_POLY_REFLECTED if crc & 1 else crc >> 1
    return crc
