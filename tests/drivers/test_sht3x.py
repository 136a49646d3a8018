"""SHT3x driver against its register-level twin, on a shared fake clock."""
from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound
from drivers._crc import crc8
from drivers.emulated import EmulatedSHT3x, EmulatedSMBus
from drivers.emulated.sht3x import celsius_to_raw, humidity_to_raw
from drivers.sht3x import ADDRESSES, QUANTITIES, SHT3x, raw_to_celsius, raw_to_humidity
from sensorkit.clock import FakeClock

# One raw step is 175/65535 °C and 100/65535 %RH; the driver rounds to 0.01.
T_TOLERANCE = 175 / 65535 / 2 + 0.005
RH_TOLERANCE = 100 / 65535 / 2 + 0.005


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedSHT3x:
    chip = EmulatedSHT3x(clock=fake_clock.monotonic)
    emulated_bus.attach(0x44, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT3x) -> SHT3x:
    return SHT3x(emulated_bus, 0x44, sleep=fake_clock.sleep)


def _command(bus: EmulatedSMBus, command: int, address: int = 0x44) -> None:
    bus.i2c_rdwr(i2c_msg.write(address, command.to_bytes(2, "big")))


def _read(bus: EmulatedSMBus, length: int, address: int = 0x44) -> bytes:
    msg = i2c_msg.read(address, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


# -- conversion ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "celsius"),
    [(0, -45.0), (65535, 130.0), (0x6666, -45 + 175 * 0x6666 / 65535), (26214, 25.0)],
)
def test_raw_to_celsius_datasheet_formula(raw: int, celsius: float) -> None:
    assert raw_to_celsius(raw) == pytest.approx(celsius, abs=0.002)


@pytest.mark.parametrize(("raw", "rh"), [(0, 0.0), (65535, 100.0), (32768, 50.0008)])
def test_raw_to_humidity_datasheet_formula(raw: int, rh: float) -> None:
    assert raw_to_humidity(raw) == pytest.approx(rh, abs=1e-4)


@given(st.integers(min_value=0, max_value=65535))
def test_sht3x_encode_decode_round_trip(raw: int) -> None:
    assert celsius_to_raw(raw_to_celsius(raw)) == raw
    assert humidity_to_raw(raw_to_humidity(raw)) == raw


@given(st.floats(min_value=-45.0, max_value=130.0), st.floats(min_value=0.0, max_value=100.0))
def test_sht3x_decode_encode_within_half_a_step(celsius: float, rh: float) -> None:
    assert abs(raw_to_celsius(celsius_to_raw(celsius)) - celsius) <= 175 / 65535 / 2 + 1e-9
    assert abs(raw_to_humidity(humidity_to_raw(rh)) - rh) <= 100 / 65535 / 2 + 1e-9


def test_sht3x_module_constants() -> None:
    assert ADDRESSES == (0x44, 0x45)
    assert QUANTITIES == ("temperature", "humidity")


