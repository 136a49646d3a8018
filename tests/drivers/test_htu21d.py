"""HTU21D-family driver against its twins (HTU21D, SHT21, Si7021), on a shared fake clock."""
from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, ImplausibleReading, NotReady, SensorNotFound, WrongChip
from drivers._crc import crc8
from drivers._probe_0x40 import HDC1080_BUSY_WAIT_S
from drivers.emulated import EmulatedHDC1080, EmulatedHTU21D, EmulatedSi7021, EmulatedSMBus, Nack
from drivers.emulated.htu21d import celsius_to_word, humidity_to_word
from drivers.htu21d import (
    HTU21D,
    conversion_time_s,
    humidity_in_range,
    identify,
    parse_result,
    raw_to_celsius,
    raw_to_humidity,
)
from sensorkit.clock import FakeClock

RESOLUTION_BITS = {"rh12-t14": (12, 14), "rh8-t12": (8, 12), "rh10-t13": (10, 13), "rh11-t11": (11, 11)}


def _tolerance(span: float, bits: int) -> float:
    return span / 2**bits / 2 + 0.005  # half a step, plus the driver's rounding to 0.01


def _attach(bus: EmulatedSMBus, clock: FakeClock, part: str = "HTU21D", **kwargs: object) -> EmulatedHTU21D:
    chip = EmulatedHTU21D(clock=clock.monotonic, part=part, **kwargs)  # type: ignore[arg-type]
    bus.attach(0x40, chip)
    return chip


def _spy_writes(chip: object) -> list[bytes]:
    sent: list[bytes] = []
    original = chip.write  # type: ignore[attr-defined]

    def spy(data: bytes) -> None:
        sent.append(bytes(data))
        original(data)

    chip.write = spy  # type: ignore[attr-defined]
    return sent


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedHTU21D:
    return _attach(emulated_bus, fake_clock)


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedHTU21D) -> HTU21D:
    return HTU21D(emulated_bus, sleep=fake_clock.sleep)


# -- formulas (HTU21D(F) datasheet HPC199_3 / HTU20D p.13-16, SHT21 §6) -------------


@pytest.mark.parametrize(("data", "crc"), [(b"\xdc", 0x79), (b"\x68\x3a", 0x7C), (b"\x4e\x85", 0x6B)])
def test_htu21d_crc_datasheet_examples(data: bytes, crc: int) -> None:
    assert crc8(data, init=0x00) == crc


def test_htu21d_parse_no_hold_example_frame() -> None:
    # HTU20D(F) p.13 "No Hold Master communication sequence": 0x7C 0x82, checksum 0x97 -> S_RH 0x7C80.
    word = parse_result(b"\x7c\x82\x97", "humidity")
    assert word & 0xFFFC == 0x7C80
    assert raw_to_humidity(word) == pytest.approx(54.79, abs=0.01)


def test_htu21d_datasheet_conversion_examples() -> None:
    assert raw_to_celsius(0x683A) == pytest.approx(24.7, abs=0.05)  # "0x683A: 24.7°C"
    assert raw_to_humidity(0x4E85) == pytest.approx(32.3, abs=0.05)  # "0x4E85: 32.3%RH"
    assert raw_to_humidity(0x6350) == pytest.approx(42.5, abs=0.05)  # SHT21 §6.1: 25424 -> 42.5 %RH


def test_htu21d_parse_rejects_bad_crc_and_wrong_status_bits() -> None:
    with pytest.raises(ChecksumError, match="CRC expected 0x97, received 0x96"):
        parse_result(b"\x7c\x82\x96", "humidity")
    with pytest.raises(ChecksumError, match="status bits of a humidity result"):
        parse_result(b"\x7c\x82\x97", "temperature")
    zeros = b"\x00\x00" + bytes([crc8(b"\x00\x00", init=0)])  # passes the CRC, but is no RH word
    with pytest.raises(ChecksumError, match="temperature result"):
        parse_result(zeros, "humidity")


@pytest.mark.parametrize(("rh", "expected"), [(-4.9, 0.0), (0.0, 0.0), (50.0, 50.0), (100.0, 100.0), (104.5, 100.0)])
def test_htu21d_humidity_slightly_outside_is_clipped(rh: float, expected: float) -> None:
    assert humidity_in_range(rh) == expected


