"""Adafruit's CircuitPython BME280 and BMP280 drivers against our twins.

They talk differently from ours: separate write and read transactions (a stop
between pointer and data), one register write per transaction, ctrl_hum and
ctrl_meas written separately, the status polled for the measuring bit after
each forced-mode trigger, and a 24-byte calibration read. If a well-written
third-party driver reads the right values, the twins leave no room the
datasheet does not. The libraries are optional test dependencies
(adafruit-circuitpython-bme280, adafruit-circuitpython-bmp280).
"""
from __future__ import annotations

from typing import Any

import pytest

from drivers.emulated import EmulatedBME280, EmulatedBMP280, EmulatedSMBus
from sensorkit.clock import FakeClock

adafruit_bme280 = pytest.importorskip("adafruit_bme280.basic")
adafruit_bmp280 = pytest.importorskip("adafruit_bmp280")


class BusioI2C:
    """The few `busio.I2C` calls adafruit_bus_device makes, over an emulated SMBus."""

    def __init__(self, bus: EmulatedSMBus) -> None:
        self.bus = bus

    def try_lock(self) -> bool:
        return True

    def unlock(self) -> None:
        pass

    def writeto(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        from smbus2 import i2c_msg

        self.bus.i2c_rdwr(i2c_msg.write(address, bytes(buffer[start:end])))

    def readfrom_into(self, address: int, buffer: Any, *, start: int = 0, end: int | None = None) -> None:
        from smbus2 import i2c_msg

        end = len(buffer) if end is None else end
        msg = i2c_msg.read(address, end - start)
        self.bus.i2c_rdwr(msg)
        buffer[start:end] = bytes(msg)


@pytest.fixture
def i2c(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> BusioI2C:
    # Adafruit's drivers sleep with time.sleep; let them sleep on the twins' clock instead.
    monkeypatch.setattr(adafruit_bme280, "sleep", fake_clock.sleep)
    monkeypatch.setattr(adafruit_bmp280, "sleep", fake_clock.sleep)
    return BusioI2C(emulated_bus)


@pytest.mark.parametrize(("celsius", "rh", "hpa"), [(22.0, 45.0, 1013.25), (-30.0, 90.0, 400.0), (60.0, 5.0, 1090.0)])
def test_adafruit_bme280_reads_the_twin(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, i2c: BusioI2C, celsius: float, rh: float, hpa: float
) -> None:
    twin = EmulatedBME280(clock=fake_clock.monotonic, temperature=celsius, humidity=rh, pressure=hpa)
    emulated_bus.attach(0x77, twin)  # Adafruit's default address
    sensor = adafruit_bme280.Adafruit_BME280_I2C(i2c)
    # Adafruit keeps t_fine as int(var1 + var2) and T = t_fine / 5120: quantised to 1/5120 °C.
    assert sensor.temperature == pytest.approx(celsius, abs=0.01)
    assert sensor.relative_humidity == pytest.approx(rh, abs=0.02)
    assert sensor.pressure == pytest.approx(hpa, abs=0.01)  # Adafruit's default: pressure x16


def test_adafruit_bme280_waits_on_the_measuring_bit(emulated_bus: EmulatedSMBus, fake_clock: FakeClock,
                                                    i2c: BusioI2C) -> None:
    emulated_bus.attach(0x77, EmulatedBME280(clock=fake_clock.monotonic))
    sensor = adafruit_bme280.Adafruit_BME280_I2C(i2c)
    fake_clock.sleeps.clear()
    assert sensor.temperature == pytest.approx(22.0, abs=0.01)
    # x1 T, x16 P, x1 H: 43.8 ms at most (§9.1), so 22 status polls 2 ms apart.
    assert len(fake_clock.sleeps) == 22 and set(fake_clock.sleeps) == {0.002}


def test_adafruit_bme280_refuses_a_bmp280(emulated_bus: EmulatedSMBus, fake_clock: FakeClock,
                                          i2c: BusioI2C) -> None:
    emulated_bus.attach(0x77, EmulatedBMP280(clock=fake_clock.monotonic))
    with pytest.raises(RuntimeError, match="0x58"):
        adafruit_bme280.Adafruit_BME280_I2C(i2c)


@pytest.mark.parametrize(("celsius", "hpa"), [(21.0, 1000.0), (-35.0, 320.0), (80.0, 1095.0)])
def test_adafruit_bmp280_reads_the_twin(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, i2c: BusioI2C, celsius: float, hpa: float
) -> None:
    emulated_bus.attach(0x77, EmulatedBMP280(clock=fake_clock.monotonic, temperature=celsius, pressure=hpa))
    sensor = adafruit_bmp280.Adafruit_BMP280_I2C(i2c)
    sensor.mode = adafruit_bmp280.MODE_FORCE
    assert sensor.temperature == pytest.approx(celsius, abs=0.01)
    assert sensor.pressure == pytest.approx(hpa, abs=0.01)
