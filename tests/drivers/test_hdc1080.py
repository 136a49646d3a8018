"""HDC1080 driver against its twin, on a shared fake clock (TI SNAS672A)."""
from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smbus2 import i2c_msg

from drivers import BusError, ChecksumError, DriverConfigError, NotReady, SensorNotFound, WrongChip
from drivers.emulated import EmulatedHDC1080, EmulatedHTU21D, EmulatedSMBus
from drivers.emulated.hdc1080 import celsius_to_raw, humidity_to_raw
from drivers.hdc1080 import HDC1080, config_word, conversion_time_s, identify, raw_to_celsius, raw_to_humidity
from sensorkit.clock import FakeClock


def _tolerance(span: float, bits: int) -> float:
    # One step (the top code is a step below full scale, so values in the last step
    # read one step low), plus the driver's rounding to 0.01.
    return span / 2**bits + 0.005


def _spy_writes(chip: object) -> list[bytes]:
    sent: list[bytes] = []
    original = chip.write  # type: ignore[attr-defined]

    def spy(data: bytes) -> None:
        sent.append(bytes(data))
        original(data)

    chip.write = spy  # type: ignore[attr-defined]
    return sent


@pytest.fixture
def twin(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedHDC1080:
    chip = EmulatedHDC1080(clock=fake_clock.monotonic)
    emulated_bus.attach(0x40, chip)
    return chip


@pytest.fixture
def sensor(emulated_bus: EmulatedSMBus, fake_clock: FakeClock, twin: EmulatedHDC1080) -> HDC1080:
    return HDC1080(emulated_bus, sleep=fake_clock.sleep)


# -- formulas (§8.6.1-8.6.3) -----------------------------------------------------------


@pytest.mark.parametrize(("raw", "celsius"), [(0x0000, -40.0), (0x8000, 42.5), (0x6400, 24.453), (0xFFFC, 124.99)])
def test_hdc1080_raw_to_celsius(raw: int, celsius: float) -> None:
    assert raw_to_celsius(raw) == pytest.approx(celsius, abs=0.005)


@pytest.mark.parametrize(("raw", "rh"), [(0x0000, 0.0), (0x8000, 50.0), (0xFFFC, 99.994)])
def test_hdc1080_raw_to_humidity(raw: int, rh: float) -> None:
    assert raw_to_humidity(raw) == pytest.approx(rh, abs=0.001)


@pytest.mark.parametrize(
    ("t_bits", "rh_bits", "heater", "word"),
    [(14, 14, False, 0x1000), (11, 14, False, 0x1400), (14, 11, False, 0x1100), (14, 8, False, 0x1200),
     (11, 8, True, 0x3600)],
)  # fmt: skip
def test_hdc1080_config_word_follows_table_4(t_bits: int, rh_bits: int, heater: bool, word: int) -> None:
    assert config_word(t_bits, rh_bits, heater) == word


def test_hdc1080_conversion_time_per_resolution() -> None:
    assert conversion_time_s() == pytest.approx(0.00635 + 0.0065 + 0.002)
    fast = conversion_time_s(resolution_temperature=11, resolution_humidity=8)
    assert fast == pytest.approx(0.00365 + 0.0025 + 0.002)
    assert conversion_time_s(resolution_humidity=11, heater=True) == pytest.approx(0.00635 + 0.00385 + 0.002)


@given(st.floats(-40, 124.8), st.floats(0, 99.5), st.sampled_from([14, 11]), st.sampled_from([14, 11, 8]))
def test_hdc1080_twin_encoding_within_half_a_step(celsius: float, rh: float, t_bits: int, rh_bits: int) -> None:
    assert abs(raw_to_celsius(celsius_to_raw(celsius, t_bits)) - celsius) <= 165 / 2**t_bits / 2 + 1e-9
    assert abs(raw_to_humidity(humidity_to_raw(rh, rh_bits)) - rh) <= 100 / 2**rh_bits / 2 + 1e-9
    assert celsius_to_raw(celsius, t_bits) & 0x3 == humidity_to_raw(rh, rh_bits) & 0x3 == 0


# -- read ----------------------------------------------------------------------


@pytest.mark.parametrize(("t_bits", "rh_bits"), [(14, 14), (11, 11), (14, 8), (11, 8)])
@pytest.mark.parametrize(("celsius", "rh"), [(-40.0, 0.0), (-12.3, 3.2), (22.0, 45.0), (85.0, 99.0), (124.9, 99.99)])
def test_hdc1080_read_round_trips_across_range_and_resolutions(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, t_bits: int, rh_bits: int, celsius: float, rh: float
) -> None:
    emulated_bus.attach(0x40, EmulatedHDC1080(clock=fake_clock.monotonic, temperature=celsius, humidity=rh))
    sensor = HDC1080(emulated_bus, resolution_temperature=t_bits, resolution_humidity=rh_bits, sleep=fake_clock.sleep)
    reading = sensor.read()
    assert reading["temperature"] == pytest.approx(celsius, abs=_tolerance(165.0, t_bits))
    assert reading["humidity"] == pytest.approx(rh, abs=_tolerance(100.0, rh_bits))


def test_hdc1080_range_ends_clamp_to_the_register(sensor: HDC1080, twin: EmulatedHDC1080) -> None:
    twin.temperature, twin.humidity = -45.0, 100.0
    assert sensor.read() == {"temperature": -40.0, "humidity": 99.99}


def test_hdc1080_transactions_per_reading(sensor: HDC1080, twin: EmulatedHDC1080, emulated_bus: EmulatedSMBus) -> None:
    sensor.read()  # identity (bare read, 0xFF, 0xFE), configuration, then the reading
    assert emulated_bus.transactions == 6
    sent = _spy_writes(twin)
    emulated_bus.reset_counters()
    sensor.read()
    assert sent == [b"\x00"]
    assert (emulated_bus.transactions, emulated_bus.bytes_written + emulated_bus.bytes_read) == (2, 1 + 4)


def test_hdc1080_writes_the_configured_options(emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock) -> None:
    HDC1080(emulated_bus, resolution_temperature=11, resolution_humidity=8, heater=True, sleep=fake_clock.sleep).read()
    assert twin.config == 0x3600 and twin.heater_on
    assert (twin.temperature_bits, twin.humidity_bits) == (11, 8)


def test_hdc1080_waits_the_conversion_of_its_resolution(sensor: HDC1080, fake_clock: FakeClock) -> None:
    sensor.read()
    assert fake_clock.sleeps[-1] == pytest.approx(0.01485)


def test_hdc1080_read_too_early_is_not_ready_then_reset(
    emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock: FakeClock
) -> None:
    waits: list[float] = []
    sensor = HDC1080(emulated_bus, sleep=waits.append)  # time never passes for the twin
    with pytest.raises(NotReady, match="NACKed its result"):
        sensor.read()
    assert twin.converting()
    sensor._sleep = fake_clock.sleep
    sent = _spy_writes(twin)
    assert sensor.read()["temperature"] == pytest.approx(22.0, abs=0.01)
    assert b"\x02\x80\x00" in sent  # the soft reset (RST bit) before reconfiguring


def test_hdc1080_corrupt_low_bits_are_a_checksum_error(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    class NoisyLine(EmulatedHDC1080):
        def _read(self, length: int, now: float) -> bytes:
            data = bytearray(super()._read(length, now))
            if length == 4:
                data[3] |= 0x01
            return bytes(data)

    emulated_bus.attach(0x40, NoisyLine(clock=fake_clock.monotonic))
    with pytest.raises(ChecksumError, match="humidity register .* bits 1:0"):
        HDC1080(emulated_bus, sleep=fake_clock.sleep).read()


def test_hdc1080_waits_out_power_up(sensor: HDC1080, twin: EmulatedHDC1080) -> None:
    twin.power_cycle()
    assert sensor.read()


def test_hdc1080_serial_id(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x40, EmulatedHDC1080(clock=fake_clock.monotonic, serial_id=0x1_2345_6789_A))
    assert HDC1080(emulated_bus, sleep=fake_clock.sleep).serial_id() == 0x1_2345_6789_A


# -- faults ----------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "match"), [("absent", "SDA, SCL, VCC"), ("all-ff", "reads 0xFF")])
def test_hdc1080_fault_raises_and_recovers(sensor: HDC1080, twin: EmulatedHDC1080, fault: str, match: str) -> None:
    twin.fault = fault
    with pytest.raises(SensorNotFound, match=match):
        sensor.read()
    twin.fault = None
    assert sensor.read()["humidity"] == pytest.approx(45.0, abs=0.01)


def test_hdc1080_stops_answering_then_recovers(sensor: HDC1080, twin: EmulatedHDC1080) -> None:
    sensor.read()
    twin.fault = "stops-answering"
    with pytest.raises(SensorNotFound):
        for _ in range(3):
            sensor.read()
    twin.fault = None
    assert sensor.read()


def test_hdc1080_stuck_bus_is_bus_error(sensor: HDC1080, emulated_bus: EmulatedSMBus) -> None:
    emulated_bus.stuck = True
    with pytest.raises(BusError) as excinfo:
        sensor.read()
    assert excinfo.value.errno == errno.ETIMEDOUT and "HDC1080" in str(excinfo.value)


def test_hdc1080_twin_cannot_show_crc() -> None:
    with pytest.raises(ValueError, match="no CRC"):
        EmulatedHDC1080().fault = "crc"


@pytest.mark.parametrize(("part", "found"), [("HTU21D", "HTU21D"), ("SHT21", "HTU21D"), ("Si7021", "Si7021")])
def test_hdc1080_wrong_chip_htu21d_family_gets_no_hdc_command(
    emulated_bus: EmulatedSMBus, fake_clock: FakeClock, part: str, found: str
) -> None:
    chip = EmulatedHTU21D(clock=fake_clock.monotonic, part=part)
    emulated_bus.attach(0x40, chip)
    sent = _spy_writes(chip)
    with pytest.raises(WrongChip, match='set driver = "htu21d"') as excinfo:
        HDC1080(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == found
    assert sent == [b"\xe7", b"\xfc\xc9"]  # never 0xFE (its soft reset) nor 0xFF


def test_hdc1080_wrong_chip_hdc1000(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> None:
    emulated_bus.attach(0x40, EmulatedHDC1080(clock=fake_clock.monotonic, device_id=0x1000))
    with pytest.raises(WrongChip, match="HDC1000/HDC1008/HDC1010") as excinfo:
        HDC1080(emulated_bus, sleep=fake_clock.sleep).read()
    assert excinfo.value.found == "HDC1000"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"address": 0x41}, "fixed at 0x40"),
        ({"resolution_temperature": 8}, "14 or 11"),
        ({"resolution_humidity": 12}, "14, 11 or 8"),
        ({"resolution_humidity": True}, "14, 11 or 8"),
        ({"heater": "yes"}, "true or false"),
    ],
)
def test_hdc1080_bad_options_are_config_errors(emulated_bus: EmulatedSMBus, kwargs: dict, match: str) -> None:
    with pytest.raises(DriverConfigError, match=match):
        HDC1080(emulated_bus, **kwargs)


