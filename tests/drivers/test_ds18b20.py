"""DS18B20 (w1_therm family) driver: hand-written sysfs trees with the kernel's formats, and the twin."""
from __future__ import annotations

import errno
import math
from pathlib import Path

import pytest

from drivers import ChecksumError, DriverConfigError, ImplausibleReading, NotReady, SensorNotFound
from drivers.ds18b20 import (
    BULK_POLL_S,
    DS18B20,
    RETRY_DELAY_S,
    Family,
    W1Bus,
    conversion_time_s,
    is_power_on_value,
    parse_temperature,
    parse_w1_slave,
    resolution_from_config,
)
from drivers.emulated import EmulatedW1Bus
from sensorkit.clock import FakeClock

SERIAL = "28-00000a1b2c3d"
# The kernel's documentation example (w1_slave_show(): bytes, crc, YES, retained bytes, t=).
YES = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
# A pre-2020 kernel after a corrupted read: line 2 the last good bytes, t= from the bad ones.
NO = "62 01 4b 46 7f ff 0e 10 57 : crc=03 NO\n72 01 4b 46 7f ff 0e 10 57 t=22125\n"
# Nothing drives the line (unplugged): all 1s, CRC 0xC9, s16 -1 -> t=-62 (C truncation).
ALL_FF = "ff ff ff ff ff ff ff ff ff : crc=c9 NO\n00 00 00 00 00 00 00 00 00 t=-62\n"
ZEROS = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n"
POWER_ON = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
# A genuine 85.000 °C conversion: byte 6 = 10h - (LSB & 0Fh) = 10h, not 0Ch.
REAL_85 = "50 05 4b 46 7f ff 10 10 bd : crc=bd YES\n50 05 4b 46 7f ff 10 10 bd t=85000\n"
REAL_0 = "00 00 4b 46 7f ff 10 10 69 : crc=69 YES\n00 00 4b 46 7f ff 10 10 69 t=0\n"
AT_10_BIT = "50 01 4b 46 3f ff 10 10 a9 : crc=a9 YES\n50 01 4b 46 3f ff 10 10 a9 t=21000\n"


def _tree(root: Path, serial: str = SERIAL, *, w1_slave: str | None = YES, **files: str) -> Path:
    """A w1 tree as the kernel lays it out: a master directory and the device linked from the root."""
    device = root / "w1_bus_master1" / serial
    device.mkdir(parents=True)
    (root / serial).symlink_to(Path("w1_bus_master1") / serial)
    (root / "w1_bus_master1" / "w1_master_slaves").write_text(f"{serial}\n")
    if w1_slave is not None:
        (device / "w1_slave").write_text(w1_slave)
    for name, text in files.items():
        (device / name).write_text(text)
    return device


@pytest.fixture
def sensor(tmp_path: Path, fake_clock: FakeClock) -> DS18B20:
    return DS18B20(tmp_path, SERIAL, sleep=fake_clock.sleep, clock=fake_clock.monotonic)


@pytest.fixture
def twin(tmp_path: Path, fake_clock: FakeClock) -> EmulatedW1Bus:
    return EmulatedW1Bus(tmp_path / "devices", clock=fake_clock.monotonic, sleep=fake_clock.sleep)


def _driver(bus: EmulatedW1Bus, clock: FakeClock, serial: str = SERIAL, **options: object) -> DS18B20:
    return DS18B20(bus.root, serial, sleep=bus.sleep, clock=clock.monotonic, **options)  # type: ignore[arg-type]


# -- pure functions ----------------------------------------------------------------


def test_parse_w1_slave_kernel_example() -> None:
    data = parse_w1_slave(YES)
    assert data.scratchpad.hex() == "72014b467fff0e1057" and data.retained == data.scratchpad
    assert (data.crc, data.crc_ok, data.millidegrees) == (0x57, True, 23125)


def test_parse_w1_slave_crc_failure_line() -> None:
    data = parse_w1_slave(ALL_FF)
    assert not data.crc_ok and data.crc == 0xC9 and data.millidegrees == -62
    assert data.retained == bytes(9)


@pytest.mark.parametrize("text", ["", "\n", YES.splitlines()[0], "72 01 4b : crc=57 YES\nt=1\n", YES + YES])
def test_parse_w1_slave_rejects_what_is_not_w1_therm_output(text: str) -> None:
    with pytest.raises(ValueError, match="not w1_therm output"):
        parse_w1_slave(text)


