"""BME280 driver against its register-level twin, on a shared fake clock.

Datasheet BST-BME280-DS002-15 rev 1.6; formulas are checked against worked
examples in test_bosch_compensation.py.
"""
from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import BusError, DriverConfigError, ImplausibleReading, NotReady, SensorNotFound, WrongChip
from drivers.bme280 import ADDRESSES, BME280, QUANTITIES, conversion_time_s, identify
from drivers.emulated import EmulatedBME280, EmulatedBMP280, EmulatedSMBus
from drivers.emulated._bosch import humidity_double, temperature_double
from sensorkit.catalog import DRIVERS
from sensorkit.clock import FakeClock
from tests.drivers.bosch_support import OTHER_PART, Spy, raw_counts, registers, tolerances


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedBME280:
    chip = EmulatedBME280(clock=fake_clock.monotonic)
    emulated_bus.attach(0x76, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBME280) -> BME280:
    return BME280(emulated_bus, sleep=fake_clock.sleep)


def _assert_within(reading: dict[str, float], bus: EmulatedSMBus, twin: EmulatedBME280) -> None:
    limits = tolerances(bus, 0x76)
    assert reading["temperature"] == pytest.approx(twin.temperature, abs=limits["temperature"])
    assert reading["pressure"] == pytest.approx(twin.pressure, abs=limits["pressure"])
    assert reading["humidity"] == pytest.approx(min(100.0, max(0.0, twin.humidity)), abs=limits["humidity"])


# -- accuracy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "rh", "hpa"),
    [
        (22.0, 45.0, 1013.25),
        (-40.0, 0.0, 300.0),  # range ends
        (85.0, 100.0, 1100.0),
        (-40.0, 100.0, 1100.0),
        (85.0, 0.0, 300.0),
        (-12.34, 3.2, 950.0),  # below 0 °C
        (0.0, 50.0, 1000.0),
        (25.08, 47.5, 1006.53),
    ],
)
def test_bme280_read_round_trips_twin_values(
    sensor: BME280, twin: EmulatedBME280, emulated_bus: EmulatedSMBus, celsius: float, rh: float, hpa: float
) -> None:
    twin.temperature, twin.humidity, twin.pressure = celsius, rh, hpa
    reading = sensor.read()
    assert set(reading) == set(QUANTITIES)
    _assert_within(reading, emulated_bus, twin)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(min_value=-40.0, max_value=85.0),
    st.floats(min_value=0.0, max_value=100.0),
    st.floats(min_value=300.0, max_value=1100.0),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([1, 2, 4, 8, 16]),
)
def test_bme280_read_within_quantisation_anywhere(
    celsius: float, rh: float, hpa: float, osrs_t: int, osrs_p: int, osrs_h: int
) -> None:
    clock, bus = FakeClock(), EmulatedSMBus(1)
    twin = EmulatedBME280(clock=clock.monotonic, temperature=celsius, humidity=rh, pressure=hpa)
    bus.attach(0x76, twin)
    options = dict(oversampling_temperature=osrs_t, oversampling_pressure=osrs_p, oversampling_humidity=osrs_h)
    _assert_within(BME280(bus, sleep=clock.sleep, **options).read(), bus, twin)


@pytest.mark.parametrize(("celsius", "rh", "hpa"), [(-40.0, 0.0, 300.0), (85.0, 100.0, 1100.0), (-3.0, 70.0, 800.0)])
def test_bme280_read_round_trips_with_another_part(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, celsius: float, rh: float, hpa: float
) -> None:
    twin = EmulatedBME280(clock=fake_clock.monotonic, temperature=celsius, humidity=rh, pressure=hpa,
                          calibration=OTHER_PART)
    emulated_bus.attach(0x76, twin)
    reading = BME280(emulated_bus, sleep=fake_clock.sleep).read()
    limits = tolerances(emulated_bus, 0x76, calibration=OTHER_PART)
    for quantity in QUANTITIES:
        assert reading[quantity] == pytest.approx(getattr(twin, quantity), abs=limits[quantity])


def test_bme280_humidity_beyond_the_ends_is_clipped_as_the_datasheet_formula_does(
    sensor: BME280, twin: EmulatedBME280
) -> None:
    twin.humidity = 104.0
    assert sensor.read()["humidity"] == 100.0
    twin.humidity = -3.0
    assert sensor.read()["humidity"] == 0.0


