"""TI HDC1080 temperature and humidity over I2C (fixed address 0x40).

References are to TI SNAS672A (HDC1080 datasheet, Nov 2015, rev. Jan 2016).
The chip is a pointer-register device without a CRC. With MODE = 1 in the
configuration register (0x02) one trigger acquires temperature and then
humidity, so a reading is two transactions, the datasheet minimum: write
the pointer 0x00 (the trigger), wait both conversion times, read four bytes
(T then RH). A read during a conversion is NACKed (§8.5), which the driver
takes as "not done yet" and retries once.

Conversion times are the typical values of the Electrical Characteristics
(the datasheet gives no maximum); like the Linux hdc100x driver, which found
parts slower than typical, the driver adds 1 ms per conversion.

Identity (first read and after every failed one) goes through
`drivers._probe_0x40`: a bare read first, the device ID (0xFF, 0x1050) only
to a chip that answers it, the manufacturer ID (0xFE, 0x5449) only once that
has ruled out an HTU21D, for which writing 0xFE would be a soft reset.

No integrity check exists but one: bits 1:0 of both result registers are
always 0 (§8.6.1, §8.6.2); a word with them set is reported as corrupt.
The formulas span -40..125 °C and 0..100 %RH, the chip's range, so nothing
is ever clipped.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers import ChecksumError, DriverConfigError, DriverError, NotReady, SensorNotFound, WrongChip
from drivers._driver import Driver
from drivers._i2c_io import Link, all_ff_advice, bus_label
from drivers._probe_0x40 import probe_0x40

ADDRESSES = (0x40,)  # §8.5.1: the HDC1080 has no address pin
QUANTITIES = ("temperature", "humidity")
TEMPERATURE_RESOLUTIONS = (14, 11)
HUMIDITY_RESOLUTIONS = (14, 11, 8)

_REG_TEMPERATURE = 0x00  # writing this pointer starts the acquisition
_REG_CONFIG = 0x02
_REG_SERIAL = (0xFB, 0xFC, 0xFD)
_CONFIG_RST = 1 << 15  # §8.6.3 Table 4
_CONFIG_HEAT = 1 << 13
_CONFIG_MODE = 1 << 12  # T and RH in sequence, T first
_CONFIG_TRES = {14: 0, 11: 1 << 10}
_CONFIG_HRES = {14: 0b00 << 8, 11: 0b01 << 8, 8: 0b10 << 8}
# Electrical Characteristics: conversion time, typical, seconds.
_T_CONVERSION_S = {14: 0.00635, 11: 0.00365}
_RH_CONVERSION_S = {14: 0.0065, 11: 0.00385, 8: 0.0025}
_MARGIN_PER_CONVERSION_S = 0.001  # Linux hdc100x: "add 1 ms per conversion"
_RETRY_WAIT_S = 0.002
_STARTUP_S = 0.015  # after power-up (and, as assumed here, after a soft reset)
_RESERVED_LSBS = 0x0003  # §8.6.1/§8.6.2: "always 0"


def conversion_time_s(resolution_temperature: int = 14, resolution_humidity: int = 14, **_: object) -> float:
    """What one reading waits: both conversions (typical) plus 1 ms each."""
    t = _T_CONVERSION_S.get(resolution_temperature, _T_CONVERSION_S[14])
    rh = _RH_CONVERSION_S.get(resolution_humidity, _RH_CONVERSION_S[14])
    return t + rh + 2 * _MARGIN_PER_CONVERSION_S


def config_word(resolution_temperature: int = 14, resolution_humidity: int = 14, heater: bool = False) -> int:
    """The configuration register (0x02) for these options, MODE = 1 (§8.6.3)."""
    heat = _CONFIG_HEAT if heater else 0
    return _CONFIG_MODE | heat | _CONFIG_TRES[resolution_temperature] | _CONFIG_HRES[resolution_humidity]


def raw_to_celsius(raw: int) -> float:
    """§8.6.1: T = raw / 2^16 * 165 - 40."""
    return raw / 65536.0 * 165.0 - 40.0


def raw_to_humidity(raw: int) -> float:
    """§8.6.2: RH = raw / 2^16 * 100."""
    return raw / 65536.0 * 100.0


def identify(bus: object, address: int = 0x40, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """"HDC1080" when one answers at `address`, else None.

    Sends what `drivers._probe_0x40` documents: a bare read, then pointer
    0xFF and 0xFE reads only where that is safe. Triggers nothing, writes no
    register; it leaves the HDC1080's pointer at 0xFE.
    """
    if address not in ADDRESSES:
        return None
    probe = probe_0x40(bus, address, sleep=sleep)
    return "HDC1080" if probe.family == "hdc1080" else None


class HDC1080(Driver):
    """An HDC1080 on an smbus2-compatible bus; the constructor does no I/O."""

    def __init__(
        self,
        bus: object,
        address: int = 0x40,
        *,
        resolution_temperature: int = 14,
        resolution_humidity: int = 14,
        heater: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(address, int) or address not in ADDRESSES:
            raise DriverConfigError(f"HDC1080 address {address!r} is not possible: the HDC1080 is fixed at 0x40")
        if resolution_temperature not in TEMPERATURE_RESOLUTIONS or isinstance(resolution_temperature, bool):
            raise DriverConfigError(
                f"HDC1080 resolution_temperature {resolution_temperature!r} is not 14 or 11 (bits)"
            )
        if resolution_humidity not in HUMIDITY_RESOLUTIONS or isinstance(resolution_humidity, bool):
            raise DriverConfigError(f"HDC1080 resolution_humidity {resolution_humidity!r} is not 14, 11 or 8 (bits)")
        if not isinstance(heater, bool):
            raise DriverConfigError(f"HDC1080 heater {heater!r} is not true or false")
        self._bus = bus
        self.address = address
        self.resolution_temperature = resolution_temperature
        self.resolution_humidity = resolution_humidity
        self.heater = heater
        self._sleep = sleep
        self._link = Link(bus, address, "HDC1080")
        self._checked = False
        self._reset_next = False

    def _not_found(self) -> SensorNotFound:
        label = bus_label(self._bus)
        return SensorNotFound(
            f"no HDC1080 answered at 0x{self.address:02X} on I2C bus {label}: check the wiring of SDA, "
            f"SCL, VCC (3.3 V) and GND, the pull-ups, and what `i2cdetect -y {label}` shows"
        )

    def _check_identity(self) -> None:
        probe = probe_0x40(self._bus, self.address, sleep=self._sleep, part="HDC1080")
        if not probe.answered:
            raise self._not_found()
        if probe.all_ff:
            raise SensorNotFound(all_ff_advice("HDC1080", self.address, self._bus))
        if probe.family == "htu21d":
            raise WrongChip(
                f"{'an' if probe.part == 'HTU21D' else 'a'} {probe.part} (HTU21D family: it answers the "
                'user-register command 0xE7) answers at 0x40, not an HDC1080: set driver = "htu21d"',
                found=probe.part,
            )
        if probe.family != "hdc1080":
            if probe.part == "HDC1000":
                what = "an HDC1000/HDC1008/HDC1010 (device ID 0x1000)"
            elif probe.device_id is not None:
                what = f"a chip with device ID 0x{probe.device_id:04X} (an HDC1080 has 0x1050, maker 0x5449)"
            else:
                what = "a chip that is neither an HDC1080 nor an HTU21D-family part"
            raise WrongChip(f"{what} answers at 0x40, not an HDC1080", found=probe.part)
        if self._reset_next:
            self.soft_reset()
        self._write_config()
        self._checked, self._reset_next = True, False

    def _write_config(self) -> None:
        word = config_word(self.resolution_temperature, self.resolution_humidity, self.heater)
        if not self._link.write(bytes([_REG_CONFIG]) + word.to_bytes(2, "big")):
            raise self._not_found()

    def soft_reset(self) -> None:
        """RST bit (§8.6.3): back to the power-on configuration; the driver waits 15 ms."""
        if not self._link.write(bytes([_REG_CONFIG]) + _CONFIG_RST.to_bytes(2, "big")):
            raise self._not_found()
        self._sleep(_STARTUP_S)
        self._checked = False

    def serial_id(self) -> int:
        """The 41-bit serial ID from 0xFB..0xFD (§8.6.4), after an identity check."""
        if not self._checked:
            self._check_identity()
        words = []
        for pointer in _REG_SERIAL:
            data = self._link.write_read(bytes([pointer]), 2)
            if data is None:
                raise self._not_found()
            words.append(int.from_bytes(data, "big"))
        return (words[0] << 25) | (words[1] << 9) | (words[2] >> 7)

    def _measure(self) -> tuple[int, int]:
        if not self._link.write(bytes([_REG_TEMPERATURE])):
            raise self._not_found()
        wait_s = conversion_time_s(self.resolution_temperature, self.resolution_humidity)
        self._sleep(wait_s)
        data = self._link.read(4)
        if data is None:
            self._sleep(_RETRY_WAIT_S)
            data = self._link.read(4)
        if data is None:
            raise NotReady(
                f"HDC1080 at 0x{self.address:02X} was triggered but still NACKed its result "
                f"{1000 * (wait_s + _RETRY_WAIT_S):.1f} ms later; the driver resets it before the next reading"
            )
        t_raw, rh_raw = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
        for name, raw in (("temperature", t_raw), ("humidity", rh_raw)):
            if raw & _RESERVED_LSBS:
                raise ChecksumError(
                    f"HDC1080 {name} register 0x{raw:04X} has bits 1:0 set, which the chip always sends "
                    "as 0: the data is corrupt; check the I2C wiring for noise (long wires, missing pull-ups)"
                )
        return t_raw, rh_raw

    def read(self) -> dict[str, float]:
        """One acquisition of temperature then humidity: °C and %RH, 2 decimals."""
        try:
            if not self._checked:
                self._check_identity()
            t_raw, rh_raw = self._measure()
        except DriverError as exc:
            self._checked = False
            self._reset_next = isinstance(exc, NotReady)
            raise
        return {"temperature": round(raw_to_celsius(t_raw), 2), "humidity": round(raw_to_humidity(rh_raw), 2)}

    def __repr__(self) -> str:
        return (
            f"HDC1080(address=0x{self.address:02X}, resolution_temperature={self.resolution_temperature}, "
            f"resolution_humidity={self.resolution_humidity}, heater={self.heater})"
        )


__all__ = [
    "ADDRESSES",
    "HUMIDITY_RESOLUTIONS",
    "QUANTITIES",
    "TEMPERATURE_RESOLUTIONS",
    "HDC1080",
    "config_word",
    "conversion_time_s",
    "identify",
    "raw_to_celsius",
    "raw_to_humidity",
]