@pytest.mark.parametrize("rh", [-5.5, 105.5, 118.0])
def test_htu21d_humidity_far_outside_is_implausible(rh: float) -> None:
    with pytest.raises(ImplausibleReading, match="outside 0..100"):
        humidity_in_range(rh)


@given(st.floats(-40, 125), st.floats(0, 100), st.sampled_from(sorted(RESOLUTION_BITS)))
def test_htu21d_twin_encoding_within_half_a_step(celsius: float, rh: float, resolution: str) -> None:
    rh_bits, t_bits = RESOLUTION_BITS[resolution]
    assert abs(raw_to_celsius(celsius_to_word(celsius, t_bits)) - celsius) <= 175.72 / 2**t_bits / 2 + 1e-9
    assert abs(raw_to_humidity(humidity_to_word(rh, rh_bits)) - rh) <= 125 / 2**rh_bits / 2 + 1e-9


def test_htu21d_conversion_time_is_the_sht21_worst_case() -> None:
    assert conversion_time_s() == pytest.approx(0.029 + 0.085)
    assert conversion_time_s(resolution="rh8-t12") == pytest.approx(0.004 + 0.022)
    assert conversion_time_s(resolution="rh11-t11", heater=True) == pytest.approx(0.015 + 0.011)


# -- read ----------------------------------------------------------------------


@pytest.mark.parametrize("part", ["HTU21D", "SHT21", "Si7021", "Si7020"])
@pytest.mark.parametrize("resolution", sorted(RESOLUTION_BITS))
@pytest.mark.parametrize(("celsius", "rh"), [(-40.0, 0.0), (-12.3, 3.2), (22.0, 45.0), (85.0, 99.0), (125.0, 100.0)])
def test_htu21d_read_round_trips_across_parts_and_resolutions(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, part: str, resolution: str, celsius: float, rh: float
) -> None:
    _attach(emulated_bus, fake_clock, part, temperature=celsius, humidity=rh)
    sensor = HTU21D(emulated_bus, resolution=resolution, sleep=fake_clock.sleep)
    reading = sensor.read()
    rh_bits, t_bits = RESOLUTION_BITS[resolution]
    assert reading["temperature"] == pytest.approx(celsius, abs=_tolerance(175.72, t_bits))
    assert reading["humidity"] == pytest.approx(rh, abs=_tolerance(125.0, rh_bits))
    assert sensor.part == ("HTU21D" if part == "SHT21" else part)  # one electronic ID for both


def test_htu21d_transactions_per_reading(sensor: HTU21D, twin: EmulatedHTU21D, emulated_bus: EmulatedSMBus) -> None:
    sensor.read()
    sent = _spy_writes(twin)
    emulated_bus.reset_counters()
    sensor.read()
    assert sent == [b"\xf5", b"\xf3"]
    # write 0xF5 | read RH+CRC, Sr, write 0xF3 | read T+CRC
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (3, 1 + 3 + 1 + 3)


