"""Emulated hardware: register-level twins that follow their datasheets.

`EmulatedSMBus` is a drop-in for `smbus2.SMBus`; chips (`I2CChip`) attach to
it at an address and answer the bytes a real device would. `EmulatedW1Bus`
writes a fake `/sys/bus/w1/devices` tree with emulated 1-Wire thermometers.
"""
from __future__ import annotations

from drivers.emulated.sht3x import EmulatedSHT3x
from drivers.emulated.smbus import EmulatedSMBus, I2CChip, Nack
from drivers.emulated.w1 import EmulatedW1Bus, EmulatedW1Sensor

__all__ = ["EmulatedSHT3x", "EmulatedSMBus", "EmulatedW1Bus", "EmulatedW1Sensor", "I2CChip", "Nack"]
