"""The emulated w1 sysfs tree: encodings against the datasheet, files against w1_therm.c."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers._crc import crc8_maxim
from drivers.emulated import EmulatedW1Bus
from drivers.emulated.w1 import (
    encode_ds18b20,
    encode_ds18s20,
    format_w1_slave,
    kernel_millidegrees,
    rom_id,
)
from sensorkit.clock import FakeClock

SERIAL = "28-00000a1b2c3d"


@pytest.fixture
def bus(tmp_path: Path, fake_clock: FakeClock) -> EmulatedW1Bus:
    return EmulatedW1Bus(tmp_path / "devices", clock=fake_clock.monotonic, sleep=fake_clock.sleep)


def _text(path: Path) -> str:
    return path.read_text()


# -- encodings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("celsius", "raw"),
    # DS18B20 datasheet Table 1 (temperature/data relationship, 12 bit).
    [(125.0, 0x07D0), (85.0, 0x0550), (25.0625, 0x0191), (10.125, 0x00A2), (0.5, 0x0008),
     (0.0, 0x0000), (-0.5, 0xFFF8), (-10.125, 0xFF5E), (-25.0625, 0xFE6F), (-55.0, 0xFC90)],
)
def test_encode_ds18b20_datasheet_table(celsius: float, raw: int) -> None:
    pad = encode_ds18b20(celsius, 12)
    assert int.from_bytes(pad[:2], "little") == raw
    assert crc8_maxim(pad) == 0  # byte 8 is the CRC of bytes 0-7


def test_encode_ds18b20_reproduces_the_kernel_documentation_example() -> None:
    # w1_therm's sysfs example: 72 01 4b 46 7f ff 0e 10 57, t=23125.
    pad = encode_ds18b20(23.125, 12)
    assert pad.hex(" ") == "72 01 4b 46 7f ff 0e 10 57"
    assert kernel_millidegrees(pad, 0x28) == 23125


@pytest.mark.parametrize(("bits", "config", "step"), [(9, 0x1F, 0.5), (10, 0x3F, 0.25), (11, 0x5F, 0.125),
                                                      (12, 0x7F, 0.0625)])
def test_encode_ds18b20_resolution_sets_config_and_steps(bits: int, config: int, step: float) -> None:
    pad = encode_ds18b20(21.3, bits)
    assert pad[4] == config  # datasheet: R1 R0 in bits 6:5, bits 4:0 read 1
    celsius = int.from_bytes(pad[:2], "little", signed=True) / 16
    assert celsius % step == 0
    assert abs(celsius - 21.3) <= step / 2


@given(st.floats(min_value=-55, max_value=125), st.sampled_from([9, 10, 11, 12]))
def test_encode_ds18b20_round_trips_through_the_kernel_arithmetic(celsius: float, bits: int) -> None:
    step = 1 / (1 << (bits - 8))
    millidegrees = kernel_millidegrees(encode_ds18b20(celsius, bits), 0x28)
    assert abs(millidegrees / 1000 - celsius) <= step / 2 + 0.001


def test_kernel_millidegrees_truncates_like_c() -> None:
    # s16 -1 (0xFFFF) * 1000 / 16 = -62.5, C division gives -62, floor would give -63.
    assert kernel_millidegrees(bytes([0xFF, 0xFF]) + bytes(7), 0x28) == -62


@pytest.mark.parametrize(
    ("celsius", "raw"),
    # DS18S20 datasheet Table 1 (9 bit, 0.5 °C steps, sign-extended MSB).
    [(85.0, 0x00AA), (25.0, 0x0032), (0.5, 0x0001), (0.0, 0x0000), (-0.5, 0xFFFF), (-25.0, 0xFFCE),
     (-55.0, 0xFF92)],
)
def test_encode_ds18s20_datasheet_table(celsius: float, raw: int) -> None:
    pad = encode_ds18s20(celsius)
    assert int.from_bytes(pad[:2], "little") == raw
    assert pad[4:6] == b"\xff\xff" and pad[7] == 0x10
    assert crc8_maxim(pad) == 0


@given(st.floats(min_value=-55, max_value=125))
def test_encode_ds18s20_count_remain_gives_extended_resolution(celsius: float) -> None:
    # TEMP = TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C, 1/16 °C steps.
    assert abs(kernel_millidegrees(encode_ds18s20(celsius), 0x10) / 1000 - celsius) <= 1 / 32 + 0.001


def test_ds18s20_power_on_scratchpad_matches_the_old_kernels_bad_rom(bus: EmulatedW1Bus) -> None:
    sensor = bus.add_sensor("10-000802bd4f6a")
    assert sensor.power_on_scratchpad().hex() == "aa004b46ffff0c1087"
    assert kernel_millidegrees(sensor.power_on_scratchpad(), 0x10) == 85000


def test_rom_id_ends_with_its_crc() -> None:
    rom = rom_id(SERIAL)
    assert rom[0] == 0x28 and rom[1:7] == bytes.fromhex("3d2c1b0a0000")
    assert crc8_maxim(rom) == 0


def test_format_w1_slave_is_byte_for_byte_the_kernels() -> None:
    pad = bytes.fromhex("72014b467fff0e1057")
    assert format_w1_slave(pad, 0x57, True, pad, 23125) == (
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n")


# -- the tree ----------------------------------------------------------------------


def test_empty_master_says_not_found(bus: EmulatedW1Bus) -> None:
    master = bus.master_dir
    assert _text(master / "w1_master_slaves") == "not found.\n"  # w1_master_attribute_show_slaves()
    assert _text(master / "w1_master_slave_count") == "0\n"
    assert _text(master / "w1_master_name") == "w1_bus_master1\n"
    assert not (master / "therm_bulk_read").exists()


def test_added_sensor_has_the_new_kernels_files(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL, temperature=23.125)
    bus.add_sensor("28-00000a1b2c3e", temperature=-10.125)
    device = bus.root / SERIAL
    assert device.is_symlink() and device.resolve() == (bus.master_dir / SERIAL).resolve()
    assert _text(bus.master_dir / "w1_master_slaves") == f"{SERIAL}\n28-00000a1b2c3e\n"
    assert _text(bus.master_dir / "w1_master_slave_count") == "2\n"
    assert _text(device / "w1_slave") == (
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n")
    assert _text(device / "temperature") == "23125\n"
    assert _text(bus.root / "28-00000a1b2c3e" / "temperature") == "-10125\n"
    assert _text(device / "resolution") == "12\n"
    assert _text(device / "conv_time") == "750\n"
    assert _text(device / "ext_power") == "1\n"
    assert _text(device / "features") == "0\n"
    assert _text(device / "alarms") == "70 75\n"  # "%hd %hd\n" of TL, TH
    assert _text(device / "name") == f"{SERIAL}\n"
    assert (device / "id").read_bytes() == rom_id(SERIAL)
    assert _text(bus.master_dir / "therm_bulk_read") == "0\n"


def test_ds18s20_has_no_resolution_file(bus: EmulatedW1Bus) -> None:
    bus.add_sensor("10-000802bd4f6a", temperature=25.0)
    device = bus.root / "10-000802bd4f6a"
    assert not (device / "resolution").exists()
    assert _text(device / "temperature") == "25000\n"


def test_old_kernel_has_w1_slave_only(tmp_path: Path, fake_clock: FakeClock) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, kernel="old")
    bus.add_sensor(SERIAL, temperature=23.125)
    names = {p.name for p in (tmp_path / SERIAL).iterdir()}
    assert names == {"w1_slave", "name", "id"}
    assert not (bus.master_dir / "therm_bulk_read").exists()


def test_setting_the_temperature_shows_after_sync(bus: EmulatedW1Bus) -> None:
    sensor = bus.add_sensor(SERIAL, temperature=20.0)
    sensor.temperature = 30.5
    assert _text(bus.root / SERIAL / "temperature") == "20000\n"  # files change only on sync
    bus.sync()
    assert _text(bus.root / SERIAL / "temperature") == "30500\n"


# -- bulk read ----------------------------------------------------------------------


def test_bulk_read_reads_minus_one_for_the_conversion_time(bus: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    a = bus.add_sensor(SERIAL, temperature=20.0)
    bus.add_sensor("28-00000a1b2c3e", temperature=21.0)
    status = bus.master_dir / "therm_bulk_read"
    status.write_text("trigger\n")
    bus.sync()
    assert _text(status) == "-1\n"
    assert _text(bus.root / SERIAL / "temperature") == ""  # "nothing is returned ... retry later"
    assert _text(bus.root / SERIAL / "w1_slave") == ""
    a.temperature = 40.0  # after the trigger: not what the bulk read measured
    fake_clock.advance(0.749)
    bus.sync()
    assert _text(status) == "-1\n"
    fake_clock.advance(0.001)
    bus.sync()
    assert _text(status) == "1\n"
    assert _text(bus.root / SERIAL / "temperature") == "20000\n"
    assert _text(bus.root / "28-00000a1b2c3e" / "temperature") == "21000\n"
    fake_clock.advance(0.01)
    bus.sync()  # the clock moved on: the twin takes the results as read
    assert _text(status) == "0\n"
    assert _text(bus.root / SERIAL / "temperature") == "40000\n"


def test_bulk_trigger_needs_its_newline(bus: EmulatedW1Bus) -> None:
    # therm_bulk_read_store() compares the write's size with sizeof("trigger").
    bus.add_sensor(SERIAL)
    (bus.master_dir / "therm_bulk_read").write_text("trigger")
    bus.sync()
    assert _text(bus.master_dir / "therm_bulk_read") == "0\n"


def test_bulk_conversion_time_is_the_longest_on_the_bus(bus: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    bus.add_sensor(SERIAL, resolution=9)
    bus.add_sensor("28-00000a1b2c3e", resolution=11)
    (bus.master_dir / "therm_bulk_read").write_text("trigger\n")
    bus.sync()
    fake_clock.advance(0.374)
    bus.sync()
    assert bus.bulk_status() == -1
    fake_clock.advance(0.001)
    bus.sync()
    assert bus.bulk_status() == 1


def test_ds28ea00_is_not_part_of_a_bulk_read(bus: EmulatedW1Bus) -> None:
    bus.add_sensor("42-0000004e5a2b", temperature=22.0)
    assert not (bus.master_dir / "therm_bulk_read").exists()  # only bulk-capable families add it
    bus.add_sensor(SERIAL)
    (bus.master_dir / "therm_bulk_read").write_text("trigger\n")
    bus.sync()
    assert _text(bus.root / "42-0000004e5a2b" / "temperature") == "22000\n"
    bus.remove_sensor(SERIAL)
    assert not (bus.master_dir / "therm_bulk_read").exists()  # removed with the last bulk-capable one


def test_no_bulk_file_when_disabled(tmp_path: Path, fake_clock: FakeClock) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, bulk_read=False)
    bus.add_sensor(SERIAL)
    assert not (bus.master_dir / "therm_bulk_read").exists()


def test_sleep_lets_the_kernel_act(bus: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    bus.add_sensor(SERIAL)
    (bus.master_dir / "therm_bulk_read").write_text("trigger\n")
    bus.sleep(0.75)
    assert fake_clock.sleeps == [0.75]
    assert _text(bus.master_dir / "therm_bulk_read") == "1\n"


# -- settings -----------------------------------------------------------------------


@pytest.mark.parametrize("file", ["resolution", "w1_slave"])
def test_resolution_write_changes_the_next_conversion(bus: EmulatedW1Bus, file: str) -> None:
    bus.add_sensor(SERIAL, temperature=21.3)
    (bus.root / SERIAL / file).write_text("10\n")
    bus.sync()
    device = bus.root / SERIAL
    assert _text(device / "resolution") == "10\n"
    assert _text(device / "conv_time") == "190\n"
    assert _text(device / "w1_slave").split()[4] == "3f"
    assert _text(device / "temperature") == "21250\n"


def test_resolution_out_of_range_is_ignored(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL)
    (bus.root / SERIAL / "resolution").write_text("13\n")
    bus.sync()
    assert _text(bus.root / SERIAL / "resolution") == "12\n"


def test_clone_fixed_at_12_bit_ignores_resolution(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL, fixed_resolution=True)
    (bus.root / SERIAL / "resolution").write_text("9\n")
    bus.sync()
    assert _text(bus.root / SERIAL / "resolution") == "12\n"


def test_resolution_survives_a_power_cycle_only_when_saved(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL)
    (bus.root / SERIAL / "resolution").write_text("9\n")
    bus.sync()
    sensor = bus.remove_sensor(SERIAL)
    bus.add_sensor(sensor)
    assert _text(bus.root / SERIAL / "resolution") == "12\n"
    (bus.root / SERIAL / "resolution").write_text("9\n")
    bus.sync()
    (bus.root / SERIAL / "eeprom").write_text("save\n")
    bus.sync()
    bus.add_sensor(bus.remove_sensor(SERIAL))
    assert _text(bus.root / SERIAL / "resolution") == "9\n"


def test_alarms_write_orders_and_clamps(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL)
    (bus.root / SERIAL / "alarms").write_text("200 -3\n")
    bus.sync()
    assert _text(bus.root / SERIAL / "alarms") == "-3 125\n"
    assert _text(bus.root / SERIAL / "w1_slave").split()[2:4] == ["7d", "fd"]


# -- faults ---------------------------------------------------------------------------


def test_crc_failure_on_a_new_kernel_is_an_empty_read(bus: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    sensor = bus.add_sensor(SERIAL, temperature=20.0)
    sensor.crc_failures = 2
    for _ in range(2):
        bus.sync()
        assert _text(bus.root / SERIAL / "temperature") == ""
        assert _text(bus.root / SERIAL / "w1_slave") == ""
        fake_clock.advance(0.1)
    bus.sync()
    assert _text(bus.root / SERIAL / "temperature") == "20000\n"


def test_crc_failure_on_an_old_kernel_prints_no(tmp_path: Path, fake_clock: FakeClock) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, kernel="old")
    sensor = bus.add_sensor(SERIAL, temperature=23.125)
    sensor.crc_failures = math.inf
    bus.add_sensor("28-00000a1b2c3e").crc_failures = 1
    bus.sync()
    line1, line2 = _text(tmp_path / SERIAL / "w1_slave").splitlines()
    # Line 2 keeps the last bytes that passed: the good read made when the sensor was added.
    assert line1.startswith("62 01 4b 46 7f ff 0e 10 57 : crc=") and line1.endswith(" NO")
    assert line2 == "72 01 4b 46 7f ff 0e 10 57 t=22125"
    # The other one failed once: line 2 holds its first, good read (21 °C), t= the flipped bytes'.
    good = encode_ds18b20(21.0, 12).hex(" ")
    assert _text(tmp_path / "28-00000a1b2c3e" / "w1_slave").splitlines()[1] == f"{good} t=20000"


def test_power_on_value(bus: EmulatedW1Bus) -> None:
    sensor = bus.add_sensor(SERIAL, temperature=20.0)
    sensor.power_on_reads = 1
    bus.sync()
    assert _text(bus.root / SERIAL / "w1_slave") == (
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n")
    assert _text(bus.root / SERIAL / "temperature") == "85000\n"


def test_power_on_value_with_the_kernels_check_is_a_failed_read(bus: EmulatedW1Bus) -> None:
    sensor = bus.add_sensor(SERIAL)
    (bus.root / SERIAL / "features").write_text("1\n")
    bus.sync()
    sensor.power_on_reads = 1
    bus.sync()
    assert _text(bus.root / SERIAL / "temperature") == ""


def test_all_zero_scratchpad_passes_its_crc(bus: EmulatedW1Bus) -> None:
    sensor = bus.add_sensor(SERIAL)
    sensor.zero_reads = 1
    bus.sync()
    assert _text(bus.root / SERIAL / "w1_slave") == (
        "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n")
    assert _text(bus.root / SERIAL / "temperature") == "0\n"


def test_removed_sensor_leaves_the_tree(bus: EmulatedW1Bus) -> None:
    bus.add_sensor(SERIAL)
    bus.remove_sensor(SERIAL)
    assert not (bus.root / SERIAL).exists() and not (bus.master_dir / SERIAL).exists()
    assert _text(bus.master_dir / "w1_master_slaves") == "not found.\n"
    assert not (bus.master_dir / "therm_bulk_read").exists()


@pytest.mark.parametrize("serial", ["28-00000A1B2C3D", "29-00000a1b2c3d", "28-0a1b2c3d", "w1_bus_master2"])
def test_bad_serials_are_refused(bus: EmulatedW1Bus, serial: str) -> None:
    with pytest.raises(ValueError, match="w1_therm serial"):
        bus.add_sensor(serial)


def test_unknown_kernel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kernel"):
        EmulatedW1Bus(tmp_path, kernel="3.4")