def test_htu21d_si7021_reads_temperature_of_the_rh_measurement(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    chip = _attach(emulated_bus, fake_clock, "Si7021", temperature=31.0, humidity=12.0)
    sensor = HTU21D(emulated_bus, sleep=fake_clock.sleep)
    sensor.read()
    sent = _spy_writes(chip)
    real_sleep = fake_clock.sleep

    def world_moves(seconds: float) -> None:  # T changes during the RH conversion
        chip.temperature = 40.0
        real_sleep(seconds)

    sensor._sleep = world_moves
    emulated_bus.reset_counters()
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(31.0, abs=0.02)  # from the same conversion as RH
    assert sent == [b"\xf5", b"\xe0"]
    # write 0xF5 | read RH+CRC, Sr, write 0xE0, Sr, read T
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (2, 1 + 3 + 1 + 2)


def test_htu21d_sht21_is_slower_and_gets_one_retry(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    _attach(emulated_bus, fake_clock, "SHT21", humidity=61.0)
    sensor = HTU21D(emulated_bus, sleep=fake_clock.sleep)
    assert sensor.read()["humidity"] == pytest.approx(61.0, abs=0.04)
    emulated_bus.reset_counters()
    sensor.read()
    assert emulated_bus.transactions == 5  # both reads NACKed once at the HTU21D maximum


def test_htu21d_resolution_write_preserves_reserved_bits(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    chip = _attach(emulated_bus, fake_clock, "SHT21")  # user register 0x3A: reserved bits 5:3 set
    sent = _spy_writes(chip)
    HTU21D(emulated_bus, resolution="rh10-t13", sleep=fake_clock.sleep).read()
    assert b"\xe6\xba" in sent  # 0x3A with bit 7 set
    assert chip.user_register == 0xBA and not chip.reserved_bits_written
    assert chip.resolution == (10, 13)


def test_htu21d_resolution_already_set_is_not_rewritten(sensor: HTU21D, twin: EmulatedHTU21D) -> None:
    sent = _spy_writes(twin)
    sensor.read()
    assert not any(command.startswith(b"\xe6") for command in sent)


def test_htu21d_humidity_clipped_or_implausible_through_the_twin(sensor: HTU21D, twin: EmulatedHTU21D) -> None:
    twin.humidity = 103.0
    assert sensor.read()["humidity"] == 100.0
    twin.humidity = 115.0
    with pytest.raises(ImplausibleReading):
        sensor.read()
    twin.humidity = 40.0
    assert sensor.read()["humidity"] == pytest.approx(40.0, abs=0.04)


def test_htu21d_temperature_end_stop_is_implausible(sensor: HTU21D, twin: EmulatedHTU21D) -> None:
    twin.temperature = -50.0
    with pytest.raises(ImplausibleReading, match="end stop"):
        sensor.read()


def test_htu21d_not_ready_then_soft_reset_and_recovery(
    emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D, fake_clock: FakeClock
) -> None:
    def only_probe_waits(seconds: float) -> None:  # the measurement's waits take no time
        if seconds == HDC1080_BUSY_WAIT_S:
            fake_clock.sleep(seconds)

    sensor = HTU21D(emulated_bus, sleep=only_probe_waits)
    with pytest.raises(NotReady, match="no result"):
        sensor.read()
    fake_clock.advance(0.1)
    sensor._sleep = fake_clock.sleep
    sent = _spy_writes(twin)
    assert sensor.read()
    assert b"\xfe" in sent and sent.index(b"\xfe") < sent.index(b"\xf5")


def test_htu21d_clone_without_e0_falls_back_to_a_temperature_conversion(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock
) -> None:
    class NoE0(EmulatedSi7021):
        def _write(self, data: bytes, now: float) -> None:
            if data[:1] == b"\xe0":
                raise Nack()
            super()._write(data, now)

    emulated_bus.attach(0x40, NoE0(clock=fake_clock.monotonic))
    sensor = HTU21D(emulated_bus, sleep=fake_clock.sleep)
    with pytest.raises(NotReady):
        sensor.read()
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=0.02)


def test_htu21d_waits_out_a_si7021_power_up(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    _attach(emulated_bus, fake_clock, "Si7021").power_cycle()
    assert HTU21D(emulated_bus, sleep=fake_clock.sleep).read()


# -- faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("absent", SensorNotFound, "SDA, SCL, VCC"),
        ("crc", ChecksumError, "CRC expected"),
        ("all-ff", SensorNotFound, "reads 0xFF"),
    ],
)
def test_htu21d_fault_raises_and_recovers(
    sensor: HTU21D, twin: EmulatedHTU21D, fault: str, error: type, match: str
) -> None:
    twin.fault = fault
    with pytest.raises(error, match=match):
        sensor.read()
    twin.fault = None
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=0.02)


def test_htu21d_stops_answering_then_recovers(sensor: HTU21D, twin: EmulatedHTU21D) -> None:
    sensor.read()
    twin.fault = "stops-answering"
    with pytest.raises(SensorNotFound):
        for _ in range(3):
            sensor.read()
    twin.fault = None
    assert sensor.read()


