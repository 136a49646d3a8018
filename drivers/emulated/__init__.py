"""Emulated hardware: register-level twins that follow their datasheets.

`EmulatedSMBus` is a drop-in for `smbus2.SMBus`; chips (`I2CChip`) attach to
it at an address and answer the bytes a real device would.
"""
from __future__ import annotations

from drivers.emulated.sht3x import EmulatedSHT3x
from drivers.emulated.sht4x import EmulatedSHT4x
from drivers.emulated.shtc3 import EmulatedSHTC1, EmulatedSHTC3
from drivers.emulated.smbus import EmulatedSMBus, I2CChip, Nack

__all__ = ["EmulatedSHT3x", "EmulatedSHT4x", "EmulatedSHTC1", "EmulatedSHTC3", "EmulatedSMBus", "I2CChip", "Nack"]