def test_bme280_resolution_grows_with_oversampling(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x76, EmulatedBME280(clock=fake_clock.monotonic, temperature=21.2345, pressure=987.654))
    coarse = tolerances
    BME280(emulated_bus, sleep=fake_clock.sleep).read()
    at_x1 = coarse(emulated_bus, 0x76)
    assert raw_counts(emulated_bus, 0x76)["pressure"] % 16 == 0  # 16 bit: xlsb[7:4] = 0
    options = dict(oversampling_temperature=16, oversampling_pressure=16)
    BME280(emulated_bus, sleep=fake_clock.sleep, **options).read()
    at_x16 = coarse(emulated_bus, 0x76)
    assert at_x16["pressure"] < at_x1["pressure"] and at_x16["temperature"] < at_x1["temperature"]


# -- the transactions of one reading ---------------------------------------------


def test_bme280_first_read_sets_up_then_two_transactions_per_reading(
    sensor: BME280, twin: EmulatedBME280, emulated_bus: EmulatedSMBus
) -> None:
    spy = Spy(twin)
    sensor.read()
    # id, reset, status, calibration 0x88 and 0xE1, settings + trigger, data burst.
    assert emulated_bus.transactions == 7
    assert spy.pointers() == [0xD0, 0xF3, 0x88, 0xE1, 0xF7]
    assert spy.register_writes() == [(0xE0, 0xB6), (0xF2, 0x01), (0xF5, 0x00), (0xF4, 0b001_001_01)]
    spy.writes.clear()
    emulated_bus.reset_counters()
    for _ in range(3):
        sensor.read()
    assert emulated_bus.transactions == 6
    # ctrl_meas (2 bytes) and the pointer (1) written, 8 data bytes read, per reading.
    assert (emulated_bus.bytes_written, emulated_bus.bytes_read) == (9, 24)
    assert spy.register_writes() == [(0xF4, 0b001_001_01)] * 3  # no ctrl_hum, no config again
    assert spy.pointers() == [0xF7] * 3  # calibration cached


@pytest.mark.parametrize(
    ("options", "pointer", "length", "keys"),
    [
        ({"oversampling_humidity": 0}, 0xF7, 6, {"temperature", "pressure"}),
        ({"oversampling_pressure": 0}, 0xFA, 5, {"temperature", "humidity"}),
        ({"oversampling_pressure": 0, "oversampling_humidity": 0}, 0xFA, 3, {"temperature"}),
    ],
)
def test_bme280_skipped_channels_are_left_out_and_not_read(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBME280,
    options: dict[str, int], pointer: int, length: int, keys: set[str],
) -> None:
    sensor = BME280(emulated_bus, sleep=fake_clock.sleep, **options)
    spy = Spy(twin)
    assert set(sensor.read()) == keys
    emulated_bus.reset_counters()
    assert set(sensor.read()) == keys
    assert spy.pointers()[-1] == pointer
    assert emulated_bus.bytes_read == length


@pytest.mark.parametrize(
    ("options", "ctrl_hum", "ctrl_meas", "config"),
    [
        ({}, 0x01, 0b001_001_01, 0x00),
        ({"oversampling_temperature": 2, "oversampling_pressure": 16, "oversampling_humidity": 4}, 0x03,
         0b010_101_01, 0x00),
        ({"oversampling_pressure": 0, "oversampling_humidity": 8, "iir_filter": 16}, 0x04, 0b001_000_01, 0x10),
        ({"iir_filter": 2}, 0x01, 0b001_001_01, 0x04),
    ],
)
def test_bme280_options_set_the_registers_and_the_wait(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBME280,
    options: dict[str, int], ctrl_hum: int, ctrl_meas: int, config: int,
) -> None:
    spy = Spy(twin)
    BME280(emulated_bus, sleep=fake_clock.sleep, **options).read()
    assert spy.register_writes()[1:] == [(0xF2, ctrl_hum), (0xF5, config), (0xF4, ctrl_meas)]
    # The start-up after the reset, then exactly the datasheet maximum: no status poll.
    assert fake_clock.sleeps == [0.002, pytest.approx(conversion_time_s(**options))]


def test_bme280_read_uses_one_conversion_for_all_values(
    sensor: BME280, twin: EmulatedBME280, fake_clock: FakeClock, emulated_bus: EmulatedSMBus
) -> None:
    real_sleep = sensor._sleep

    def world_moves(seconds: float) -> None:
        twin.temperature, twin.humidity, twin.pressure = 35.0, 80.0, 900.0
        real_sleep(seconds)

    twin.temperature, twin.humidity, twin.pressure = 20.0, 40.0, 1000.0
    sensor.read()  # set up
    sensor._sleep = world_moves
    twin.temperature, twin.humidity, twin.pressure = 20.0, 40.0, 1000.0
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(20.0, abs=0.01)
    assert reading["humidity"] == pytest.approx(40.0, abs=0.01)
    assert reading["pressure"] == pytest.approx(1000.0, abs=0.02)


