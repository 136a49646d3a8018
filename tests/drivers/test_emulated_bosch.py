"""The BME280 and BMP280 twins on their own, talked to as a third-party driver would.

References: BST-BME280-DS002-15 rev 1.6 (§ numbers) and BST-BMP280-DS001.
Calls use smbus2's API on the emulated bus: separate write and read
transactions, write-then-read with a repeated start (what Adafruit's
CircuitPython driver does), and block reads (the RPi.bme280 style).
"""
from __future__ import annotations

import errno

import pytest
from smbus2 import i2c_msg

from drivers._bosch import measurement_time_s
from drivers.emulated import EmulatedBME280, EmulatedBMP280, EmulatedSMBus
from drivers.emulated._bosch import DATA_RESET
from sensorkit.clock import FakeClock
from tests.drivers.bosch_support import raw_counts, registers

BME, BMP = 0x76, 0x77


@pytest.fixture
def bme(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedBME280:
    chip = EmulatedBME280(clock=fake_clock.monotonic, temperature=20.0, humidity=50.0, pressure=1000.0)
    emulated_bus.attach(BME, chip)
    return chip


@pytest.fixture
def bmp(emulated_bus: EmulatedSMBus, fake_clock: FakeClock) -> EmulatedBMP280:
    chip = EmulatedBMP280(clock=fake_clock.monotonic, temperature=20.0, pressure=1000.0)
    emulated_bus.attach(BMP, chip)
    return chip


def _status(bus: EmulatedSMBus, address: int = BME) -> int:
    return bus.read_byte_data(address, 0xF3)


# -- memory map ------------------------------------------------------------------


def test_emulated_bosch_power_on_registers(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                           bmp: EmulatedBMP280) -> None:
    # §5.3 Table 18 reset states.
    assert emulated_bus.read_byte_data(BME, 0xD0) == 0x60
    assert emulated_bus.read_byte_data(BMP, 0xD0) == 0x58
    assert registers(emulated_bus, BME, 0xF2, 4) == bytes([0x00, 0x00, 0x00, 0x00])  # ctrl_hum..config
    assert registers(emulated_bus, BME, 0xF7, 8) == DATA_RESET == bytes.fromhex("8000008000008000")
    assert emulated_bus.read_byte_data(BME, 0xE0) == 0x00  # reset always reads 0x00


def test_emulated_bosch_separate_write_and_read_transactions(emulated_bus: EmulatedSMBus,
                                                             bme: EmulatedBME280) -> None:
    emulated_bus.write_byte(BME, 0xD0)  # pointer, stop
    assert emulated_bus.read_byte(BME) == 0x60  # start, read from the pointer
    emulated_bus.write_byte(BME, 0x88)
    first = bytes(emulated_bus.read_byte(BME) for _ in range(2))  # the pointer auto-increments
    assert first == bytes(emulated_bus.read_i2c_block_data(BME, 0x88, 2))


def test_emulated_bosch_calibration_block_reads(emulated_bus: EmulatedSMBus, bme: EmulatedBME280) -> None:
    tp = bytes(emulated_bus.read_i2c_block_data(BME, 0x88, 26))
    assert tp[:2] == (27504).to_bytes(2, "little") and tp[25] == 75  # dig_T1, dig_H1
    assert bytes(emulated_bus.read_i2c_block_data(BME, 0xE1, 7)) == bytes.fromhex("6a01001329031e")


def test_emulated_bosch_reserved_and_read_only_registers_ignore_writes(emulated_bus: EmulatedSMBus,
                                                                       bme: EmulatedBME280) -> None:
    before = registers(emulated_bus, BME, 0x88, 26)
    for register in (0x88, 0xA0, 0xD0, 0xF3, 0xF6, 0xF7, 0x10):
        emulated_bus.write_byte_data(BME, register, 0x5A)
    assert registers(emulated_bus, BME, 0x88, 26) == before
    assert emulated_bus.read_byte_data(BME, 0xD0) == 0x60
    assert emulated_bus.read_byte_data(BME, 0xF6) == 0x00  # reserved reads 0x00 in the twin
    assert emulated_bus.read_byte_data(BME, 0x10) == 0x00
    assert registers(emulated_bus, BME, 0xF7, 8) == DATA_RESET


def test_emulated_bosch_writes_are_pairs_not_auto_incremented(emulated_bus: EmulatedSMBus,
                                                              bme: EmulatedBME280) -> None:
    # §6.2.1: one transaction of (register, value) pairs.
    emulated_bus.i2c_rdwr(i2c_msg.write(BME, [0xF2, 0x05, 0xF5, 0x10]))
    assert registers(emulated_bus, BME, 0xF2, 4) == bytes([0x05, 0x00, 0x00, 0x10])
    # A block write of two values: the second byte is taken as a register address, not ctrl_meas.
    emulated_bus.write_i2c_block_data(BME, 0xF2, [0x01, 0xF4])
    assert emulated_bus.read_byte_data(BME, 0xF2) == 0x01 and emulated_bus.read_byte_data(BME, 0xF4) == 0x00


def test_emulated_bosch_reserved_bits_read_zero(emulated_bus: EmulatedSMBus, bme: EmulatedBME280) -> None:
    emulated_bus.write_byte_data(BME, 0xF2, 0xFF)
    emulated_bus.write_byte_data(BME, 0xF5, 0xFF)
    assert emulated_bus.read_byte_data(BME, 0xF2) == 0x07  # osrs_h[2:0] only
    assert emulated_bus.read_byte_data(BME, 0xF5) == 0xFD  # bit 1 reserved


def test_emulated_bmp280_has_no_humidity_registers(emulated_bus: EmulatedSMBus, bmp: EmulatedBMP280) -> None:
    emulated_bus.write_byte_data(BMP, 0xF2, 0x01)
    assert emulated_bus.read_byte_data(BMP, 0xF2) == 0x00
    assert registers(emulated_bus, BMP, 0xFD, 2) == b"\x00\x00"
    assert not hasattr(bmp, "humidity")


def test_emulated_bmp280_chip_ids() -> None:
    assert EmulatedBMP280(chip_id=0x56).chip_id == 0x56
    with pytest.raises(ValueError, match="0x60"):
        EmulatedBMP280(chip_id=0x60)


# -- conversions -----------------------------------------------------------------


def _force(bus: EmulatedSMBus, ctrl_meas: int, ctrl_hum: int | None = None, address: int = BME) -> None:
    pairs = ([0xF2, ctrl_hum] if ctrl_hum is not None else []) + [0xF4, ctrl_meas]
    bus.i2c_rdwr(i2c_msg.write(address, pairs))


@pytest.mark.parametrize(("osrs_t", "osrs_p", "osrs_h"), [(1, 1, 1), (2, 16, 4), (16, 16, 16), (1, 0, 0)])
def test_emulated_bosch_forced_conversion_takes_the_maximum_time(
    emulated_bus: EmulatedSMBus, bme: EmulatedBME280, fake_clock: FakeClock, osrs_t: int, osrs_p: int, osrs_h: int
) -> None:
    code = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5}
    ctrl_meas = code[osrs_t] << 5 | code[osrs_p] << 2 | 0b01
    _force(emulated_bus, ctrl_meas, code[osrs_h])
    duration = measurement_time_s(osrs_t, osrs_p, osrs_h)
    fake_clock.advance(duration - 1e-6)
    assert _status(emulated_bus) == 0x08  # measuring
    assert emulated_bus.read_byte_data(BME, 0xF4) == ctrl_meas  # still forced
    assert registers(emulated_bus, BME, 0xF7, 8) == DATA_RESET  # nothing lands early
    fake_clock.advance(1e-6)
    assert _status(emulated_bus) == 0x00
    assert emulated_bus.read_byte_data(BME, 0xF4) == ctrl_meas & ~0x03  # §3.3.3: back to sleep
    data = registers(emulated_bus, BME, 0xF7, 8)
    assert (data[:3] == b"\x80\x00\x00") == (osrs_p == 0)  # a skipped channel reads 0x80000
    assert (data[6:] == b"\x80\x00") == (osrs_h == 0)