def test_hdc1080_constructor_does_no_io(emulated_bus: EmulatedSMBus) -> None:
    with HDC1080(emulated_bus) as sensor:
        assert "resolution_humidity=14" in repr(sensor)
    assert emulated_bus.transactions == 0


def test_hdc1080_identify(emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock: FakeClock) -> None:
    sent = _spy_writes(twin)
    assert identify(emulated_bus, 0x40, sleep=fake_clock.sleep) == "HDC1080"
    assert sent == [b"\xff", b"\xfe"]  # pointers only: nothing triggered or configured
    assert not twin.converting() and twin.config == 0x1000
    assert identify(emulated_bus, 0x41) is None


# -- the twin ----------------------------------------------------------------------


def _read(bus: EmulatedSMBus, length: int) -> bytes:
    msg = i2c_msg.read(0x40, length)
    bus.i2c_rdwr(msg)
    return bytes(msg)


def test_emulated_hdc1080_linux_driver_sequence(emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock) -> None:
    # drivers/iio/humidity/hdc100x.c: config by write_word_swapped, MODE 0, write_byte(pointer), sleep, 2-byte read.
    emulated_bus.write_i2c_block_data(0x40, 0x02, [0x00, 0x00])
    emulated_bus.write_byte(0x40, 0x01)
    with pytest.raises(OSError) as excinfo:
        _read(emulated_bus, 2)
    assert excinfo.value.errno == errno.EREMOTEIO  # read during the conversion
    fake_clock.advance(0.0065)
    assert int.from_bytes(_read(emulated_bus, 2), "big") == humidity_to_raw(45.0)
    assert twin.register(0x00) == 0x0000  # MODE 0: only humidity was acquired