# -- a read too early, lost settings ---------------------------------------------


def test_bme280_read_too_early_is_not_ready(emulated_bus: EmulatedSMBus, twin: EmulatedBME280,
                                            fake_clock: FakeClock) -> None:
    spy = Spy(twin)

    def only_the_start_up_passes(seconds: float) -> None:
        fake_clock.sleep(seconds if seconds == 0.002 else 0.0)

    with pytest.raises(NotReady, match="reset values"):
        BME280(emulated_bus, sleep=only_the_start_up_passes).read()
    assert spy.pointers()[-3:] == [0xF7, 0xF3, 0xF7]  # data, status (measuring), data again


def test_bme280_a_slow_conversion_gets_one_more_wait(emulated_bus: EmulatedSMBus, twin: EmulatedBME280,
                                                     fake_clock: FakeClock) -> None:
    def measurement_wait_cut_short(seconds: float) -> None:
        fake_clock.sleep(seconds if seconds != conversion_time_s() else seconds - 0.003)

    twin.temperature = 12.5
    reading = BME280(emulated_bus, sleep=measurement_wait_cut_short).read()
    assert reading["temperature"] == pytest.approx(12.5, abs=0.01)


def test_bme280_power_glitch_losing_ctrl_hum_is_caught_and_recovered(
    sensor: BME280, twin: EmulatedBME280, emulated_bus: EmulatedSMBus
) -> None:
    sensor.read()
    emulated_bus.write_byte_data(0x76, 0xE0, 0xB6)  # the chip resets behind the driver's back
    with pytest.raises(NotReady, match="lost its settings"):
        sensor.read()  # humidity came back skipped (0x8000) and ctrl_hum reads 0
    twin.humidity = 61.0
    assert sensor.read()["humidity"] == pytest.approx(61.0, abs=0.01)


def test_bme280_a_real_0x8000_humidity_is_reported(sensor: BME280, twin: EmulatedBME280,
                                                   emulated_bus: EmulatedSMBus) -> None:
    sensor.read()
    adc_t = raw_counts(emulated_bus, 0x76)["temperature"]
    t_fine, _ = temperature_double(adc_t, twin.calibration)
    twin.humidity = humidity_double(0x8000, t_fine, twin.calibration)
    emulated_bus.reset_counters()
    reading = sensor.read()
    assert raw_counts(emulated_bus, 0x76)["humidity"] == 0x8000
    assert reading["humidity"] == pytest.approx(twin.humidity, abs=0.01)
    assert emulated_bus.transactions == 4  # trigger, burst, ctrl_hum check (+ our raw_counts)


# -- identity, addresses, faults ---------------------------------------------------