def test_emulated_bosch_mode_10_is_forced_too(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                              fake_clock: FakeClock) -> None:
    _force(emulated_bus, 0b001_001_10)
    assert _status(emulated_bus) == 0x08
    fake_clock.advance(0.01)
    assert emulated_bus.read_byte_data(BME, 0xF4) == 0b001_001_00


def test_emulated_bosch_ctrl_hum_needs_a_ctrl_meas_write(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                         fake_clock: FakeClock) -> None:
    # §5.4.3: changes to ctrl_hum only become effective after a write to ctrl_meas.
    emulated_bus.write_byte_data(BME, 0xF4, 0b001_001_11)  # normal mode, humidity skipped
    fake_clock.advance(0.01)
    assert registers(emulated_bus, BME, 0xFD, 2) == b"\x80\x00"
    emulated_bus.write_byte_data(BME, 0xF2, 0x01)
    assert emulated_bus.read_byte_data(BME, 0xF2) == 0x01  # written, not yet in effect
    fake_clock.advance(0.5)
    assert registers(emulated_bus, BME, 0xFD, 2) == b"\x80\x00"
    emulated_bus.write_byte_data(BME, 0xF4, 0b001_001_11)  # waits for a running conversion, if any
    fake_clock.advance(0.03)
    assert registers(emulated_bus, BME, 0xFD, 2) != b"\x80\x00"