@pytest.mark.parametrize(("text", "value"), [("23125\n", 23125), ("-62\n", -62), ("0\n", 0)])
def test_parse_temperature(text: str, value: int) -> None:
    assert parse_temperature(text) == value


@pytest.mark.parametrize("text", ["", "\n", "23.1\n", "t=23125\n"])
def test_parse_temperature_rejects_empty_and_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_temperature(text)


@pytest.mark.parametrize(("config", "bits"), [(0x1F, 9), (0x3F, 10), (0x5F, 11), (0x7F, 12)])
def test_resolution_from_config_datasheet_table_3(config: int, bits: int) -> None:
    assert resolution_from_config(config) == bits


@pytest.mark.parametrize(
    ("text", "family", "expected"),
    [(POWER_ON, Family.DS18B20, True), (REAL_85, Family.DS18B20, False), (YES, Family.DS18B20, False),
     ("ff 07 4b 46 7f ff 0c 10 a6 : crc=a6 YES\n00 00 00 00 00 00 00 00 00 t=0\n", Family.DS18B20, True),
     ("aa 00 4b 46 ff ff 0c 10 87 : crc=87 YES\naa 00 4b 46 ff ff 0c 10 87 t=85000\n", Family.DS18S20, True)],
)
def test_is_power_on_value(text: str, family: Family, expected: bool) -> None:
    assert is_power_on_value(parse_w1_slave(text).scratchpad, family) is expected


def test_conversion_time_datasheet_table_3() -> None:
    assert [conversion_time_s(resolution=r) for r in (9, 10, 11, 12)] == [0.09375, 0.1875, 0.375, 0.75]
    assert conversion_time_s(serial=SERIAL, aliases={}) == 0.75  # the catalog passes every option
    with pytest.raises(ValueError):
        conversion_time_s(resolution=8)


# -- reading the kernel's files -------------------------------------------------------


def test_old_kernel_w1_slave_yes(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path)
    assert sensor.read() == {"temperature": 23.125}


def test_new_kernel_reads_the_temperature_file(tmp_path: Path, sensor: DS18B20) -> None:
    # w1_slave says something else, so the value shows which file was read.
    _tree(tmp_path, temperature="-10125\n", w1_slave=YES)
    assert sensor.read() == {"temperature": -10.125}


def test_crc_no_is_retried_once_then_checksum_error(tmp_path: Path, sensor: DS18B20,
                                                    fake_clock: FakeClock) -> None:
    _tree(tmp_path, w1_slave=NO)
    with pytest.raises(ChecksumError, match=r"62 01 4b .* failed its CRC \(computed 03, sent 57\).*pull-up"):
        sensor.read()
    assert fake_clock.sleeps == [RETRY_DELAY_S]


def test_empty_read_from_a_new_kernel_is_a_checksum_error(tmp_path: Path, sensor: DS18B20,
                                                          fake_clock: FakeClock) -> None:
    _tree(tmp_path, temperature="", w1_slave="")
    with pytest.raises(ChecksumError, match="read nothing from DS18B20 28-00000a1b2c3d.*4.7 kOhm pull-up"):
        sensor.read()
    assert fake_clock.sleeps == [RETRY_DELAY_S]


