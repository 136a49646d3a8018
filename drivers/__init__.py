"""Sensor drivers: one module per chip or device family.

A driver speaks its chip's protocol over a transport it is given (an
smbus2-compatible bus, a gpiozero pin factory, a sysfs root, a DHT object);
it never opens hardware itself. `read()` returns ``{quantity: value}`` with
the units of `QUANTITIES`, or raises a `DriverError`.

Error tree::

    DriverError
    ├── SensorNotFound      nothing answers at the address / pin / path
    │   └── WrongChip       something answers, but it is not the configured chip
    ├── NotReady            the sensor answered but has no result yet
    ├── ChecksumError       (also ValueError) the data failed its CRC
    ├── BusError            (also OSError) the bus itself failed (stuck, I/O error)
    ├── ImplausibleReading  (also ValueError) a value outside what the chip can measure
    └── DriverConfigError   (also ValueError) an option the driver cannot use
"""
from __future__ import annotations


class DriverError(Exception):
    """Root of every error a driver raises."""


class SensorNotFound(DriverError):
    """No device answered where the driver looked for it."""


class WrongChip(SensorNotFound):
    """A device answered where the sensor is configured, but it is another chip.

    `found` names what answered (e.g. "BMP280"), or is None when it is unknown.
    """

    def __init__(self, message: str, found: str | None = None) -> None:
        super().__init__(message)
        self.found = found


class NotReady(DriverError):
    """The device answered but had no measurement to give yet."""


class ChecksumError(DriverError, ValueError):
    """Data from the device failed its checksum."""


class BusError(DriverError, OSError):
    """The bus failed (stuck line, adapter I/O error) rather than one device."""


class ImplausibleReading(DriverError, ValueError):
    """The conversion gave a value outside the chip's physical range; it is never recorded."""


class DriverConfigError(DriverError, ValueError):
    """A driver option the driver or chip cannot use."""


# quantity -> unit; the one table of quantities and units. An empty unit for a
# scaled quantity means the driver names it from its config (a driver's `units`
# property: a counter's `unit = "mm"` makes amount "mm" and amount_rate "mm/h").
QUANTITIES: dict[str, str] = {
    "temperature": "°C",
    "humidity": "%RH",
    "pressure": "hPa",
    "state": "",
    "count": "",
    "rate": "1/s",
    "amount": "",  # a counter's pulses times its scale, in the configured unit
    "amount_rate": "",  # that amount per hour (per pulse), or the scaled pulse rate (per Hz)
}

__all__ = [
    "QUANTITIES",
    "BusError",
    "ChecksumError",
    "DriverConfigError",
    "DriverError",
    "ImplausibleReading",
    "NotReady",
    "SensorNotFound",
    "WrongChip",
]
