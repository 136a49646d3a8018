"""BMP280 driver against its register-level twin, on a shared fake clock.

What the BMP280 shares with the BME280 (the forced-mode reading, recovery,
compensation) is tested in test_bme280.py and test_bosch_compensation.py;
this file covers what differs: no humidity, its chip ids, its transactions.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import BusError, DriverConfigError, ImplausibleReading, SensorNotFound, WrongChip
from drivers.bmp280 import BMP280, CHIP_IDS, QUANTITIES, conversion_time_s, identify
from drivers.emulated import EmulatedBME280, EmulatedBMP280, EmulatedSMBus
from sensorkit.catalog import DRIVERS, load
from sensorkit.clock import FakeClock
from tests.drivers.bosch_support import Spy, tolerances


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedBMP280:
    chip = EmulatedBMP280(clock=fake_clock.monotonic)
    emulated_bus.attach(0x76, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBMP280) -> BMP280:
    return BMP280(emulated_bus, sleep=fake_clock.sleep)


def _assert_within(reading: dict[str, float], bus: EmulatedSMBus, twin: EmulatedBMP280) -> None:
    limits = tolerances(bus, 0x76)
    assert reading["temperature"] == pytest.approx(twin.temperature, abs=limits["temperature"])
    assert reading["pressure"] == pytest.approx(twin.pressure, abs=limits["pressure"])


@pytest.mark.parametrize(
    ("celsius", "hpa"),
    [(22.0, 1013.25), (-40.0, 300.0), (85.0, 1100.0), (-40.0, 1100.0), (85.0, 300.0), (-5.5, 840.0)],
)
def test_bmp280_read_round_trips_twin_values(
    sensor: BMP280, twin: EmulatedBMP280, emulated_bus: EmulatedSMBus, celsius: float, hpa: float
) -> None:
    twin.temperature, twin.pressure = celsius, hpa
    reading = sensor.read()
    assert set(reading) == set(QUANTITIES) == {"temperature", "pressure"}
    _assert_within(reading, emulated_bus, twin)


@settings(max_examples=30, deadline=None)
@given(
    st.floats(min_value=-40.0, max_value=85.0),
    st.floats(min_value=300.0, max_value=1100.0),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([0, 2, 4, 8, 16]),
)
def test_bmp280_read_within_quantisation_anywhere(
    celsius: float, hpa: float, osrs_t: int, osrs_p: int, iir_filter: int
) -> None:
    clock, bus = FakeClock(), EmulatedSMBus(1)
    twin = EmulatedBMP280(clock=clock.monotonic, temperature=celsius, pressure=hpa)
    bus.attach(0x76, twin)
    options = dict(oversampling_temperature=osrs_t, oversampling_pressure=osrs_p, iir_filter=iir_filter)
    _assert_within(BMP280(bus, sleep=clock.sleep, **options).read(), bus, twin)


def test_bmp280_transactions_per_reading(sensor: BMP280, twin: EmulatedBMP280, emulated_bus: EmulatedSMBus) -> None:
    spy = Spy(twin)
    sensor.read()
    # id, reset, status, calibration 0x88 (no humidity block), config + trigger, data burst.
    assert emulated_bus.transactions == 6
    assert spy.register_writes() == [(0xE0, 0xB6), (0xF5, 0x00), (0xF4, 0b001_001_01)]  # no ctrl_hum
    emulated_bus.reset_counters()
    sensor.read()
    assert (emulated_bus.transactions, emulated_bus.bytes_written, emulated_bus.bytes_read) == (2, 3, 6)


def test_bmp280_temperature_only(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBMP280) -> None:
    sensor = BMP280(emulated_bus, sleep=fake_clock.sleep, oversampling_pressure=0)
    twin.temperature = 25.6  # near adc_T 0x80000 for this calibration: still a real reading
    assert sensor.read() == {"temperature": pytest.approx(25.6, abs=0.01)}
    emulated_bus.reset_counters()
    sensor.read()
    assert emulated_bus.bytes_read == 3


def test_bmp280_wait_is_its_conversion_time(emulated_bus: EmulatedSMBus, fake_clock: FakeClock,
                                            twin: EmulatedBMP280) -> None:
    BMP280(emulated_bus, sleep=fake_clock.sleep, oversampling_temperature=2, oversampling_pressure=16).read()
    assert fake_clock.sleeps == [0.002, pytest.approx(0.043225)]
    assert conversion_time_s(oversampling_temperature=2, oversampling_pressure=16) == pytest.approx(0.043225)


@pytest.mark.parametrize("chip_id", CHIP_IDS)
def test_bmp280_accepts_its_samples(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, chip_id: int) -> None:
    emulated_bus.attach(0x77, EmulatedBMP280(clock=fake_clock.monotonic, chip_id=chip_id, pressure=990.0))
    assert BMP280(emulated_bus, 0x77, sleep=fake_clock.sleep).read()["pressure"] == pytest.approx(990.0, abs=0.03)
    assert identify(emulated_bus, 0x77) == "BMP280"


def test_bmp280_wrong_chip_bme280_is_named(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x76, EmulatedBME280(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip) as excinfo:
        BMP280(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "BME280"
    assert str(excinfo.value) == ('a BME280 (chip id 0x60) answers at 0x76 on I2C bus 1, not a BMP280: '
                                  'set driver = "bme280" (it also measures humidity)')


@pytest.mark.parametrize(("chip_id", "found"), [(0x61, "BME680"), (0x55, "BMP180"), (0x42, None)])
def test_bmp280_other_chip_ids(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBMP280,
                               chip_id: int, found: str | None) -> None:
    twin.chip_id = chip_id
    with pytest.raises(WrongChip, match=f"0x{chip_id:02X}") as excinfo:
        BMP280(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == found


def test_bmp280_other_address_hint(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x77, EmulatedBMP280(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound, match="^nothing at 0x76 on I2C bus 1; a BMP280 answers at 0x77: "
                                             "set address = 0x77$"):
        BMP280(emulated_bus, sleep=fake_clock.sleep).read()


@pytest.mark.parametrize(("fault", "error"), [("absent", SensorNotFound), ("all-ff", BusError),
                                              ("stops-answering", SensorNotFound)])
def test_bmp280_chip_faults_surface_and_recover(sensor: BMP280, twin: EmulatedBMP280, fault: str,
                                                error: type) -> None:
    sensor.read()
    twin.fault = fault
    with pytest.raises(error):
        for _ in range(3):
            sensor.read()
    twin.fault = None
    twin.pressure = 1020.0
    assert sensor.read()["pressure"] == pytest.approx(1020.0, abs=0.03)


def test_bmp280_stuck_bus(sensor: BMP280, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError):
        sensor.read()
    emulated_bus.stuck = False
    assert set(sensor.read()) == {"temperature", "pressure"}


def test_bmp280_implausible_temperature(sensor: BMP280, twin: EmulatedBMP280) -> None:
    twin.temperature = -60.0
    with pytest.raises(ImplausibleReading, match="temperature -60"):
        sensor.read()


def test_bmp280_has_no_humidity_option(emulated_bus: EmulatedSMBus) -> None:
    with pytest.raises(TypeError):
        BMP280(emulated_bus, oversampling_humidity=1)  # type: ignore[call-arg]
    with pytest.raises(DriverConfigError, match="oversampling_temperature cannot be 0"):
        BMP280(emulated_bus, oversampling_temperature=0)
    assert repr(BMP280(emulated_bus, 0x77)) == ("BMP280(address=0x77, oversampling_temperature=1, "
                                                "oversampling_pressure=1, iir_filter=0)")


def test_bmp280_catalog_entry() -> None:
    spec = DRIVERS["bmp280"]
    assert spec.load_class() is BMP280 and spec.quantities == QUANTITIES
    assert "oversampling_humidity" not in [o.name for o in spec.options]
    assert load(spec.twin) is EmulatedBMP280 and load(spec.sibling) is EmulatedBME280
    assert spec.conversion_s({"oversampling_pressure": 16, "oversampling_temperature": 2}) == pytest.approx(0.043225)
    assert spec.world == ("temperature", "pressure")
