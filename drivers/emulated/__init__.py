"""Emulated hardware: register-level twins that follow their datasheets.

`EmulatedSMBus` is a drop-in for `smbus2.SMBus`; chips (`I2CChip`) attach to
it at an address and answer the bytes a real device would. `EmulatedDHT`
stands in for an adafruit_dht device object.
"""
from __future__ import annotations

from drivers.emulated.aht2x import EmulatedAHT2x, EmulatedAHT10
from drivers.emulated.bme280 import EmulatedBME280
from drivers.emulated.bmp280 import EmulatedBMP280
from drivers.emulated.dht import EmulatedDHT, EmulatedDHTSensor
from drivers.emulated.hdc1080 import EmulatedHDC1080
from drivers.emulated.htu21d import EmulatedHTU21D, EmulatedSi7021
from drivers.emulated.sht3x import EmulatedSHT3x
from drivers.emulated.sht4x import EmulatedSHT4x
from drivers.emulated.shtc3 import EmulatedSHTC1, EmulatedSHTC3
from drivers.emulated.smbus import EmulatedSMBus, I2CChip, Nack
from drivers.emulated.w1 import EmulatedW1Bus, EmulatedW1Sensor

__all__ = [
    "EmulatedAHT10",
    "EmulatedAHT2x",
    "EmulatedBME280",
    "EmulatedBMP280",
    "EmulatedDHT",
    "EmulatedDHTSensor",
    "EmulatedHDC1080",
    "EmulatedHTU21D",
    "EmulatedSHT3x",
    "EmulatedSHT4x",
    "EmulatedSHTC1",
    "EmulatedSHTC3",
    "EmulatedSMBus",
    "EmulatedSi7021",
    "EmulatedW1Bus",
    "EmulatedW1Sensor",
    "I2CChip",
    "Nack",
]
