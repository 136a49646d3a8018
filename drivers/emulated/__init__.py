"""Emulated hardware: register-level twins that follow their datasheets.

`EmulatedSMBus` is a drop-in for `smbus2.SMBus`; chips (`I2CChip`) attach to
it at an address and answer the bytes a real device would. `EmulatedDHT`
stands in for an adafruit_dht device object.
"""
from __future__ import annotations

from drivers.emulated.dht import EmulatedDHT, EmulatedDHTSensor
from drivers.emulated.sht3x import EmulatedSHT3x
from drivers.emulated.smbus import EmulatedSMBus, I2CChip, Nack

__all__ = ["EmulatedDHT", "EmulatedDHTSensor", "EmulatedSHT3x", "EmulatedSMBus", "I2CChip", "Nack"]
