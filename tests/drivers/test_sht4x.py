"""SHT4x driver against its register-level twin, on a shared fake clock."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound, WrongChip
from drivers._crc import crc8
from drivers.emulated import EmulatedSHT3x, EmulatedSHT4x, EmulatedSMBus
from drivers.emulated.sht4x import celsius_to_raw, humidity_to_raw
from drivers.emulated.smbus import Nack
from drivers.sht4x import (
    ADDRESSES,
    HEATERS,
    SHT4x,
    clip_humidity,
    conversion_time_s,
    identify,
    raw_to_celsius,
    raw_to_humidity,
)
from sensorkit.clock import FakeClock

# One raw step is 175/65535 °C and 125/65535 %RH; the driver rounds to 0.01.
T_TOLERANCE = 175 / 65535 / 2 + 0.005
RH_TOLERANCE = 125 / 65535 / 2 + 0.005


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedSHT4x:
    chip = EmulatedSHT4x(clock=fake_clock.monotonic)
    emulated_bus.attach(0x44, chip)
    return chip


def make(bus: EmulatedSMBus, clock: FakeClock, address: int = 0x44, **options: object) -> SHT4x:
    return SHT4x(bus, address, sleep=clock.sleep, clock=clock.monotonic, **options)  # type: ignore[arg-type]


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x) -> SHT4x:
    return make(emulated_bus, fake_clock)


# -- conversion (SHT4x datasheet §4.6) ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "celsius", "rh"),
    [(0, -45.0, -6.0), (65535, 130.0, 119.0), (0x6666, 25.0, 44.0), (3146, -36.6, 0.0)],
)
def test_sht4x_formulas_at_their_ends_and_middle(raw: int, celsius: float, rh: float) -> None:
    # §4.6: T = -45 + 175 S/(2^16-1), RH = -6 + 125 S/(2^16-1); 0x6666 = 0.4 of full scale.
    assert raw_to_celsius(raw) == pytest.approx(celsius, abs=0.01)
    assert raw_to_humidity(raw) == pytest.approx(rh, abs=0.01)


@given(st.integers(min_value=0, max_value=65535))
def test_sht4x_formulas_match_sensirions_fixed_point(raw: int) -> None:
    # Sensirion embedded-sht sht4x.c: T[m°C] = ((21875 * S) >> 13) - 45000,
    # RH[m%] = ((15625 * S) >> 13) - 6000 (a /2^16 approximation of /65535).
    assert raw_to_celsius(raw) == pytest.approx((((21875 * raw) >> 13) - 45000) / 1000, abs=0.004)
    assert raw_to_humidity(raw) == pytest.approx((((15625 * raw) >> 13) - 6000) / 1000, abs=0.003)


@given(st.integers(min_value=0, max_value=65535))
def test_sht4x_encode_decode_round_trip(raw: int) -> None:
    assert celsius_to_raw(raw_to_celsius(raw)) == raw
    assert humidity_to_raw(raw_to_humidity(raw)) == raw


@pytest.mark.parametrize(("rh", "clipped"), [(-6.0, 0.0), (-0.01, 0.0), (0.0, 0.0), (55.5, 55.5), (100.2, 100.0)])
def test_sht4x_humidity_is_cropped_to_0_100(rh: float, clipped: float) -> None:
    assert clip_humidity(rh) == clipped  # datasheet §4.6 and its quick-start pseudo code


# -- read ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "rh"),
    [(22.0, 45.0), (-40.0, 0.0), (-12.34, 3.2), (0.0, 50.0), (85.5, 99.9), (125.0, 100.0)],
)
def test_sht4x_read_round_trips_twin_values(sensor: SHT4x, twin: EmulatedSHT4x, celsius: float, rh: float) -> None:
    twin.temperature, twin.humidity = celsius, rh
    reading = sensor.read()
    assert set(reading) == {"temperature", "humidity"}
    assert reading["temperature"] == pytest.approx(celsius, abs=T_TOLERANCE)
    assert reading["humidity"] == pytest.approx(rh, abs=RH_TOLERANCE)


@pytest.mark.parametrize(("true_rh", "read_rh"), [(110.0, 100.0), (-5.0, 0.0)])
def test_sht4x_read_clips_humidity_the_formula_puts_outside(
    sensor: SHT4x, twin: EmulatedSHT4x, true_rh: float, read_rh: float
) -> None:
    twin.humidity = true_rh  # encodes a raw value the formula maps outside 0..100
    assert sensor.read()["humidity"] == read_rh


@pytest.mark.parametrize("address", ADDRESSES)
def test_sht4x_read_at_each_address(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, address: int) -> None:
    emulated_bus.attach(address, EmulatedSHT4x(clock=fake_clock.monotonic, temperature=30.0))
    assert make(emulated_bus, fake_clock, address).read()["temperature"] == pytest.approx(30.0, abs=T_TOLERANCE)


@pytest.mark.parametrize(
    ("precision", "command", "max_s"), [("high", 0xFD, 0.0083), ("medium", 0xF6, 0.0045), ("low", 0xE0, 0.0016)]
)
def test_sht4x_each_precision_sends_its_command_waits_and_costs_two_transactions(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x, precision: str, command: int,
    max_s: float,
) -> None:
    sensor = make(emulated_bus, fake_clock, precision=precision)
    sensor.read()
    twin.commands.clear()
    fake_clock.sleeps.clear()
    emulated_bus.reset_counters()
    sensor.read()
    assert twin.commands == [command]
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (2, 7)
    assert len(fake_clock.sleeps) == 1 and max_s < fake_clock.sleeps[0] <= max_s + 0.002


def test_sht4x_first_read_is_the_serial_then_the_measurement(
    emulated_bus: EmulatedSMBus, sensor: SHT4x, twin: EmulatedSHT4x
) -> None:
    emulated_bus.reset_counters()
    sensor.read()
    assert twin.commands == [0x89, 0xFD]
    assert emulated_bus.transactions == 4


def test_sht4x_read_too_early_is_not_ready(sensor: SHT4x, twin: EmulatedSHT4x) -> None:
    sensor.read()
    waits: list[float] = []
    sensor._sleep = waits.append  # time never passes for the twin
    with pytest.raises(NotReady, match="0x44"):
        sensor.read()
    assert len(waits) == 2  # the measurement wait and one retry wait


def test_sht4x_serial_number(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x45, EmulatedSHT4x(clock=fake_clock.monotonic, serial_number=0xDEADBEEF))
    assert make(emulated_bus, fake_clock, 0x45).serial_number() == 0xDEADBEEF


def test_sht4x_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    SHT4x(emulated_bus)
    assert emulated_bus.transactions == 0


# -- identity ------------------------------------------------------------------------


def test_sht4x_sht3x_answering_is_wrong_chip(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    sht3x = EmulatedSHT3x(clock=fake_clock.monotonic)
    emulated_bus.attach(0x44, sht3x)
    with pytest.raises(WrongChip, match='an SHT3x .*answers at 0x44.*driver = "sht3x"') as excinfo:
        make(emulated_bus, fake_clock).read()
    assert excinfo.value.found == "SHT3x"
    assert sht3x.status_word() & 0x0002  # the one-byte 0x89 was "not processed"


def test_sht4x_never_resets_a_chip_it_has_not_identified(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    writes: list[bytes] = []

    class Recording(EmulatedSHT3x):
        def write(self, data: bytes) -> None:
            writes.append(bytes(data))
            super().write(data)

    emulated_bus.attach(0x44, Recording(clock=fake_clock.monotonic))
    sensor = make(emulated_bus, fake_clock)
    for _ in range(3):  # the retries after a failure included
        with pytest.raises(WrongChip):
            sensor.read()
    assert b"\x94" not in writes and set(writes) == {b"\x89", b"\xf3\x2d"}


def test_sht4x_nothing_here_but_an_sht4x_at_another_address(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x46, EmulatedSHT4x(clock=fake_clock.monotonic))
    with pytest.raises(SensorNotFound, match="an SHT4x answers at 0x46: set address = 0x46") as excinfo:
        make(emulated_bus, fake_clock).read()
    assert not isinstance(excinfo.value, WrongChip)


def test_sht4x_nothing_anywhere_gives_the_wiring_advice(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    with pytest.raises(SensorNotFound) as excinfo:
        make(emulated_bus, fake_clock, 0x45).read()
    for hint in ("no SHT4x answered at 0x45", "SDA", "SCL", "not 5 V tolerant", "BD1B", "i2cdetect -y 1"):
        assert hint in str(excinfo.value)


def test_sht4x_identify(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x) -> None:
    emulated_bus.attach(0x45, EmulatedSHT3x(clock=fake_clock.monotonic))
    assert identify(emulated_bus, 0x44, sleep=fake_clock.sleep) == "SHT4x"
    assert twin.commands == [0x89] and twin.heater_pulses == 0
    assert identify(emulated_bus, 0x45, sleep=fake_clock.sleep) is None
    assert identify(emulated_bus, 0x46, sleep=fake_clock.sleep) is None


# -- faults and recovery ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("absent", SensorNotFound, "no SHT4x answered at 0x44"),
        ("crc", ChecksumError, "temperature word"),
        ("all-ff", ChecksumError, "only 0xFF bytes"),
        ("stops-answering", SensorNotFound, "0x44"),
    ],
)
def test_sht4x_chip_fault_surfaces_then_recovers_with_a_reset(
    sensor: SHT4x, twin: EmulatedSHT4x, fault: str, error: type, match: str
) -> None:
    sensor.read()
    twin.fault = fault
    with pytest.raises(error, match=match):
        for _ in range(5):
            sensor.read()
    twin.fault = None
    twin.commands.clear()
    twin.temperature = -3.5
    assert sensor.read()["temperature"] == pytest.approx(-3.5, abs=T_TOLERANCE)
    assert twin.commands == [0x94, 0x89, 0xFD]  # soft reset, identity, measurement


def test_sht4x_stuck_bus_is_a_bus_error(sensor: SHT4x, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError, match="timed out"):
        sensor.read()
    emulated_bus.stuck = False
    assert sensor.read()


def test_sht4x_corrupt_serial_on_the_identity_check(sensor: SHT4x, twin: EmulatedSHT4x) -> None:
    twin.corrupt_crc = True
    with pytest.raises(ChecksumError, match="serial high"):
        sensor.read()


# -- heater ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heater", "command", "pulse_s"),
    [("high-1s", 0x39, 1.1), ("high-0.1s", 0x32, 0.11), ("medium-1s", 0x2F, 1.1),
     ("medium-0.1s", 0x24, 0.11), ("low-1s", 0x1E, 1.1), ("low-0.1s", 0x15, 0.11)],
)
def test_sht4x_heater_pulse_follows_the_reading(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x, heater: str, command: int,
    pulse_s: float,
) -> None:
    sensor = make(emulated_bus, fake_clock, heater=heater)
    twin.temperature = 18.0
    assert sensor.read()["temperature"] == pytest.approx(18.0, abs=T_TOLERANCE)
    assert twin.commands == [0x89, 0xFD, command]  # the reading is the plain measurement
    assert twin.busy()
    fake_clock.sleeps.clear()
    sensor.read()  # straight away: waits for the pulse, then measures; no second pulse yet
    assert fake_clock.sleeps[0] == pytest.approx(pulse_s)
    assert twin.commands[3:] == [0xFD] and sensor.heater_pulses == 1


def test_sht4x_heater_keeps_to_the_duty_cycle(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x
) -> None:
    sensor = make(emulated_bus, fake_clock, heater="high-1s")
    start = fake_clock.monotonic()
    for _ in range(100):  # a reading every 2 s for 200 s
        sensor.read()
        fake_clock.advance(2.0)
    elapsed = fake_clock.monotonic() - start
    # 11 s between pulse starts is the 10 % limit for 1.1 s pulses: every sixth reading, 12 s apart.
    assert twin.heater_pulses == sensor.heater_pulses == 17
    assert twin.heater_on_s / elapsed <= 0.10


def test_sht4x_heater_at_the_interval_the_catalog_allows_pulses_every_time(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x
) -> None:
    sensor = make(emulated_bus, fake_clock, heater="low-0.1s")
    interval = conversion_time_s(heater="low-0.1s")
    for _ in range(20):
        before = fake_clock.monotonic()
        sensor.read()
        fake_clock.advance(interval - (fake_clock.monotonic() - before))
    assert twin.heater_pulses == 20


def test_sht4x_heater_not_used_above_65_c(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x
) -> None:
    twin.temperature = 70.0
    make(emulated_bus, fake_clock, heater="high-0.1s").read()
    assert twin.heater_pulses == 0


class _NoHeater(EmulatedSHT4x):
    def _write(self, data: bytes, now: float) -> None:
        if data and data[0] == 0x39:
            raise Nack()
        super()._write(data, now)


def test_sht4x_failed_heater_pulse_keeps_the_reading_and_checks_again(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    twin = _NoHeater(clock=fake_clock.monotonic, temperature=21.0)
    emulated_bus.attach(0x44, twin)
    sensor = make(emulated_bus, fake_clock, heater="high-1s")
    assert sensor.read()["temperature"] == pytest.approx(21.0, abs=T_TOLERANCE)
    twin.commands.clear()
    sensor.read()
    assert twin.commands[:2] == [0x94, 0x89]  # recovery: reset and identity check


def test_sht4x_soft_reset_aborts_a_heater_pulse(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedSHT4x
) -> None:
    sensor = make(emulated_bus, fake_clock, heater="high-1s")
    sensor.read()
    assert twin.busy()
    sensor.soft_reset()
    assert not twin.busy()
    fake_clock.sleeps.clear()
    sensor.read()
    assert max(fake_clock.sleeps) < 0.1  # no wait for the aborted pulse


@pytest.mark.parametrize(
    ("options", "seconds"),
    [({}, 0.0083), ({"precision": "medium"}, 0.0045), ({"precision": "low"}, 0.0016),
     ({"heater": "high-1s"}, 11.0), ({"heater": "low-0.1s", "precision": "low"}, 1.1), ({"other": 3}, 0.0083)],
)
def test_sht4x_conversion_time_per_options(options: dict, seconds: float) -> None:
    assert conversion_time_s(**options) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"address": 0x47}, "0x44, -BD1B 0x45, SHT40-CD1B 0x46"), ({"precision": "max"}, "high, medium, low"),
     ({"heater": "on"}, "high-1s"), ({"heater": True}, "off")],
)
def test_sht4x_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, options: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        SHT4x(emulated_bus, **options)


def test_sht4x_heater_names(emulated_bus: EmulatedSMBus) -> None:
    assert HEATERS[0] == "off" and len(HEATERS) == 7
    assert repr(SHT4x(emulated_bus, 0x46, heater="low-1s")) == "SHT4x(address=0x46, precision='high', heater='low-1s')"


# -- the twin itself ---------------------------------------------------------------------


def _command(bus: EmulatedSMBus, *data: int) -> None:
    bus.i2c_rdwr(i2c_msg.write(0x44, list(data)))


def _read(bus: EmulatedSMBus, length: int = 6) -> bytes:
    msg = i2c_msg.read(0x44, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def test_emulated_sht4x_measurement_bytes(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT4x, fake_clock: FakeClock
) -> None:
    twin.temperature, twin.humidity = 25.0, 44.0
    _command(emulated_bus, 0xFD)
    fake_clock.advance(0.0083)
    t, rh = 0x6666, 0x6666  # (25+45)/175 and (44+6)/125 are both 0.4 of 65535
    word = t.to_bytes(2, "big")
    assert _read(emulated_bus) == word + bytes([crc8(word)]) + rh.to_bytes(2, "big") + bytes([crc8(word)])


@pytest.mark.parametrize(("command", "max_s"), [(0xFD, 0.0083), (0xF6, 0.0045), (0xE0, 0.0016), (0x32, 0.11)])
def test_emulated_sht4x_nacks_until_done_and_reads_once(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT4x, fake_clock: FakeClock, command: int, max_s: float
) -> None:
    _command(emulated_bus, command)
    fake_clock.advance(max_s - 0.0001)
    with pytest.raises(OSError):
        _read(emulated_bus)
    fake_clock.advance(0.0002)
    assert len(_read(emulated_bus)) == 6
    with pytest.raises(OSError):
        _read(emulated_bus)  # §4.1: deleted after the first read


def test_emulated_sht4x_ignores_sht3x_commands_but_0x24_heats(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT4x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0xF3, 0x2D)  # SHT3x status: 0xF3 is no SHT4x command
    with pytest.raises(OSError):
        _read(emulated_bus, 3)
    _command(emulated_bus, 0x24, 0x00)  # SHT3x measurement: 0x24 is "110 mW for 0.1 s"
    assert twin.heater_pulses == 1 and twin.busy()


def test_emulated_sht4x_soft_reset_answers_nothing_for_1_ms(
    emulated_bus: EmulatedSMBus, twin: EmulatedSHT4x, fake_clock: FakeClock
) -> None:
    _command(emulated_bus, 0x39)
    _command(emulated_bus, 0x94)  # heard while heating
    fake_clock.advance(0.0009)
    with pytest.raises(OSError):
        emulated_bus.write_quick(0x44)
    fake_clock.advance(0.0001)
    emulated_bus.write_quick(0x44)
    assert not twin.busy()


def test_emulated_sht4x_serial_words(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x44, EmulatedSHT4x(clock=fake_clock.monotonic, serial_number=0x12345678))
    _command(emulated_bus, 0x89)
    data = _read(emulated_bus)
    assert data == b"\x12\x34" + bytes([crc8(b"\x12\x34")]) + b"\x56\x78" + bytes([crc8(b"\x56\x78")])
    with pytest.raises(ValueError):
        EmulatedSHT4x(serial_number=1 << 32)