def test_emulated_bosch_normal_mode_cycles_with_standby(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                        fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF5, 0b110_000_00)  # t_sb 110 = 10 ms on a BME280
    emulated_bus.write_byte_data(BME, 0xF4, 0b001_001_11)
    measurement = measurement_time_s(1, 1, 0)
    fake_clock.advance(measurement)
    first = raw_counts(emulated_bus, BME)["temperature"]
    assert _status(emulated_bus) == 0x00  # standby
    bme.temperature = 30.0
    fake_clock.advance(0.010)
    assert _status(emulated_bus) == 0x08  # the next cycle has begun
    fake_clock.advance(measurement)
    assert raw_counts(emulated_bus, BME)["temperature"] > first
    emulated_bus.write_byte_data(BME, 0xF5, 0x00)  # §5.4.6: config writes in normal mode are ignored
    assert emulated_bus.read_byte_data(BME, 0xF5) == 0b110_000_00


@pytest.mark.parametrize(("address", "standby_s"), [(BME, 0.020), (BMP, 4.0)])
def test_emulated_bosch_standby_code_111_differs(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                 bmp: EmulatedBMP280, fake_clock: FakeClock, address: int,
                                                 standby_s: float) -> None:
    emulated_bus.write_byte_data(address, 0xF5, 0b111_000_00)
    emulated_bus.write_byte_data(address, 0xF4, 0b001_001_11)
    fake_clock.advance(measurement_time_s(1, 1, 0) + standby_s - 1e-6)
    assert _status(emulated_bus, address) == 0x00
    fake_clock.advance(2e-6)
    assert _status(emulated_bus, address) == 0x08


def test_emulated_bosch_normal_mode_survives_a_long_idle(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                         fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF4, 0b001_001_11)  # 0.5 ms standby: ~150k cycles an hour
    fake_clock.advance(3600.0)
    bme.temperature = -7.0
    fake_clock.advance(0.02)
    assert raw_counts(emulated_bus, BME)["temperature"] < 450_000  # -7 °C, not the 20 °C of an hour ago


def test_emulated_bosch_mode_change_waits_for_the_running_conversion(
    emulated_bus: EmulatedSMBus, bme: EmulatedBME280, fake_clock: FakeClock
) -> None:
    _force(emulated_bus, 0b101_101_01, 0x05)  # 112.8 ms
    fake_clock.advance(0.05)
    emulated_bus.write_byte_data(BME, 0xF4, 0b001_001_01)  # §3.3.1: delayed until the end
    assert emulated_bus.read_byte_data(BME, 0xF4) == 0b101_101_01
    fake_clock.advance(0.0628)
    assert emulated_bus.read_byte_data(BME, 0xF4) == 0b001_001_01  # the second one now runs
    assert _status(emulated_bus) == 0x08


@pytest.mark.parametrize(("osrs", "zero_bits"), [(1, 4), (2, 3), (3, 2), (4, 1), (5, 0)])
def test_emulated_bosch_resolution_is_16_plus_osrs_minus_1_bits(
    emulated_bus: EmulatedSMBus, bme: EmulatedBME280, fake_clock: FakeClock, osrs: int, zero_bits: int
) -> None:
    samples = []
    for step in range(12):
        bme.temperature, bme.pressure = 20.0 + step * 0.0007, 1000.0 + step * 0.0011
        _force(emulated_bus, osrs << 5 | osrs << 2 | 1, 0x01)
        fake_clock.advance(0.2)
        raw = raw_counts(emulated_bus, BME)
        samples += [raw["temperature"], raw["pressure"]]
    mask = (1 << zero_bits) - 1
    assert all(value & mask == 0 for value in samples)  # §3.4.2/3: the low bits stay 0
    if zero_bits:
        assert any(value & (1 << zero_bits) for value in samples)  # the next bit is used


# -- the IIR filter ----------------------------------------------------------------


def _filtered_pressure_counts(bus: EmulatedSMBus, chip: EmulatedBME280 | EmulatedBMP280, clock: FakeClock,
                              address: int, values: list[float]) -> list[int]:
    out = []
    for value in values:
        chip.pressure = value
        _force(bus, 0b001_001_01, address=address)
        clock.advance(0.01)
        out.append(raw_counts(bus, address)["pressure"])
    return out


def test_emulated_bosch_filter_follows_the_datasheet_formula(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                             fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF5, 0b000_010_00)  # coefficient 4
    low, high = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [1000.0, 900.0])
    emulated_bus.write_byte_data(BME, 0xF5, 0x00)
    unfiltered = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [1000.0, 900.0])
    assert low == unfiltered[0]  # the first value passes unchanged and fills the memory
    assert high == round((3 * unfiltered[0] + unfiltered[1]) / 4)  # 20 bit while filtering (BME280)