# -- read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "rh"),
    [(22.0, 45.0), (-40.0, 0.0), (-12.34, 3.2), (0.0, 50.0), (85.5, 99.9), (125.0, 100.0)],
)
def test_sht3x_read_round_trips_twin_values(
    sensor: SHT3x, twin: EmulatedSHT3x, celsius: float, rh: float
) -> None:
    twin.temperature, twin.humidity = celsius, rh
    reading = sensor.read()
    assert set(reading) == set(QUANTITIES)
    assert reading["temperature"] == pytest.approx(celsius, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(rh, abs=RH_TOLERANCE)


def test_sht3x_read_extremes_clamp_to_raw_range(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    twin.temperature, twin.humidity = -60.0, -5.0
    assert sensor.read() == {"temperature": -45.0, "humidity": 0.0}
    twin.temperature, twin.humidity = 150.0, 120.0
    assert sensor.read() == {"temperature": 130.0, "humidity": 100.0}


def test_sht3x_read_rounds_to_two_decimals(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    twin.temperature = 21.123456
    value = sensor.read()["temperature"]
    assert value == round(value, 2)


@pytest.mark.parametrize("address", [0x44, 0x45])
def test_sht3x_read_at_either_address(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, address: int
) -> None:
    emulated_bus.attach(address, EmulatedSHT3x(clock=fake_clock.monotonic, temperature=30.0))
    reading = SHT3x(emulated_bus, address, sleep=fake_clock.sleep).read()
    assert reading["temperature"] == pytest.approx(30.0, abs=T_TOLERANCE)


@pytest.mark.parametrize(
    ("repeatability", "command", "max_s"),
    [("high", 0x2400, 0.015), ("medium", 0x240B, 0.006), ("low", 0x2416, 0.004)],
)
def test_sht3x_read_each_repeatability_sends_its_command_and_waits(
    emulated_bus: EmulatedSMBus,
    fake_clock: FakeClock,
    repeatability: str,
    command: int,
    max_s: float,
) -> None:
    sent: list[bytes] = []
    twin = EmulatedSHT3x(clock=fake_clock.monotonic, humidity=61.0)
    original_write = twin.write

    def spy(data: bytes) -> None:
        sent.append(data)
        original_write(data)

    twin.write = spy  # type: ignore[method-assign]
    emulated_bus.attach(0x44, twin)
    sensor = SHT3x(emulated_bus, repeatability=repeatability, sleep=fake_clock.sleep)
    sensor.read()  # the first read checks the identity and resets the chip first
    sent.clear()
    fake_clock.sleeps.clear()
    assert sensor.read()["humidity"] == pytest.approx(61.0, abs=RH_TOLERANCE)
    assert sent == [command.to_bytes(2, "big")]
    # One wait covering the datasheet maximum with a small margin, no retry.
    assert len(fake_clock.sleeps) == 1
    assert max_s < fake_clock.sleeps[0] <= max_s + 0.002


def test_sht3x_read_uses_one_measurement_for_both_values(
    emulated_bus: EmulatedSMBus, sensor: SHT3x, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    # Values change while the conversion runs; the result is the one sampled at the command.
    sensor.read()  # identity check and reset out of the way
    real_sleep = sensor._sleep

    def world_moves(seconds: float) -> None:
        twin.temperature, twin.humidity = 35.0, 80.0
        real_sleep(seconds)

    sensor._sleep = world_moves
    twin.temperature, twin.humidity = 20.0, 40.0
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(20.0, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(40.0, abs=RH_TOLERANCE)


def test_sht3x_read_too_early_is_not_ready(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, sensor: SHT3x
) -> None:
    sensor.read()  # identity check and reset out of the way
    waits: list[float] = []
    sensor._sleep = waits.append  # time never passes for the twin
    with pytest.raises(NotReady, match="0x44"):
        sensor.read()
    assert len(waits) == 2  # the measurement wait and one retry wait


def test_sht3x_read_retries_once_when_first_read_is_early(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    # A chip slower than the datasheet maximum: the first sleep is cut short.
    calls: list[float] = []

    def short_first_sleep(seconds: float) -> None:
        calls.append(seconds)
        fake_clock.sleep(seconds if len(calls) > 1 else seconds - 0.003)

    twin.temperature = 10.0
    sensor = SHT3x(emulated_bus, sleep=fake_clock.sleep)
    sensor.read()  # identity check and reset out of the way
    sensor._sleep = short_first_sleep
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(10.0, abs=T_TOLERANCE)
    assert len(calls) == 2


# -- faults --------------------------------------------------------------------


def test_sht3x_corrupt_crc_raises_checksum_error(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    sensor.read()  # a corrupt status word on the first read is tested on its own
    twin.corrupt_crc = True
    with pytest.raises(ChecksumError, match="temperature") as excinfo:
        sensor.read()
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    assert "expected 0x" in message and "received 0x" in message


def test_sht3x_checksum_error_names_humidity_word(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    class BadHumidityCrc(EmulatedSHT3x):
        def read(self, length: int) -> bytes:
            data = bytearray(super().read(length))
            if len(data) == 6:  # measurements only, not the status word of the identity check
                data[5] ^= 0x01
            return bytes(data)

    emulated_bus.attach(0x44, BadHumidityCrc(clock=fake_clock.monotonic))
    with pytest.raises(ChecksumError, match="humidity"):
        SHT3x(emulated_bus, sleep=fake_clock.sleep).read()


def test_sht3x_absent_chip_raises_sensor_not_found(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    twin.absent = True
    with pytest.raises(SensorNotFound) as excinfo:
        sensor.read()
    message = str(excinfo.value)
    for hint in ("SDA", "SCL", "VCC", "GND", "ADDR", "i2cdetect -y 1", "0x44"):
        assert hint in message
    assert isinstance(excinfo.value.__cause__, OSError)
    assert excinfo.value.__cause__.errno == errno.EREMOTEIO


def test_sht3x_nothing_at_address_raises_sensor_not_found(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    with pytest.raises(SensorNotFound, match="0x45"):
        SHT3x(emulated_bus, 0x45, sleep=fake_clock.sleep).read()


def test_sht3x_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    SHT3x(emulated_bus, 0x44)  # nothing attached: must not raise
    assert emulated_bus.transactions == 0


def test_sht3x_stuck_bus_raises_bus_error(
    sensor: SHT3x, emulated_bus: EmulatedSMBus
) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        sensor.read()
    assert isinstance(excinfo.value, OSError)
    assert excinfo.value.errno == errno.ETIMEDOUT
    assert excinfo.value.__cause__.errno == errno.ETIMEDOUT


class _FailingBus:
    """A bus whose every transfer fails with one errno."""

    bus_number = 7

    def __init__(self, err: int) -> None:
        self.err = err

    def i2c_rdwr(self, *msgs: object) -> None:
        raise OSError(self.err, "boom")


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (errno.ENXIO, SensorNotFound),
        (errno.EREMOTEIO, SensorNotFound),
        (errno.EIO, BusError),
        (errno.ETIMEDOUT, BusError),
    ],
)
def test_sht3x_maps_write_errno(err: int, expected: type) -> None:
    with pytest.raises(expected) as excinfo:
        SHT3x(_FailingBus(err), sleep=lambda s: None).read()
    assert excinfo.value.__cause__.errno == err


def test_sht3x_closed_bus_is_bus_error(sensor: SHT3x, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.close()
    with pytest.raises(BusError):
        sensor.read()


@pytest.mark.parametrize("address", [0x40, 0x46, 0x88, 68.0])
def test_sht3x_wrong_address_is_config_error(emulated_bus: EmulatedSMBus, address: int) -> None:
    with pytest.raises(DriverConfigError, match="0x44.*ADDR.*low.*0x45.*ADDR.*high"):
        SHT3x(emulated_bus, address)


@pytest.mark.parametrize("repeatability", ["HIGH", "max", "", None])
def test_sht3x_wrong_repeatability_is_config_error(
    emulated_bus: EmulatedSMBus, repeatability: object
) -> None:
    with pytest.raises(DriverConfigError, match="high, medium, low") as excinfo:
        SHT3x(emulated_bus, repeatability=repeatability)  # type: ignore[arg-type]
    assert isinstance(excinfo.value, ValueError)


# -- other commands ------------------------------------------------------------


def test_sht3x_serial_number(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x45, EmulatedSHT3x(clock=fake_clock.monotonic, serial_number=0xDEADBEEF))
    assert SHT3x(emulated_bus, 0x45, sleep=fake_clock.sleep).serial_number() == 0xDEADBEEF


def test_sht3x_status_after_power_on_has_reset_and_alert(sensor: SHT3x) -> None:
    # Table 18 defaults: alert pending (bit 15) and reset detected (bit 4) set.
    assert sensor.status() == 0x8010


def test_sht3x_clear_status_clears_flags(sensor: SHT3x) -> None:
    sensor.clear_status()
    assert sensor.status() == 0x0000


def test_sht3x_heater_shows_in_status(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    sensor.clear_status()
    sensor.heater(True)
    assert twin.heater_on
    assert sensor.status() == 0x2000
    sensor.heater(False)
    assert not twin.heater_on
    assert sensor.status() == 0x0000


def test_sht3x_soft_reset_restores_defaults(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    sensor.heater(True)
    sensor.clear_status()
    sensor.soft_reset()
    assert not twin.heater_on
    assert sensor.status() == 0x8010
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=T_TOLERANCE)


def test_sht3x_soft_reset_leaves_periodic_mode(
    sensor: SHT3x, twin: EmulatedSHT3x, emulated_bus: EmulatedSMBus
) -> None:
    _command(emulated_bus, 0x2130)  # 1 mps high
    assert twin.periodic
    sensor.soft_reset()
    assert not twin.periodic


def test_sht3x_status_crc_checked(sensor: SHT3x, twin: EmulatedSHT3x) -> None:
    twin.corrupt_crc = True
    with pytest.raises(ChecksumError, match="status"):
        sensor.status()


def test_sht3x_close_leaves_bus_open(sensor: SHT3x, emulated_bus: EmulatedSMBus) -> None:
    with sensor as same:
        assert same is sensor
    assert not emulated_bus.closed
    assert sensor.read()


# -- the twin itself -----------------------------------------------------------


def test_emulated_sht3x_measurement_bytes_follow_datasheet(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    twin.temperature, twin.humidity = 25.0, 50.0
    _command(emulated_bus, 0x2400)
    fake_clock.advance(0.015)
    data = _read(emulated_bus, 6)
    t, rh = 26214, 32768  # (25+45)/175*65535, 50/100*65535 rounded
    expected = t.to_bytes(2, "big") + bytes([crc8(t.to_bytes(2, "big"))])
    expected += rh.to_bytes(2, "big") + bytes([crc8(rh.to_bytes(2, "big"))])
    assert data == expected


@pytest.mark.parametrize(("command", "max_s"), [(0x2400, 0.015), (0x240B, 0.006), (0x2416, 0.004)])
def test_emulated_sht3x_nacks_read_until_measurement_done(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock,
    command: int, max_s: float,
) -> None:
    _command(emulated_bus, command)
    fake_clock.advance(max_s - 0.0005)
    with pytest.raises(OSError) as excinfo:
        _read(emulated_bus, 6)
    assert excinfo.value.errno == errno.EREMOTEIO
    fake_clock.advance(0.0005)
    assert len(_read(emulated_bus, 6)) == 6


def test_emulated_sht3x_second_read_is_nacked(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0x2416)
    fake_clock.advance(0.004)
    _read(emulated_bus, 6)
    with pytest.raises(OSError):
        _read(emulated_bus, 6)


def test_emulated_sht3x_clock_stretch_commands_answer_at_once(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x
) -> None:
    for command in (0x2C06, 0x2C0D, 0x2C10):
        _command(emulated_bus, command)
        assert len(_read(emulated_bus, 6)) == 6


def test_emulated_sht3x_nacks_during_soft_reset(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0x30A2)
    fake_clock.advance(0.001)
    with pytest.raises(OSError):
        emulated_bus.write_quick(0x44)
    fake_clock.advance(0.0005)
    emulated_bus.write_quick(0x44)


def test_emulated_sht3x_absent_nacks_probe(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x
) -> None:
    emulated_bus.write_quick(0x44)
    twin.absent = True
    with pytest.raises(OSError) as excinfo:
        emulated_bus.write_quick(0x44)
    assert excinfo.value.errno == errno.EREMOTEIO


def test_emulated_sht3x_unknown_command_sets_command_status(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, sensor: SHT3x
) -> None:
    _command(emulated_bus, 0x1234)
    assert sensor.status() & 0x0002
    sensor.clear_status()  # a processed command clears bit 1 again
    assert sensor.status() == 0x0000


def test_emulated_sht3x_write_data_crc_status(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, sensor: SHT3x
) -> None:
    emulated_bus.i2c_rdwr(i2c_msg.write(0x44, [0x61, 0x1D, 0xBE, 0xEF, 0x00]))
    assert sensor.status() & 0x0001
    emulated_bus.i2c_rdwr(i2c_msg.write(0x44, [0x61, 0x1D, 0xBE, 0xEF, 0x92]))
    assert not sensor.status() & 0x0001


@pytest.mark.parametrize("command", [0x3780, 0x3682])
def test_emulated_sht3x_serial_words(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, command: int
) -> None:
    emulated_bus.attach(0x44, EmulatedSHT3x(clock=fake_clock.monotonic, serial_number=0x12345678))
    _command(emulated_bus, command)
    data = _read(emulated_bus, 6)
    assert data[0:2] == b"\x12\x34" and data[2] == crc8(b"\x12\x34")
    assert data[3:5] == b"\x56\x78" and data[5] == crc8(b"\x56\x78")


def test_emulated_sht3x_rejects_serial_over_32_bits() -> None:
    with pytest.raises(ValueError):
        EmulatedSHT3x(serial_number=1 << 32)


def test_emulated_sht3x_periodic_fetch(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0x2130)  # 1 measurement per second, high repeatability
    _command(emulated_bus, 0xE000)
    with pytest.raises(OSError):  # nothing measured yet
        _read(emulated_bus, 6)
    fake_clock.advance(0.015)
    _command(emulated_bus, 0xE000)
    assert len(_read(emulated_bus, 6)) == 6
    _command(emulated_bus, 0xE000)
    with pytest.raises(OSError):  # fetch cleared the data memory
        _read(emulated_bus, 6)
    fake_clock.advance(1.0)
    _command(emulated_bus, 0xE000)
    assert len(_read(emulated_bus, 6)) == 6


def test_emulated_sht3x_periodic_mode_refuses_single_shot(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT3x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0x2B32)  # ART
    with pytest.raises(OSError):
        _command(emulated_bus, 0x2400)
    _command(emulated_bus, 0x3093)  # break
    assert not twin.periodic
    _command(emulated_bus, 0x2400)
