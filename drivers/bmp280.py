"""Bosch BMP280 temperature and pressure over I2C, in forced mode.

Datasheet BST-BMP280-DS001 (rev 1.23). The BMP280 is the BME280 without
humidity: register map, calibration and the datasheet's integer compensation
live in `drivers._bosch`, the forced-mode reading in `drivers._bosch_driver`.

Defaults follow the datasheet's "weather monitoring" use case (§3.4 Table 7):
forced mode, pressure ×1, temperature ×1, IIR filter off. With iir_filter
set, the chip filters once per conversion, so in forced mode a step change
takes Table 6's number of *readings* (2, 5, 11, 22 for coefficients 2, 4, 8,
16) to reach 75 %.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers import _bosch
from drivers._bosch_driver import ADDRESSES, BoschSensor, read_chip_id

QUANTITIES = ("temperature", "pressure")
CHIP_IDS = (0x58, 0x57, 0x56)  # §4.3.1: 0x58 mass production; 0x56/0x57 samples (BME280 DS Table 17)


def conversion_time_s(*, oversampling_temperature: int = 1, oversampling_pressure: int = 1, **_: object) -> float:
    """Maximum measurement time for these options (0 = pressure skipped), seconds.

    The BME280 datasheet's §9.1 maximum without its humidity term; it reproduces the
    6.4 ms (×1/×1) .. 43.2 ms (×2 T, ×16 P) of the BMP280's §3.8.1 Table 13.
    """
    return _bosch.measurement_time_s(oversampling_temperature, oversampling_pressure, 0)


def identify(bus: object, address: int) -> str | None:
    """"BMP280" when one answers at `address` (samples included), else None.

    Read-only: writes the register pointer 0xD0 and reads the chip id (one combined
    transfer); nothing is written to any register.
    """
    return "BMP280" if read_chip_id(bus, address) in CHIP_IDS else None


class BMP280(BoschSensor):
    """A BMP280 on an smbus2-compatible bus; the constructor does no I/O.

    `oversampling_pressure` takes 0 (skip: pressure is left out of the reading),
    1, 2, 4, 8 or 16, `oversampling_temperature` the same without 0. `iir_filter`
    is 0 (off), 2, 4, 8 or 16.
    """

    PART = "BMP280"
    DRIVER = "bmp280"
    HAS_HUMIDITY = False

    def __init__(
        self,
        bus: object,
        address: int = 0x76,
        *,
        oversampling_temperature: int = 1,
        oversampling_pressure: int = 1,
        iir_filter: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            bus,
            address,
            oversampling_temperature=oversampling_temperature,
            oversampling_pressure=oversampling_pressure,
            oversampling_humidity=0,
            iir_filter=iir_filter,
            sleep=sleep,
        )


__all__ = ["ADDRESSES", "BMP280", "CHIP_IDS", "QUANTITIES", "conversion_time_s", "identify"]
