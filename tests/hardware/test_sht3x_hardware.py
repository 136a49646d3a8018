"""SHT3x on a real I2C bus. Runs only with --hardware (see tests/conftest.py).

SENSORKIT_I2C_BUS (default 1) and SENSORKIT_SHT3X_ADDRESS (default 0x44)
say where the sensor is.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.sht3x import SHT3x

pytestmark = pytest.mark.hardware


@pytest.fixture
def bus() -> Iterator[Any]:
    from smbus2 import SMBus

    with SMBus(int(os.environ.get("SENSORKIT_I2C_BUS", "1"))) as smbus:
        yield smbus


@pytest.fixture
def sensor(bus: Any) -> SHT3x:
    return SHT3x(bus, int(os.environ.get("SENSORKIT_SHT3X_ADDRESS", "0x44"), 0))


def test_sht3x_hardware_read_is_plausible(sensor: SHT3x) -> None:
    reading = sensor.read()
    assert -40.0 <= reading["temperature"] <= 125.0
    assert 0.0 <= reading["humidity"] <= 100.0


@pytest.mark.parametrize("repeatability", ["high", "medium", "low"])
def test_sht3x_hardware_every_repeatability(bus: Any, repeatability: str) -> None:
    address = int(os.environ.get("SENSORKIT_SHT3X_ADDRESS", "0x44"), 0)
    assert SHT3x(bus, address, repeatability=repeatability).read()


def test_sht3x_hardware_serial_number_is_stable(sensor: SHT3x) -> None:
    assert sensor.serial_number() == sensor.serial_number()


def test_sht3x_hardware_heater_and_status(sensor: SHT3x) -> None:
    sensor.clear_status()
    sensor.heater(True)
    try:
        assert sensor.status() & (1 << 13)
    finally:
        sensor.heater(False)
    assert not sensor.status() & (1 << 13)


def test_sht3x_hardware_soft_reset_sets_reset_flag(sensor: SHT3x) -> None:
    sensor.clear_status()
    sensor.soft_reset()
    assert sensor.status() & (1 << 4)
    assert sensor.read()