def test_emulated_hdc1080_one_transaction_reads_t_then_rh(
    emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock: FakeClock
) -> None:
    emulated_bus.write_byte(0x40, 0x00)
    fake_clock.advance(0.01284)
    with pytest.raises(OSError):
        _read(emulated_bus, 4)
    fake_clock.advance(0.00001)
    data = _read(emulated_bus, 4)
    assert data == celsius_to_raw(22.0).to_bytes(2, "big") + humidity_to_raw(45.0).to_bytes(2, "big")


def test_emulated_hdc1080_ids_and_reserved_registers(emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080) -> None:
    assert emulated_bus.read_i2c_block_data(0x40, 0xFE, 2) == [0x54, 0x49]
    assert emulated_bus.read_i2c_block_data(0x40, 0xFF, 2) == [0x10, 0x50]
    emulated_bus.write_i2c_block_data(0x40, 0x10, [0xAB, 0xCD])  # reserved: ignored
    assert emulated_bus.read_i2c_block_data(0x40, 0x10, 2) == [0, 0]
    emulated_bus.write_i2c_block_data(0x40, 0x02, [0x4F, 0xFF])  # reserved bits and BTST cannot be set
    assert twin.config == 0x0700


def test_emulated_hdc1080_soft_reset(emulated_bus: EmulatedSMBus, twin: EmulatedHDC1080, fake_clock) -> None:
    emulated_bus.write_i2c_block_data(0x40, 0x02, [0x36, 0x00])
    emulated_bus.write_i2c_block_data(0x40, 0x02, [0x80, 0x00])
    with pytest.raises(OSError):
        emulated_bus.write_quick(0x40)
    fake_clock.advance(0.015)
    assert twin.config == 0x1000 and twin.pointer == 0x02
