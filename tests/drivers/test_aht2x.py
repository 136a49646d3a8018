"""AHT2x driver against its twins (AHT20 family and AHT10), on a shared fake clock."""
from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, ImplausibleReading, NotReady, SensorNotFound, WrongChip
from drivers._crc import crc8
from drivers.aht2x import AHT2x, check_crc, conversion_time_s, identify, raw_to_celsius, raw_to_humidity, unpack
from drivers.emulated import EmulatedAHT2x, EmulatedAHT10, EmulatedSMBus
from drivers.emulated.aht2x import celsius_to_raw, humidity_to_raw, pack
from sensorkit.clock import FakeClock

# One raw step is 200/2^20 °C and 100/2^20 %RH; the driver rounds to 0.01.
T_TOLERANCE = 200 / 2**20 / 2 + 0.005
RH_TOLERANCE = 100 / 2**20 / 2 + 0.005
# A frame read from a real AHT20 (elixir-sensors/aht20 wiki, "raw_data_from_sensor").
REAL_FRAME = bytes([0x1C, 0x26, 0x9A, 0x76, 0x42, 0xE7, 0x76])


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedAHT2x:
    chip = EmulatedAHT2x(clock=fake_clock.monotonic)
    emulated_bus.attach(0x38, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedAHT2x) -> AHT2x:
    return AHT2x(emulated_bus, sleep=fake_clock.sleep)


def _spy_writes(chip: EmulatedAHT2x) -> list[bytes]:
    sent: list[bytes] = []
    original = chip.write

    def spy(data: bytes) -> None:
        sent.append(bytes(data))
        original(data)

    chip.write = spy  # type: ignore[method-assign]
    return sent


# -- formulas ------------------------------------------------------------------


def test_aht2x_real_frame_crc_and_conversion() -> None:
    check_crc(REAL_FRAME)  # CRC-8 0x31/0xFF over six bytes is 0x76, as the sensor sent
    status, s_rh, s_t = unpack(REAL_FRAME)
    assert (status, s_rh, s_t) == (0x1C, 0x269A7, 0x642E7)
    assert raw_to_humidity(s_rh) == pytest.approx(15.0794, abs=1e-4)
    assert raw_to_celsius(s_t) == pytest.approx(28.2667, abs=1e-4)


def test_aht2x_check_crc_rejects_a_flipped_bit() -> None:
    with pytest.raises(ChecksumError, match="expected 0x76, received 0x77") as excinfo:
        check_crc(REAL_FRAME[:6] + b"\x77")
    assert isinstance(excinfo.value, ValueError)
    assert "aht10" not in str(excinfo.value)


def test_aht2x_check_crc_of_idle_line_points_at_aht10() -> None:
    with pytest.raises(ChecksumError, match='variant = "aht10"'):
        check_crc(REAL_FRAME[:6] + b"\xff")


@pytest.mark.parametrize(("raw", "rh"), [(0, 0.0), (2**19, 50.0), (2**20 - 1, 99.9999)])
def test_aht2x_raw_to_humidity(raw: int, rh: float) -> None:
    assert raw_to_humidity(raw) == pytest.approx(rh, abs=1e-4)


@pytest.mark.parametrize(("raw", "celsius"), [(0, -50.0), (2**19, 50.0), (262144, 0.0), (2**20 - 1, 149.9998)])
def test_aht2x_raw_to_celsius(raw: int, celsius: float) -> None:
    assert raw_to_celsius(raw) == pytest.approx(celsius, abs=1e-4)


@given(st.integers(0, 2**20 - 1), st.integers(0, 2**20 - 1))
def test_aht2x_pack_unpack_round_trip(s_rh: int, s_t: int) -> None:
    assert unpack(b"\x18" + pack(s_rh, s_t))[1:] == (s_rh, s_t)
    assert humidity_to_raw(raw_to_humidity(s_rh)) == s_rh
    assert celsius_to_raw(raw_to_celsius(s_t)) == s_t


def test_aht2x_conversion_time_is_80_ms_plus_margin() -> None:
    assert 0.080 < conversion_time_s() <= 0.085
    assert conversion_time_s(variant="aht10", unknown=1) == conversion_time_s()