def test_bme280_wrong_chip_bmp280_is_named(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x76, EmulatedBMP280(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip) as excinfo:
        BME280(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "BMP280"
    assert 'a BMP280 (chip id 0x58) answers at 0x76 on I2C bus 1, not a BME280: set driver = "bmp280"' in str(
        excinfo.value
    )
    assert isinstance(excinfo.value, SensorNotFound)


@pytest.mark.parametrize("chip_id", [0x56, 0x57])
def test_bme280_wrong_chip_bmp280_samples(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, chip_id: int) -> None:
    emulated_bus.attach(0x76, EmulatedBMP280(clock=fake_clock.monotonic, chip_id=chip_id))
    with pytest.raises(WrongChip, match=f"0x{chip_id:02X}") as excinfo:
        BME280(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "BMP280"


def test_bme280_wrong_chip_writes_nothing_to_it(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    other = EmulatedBMP280(clock=fake_clock.monotonic)
    emulated_bus.attach(0x76, other)
    spy = Spy(other)
    with pytest.raises(WrongChip):
        BME280(emulated_bus, sleep=fake_clock.sleep).read()
    assert spy.writes == [b"\xd0"]  # the id pointer only: no reset of someone else's chip


def test_bme280_all_ff_is_reported_as_an_undriven_line(sensor: BME280, twin: EmulatedBME280) -> None:
    twin.fault = "all-ff"
    with pytest.raises(WrongChip, match="0xFF.*SDA is not driven") as excinfo:
        sensor.read()  # at the identity check
    assert excinfo.value.found is None


def test_bme280_all_ff_data_is_a_bus_error_not_a_reading(sensor: BME280, twin: EmulatedBME280) -> None:
    sensor.read()
    twin.fault = "all-ff"
    with pytest.raises(BusError, match="ff ff ff ff ff ff ff ff.*always sends as 0"):
        sensor.read()  # 0xFFFFF would compensate to 187.55 °C
    with pytest.raises(WrongChip, match="0xFF"):
        sensor.read()  # the failure made this read check the chip id again


def test_bme280_other_address_hint(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x77, EmulatedBME280(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound) as excinfo:
        BME280(emulated_bus, 0x76, sleep=fake_clock.sleep).read()
    assert str(excinfo.value) == "nothing at 0x76 on I2C bus 1; a BME280 answers at 0x77: set address = 0x77"
    assert not isinstance(excinfo.value, WrongChip)


def test_bme280_other_address_hint_names_a_bmp280(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x76, EmulatedBMP280(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound, match='a BMP280 answers at 0x76: set driver = "bmp280" and address = 0x76'):
        BME280(emulated_bus, 0x77, sleep=fake_clock.sleep).read()


def test_bme280_nothing_anywhere_gives_wiring_advice(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    with pytest.raises(SensorNotFound) as excinfo:
        BME280(emulated_bus, sleep=fake_clock.sleep).read()
    for hint in ("SDA", "SCL", "VCC", "GND", "CSB", "SDO", "0x76", "0x77", "Adafruit", "i2cdetect -y 1"):
        assert hint in str(excinfo.value)
    assert excinfo.value.__cause__.errno == errno.EREMOTEIO


@pytest.mark.parametrize(("fault", "error"), [("absent", SensorNotFound), ("all-ff", BusError),
                                              ("stops-answering", SensorNotFound)])
def test_bme280_chip_faults_surface_and_recover(
    sensor: BME280, twin: EmulatedBME280, emulated_bus: EmulatedSMBus, fault: str, error: type
) -> None:
    sensor.read()
    twin.fault = fault
    with pytest.raises(error):
        for _ in range(3):  # "stops-answering" still answers a few transfers
            sensor.read()
    twin.fault = None
    spy = Spy(twin)
    twin.temperature = 31.0
    # The read that failed makes this one check the identity and reset again.
    assert sensor.read()["temperature"] == pytest.approx(31.0, abs=0.01)
    assert spy.pointers()[0] == 0xD0 and (0xE0, 0xB6) in spy.register_writes()  # identity check, reset


def test_bme280_stuck_bus_is_bus_error_and_recovers(sensor: BME280, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        sensor.read()
    assert isinstance(excinfo.value, OSError) and excinfo.value.errno == errno.ETIMEDOUT
    emulated_bus.stuck = False
    assert set(sensor.read()) == set(QUANTITIES)


class _FailingBus:
    bus_number = 3

    def __init__(self, err: int) -> None:
        self.err = err

    def i2c_rdwr(self, *msgs: object) -> None:
        raise OSError(self.err, "boom")


@pytest.mark.parametrize(("err", "expected"), [(errno.ENXIO, SensorNotFound), (errno.EREMOTEIO, SensorNotFound),
                                               (errno.EIO, BusError), (errno.ETIMEDOUT, BusError)])
def test_bme280_maps_errno(err: int, expected: type) -> None:
    with pytest.raises(expected) as excinfo:
        BME280(_FailingBus(err), sleep=lambda s: None).read()
    assert excinfo.value.__cause__.errno == err


def test_bme280_implausible_temperature_is_refused_then_recovers(sensor: BME280, twin: EmulatedBME280) -> None:
    twin.temperature = 150.0  # the ADC can express it; the chip cannot measure it
    with pytest.raises(ImplausibleReading, match=r"temperature 150 °C.*-40\.\.85 °C"):
        sensor.read()
    twin.temperature = 20.0
    assert sensor.read()["temperature"] == pytest.approx(20.0, abs=0.01)


def test_bme280_implausible_pressure_is_refused(sensor: BME280, twin: EmulatedBME280) -> None:
    twin.pressure = 150.0
    with pytest.raises(ImplausibleReading, match=r"pressure 1[45]\d\.\d+ hPa.*300\.\.1100 hPa"):
        sensor.read()


def test_bme280_zeroed_calibration_is_not_ready(sensor: BME280, twin: EmulatedBME280, fake_clock: FakeClock) -> None:
    twin._tp_image = bytes(26)  # an NVM that never loads
    with pytest.raises(NotReady, match="dig_P1 = 0"):
        sensor.read()


def test_bme280_stuck_im_update_is_not_ready(emulated_bus: EmulatedSMBus, twin: EmulatedBME280) -> None:
    waits: list[float] = []
    with pytest.raises(NotReady, match="im_update"):
        BME280(emulated_bus, sleep=waits.append).read()  # time never passes: the copy never ends
    assert waits == [0.002, 0.001, 0.001, 0.001, 0.001]


# -- filter ----------------------------------------------------------------------


def test_bme280_iir_filter_settles_over_readings_as_table_6_says(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedBME280
) -> None:
    sensor = BME280(emulated_bus, sleep=fake_clock.sleep, iir_filter=16, oversampling_pressure=16)
    twin.pressure = 1000.0
    assert sensor.read()["pressure"] == pytest.approx(1000.0, abs=0.002)  # the first passes unfiltered
    twin.pressure = 1010.0
    fractions = [(sensor.read()["pressure"] - 1000.0) / 10.0 for _ in range(22)]
    assert fractions[0] == pytest.approx(1 / 16, abs=0.001)  # (15 * old + new) / 16
    assert fractions[20] < 0.75 <= fractions[21]  # Table 6: 22 samples to reach 75 % at coefficient 16


# -- identify, options, life cycle ------------------------------------------------


def test_bme280_identify_is_read_only(emulated_bus: EmulatedSMBus, twin: EmulatedBME280) -> None:
    before = registers(emulated_bus, 0x76, 0xF2, 13)
    spy = Spy(twin)
    emulated_bus.reset_counters()
    assert identify(emulated_bus, 0x76) == "BME280"
    assert (emulated_bus.transactions, emulated_bus.bytes_written, emulated_bus.bytes_read) == (1, 1, 1)
    assert spy.writes == [b"\xd0"]
    assert registers(emulated_bus, 0x76, 0xF2, 13) == before


def test_bme280_identify_others(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x77, EmulatedBMP280(clock=fake_clock.monotonic))
    assert identify(emulated_bus, 0x77) is None
    assert identify(emulated_bus, 0x76) is None  # nothing there


def test_bme280_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    BME280(emulated_bus)
    assert emulated_bus.transactions == 0


@pytest.mark.parametrize("address", [0x44, 0x78, 118.0, True])
def test_bme280_wrong_address_is_config_error(emulated_bus: EmulatedSMBus, address: object) -> None:
    with pytest.raises(DriverConfigError, match="0x76.*SDO.*GND.*0x77.*Adafruit"):
        BME280(emulated_bus, address)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"oversampling_temperature": 0}, "cannot be 0: the temperature is needed"),
        ({"oversampling_pressure": 3}, "oversampling_pressure 3 is not one of 0, 1, 2, 4, 8, 16"),
        ({"oversampling_humidity": True}, "oversampling_humidity True"),
        ({"oversampling_temperature": "1"}, "oversampling_temperature '1'"),
        ({"iir_filter": 1}, "iir_filter 1 is not one of 0, 2, 4, 8, 16"),
    ],
)
def test_bme280_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, options: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        BME280(emulated_bus, **options)


def test_bme280_context_manager_and_repr(sensor: BME280, emulated_bus: EmulatedSMBus) -> None:
    with sensor as same:
        assert same is sensor
    assert not emulated_bus.closed
    assert repr(sensor) == ("BME280(address=0x76, oversampling_temperature=1, oversampling_pressure=1, "
                            "oversampling_humidity=1, iir_filter=0)")


def test_bme280_soft_reset_makes_the_next_read_set_up_again(sensor: BME280, twin: EmulatedBME280) -> None:
    sensor.read()
    sensor.soft_reset()
    spy = Spy(twin)
    sensor.read()
    assert spy.pointers()[:3] == [0xD0, 0xF3, 0x88]


def test_bme280_catalog_entry(twin: EmulatedBME280) -> None:
    spec = DRIVERS["bme280"]
    assert spec.load_class() is BME280 and spec.addresses == ADDRESSES == (0x76, 0x77)
    assert "Adafruit" in spec.address_help and "0x77" in spec.address_help
    assert [o.name for o in spec.options] == ["oversampling_temperature", "oversampling_pressure",
                                              "oversampling_humidity", "iir_filter"]
    assert spec.min_interval({"oversampling_temperature": 16, "oversampling_pressure": 16,
                              "oversampling_humidity": 16}) == pytest.approx(0.1128)
    assert "crc" not in spec.simulated_faults
    from sensorkit.catalog import load

    assert load(spec.twin) is EmulatedBME280 and load(spec.sibling) is EmulatedBMP280