def test_emulated_bosch_writing_config_resets_the_filter(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                         fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF5, 0b000_100_00)
    _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [1000.0] * 3)
    emulated_bus.write_byte_data(BME, 0xF5, 0b000_100_00)  # same value: still a reset (§3.4.4)
    (after,) = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [900.0])
    emulated_bus.write_byte_data(BME, 0xF5, 0x00)
    (direct,) = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [900.0])
    assert abs(after - direct) <= 1


def test_emulated_bosch_skipped_channel_keeps_its_filter_memory(emulated_bus: EmulatedSMBus,
                                                                bme: EmulatedBME280, fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF5, 0b000_001_00)  # coefficient 2
    (first,) = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [1000.0])
    _force(emulated_bus, 0b001_000_01)  # pressure skipped
    fake_clock.advance(0.01)
    assert raw_counts(emulated_bus, BME)["pressure"] == 0x80000
    (resumed,) = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [900.0])
    emulated_bus.write_byte_data(BME, 0xF5, 0x00)
    (direct,) = _filtered_pressure_counts(emulated_bus, bme, fake_clock, BME, [900.0])
    assert abs(resumed - round((first + direct) / 2)) <= 1


def test_emulated_bmp280_filter_keeps_the_oversampling_resolution(
    emulated_bus: EmulatedSMBus, bmp: EmulatedBMP280, fake_clock: FakeClock
) -> None:
    emulated_bus.write_byte_data(BMP, 0xF5, 0b000_100_00)
    counts = _filtered_pressure_counts(emulated_bus, bmp, fake_clock, BMP, [1000.0, 990.0, 980.0])
    assert all(c % 16 == 0 for c in counts)  # BME280 DS Table 17: depends only on osrs_p


# -- reset, faults -----------------------------------------------------------------


def test_emulated_bosch_soft_reset(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                   fake_clock: FakeClock) -> None:
    emulated_bus.write_byte_data(BME, 0xF5, 0x10)
    _force(emulated_bus, 0b001_001_01, 0x01)
    fake_clock.advance(0.02)
    emulated_bus.write_byte_data(BME, 0xE0, 0x42)  # §5.4.2: other values have no effect
    assert emulated_bus.read_byte_data(BME, 0xF5) == 0x10
    emulated_bus.write_byte_data(BME, 0xE0, 0xB6)
    assert _status(emulated_bus) == 0x01  # im_update: the NVM copy
    assert registers(emulated_bus, BME, 0x88, 4) == bytes(4)  # image registers not loaded yet
    assert emulated_bus.read_byte_data(BME, 0xD0) == 0x60
    fake_clock.advance(0.002)
    assert _status(emulated_bus) == 0x00
    assert registers(emulated_bus, BME, 0x88, 2) == (27504).to_bytes(2, "little")
    assert registers(emulated_bus, BME, 0xF2, 4) == bytes(4)
    assert registers(emulated_bus, BME, 0xF7, 8) == DATA_RESET


def test_emulated_bosch_faults(emulated_bus: EmulatedSMBus, bme: EmulatedBME280) -> None:
    assert bme.has_crc is False
    with pytest.raises(ValueError, match="no CRC"):
        bme.fault = "crc"
    bme.fault = "all-ff"
    assert emulated_bus.read_byte_data(BME, 0xD0) == 0xFF
    bme.fault = "absent"
    with pytest.raises(OSError) as excinfo:
        emulated_bus.write_quick(BME)
    assert excinfo.value.errno == errno.EREMOTEIO
    bme.fault = None
    emulated_bus.write_quick(BME)


def test_emulated_bosch_stops_answering(emulated_bus: EmulatedSMBus, bme: EmulatedBME280) -> None:
    bme.answers_before_silence = 2
    bme.fault = "stops-answering"
    emulated_bus.read_byte_data(BME, 0xD0)  # write pointer + read: two transfers
    with pytest.raises(OSError):
        emulated_bus.read_byte_data(BME, 0xD0)


def test_emulated_bosch_true_values_are_settable(emulated_bus: EmulatedSMBus, bme: EmulatedBME280,
                                                 fake_clock: FakeClock) -> None:
    _force(emulated_bus, 0b001_001_01, 0x01)
    fake_clock.advance(0.01)
    before = raw_counts(emulated_bus, BME)
    bme.temperature, bme.humidity, bme.pressure = -20.0, 90.0, 500.0
    _force(emulated_bus, 0b001_001_01)
    fake_clock.advance(0.01)
    after = raw_counts(emulated_bus, BME)
    assert after["temperature"] < before["temperature"]
    assert after["humidity"] > before["humidity"]
    assert after["pressure"] > before["pressure"]  # adc_P falls as pressure rises