# -- read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "rh"), [(22.0, 45.0), (-40.0, 0.0), (-12.34, 3.2), (0.0, 50.0), (85.0, 100.0), (60.5, 99.9)]
)
def test_aht2x_read_round_trips_twin_values(sensor: AHT2x, twin: EmulatedAHT2x, celsius: float, rh: float) -> None:
    twin.temperature, twin.humidity = celsius, rh
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(celsius, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(rh, abs=RH_TOLERANCE)


@pytest.mark.parametrize("celsius", [-60.0, 160.0])
def test_aht2x_end_stop_temperature_is_implausible(sensor: AHT2x, twin: EmulatedAHT2x, celsius: float) -> None:
    twin.temperature = celsius
    with pytest.raises(ImplausibleReading, match="end stop"):
        sensor.read()
    twin.temperature = 20.0
    assert sensor.read()["temperature"] == pytest.approx(20.0, abs=T_TOLERANCE)


def test_aht2x_transactions_per_reading(sensor: AHT2x, emulated_bus: EmulatedSMBus) -> None:
    sensor.read()  # the first one also reads the status (identity)
    emulated_bus.reset_counters()
    sensor.read()
    assert emulated_bus.transactions == 2  # trigger, then status + data + CRC in one read
    assert emulated_bus.bytes_written + emulated_bus.bytes_read == 3 + 7


def test_aht2x_first_read_checks_status_then_measures(
    sensor: AHT2x, twin: EmulatedAHT2x, emulated_bus: EmulatedSMBus
) -> None:
    sent = _spy_writes(twin)
    sensor.read()
    assert sent == [b"\xac\x33\x00"]  # calibrated already: no initialisation
    assert emulated_bus.transactions == 3


def test_aht2x_uncalibrated_chip_is_initialised_with_0xbe(sensor: AHT2x, twin: EmulatedAHT2x) -> None:
    twin.calibrated = False
    sent = _spy_writes(twin)
    sensor.read()
    assert sent == [b"\xbe\x08\x00", b"\xac\x33\x00"]
    assert twin.status() == 0x18


def test_aht2x_waits_out_power_on(sensor: AHT2x, twin: EmulatedAHT2x, fake_clock: FakeClock) -> None:
    twin.power_cycle()
    assert sensor.read()["humidity"] == pytest.approx(45.0, abs=RH_TOLERANCE)
    assert fake_clock.sleeps[0] >= 0.040


def test_aht2x_busy_too_long_is_not_ready_then_reset_and_recovered(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    waits: list[float] = []
    sensor = AHT2x(emulated_bus, sleep=waits.append)  # time never passes for the twin
    with pytest.raises(NotReady, match="busy"):
        sensor.read()
    sensor._sleep = fake_clock.sleep
    sent = _spy_writes(twin)
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=T_TOLERANCE)
    assert sent[0] == b"\xba"  # recovery starts with a soft reset


def test_aht2x_polls_busy_bit_when_the_chip_is_slow(sensor: AHT2x, twin: EmulatedAHT2x, fake_clock: FakeClock) -> None:
    real_sleep = fake_clock.sleep
    calls: list[float] = []

    def short_first(seconds: float) -> None:
        calls.append(seconds)
        real_sleep(seconds - 0.015 if seconds > 0.08 else seconds)

    sensor._sleep = short_first
    assert sensor.read()["humidity"] == pytest.approx(45.0, abs=RH_TOLERANCE)
    assert calls.count(0.010) >= 1  # polled the status again


# -- faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("absent", SensorNotFound, "SDA, SCL, VCC and GND"),
        ("crc", ChecksumError, "CRC expected"),
        ("all-ff", SensorNotFound, "reads 0xFF"),
    ],
)
def test_aht2x_fault_raises_and_recovers(
    sensor: AHT2x, twin: EmulatedAHT2x, fault: str, error: type, match: str
) -> None:
    twin.fault = fault
    with pytest.raises(error, match=match):
        sensor.read()
    twin.fault = None
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=T_TOLERANCE)


def test_aht2x_stops_answering_then_recovers(sensor: AHT2x, twin: EmulatedAHT2x) -> None:
    sensor.read()
    twin.fault = "stops-answering"
    with pytest.raises(SensorNotFound):
        for _ in range(3):
            sensor.read()
    twin.fault = None
    assert sensor.read()


