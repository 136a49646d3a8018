"""CRC-8 as used by Sensirion and similar humidity sensors.

One pure function with the polynomial and initial value as parameters:
SHT3x/SHT4x/SHTC3/AHT20 use init 0xFF, HTU21D/Si7021 use init 0x00.
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