def test_eio_from_the_kernel_is_a_checksum_error(tmp_path: Path, sensor: DS18B20,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Some kernels answer a failed read with EIO instead of 0 bytes.
    _tree(tmp_path, temperature="23125\n")
    real = Path.read_text

    def read_text(path: Path, *args: object, **kwargs: object) -> str:
        if path.name == "temperature":
            raise OSError(errno.EIO, "Input/output error")
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(ChecksumError, match="read nothing"):
        sensor.read()


def test_all_ones_means_nothing_answers(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path, w1_slave=ALL_FF)
    with pytest.raises(SensorNotFound, match="reads all 1s.*unplugged or unpowered"):
        sensor.read()


def test_all_zero_scratchpad_is_a_checksum_error(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path, w1_slave=ZEROS)
    with pytest.raises(ChecksumError, match="all nine scratchpad bytes read 0.*DQ and GND"):
        sensor.read()


def test_power_on_value_is_not_ready(tmp_path: Path, sensor: DS18B20, fake_clock: FakeClock) -> None:
    _tree(tmp_path, w1_slave=POWER_ON)
    with pytest.raises(NotReady, match="power-on value.*byte 6 = 0x0C"):
        sensor.read()
    assert fake_clock.sleeps == [RETRY_DELAY_S]


def test_a_real_85_degrees_is_a_reading(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path, w1_slave=REAL_85)
    assert sensor.read() == {"temperature": 85.0}


@pytest.mark.parametrize(("temperature", "w1_slave", "outcome"), [
    ("85000\n", POWER_ON, NotReady), ("85000\n", REAL_85, 85.0),
    ("0\n", ZEROS, ChecksumError), ("0\n", REAL_0, 0.0),
])
def test_suspect_values_from_the_temperature_file_are_checked_in_w1_slave(
        tmp_path: Path, sensor: DS18B20, temperature: str, w1_slave: str, outcome: object) -> None:
    _tree(tmp_path, temperature=temperature, w1_slave=w1_slave)
    if isinstance(outcome, float):
        assert sensor.read() == {"temperature": outcome}
    else:
        with pytest.raises(outcome):  # type: ignore[call-overload]
            sensor.read()


def test_value_outside_the_range_is_implausible(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path, temperature="130000\n")
    with pytest.raises(ImplausibleReading, match="130.000 °C, outside the -55..125 °C"):
        sensor.read()


def test_ds18s20_messages_name_the_part(tmp_path: Path, fake_clock: FakeClock) -> None:
    _tree(tmp_path, "10-000802bd4f6a", w1_slave=POWER_ON.replace("50 05", "aa 00"))
    with pytest.raises(NotReady, match="DS18S20 10-000802bd4f6a"):
        DS18B20(tmp_path, "10-000802bd4f6a", sleep=fake_clock.sleep).read()


# -- finding the sensor ------------------------------------------------------------------


def test_no_w1_tree_says_what_to_add_to_the_boot_config(tmp_path: Path, fake_clock: FakeClock) -> None:
    sensor = DS18B20(tmp_path / "missing", SERIAL, sleep=fake_clock.sleep)
    with pytest.raises(SensorNotFound, match=r"does not exist; add `dtoverlay=w1-gpio` \(add ,gpiopin=N.*"
                       r"/boot/firmware/config.txt \(/boot/config.txt.*reboot"):
        sensor.read()


def test_boot_config_hint_names_a_pin_other_than_gpio4(tmp_path: Path, fake_clock: FakeClock) -> None:
    sensor = DS18B20(tmp_path, SERIAL, sleep=fake_clock.sleep, w1_pin=17)
    with pytest.raises(SensorNotFound, match="has no bus master; add `dtoverlay=w1-gpio,gpiopin=17`"):
        sensor.read()


def test_empty_bus_says_to_check_the_wiring(tmp_path: Path, sensor: DS18B20) -> None:
    (tmp_path / "w1_bus_master1").mkdir()
    (tmp_path / "w1_bus_master1" / "w1_master_slaves").write_text("not found.\n")
    with pytest.raises(SensorNotFound, match=r"\(w1_bus_master1\) finds no thermometer.*4.7 kOhm pull-up.*"
                       "dtoverlay=w1-gpio"):
        sensor.read()


def test_other_sensors_are_listed_when_the_serial_is_missing(tmp_path: Path, sensor: DS18B20) -> None:
    _tree(tmp_path, "28-0000075f9a12")
    with pytest.raises(SensorNotFound, match="no DS18B20 28-00000a1b2c3d .*found: 28-0000075f9a12"):
        sensor.read()


def test_vanished_sensor_reads_again_when_it_comes_back(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL, temperature=19.5)
    sensor = _driver(twin, fake_clock)
    assert sensor.read() == {"temperature": 19.5}
    chip = twin.remove_sensor(SERIAL)
    with pytest.raises(SensorNotFound, match="finds no thermometer"):
        sensor.read()
    twin.add_sensor(chip)
    assert sensor.read() == {"temperature": 19.5}


def test_resolution_is_set_again_after_a_power_cycle(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL, temperature=21.3)
    sensor = _driver(twin, fake_clock, resolution=10)
    sensor.read()
    assert (twin.root / SERIAL / "resolution").read_text() == "10\n"
    chip = twin.remove_sensor(SERIAL)
    with pytest.raises(SensorNotFound):
        sensor.read()
    twin.add_sensor(chip)  # powers up with the EEPROM's 12 bit
    assert sensor.read() == {"temperature": 21.25}
    assert chip.resolution == 10


# -- resolution -----------------------------------------------------------------------------


def test_resolution_is_written_and_used(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL, temperature=21.3)
    sensor = _driver(twin, fake_clock, resolution=10)
    start = fake_clock.monotonic()
    assert sensor.read() == {"temperature": 21.25}  # 10 bit: 0.25 °C steps
    assert fake_clock.monotonic() - start == pytest.approx(0.75)  # converted with the old setting's wait
    start = fake_clock.monotonic()
    sensor.read()
    assert fake_clock.monotonic() - start == pytest.approx(0.19)  # the kernel's 10-bit conv_time


def test_resolution_file_written_on_a_plain_tree(tmp_path: Path, sensor: DS18B20) -> None:
    sensor = DS18B20(tmp_path, SERIAL, resolution=9)
    device = _tree(tmp_path, temperature="21000\n", resolution="12\n")
    sensor.read()
    assert (device / "resolution").read_text() == "9\n"


def test_clone_fixed_at_12_bit_is_reported(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL, fixed_resolution=True)
    sensor = _driver(twin, fake_clock, resolution=9)
    sensor.read()
    with pytest.raises(DriverConfigError, match="stays at 12 bit.*clones are fixed at 12 bit; set resolution = 12"):
        sensor.read()


def test_old_kernel_cannot_change_the_resolution(tmp_path: Path, fake_clock: FakeClock) -> None:
    _tree(tmp_path, w1_slave=AT_10_BIT)
    assert DS18B20(tmp_path, SERIAL, resolution=10).read() == {"temperature": 21.0}
    with pytest.raises(DriverConfigError, match=r"converts at 10 bit .*no resolution file.*set resolution = 10"):
        DS18B20(tmp_path, SERIAL, resolution=12, sleep=fake_clock.sleep).read()


@pytest.mark.parametrize(("serial", "options", "message"), [
    ("28-xyz", {}, "not of the form 28-00000a1b2c3d"),
    ("29-00000a1b2c3d", {}, "family code must be one of 10 .DS18S20."),
    (SERIAL, {"resolution": 8}, "9, 10, 11 or 12 bits"),
    (SERIAL, {"resolution": True}, "9, 10, 11 or 12 bits"),
    ("10-000802bd4f6a", {"resolution": 10}, "DS18S20 .* has no resolution setting"),
])
def test_constructor_checks_options_without_io(tmp_path: Path, serial: str, options: dict, message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        DS18B20(tmp_path / "not-there", serial, **options)


def test_constructor_does_no_io(tmp_path: Path) -> None:
    DS18B20(tmp_path / "not-there", SERIAL, resolution=9)
    assert list(tmp_path.iterdir()) == []


# -- retries against the twin ---------------------------------------------------------------


def _sync_if_read_one_by_one(bus: EmulatedW1Bus) -> None:
    """What the simulated board does before a reading; with bulk reads the driver's sleep does it."""
    if not bus.bulk_read:
        bus.sync()


@pytest.mark.parametrize("fault", ["crc_failures", "power_on_reads", "zero_reads"])
@pytest.mark.parametrize("kernel", ["new", "old"])
def test_one_bad_conversion_is_retried(tmp_path: Path, fake_clock: FakeClock, fault: str, kernel: str) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, sleep=fake_clock.sleep, kernel=kernel)
    setattr(bus.add_sensor(SERIAL, temperature=18.0), fault, 1)
    _sync_if_read_one_by_one(bus)
    assert _driver(bus, fake_clock).read() == {"temperature": 18.0}
    assert RETRY_DELAY_S in fake_clock.sleeps


@pytest.mark.parametrize(("fault", "error"), [("crc_failures", ChecksumError), ("power_on_reads", NotReady),
                                              ("zero_reads", ChecksumError)])
@pytest.mark.parametrize("kernel", ["new", "old"])
def test_two_bad_conversions_fail(tmp_path: Path, fake_clock: FakeClock, fault: str, error: type,
                                  kernel: str) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, sleep=fake_clock.sleep, kernel=kernel)
    setattr(bus.add_sensor(SERIAL), fault, 2)
    _sync_if_read_one_by_one(bus)
    sensor = _driver(bus, fake_clock)
    with pytest.raises(error):
        sensor.read()
    assert sensor.read() == {"temperature": 21.0}  # the fault is spent: it reads again