def test_aht2x_stuck_bus_is_bus_error(sensor: AHT2x, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        sensor.read()
    assert excinfo.value.errno == errno.ETIMEDOUT
    emulated_bus.stuck = False
    assert sensor.read()


def test_aht2x_wrong_chip_aht10_where_aht20_configured(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x38, EmulatedAHT10(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip, match='variant = "aht10"') as excinfo:
        AHT2x(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "AHT10"


def test_aht2x_wrong_chip_uncalibrated_aht20_where_aht10_configured(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    twin.calibrated = False
    with pytest.raises(WrongChip, match='variant = "aht20"') as excinfo:
        AHT2x(emulated_bus, variant="aht10", sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "AHT20"


def test_aht2x_calibrated_aht20_answers_the_aht10_protocol(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    # What WrongChip cannot see: the AHT10 protocol is a subset of the AHT20's.
    assert AHT2x(emulated_bus, variant="aht10", sleep=fake_clock.sleep).read()


def test_aht2x_aht10_variant(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    chip = EmulatedAHT10(clock=fake_clock.monotonic, temperature=-5.5, humidity=71.0)
    emulated_bus.attach(0x39, chip)
    sent = _spy_writes(chip)
    sensor = AHT2x(emulated_bus, 0x39, variant="aht10", sleep=fake_clock.sleep)
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(-5.5, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(71.0, abs=RH_TOLERANCE)
    assert sent == [b"\xe1\x08\x00", b"\xac\x33\x00"]
    emulated_bus.reset_counters()
    sensor.read()
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (2, 3 + 6)


def test_aht2x_aht10_other_address_hint(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x39, EmulatedAHT10(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound, match="nothing answers at 0x38 on I2C bus 1; an AHT10 answers at 0x39"):
        AHT2x(emulated_bus, variant="aht10", sleep=fake_clock.sleep).read()


def test_aht2x_aht20_with_a_device_at_0x39_suggests_aht10(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x39, EmulatedAHT10(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound, match='set variant = "aht10" and address = 0x39'):
        AHT2x(emulated_bus, sleep=fake_clock.sleep).read()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "aht30"}, "aht20, aht10"),
        ({"address": 0x39}, "only on the AHT10"),
        ({"address": 0x40}, "0x38"),
        ({"address": 56.0}, "0x38"),
    ],
)
def test_aht2x_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, kwargs: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        AHT2x(emulated_bus, **kwargs)


def test_aht2x_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    with AHT2x(emulated_bus) as sensor:
        assert repr(sensor) == "AHT2x(address=0x38, variant='aht20')"
    assert emulated_bus.transactions == 0


# -- identify --------------------------------------------------------------------


def test_aht2x_identify_reads_one_status_byte_only(emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x) -> None:
    assert identify(emulated_bus, 0x38) == "AHT20"
    assert (emulated_bus.transactions, emulated_bus.bytes_written, emulated_bus.bytes_read) == (1, 0, 1)
    assert identify(emulated_bus, 0x39) is None
    assert identify(emulated_bus, 0x44) is None


def test_aht2x_identify_aht10_and_all_ff(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    chip = EmulatedAHT10(clock=fake_clock.monotonic)
    emulated_bus.attach(0x38, chip)
    chip.write(b"\xe1\x08\x00")
    assert identify(emulated_bus, 0x38) == "AHT10"
    chip.fault = "all-ff"
    assert identify(emulated_bus, 0x38) is None


# -- the twins -------------------------------------------------------------------


def _read(bus: EmulatedSMBus, length: int, address: int = 0x38) -> bytes:
    msg = i2c_msg.read(address, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def test_emulated_aht20_frame_follows_datasheet(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    twin.temperature, twin.humidity = 28.2667, 15.0794
    old = _read(emulated_bus, 7)
    emulated_bus.write_i2c_block_data(0x38, 0xAC, [0x33, 0x00])
    busy = _read(emulated_bus, 7)
    assert busy[0] & 0x80 and busy[1:6] == old[1:6]  # busy bit, previous result behind it
    fake_clock.advance(0.080)
    frame = _read(emulated_bus, 7)
    assert frame[0] == 0x18
    assert frame[1:6] == REAL_FRAME[1:6]
    assert frame[6] == crc8(frame[:6])


def test_emulated_aht20_nacks_the_aht10_init_and_aht10_the_aht20_init(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    with pytest.raises(OSError) as excinfo:
        emulated_bus.write_i2c_block_data(0x38, 0xE1, [0x08, 0x00])
    assert excinfo.value.errno == errno.EREMOTEIO
    emulated_bus.attach(0x39, EmulatedAHT10(clock=fake_clock.monotonic))
    with pytest.raises(OSError):
        emulated_bus.write_i2c_block_data(0x39, 0xBE, [0x08, 0x00])
    emulated_bus.write_i2c_block_data(0x39, 0xE1, [0x08, 0x00])
    fake_clock.advance(0.010)
    assert _read(emulated_bus, 7, 0x39)[0] == 0x08
    assert _read(emulated_bus, 7, 0x39)[6] == 0xFF  # no CRC: the line idles high


def test_emulated_aht10_cannot_show_crc_fault() -> None:
    with pytest.raises(ValueError, match="no CRC"):
        EmulatedAHT10().fault = "crc"


def test_emulated_aht20_soft_reset_keeps_calibration(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    emulated_bus.write_byte(0x38, 0xBA)
    with pytest.raises(OSError):
        _read(emulated_bus, 1)
    fake_clock.advance(0.020)
    assert _read(emulated_bus, 1) == b"\x18"


def test_emulated_aht2x_talks_to_an_adafruit_style_sequence(
    emulated_bus: EmulatedSMBus, twin: EmulatedAHT2x, fake_clock: FakeClock
) -> None:
    # adafruit_ahtx0 (after PR #19): reset, try 0xE1, fall back to 0xBE, poll status, read 6.
    emulated_bus.write_byte(0x38, 0xBA)
    fake_clock.advance(0.020)
    try:
        emulated_bus.write_i2c_block_data(0x38, 0xE1, [0x08, 0x00])
    except OSError:
        emulated_bus.write_i2c_block_data(0x38, 0xBE, [0x08, 0x00])
    while _read(emulated_bus, 1)[0] & 0x80:
        fake_clock.advance(0.010)
    assert _read(emulated_bus, 1)[0] & 0x08
    emulated_bus.write_i2c_block_data(0x38, 0xAC, [0x33, 0x00])
    while _read(emulated_bus, 1)[0] & 0x80:
        fake_clock.advance(0.010)
    _, s_rh, s_t = unpack(_read(emulated_bus, 6))
    assert raw_to_celsius(s_t) == pytest.approx(22.0, abs=0.001)
    assert raw_to_humidity(s_rh) == pytest.approx(45.0, abs=0.001)
