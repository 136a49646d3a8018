"""Bosch BME280 temperature, humidity and pressure over I2C, in forced mode.

Datasheet BST-BME280-DS002-15 rev 1.6 (section numbers below). The register
map, calibration and integer compensation are shared with the BMP280 in
`drivers._bosch`; the forced-mode reading in `drivers._bosch_driver`.

Defaults follow the datasheet's "weather monitoring" recommendation (§3.5.1):
forced mode, oversampling ×1 for temperature, pressure and humidity, IIR
filter off. The filter (iir_filter = 2..16) is applied by the chip once per
conversion, and in forced mode that is once per reading: after a step change
the output needs the datasheet's Table 6 number of *readings* to reach 75 %
of it (2, 5, 11, 22 for coefficients 2, 4, 8, 16), i.e. 220 s at 16 with a
10 s interval. The first reading after a (re)start passes unfiltered.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers import _bosch
from drivers._bosch_driver import ADDRESSES, BoschSensor, read_chip_id

QUANTITIES = ("temperature", "humidity", "pressure")
CHIP_ID = 0x60  # §5.4.1


def conversion_time_s(
    *, oversampling_temperature: int = 1, oversampling_pressure: int = 1, oversampling_humidity: int = 1, **_: object
) -> float:
    """§9.1 maximum measurement time for these options (0 = channel skipped), seconds."""
    return _bosch.measurement_time_s(oversampling_temperature, oversampling_pressure, oversampling_humidity)


def identify(bus: object, address: int) -> str | None:
    """"BME280" when one answers at `address`, else None.

    Read-only: writes the register pointer 0xD0 and reads the chip id (one combined
    transfer); nothing is written to any register.
    """
    return "BME280" if read_chip_id(bus, address) == CHIP_ID else None


class BME280(BoschSensor):
    """A BME280 on an smbus2-compatible bus; the constructor does no I/O.

    Oversampling options take 0 (skip: the quantity is left out of the reading),
    1, 2, 4, 8 or 16; temperature cannot be skipped. `iir_filter` is 0 (off), 2,
    4, 8 or 16.
    """

    PART = "BME280"
    DRIVER = "bme280"
    HAS_HUMIDITY = True

    def __init__(
        self,
        bus: object,
        address: int = 0x76,
        *,
        oversampling_temperature: int = 1,
        oversampling_pressure: int = 1,
        oversampling_humidity: int = 1,
        iir_filter: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            bus,
            address,
            oversampling_temperature=oversampling_temperature,
            oversampling_pressure=oversampling_pressure,
            oversampling_humidity=oversampling_humidity,
            iir_filter=iir_filter,
            sleep=sleep,
        )


__all__ = ["ADDRESSES", "BME280", "CHIP_ID", "QUANTITIES", "conversion_time_s", "identify"]