def test_failing_sensor_keeps_failing(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL).crc_failures = math.inf
    sensor = _driver(twin, fake_clock)
    for _ in range(3):
        with pytest.raises(ChecksumError):
            sensor.read()


# -- bulk conversion ---------------------------------------------------------------------------


def _sensors(bus: EmulatedW1Bus, clock: FakeClock, count: int, *, shared: bool, **options: object) -> list[DS18B20]:
    serials = [f"28-0000{i:08x}" for i in range(count)]
    for index, serial in enumerate(serials):
        bus.add_sensor(serial, temperature=10.0 + index)
    w1 = W1Bus(bus.root, sleep=bus.sleep, clock=clock.monotonic)
    return [DS18B20(bus.root, s, sleep=bus.sleep, clock=clock.monotonic,
                    bus=w1 if shared else None, **options) for s in serials]  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [1, 4, 16])
def test_bulk_read_costs_one_conversion_for_all(twin: EmulatedW1Bus, fake_clock: FakeClock, count: int) -> None:
    sensors = _sensors(twin, fake_clock, count, shared=True)
    start = fake_clock.monotonic()
    values = [s.read()["temperature"] for s in sensors]
    assert values == [10.0 + i for i in range(count)]
    assert fake_clock.monotonic() - start == pytest.approx(0.75)