def test_htu21d_stuck_bus_is_bus_error(sensor: HTU21D, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        sensor.read()
    assert excinfo.value.errno == errno.ETIMEDOUT and "HTU21D" in str(excinfo.value)


def test_htu21d_wrong_chip_hdc1080(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x40, EmulatedHDC1080(clock=fake_clock.monotonic))
    with pytest.raises(WrongChip, match='set driver = "hdc1080"') as excinfo:
        HTU21D(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "HDC1080"


@pytest.mark.parametrize(("address", "match"), [(0x41, "fixed at 0x40"), ("0x40", "fixed at 0x40")])
def test_htu21d_bad_address_is_config_error(emulated_bus: EmulatedSMBus, address: object, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        HTU21D(emulated_bus, address)  # type: ignore[arg-type]


def test_htu21d_bad_resolution_is_config_error(emulated_bus: EmulatedSMBus) -> None:
    with pytest.raises(DriverConfigError, match="rh12-t14, rh8-t12"):
        HTU21D(emulated_bus, resolution="12bit")


def test_htu21d_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    with HTU21D(emulated_bus) as sensor:
        assert "rh12-t14" in repr(sensor)
    assert emulated_bus.transactions == 0


# -- identify: never an HDC1080 command to this family ------------------------------


@pytest.mark.parametrize("part", ["HTU21D", "SHT21", "Si7021", "Si7020"])
def test_htu21d_identify_sends_only_family_commands(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, part: str
) -> None:
    chip = _attach(emulated_bus, fake_clock, part)
    sent = _spy_writes(chip)
    assert identify(emulated_bus, 0x40, sleep=fake_clock.sleep) == ("HTU21D" if part == "SHT21" else part)
    assert sent == [b"\xe7", b"\xfc\xc9"]
    assert identify(emulated_bus, 0x41, sleep=fake_clock.sleep) is None


def test_htu21d_identify_chip_without_electronic_id(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    class NoEid(EmulatedHTU21D):
        def _write(self, data: bytes, now: float) -> None:
            if data[:1] == b"\xfc":
                raise Nack()
            super()._write(data, now)

    emulated_bus.attach(0x40, NoEid(clock=fake_clock.monotonic))
    assert identify(emulated_bus, sleep=fake_clock.sleep) == "HTU21D"


# -- the twin ----------------------------------------------------------------------


def _read(bus: EmulatedSMBus, length: int) -> bytes:
    msg = i2c_msg.read(0x40, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def test_emulated_htu21d_no_hold_nacks_until_done(
    emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D, fake_clock: FakeClock
) -> None:
    emulated_bus.write_byte(0x40, 0xF3)
    fake_clock.advance(0.049)
    with pytest.raises(OSError) as excinfo:
        _read(emulated_bus, 3)
    assert excinfo.value.errno == errno.EREMOTEIO
    fake_clock.advance(0.001)
    data = _read(emulated_bus, 3)
    assert data[2] == crc8(data[:2], init=0) and data[1] & 0x03 == 0
    with pytest.raises(OSError):  # the result was taken
        _read(emulated_bus, 3)


def test_emulated_htu21d_hold_master_answers_at_once(emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D) -> None:
    emulated_bus.write_byte(0x40, 0xE5)
    assert _read(emulated_bus, 3)[1] & 0x03 == 0b10


def test_emulated_htu21d_unknown_commands_are_nacked(emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D) -> None:
    for command in (0xE0, 0x51, 0xFF, 0x02):  # 0xE0 and 0x51 exist on Si70xx only
        with pytest.raises(OSError):
            emulated_bus.write_byte(0x40, command)


def test_emulated_htu21d_soft_reset(emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D, fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(0x40, 0xE6, 0x07)  # heater on, 8/12 bit
    emulated_bus.write_byte(0x40, 0xFE)
    with pytest.raises(OSError):
        emulated_bus.read_byte_data(0x40, 0xE7)
    fake_clock.advance(0.015)
    assert emulated_bus.read_byte_data(0x40, 0xE7) == 0x06  # default, heater bit kept


def test_emulated_htu21d_flags_reserved_bit_writes(emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D) -> None:
    emulated_bus.write_byte_data(0x40, 0xE6, 0x3A)
    assert twin.reserved_bits_written and twin.user_register == 0x02


def test_emulated_si7021_electronic_id(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    _attach(emulated_bus, fake_clock, "Si7021", serial_number=0x0102030455667788)
    emulated_bus.i2c_rdwr(i2c_msg.write(0x40, b"\xfc\xc9"))
    second = _read(emulated_bus, 6)
    assert second[:2] == b"\x15\x66" and second[2] == crc8(second[:2], init=0)
    emulated_bus.i2c_rdwr(i2c_msg.write(0x40, b"\xfa\x0f"))
    first = _read(emulated_bus, 8)
    assert first[0::2] == b"\x01\x02\x03\x04"


def test_emulated_htu21d_otp_reload_restores_default_resolution(
    emulated_bus: EmulatedSMBus, twin: EmulatedHTU21D
) -> None:
    emulated_bus.write_byte_data(0x40, 0xE6, 0x01)  # 8/12 bit, OTP reload enabled (bit 1 = 0)
    emulated_bus.write_byte(0x40, 0xE5)
    assert twin.resolution == (12, 14)
