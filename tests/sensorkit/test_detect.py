"""`sensorkit detect`: the scan, the identification order, and blocks that `validate` accepts."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drivers.emulated import EmulatedHDC1080, EmulatedHTU21D, EmulatedSHT3x, EmulatedSMBus, Nack
from sensorkit import detect
from sensorkit.clock import FakeClock
from tests.sensorkit.test_cli import sensorkit, write

FAMILIES = {"sht3x", "sht4x", "shtc3", "bme280", "bmp280", "aht2x", "htu21d", "hdc1080"}


class Recorder:
    """A chip that answers everything and remembers what it was sent."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.reads = 0

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def read(self, length: int) -> bytes:
        self.reads += 1
        return b"\x00" * length


def test_detect_probes_like_i2cdetect() -> None:
    assert detect.probe_kind(0x44) == "quick" and detect.probe_kind(0x76) == "quick"
    assert detect.probe_kind(0x30) == detect.probe_kind(0x37) == "read"
    assert detect.probe_kind(0x50) == detect.probe_kind(0x5F) == "read"
    bus = EmulatedSMBus(1)
    eeprom, other = Recorder(), Recorder()
    bus.attach(0x50, eeprom)
    bus.attach(0x21, other)
    scan = detect.scan_bus(bus, 1, sleep=FakeClock().sleep)
    assert [f.address for f in scan.findings] == [0x21, 0x50]
    assert eeprom.writes == [] and eeprom.reads == 1  # a read byte, never a write, in the EEPROM range
    assert other.writes == [b""]  # a quick write: the address alone
    assert all(f.driver is None for f in scan.findings)


def test_detect_names_each_family_at_shared_addresses() -> None:
    clock = FakeClock()
    bus, second = EmulatedSMBus(1), EmulatedSMBus(3)
    bus.attach(0x44, EmulatedSHT3x(clock=clock.monotonic))
    bus.attach(0x40, EmulatedHTU21D(clock=clock.monotonic))
    second.attach(0x40, EmulatedHDC1080(clock=clock.monotonic))
    first = {f.address: f.driver for f in detect.scan_bus(bus, 1, sleep=clock.sleep).findings}
    other = {f.address: f.driver for f in detect.scan_bus(second, 3, sleep=clock.sleep).findings}
    assert first == {0x40: "htu21d", 0x44: "sht3x"} and other == {0x40: "hdc1080"}


def test_detect_leaves_the_chips_as_it_found_them() -> None:
    """Probing must change no chip's state: an HTU21D is not reset (0xFE), an SHT3x records no failed command."""
    clock = FakeClock()
    bus = EmulatedSMBus(1)
    sht, htu = EmulatedSHT3x(clock=clock.monotonic), EmulatedHTU21D(clock=clock.monotonic)
    bus.attach(0x44, sht)
    bus.attach(0x40, htu)
    bus.write_byte_data(0x40, 0xE6, 0x83)  # the HTU21D's user register: RH 11 / T 11 bit (reset value 0x02)
    status_before = sht.status_word()
    for _ in range(2):
        detect.scan_bus(bus, 1, sleep=clock.sleep)
    assert bus.read_byte_data(0x40, 0xE7) == 0x83, "the probe soft-reset the HTU21D"
    assert sht.status_word() == status_before


def test_detect_reports_a_stuck_bus() -> None:
    bus = EmulatedSMBus(1)
    bus.stuck = True
    scan = detect.scan_bus(bus, 1, sleep=FakeClock().sleep)
    assert scan.error.startswith("I2C bus 1 failed during the scan: a line is held low")


def test_detect_block_is_in_the_config_keys() -> None:
    found = detect.Finding(3, 0x44, "SHT4x", "sht4x")
    block = detect.sensor_block(found, default_bus=1, taken=set())
    assert block.splitlines() == ["[[sensor]]", 'name = "sht4x_44_bus3"', 'driver = "sht4x"', "bus = 3",
                                  "address = 0x44", 'interval = "10s"']
    aht = detect.sensor_block(detect.Finding(1, 0x38, "AHT10", "aht2x"), default_bus=1, taken=set())
    assert 'variant = "aht10"' in aht and "bus =" not in aht