@pytest.mark.parametrize("count", [1, 4])
def test_without_a_shared_bus_each_sensor_converts(twin: EmulatedW1Bus, fake_clock: FakeClock, count: int) -> None:
    sensors = _sensors(twin, fake_clock, count, shared=False)
    start = fake_clock.monotonic()
    for sensor in sensors:
        sensor.read()
    assert fake_clock.monotonic() - start == pytest.approx(0.75 * count)


def test_bulk_result_is_not_reused_once_old(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    first, second = _sensors(twin, fake_clock, 2, shared=True)
    first.read()
    fake_clock.advance(5.0)
    start = fake_clock.monotonic()
    second.read()
    assert fake_clock.monotonic() - start == pytest.approx(0.75)  # converted afresh


def test_bulk_read_reports_the_temperature_at_the_trigger(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    serials = ["28-000000000001", "28-000000000002"]
    chips = [twin.add_sensor(s, temperature=10.0) for s in serials]

    def sleep(seconds: float) -> None:  # the air warms while the conversion runs
        twin.sync()
        for chip in chips:
            chip.temperature += 5.0
        fake_clock.sleep(seconds)
        twin.sync()

    w1 = W1Bus(twin.root, sleep=sleep, clock=fake_clock.monotonic)
    first, second = (DS18B20(twin.root, s, bus=w1, sleep=sleep, clock=fake_clock.monotonic) for s in serials)
    assert first.read() == {"temperature": 10.0}
    assert twin.bulk_status() == 1  # the kernel took the trigger
    assert second.read() == {"temperature": 10.0}  # measured at the trigger, not converted again
    assert fake_clock.sleeps == [0.75]


def test_bulk_waits_while_another_program_restarts_it(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL)
    trigger = twin.master_dir / "therm_bulk_read"

    def sleep_while_retriggered(seconds: float) -> None:
        twin.sleep(seconds)
        trigger.write_text("trigger\n")  # someone else keeps starting conversions
        twin.sync()

    sensor = DS18B20(twin.root, SERIAL, sleep=sleep_while_retriggered, clock=fake_clock.monotonic)
    with pytest.raises(NotReady, match="bulk conversion on w1_bus_master1 was still running"):
        sensor.read()
    assert BULK_POLL_S in fake_clock.sleeps


def test_ds28ea00_is_read_on_its_own(twin: EmulatedW1Bus, fake_clock: FakeClock) -> None:
    twin.add_sensor(SERIAL)
    twin.add_sensor("42-0000004e5a2b", temperature=22.0)
    assert _driver(twin, fake_clock, "42-0000004e5a2b").read() == {"temperature": 22.0}
    assert fake_clock.sleeps == []  # no bulk trigger: the kernel's own read converts it
    assert twin.bulk_status() == 0


@pytest.mark.parametrize("options", [{"kernel": "old"}, {"bulk_read": False}])
def test_without_therm_bulk_read_sensors_are_read_one_by_one(tmp_path: Path, fake_clock: FakeClock,
                                                            options: dict) -> None:
    bus = EmulatedW1Bus(tmp_path, clock=fake_clock.monotonic, sleep=fake_clock.sleep, **options)
    bus.add_sensor(SERIAL, temperature=-3.5)
    assert _driver(bus, fake_clock).read() == {"temperature": -3.5}
    assert fake_clock.sleeps == []
