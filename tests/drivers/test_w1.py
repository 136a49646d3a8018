"""drivers.w1: the w1 sysfs tree's masters and thermometers, as the kernel names them."""
from __future__ import annotations

from pathlib import Path

import pytest

from drivers.w1 import Family, W1Bus, boot_config_hint, scan

SERIAL = "28-00000a1b2c3d"


def _device(root: Path, serial: str, master: str = "w1_bus_master1") -> None:
    (root / master / serial).mkdir(parents=True)
    (root / serial).symlink_to(Path(master) / serial)


@pytest.mark.parametrize(("code", "part"), [("10", "DS18S20"), ("22", "DS1822"), ("28", "DS18B20"),
                                            ("3b", "DS1825/MAX31850"), ("42", "DS28EA00")])
def test_family_from_serial_names_the_part(code: str, part: str) -> None:
    family = Family.of(f"{code}-00000a1b2c3d")
    assert family is not None and family.part == part


@pytest.mark.parametrize("name", ["01-00000a1b2c3d", "w1_bus_master1", "28-0a1b2c3d", "28-00000A1B2C3D"])
def test_family_of_other_names_is_none(name: str) -> None:
    assert Family.of(name) is None


def test_scan_lists_thermometers_only(tmp_path: Path) -> None:
    _device(tmp_path, "28-0000075f9a12")
    (tmp_path / "01-000012345678").mkdir()  # a DS2401 silicon serial number
    (tmp_path / "w1_bus_master10").mkdir()
    (tmp_path / "w1_bus_master2").mkdir()
    assert scan(tmp_path) == ["28-0000075f9a12"]
    bus = W1Bus(tmp_path)
    assert bus.masters() == ["w1_bus_master1", "w1_bus_master2", "w1_bus_master10"]
    assert bus.master_of("28-0000075f9a12") == "w1_bus_master1"




def test_master_of_finds_the_sensor_on_the_second_master(tmp_path: Path) -> None:
    _device(tmp_path, SERIAL, "w1_bus_master2")
    (tmp_path / "w1_bus_master1").mkdir()
    assert W1Bus(tmp_path).master_of(SERIAL) == "w1_bus_master2"
    assert W1Bus(tmp_path).master_of("28-0000075f9a12") is None


@pytest.mark.parametrize(("pin", "line"), [(None, "`dtoverlay=w1-gpio` (add ,gpiopin=N"),
                                           (4, "`dtoverlay=w1-gpio` (add ,gpiopin=N"),
                                           (17, "`dtoverlay=w1-gpio,gpiopin=17` to")])
def test_boot_config_hint(pin: int | None, line: str) -> None:
    hint = boot_config_hint(pin)
    assert line in hint and "/boot/firmware/config.txt" in hint and hint.endswith("then reboot")