def test_detect_simulate_finds_every_family_with_blocks_validate_accepts(tmp_path: Path) -> None:
    result = sensorkit("detect", "--simulate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    named = set(re.findall(r"\(driver (\w+)\)", result.stdout))
    assert named == FAMILIES | {"ds18b20"}, result.stdout
    blocks = result.stdout.split("# Paste into your config (README: 'Configuration'):\n", 1)[1]
    config = write(tmp_path / "found.toml", '[device]\nboard = "simulated"\n'
                   'i2c_buses = { 1 = { sda = 2, scl = 3 }, 3 = { sda = 23, scl = 24 } }\n\n' + blocks)
    check = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert f"{len(FAMILIES) + 2} enabled sensor(s)" in check.stdout  # and two 1-wire thermometers
    read = sensorkit("read", "--simulate", "-c", str(config), cwd=tmp_path)
    assert read.returncode == 0, read.stdout + read.stderr


def test_detect_json_gives_the_same_findings(tmp_path: Path) -> None:
    text = sensorkit("detect", "--simulate", cwd=tmp_path).stdout
    doc = json.loads(sensorkit("detect", "--simulate", "--json", cwd=tmp_path).stdout)
    found = {(b["bus"], f["address"], f["driver"]) for b in doc["buses"] for f in b["found"]}
    assert {d for _, _, d in found} == FAMILIES
    for bus, address, driver in found:
        assert f"I2C bus {bus} {address}: " in text and f"(driver {driver})" in text


def test_detect_with_a_config_scans_its_twins(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[device]\nboard = "simulated"\n\n[[sensor]]\nname = "air"\n'
                   'driver = "sht3x"\naddress = 0x45\n')
    result = sensorkit("detect", "--simulate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "I2C bus 1 0x45: SHT3x (driver sht3x)" in result.stdout
    assert "0x44" not in result.stdout


@pytest.mark.skipif(Path("/dev/i2c-1").exists(), reason="this machine has an I2C bus 1")
def test_detect_on_hardware_without_i2c_says_how_to_enable_it(tmp_path: Path) -> None:
    result = sensorkit("detect", "--board", "raspberry-pi-4b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/dev/i2c-1 does not exist: enable I2C" in result.stdout


def test_detect_unknown_chip_is_listed_not_guessed() -> None:
    class Silent:
        def write(self, data: bytes) -> None:
            if data:
                raise Nack()

        def read(self, length: int) -> bytes:
            raise Nack()

    bus = EmulatedSMBus(1)
    bus.attach(0x44, Silent())  # ACKs its address, answers no SHT command
    [finding] = detect.scan_bus(bus, 1, sleep=FakeClock().sleep).findings
    assert finding.driver is None and finding.address == 0x44


def test_detect_lists_the_1wire_thermometers_with_blocks(tmp_path: Path) -> None:
    result = sensorkit("detect", "--simulate", cwd=tmp_path)
    found = re.findall(r"1-wire (28-[0-9a-f]{12}): DS18B20, now -?\d+\.\d\d °C", result.stdout)
    assert len(found) == 2, result.stdout
    for serial in found:
        assert f'serial = "{serial}"' in result.stdout
    doc = json.loads(sensorkit("detect", "--simulate", "--json", cwd=tmp_path).stdout)
    assert sorted(f["serial"] for f in doc["onewire"]["found"]) == sorted(found)


@pytest.mark.skipif(Path("/sys/bus/w1/devices").exists(), reason="this machine has a 1-wire bus")
def test_detect_without_a_1wire_bus_says_what_to_add_to_the_boot_config(tmp_path: Path) -> None:
    result = sensorkit("detect", "--board", "raspberry-pi-4b", cwd=tmp_path)
    assert "1-wire: no 1-wire bus" in result.stdout and "dtoverlay=w1-gpio" in result.stdout
