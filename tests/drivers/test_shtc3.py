"""SHTC3 driver against its register-level twin, on a shared fake clock."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound, WrongChip
from drivers._crc import crc8
from drivers.emulated import EmulatedSHTC1, EmulatedSHTC3, EmulatedSMBus
from drivers.emulated.shtc3 import celsius_to_raw, humidity_to_raw
from drivers.shtc3 import SHTC3, conversion_time_s, id_names, identify, raw_to_celsius, raw_to_humidity
from sensorkit.clock import FakeClock

WAKE, SLEEP, RESET, READ_ID, NORMAL, LOW = 0x3517, 0xB098, 0x805D, 0xEFC8, 0x7866, 0x609C
# One raw step is 175/65536 °C and 100/65536 %RH; the driver rounds to 0.01.
T_TOLERANCE = 175 / 65536 / 2 + 0.005
RH_TOLERANCE = 100 / 65536 / 2 + 0.005


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedSHTC3:
    chip = EmulatedSHTC3(clock=fake_clock.monotonic)
    emulated_bus.attach(0x70, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHTC3) -> SHTC3:
    return SHTC3(emulated_bus, sleep=fake_clock.sleep)


# -- conversion (SHTC3 datasheet §5) -------------------------------------------------


@given(st.integers(min_value=0, max_value=65535))
def test_shtc3_formulas_match_sensirions_fixed_point(raw: int) -> None:
    # Sensirion embedded-sht shtc1.c: T[m°C] = ((21875 * S) >> 13) - 45000 and
    # RH[m%] = (12500 * S) >> 13, i.e. exactly 175/2^16 and 100/2^16.
    assert raw_to_celsius(raw) == pytest.approx((((21875 * raw) >> 13) - 45000) / 1000, abs=0.001)
    assert raw_to_humidity(raw) == pytest.approx(((12500 * raw) >> 13) / 1000, abs=0.001)


@pytest.mark.parametrize(("raw", "celsius", "rh"), [(0, -45.0, 0.0), (0x8000, 42.5, 50.0), (0xFFFF, 129.997, 99.998)])
def test_shtc3_formulas_divide_by_2_to_the_16(raw: int, celsius: float, rh: float) -> None:
    assert raw_to_celsius(raw) == pytest.approx(celsius, abs=0.001)
    assert raw_to_humidity(raw) == pytest.approx(rh, abs=0.001)


@given(st.integers(min_value=0, max_value=65535))
def test_shtc3_encode_decode_round_trip(raw: int) -> None:
    assert celsius_to_raw(raw_to_celsius(raw)) == raw
    assert humidity_to_raw(raw_to_humidity(raw)) == raw


@pytest.mark.parametrize(
    ("word", "name"), [(0x0807, "SHTC3"), (0x0887, "SHTC3"), (0xFFC7, "SHTC3"), (0x0007, "SHTC1"), (0x0047, "SHTC1"),
                       (0x0808, None), (0x1234, None)]
)
def test_shtc3_id_register_product_code(word: int, name: str | None) -> None:
    assert id_names(word) == name  # §5: (ID & 0x083F) == 0x0807


# -- read ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "rh"), [(22.0, 45.0), (-40.0, 0.0), (-12.34, 3.2), (0.0, 50.0), (85.5, 99.9), (125.0, 100.0)]
)
def test_shtc3_read_round_trips_twin_values(sensor: SHTC3, twin: EmulatedSHTC3, celsius: float, rh: float) -> None:
    twin.temperature, twin.humidity = celsius, rh
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(celsius, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(rh, abs=RH_TOLERANCE)


def test_shtc3_first_read_checks_the_id_then_measures_and_sleeps(
    emulated_bus: EmulatedSMBus, sensor: SHTC3, twin: EmulatedSHTC3
) -> None:
    sensor.read()
    assert twin.commands == [WAKE, READ_ID, NORMAL, SLEEP]
    assert twin.asleep and sensor.id_word == 0x0887


@pytest.mark.parametrize(("mode", "command", "max_s"), [("normal", NORMAL, 0.0121), ("low", LOW, 0.0008)])
def test_shtc3_each_reading_wakes_measures_sleeps_in_four_transactions(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHTC3, mode: str, command: int, max_s: float
) -> None:
    sensor = SHTC3(emulated_bus, power_mode=mode, sleep=fake_clock.sleep)
    sensor.read()
    twin.commands.clear()
    fake_clock.sleeps.clear()
    emulated_bus.reset_counters()
    sensor.read()
    assert twin.commands == [WAKE, command, SLEEP] and twin.asleep
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (4, 12)
    wake_s, measure_s = fake_clock.sleeps
    assert 0.00024 <= wake_s < 0.0005 and max_s < measure_s <= max_s + 0.001


def test_shtc3_read_too_early_is_not_ready_and_recovers(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, sensor: SHTC3, twin: EmulatedSHTC3
) -> None:
    sensor.read()
    real_sleep = sensor._sleep
    # The wake-up wait passes; the measurement wait and the retry do not, for the twin.
    sensor._sleep = lambda seconds: fake_clock.sleep(seconds) if seconds < 0.001 else None
    with pytest.raises(NotReady, match="0x70"):
        sensor.read()
    assert not twin.asleep  # the sleep command met a chip still measuring
    sensor._sleep = real_sleep
    fake_clock.advance(0.02)  # the result it finished is waiting; recovery reads it away
    twin.temperature = 5.0
    assert sensor.read()["temperature"] == pytest.approx(5.0, abs=T_TOLERANCE)
    assert twin.asleep


def test_shtc3_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    SHTC3(emulated_bus)
    assert emulated_bus.transactions == 0


# -- identity ----------------------------------------------------------------------------


def test_shtc3_shtc1_answering_is_wrong_chip(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x70, EmulatedSHTC1(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip, match="SHTC1-family.*ID 0x0047") as excinfo:
        SHTC3(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "SHTC1"


def test_shtc3_unknown_id_is_wrong_chip(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x70, EmulatedSHTC3(clock=fake_clock.monotonic, id_word=0x1234))
    with pytest.raises(WrongChip, match="0x1234") as excinfo:
        SHTC3(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found is None


class _Multiplexer:
    """A TCA9548A at 0x70: a read returns its channel mask, a write sets it."""

    def __init__(self) -> None:
        self.mask = 0x01
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        if data:
            self.mask = data[-1]

    def read(self, length: int) -> bytes:
        return bytes([self.mask]) * length


def test_shtc3_multiplexer_at_0x70_is_wrong_chip_and_left_alone(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    mux = _Multiplexer()
    emulated_bus.attach(0x70, mux)
    with pytest.raises(WrongChip, match="TCA9548A"):
        SHTC3(emulated_bus, sleep=fake_clock.sleep).read()
    assert mux.writes == [] and mux.mask == 0x01
    assert identify(emulated_bus, 0x70, sleep=fake_clock.sleep) is None
    assert mux.writes == []


def test_shtc3_identify_leaves_the_chip_as_it_found_it(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHTC3
) -> None:
    assert identify(emulated_bus, 0x70, sleep=fake_clock.sleep) == "SHTC3"  # awake (power-on): ID only
    assert twin.commands == [READ_ID] and not twin.asleep
    SHTC3(emulated_bus, sleep=fake_clock.sleep).read()
    twin.commands.clear()
    assert identify(emulated_bus, 0x70, sleep=fake_clock.sleep) == "SHTC3"  # asleep: wake, ID, sleep
    assert twin.commands == [WAKE, READ_ID, SLEEP] and twin.asleep


def test_shtc3_identify_others(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    assert identify(emulated_bus, 0x70, sleep=fake_clock.sleep) is None
    emulated_bus.attach(0x70, EmulatedSHTC1(clock=fake_clock.monotonic))
    assert identify(emulated_bus, 0x70, sleep=fake_clock.sleep) is None
    emulated_bus.stuck = True
    with pytest.raises(BusError):
        identify(emulated_bus, 0x70, sleep=fake_clock.sleep)


# -- faults and recovery ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("absent", SensorNotFound, "no SHTC3 answered at 0x70.*always at 0x70"),
        ("crc", ChecksumError, "temperature word"),
        ("all-ff", ChecksumError, "only 0xFF bytes"),
        ("stops-answering", SensorNotFound, "0x70"),
    ],
)
def test_shtc3_chip_fault_surfaces_then_recovers_with_a_reset(
    sensor: SHTC3, twin: EmulatedSHTC3, fault: str, error: type, match: str
) -> None:
    sensor.read()
    twin.fault = fault
    with pytest.raises(error, match=match):
        for _ in range(5):
            sensor.read()
    twin.fault = None
    twin.commands.clear()
    twin.humidity = 77.7
    assert sensor.read()["humidity"] == pytest.approx(77.7, abs=RH_TOLERANCE)
    assert twin.commands[:3] == [WAKE, RESET, READ_ID] and twin.asleep


def test_shtc3_stuck_bus(sensor: SHTC3, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError, match="timed out"):
        sensor.read()
    emulated_bus.stuck = False
    assert sensor.read()


def test_shtc3_corrupt_id_on_the_identity_check(sensor: SHTC3, twin: EmulatedSHTC3) -> None:
    twin.corrupt_crc = True
    with pytest.raises(ChecksumError, match="ID word"):
        sensor.read()


@pytest.mark.parametrize(("options", "seconds"), [({}, 0.01234), ({"power_mode": "low"}, 0.00104), ({"x": 1}, 0.01234)])
def test_shtc3_conversion_time_per_options(options: dict, seconds: float) -> None:
    assert conversion_time_s(**options) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("options", "match"), [({"address": 0x44}, "always at 0x70"), ({"power_mode": "ultra"}, "normal, low")]
)
def test_shtc3_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, options: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        SHTC3(emulated_bus, **options)


# -- the twin itself ---------------------------------------------------------------------


def _command(bus: EmulatedSMBus, command: int) -> None:
    bus.i2c_rdwr(i2c_msg.write(0x70, command.to_bytes(2, "big")))


def _read(bus: EmulatedSMBus, length: int = 6) -> bytes:
    msg = i2c_msg.read(0x70, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def test_emulated_shtc3_asleep_takes_only_the_wake_up(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHTC3, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, SLEEP)
    emulated_bus.write_quick(0x70)  # the address is still acknowledged
    for command in (NORMAL, READ_ID, RESET, SLEEP):
        with pytest.raises(OSError):
            _command(emulated_bus, command)
    with pytest.raises(OSError):
        _read(emulated_bus)
    _command(emulated_bus, WAKE)
    fake_clock.advance(0.0002)
    with pytest.raises(OSError):  # §3: up to 240 µs to wake up
        _command(emulated_bus, READ_ID)
    fake_clock.advance(0.00004)
    _command(emulated_bus, READ_ID)
    assert _read(emulated_bus, 3) == b"\x08\x87" + bytes([crc8(b"\x08\x87")])


def test_emulated_shtc3_measuring_acknowledges_no_header(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHTC3, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, NORMAL)
    fake_clock.advance(0.012)
    with pytest.raises(OSError):
        emulated_bus.write_quick(0x70)
    with pytest.raises(OSError):
        _read(emulated_bus)
    fake_clock.advance(0.0002)
    assert len(_read(emulated_bus)) == 6
    with pytest.raises(OSError):
        _read(emulated_bus)  # read once


def test_emulated_shtc3_humidity_first_and_clock_stretching(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHTC3, fake_clock: FakeClock
) -> None:
    twin.temperature, twin.humidity = 42.5, 25.0
    _command(emulated_bus, 0x5C24)  # normal, RH first, clock stretching: answered at once
    data = _read(emulated_bus)
    assert data[:2] == (0x4000).to_bytes(2, "big") and data[3:5] == (0x8000).to_bytes(2, "big")
    _command(emulated_bus, 0x401A)  # low power, RH first, no stretching
    fake_clock.advance(0.0008)
    assert _read(emulated_bus)[:2] == (0x4000).to_bytes(2, "big")


def test_emulated_shtc3_unknown_command_is_nacked(emulated_bus: EmulatedSMBus, twin: EmulatedSHTC3) -> None:
    with pytest.raises(OSError):
        _command(emulated_bus, 0xF32D)


def test_emulated_shtc1_has_no_sleep_mode(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x70, EmulatedSHTC1(clock=fake_clock.monotonic))
    for command in (WAKE, SLEEP):
        with pytest.raises(OSError):
            _command(emulated_bus, command)
    _command(emulated_bus, NORMAL)
    fake_clock.advance(0.0143)
    with pytest.raises(OSError):
        _read(emulated_bus)  # an SHTC1 takes 14.4 ms
    fake_clock.advance(0.0002)
    assert len(_read(emulated_bus)) == 6
    with pytest.raises(ValueError):
        EmulatedSHTC3(id_word=0x10000)
