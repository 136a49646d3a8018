"""Board profiles: every bundled file loads, says the right things, and broken
files or overrides are refused with the file (or board) and key named."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from boards import (
    BoardError,
    BoardProfile,
    I2CBus,
    PinError,
    ProfileError,
    UnknownBoard,
    get_profile,
    load_profiles,
    profile_names,
)

EXPECTED_NAMES = [
    "generic-linux",
    "raspberry-pi-3b",
    "raspberry-pi-3b-plus",
    "raspberry-pi-4b",
    "raspberry-pi-400",
    "raspberry-pi-5",
    "raspberry-pi-cm4",
    "raspberry-pi-zero-2-w",
    "raspberry-pi-zero-w",
    "simulated",
]
REAL_PIS = [n for n in EXPECTED_NAMES if n.startswith("raspberry-pi-")]
FORTY_PIN = [*REAL_PIS, "simulated"]
# J8 power and ground positions, from the Raspberry Pi pinout (and gpiozero's PI4_J8).
J8_POWER = {1: "3V3", 17: "3V3", 2: "5V", 4: "5V"}
J8_GROUND = {6, 9, 14, 20, 25, 30, 34, 39}


def test_profile_names_are_exactly_the_supported_boards() -> None:
    assert profile_names() == sorted(EXPECTED_NAMES)
    assert sorted(load_profiles()) == sorted(EXPECTED_NAMES)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_profile_file_loads_and_round_trips_through_overrides(name: str) -> None:
    profile = get_profile(name)
    assert isinstance(profile, BoardProfile)
    assert profile.name == name
    assert profile.description
    # Re-validating a loaded profile must accept it unchanged.
    assert profile.with_overrides() == profile


@pytest.mark.parametrize("name", FORTY_PIN)
def test_profile_40_pin_header_matches_gpiozero(name: str) -> None:
    from gpiozero.pins.data import PI4_J8

    _rows, _cols, gpiozero_pins = PI4_J8
    profile = get_profile(name)
    assert profile.header_name == "J8"
    for physical, interfaces in gpiozero_pins.items():
        if "gpio" in interfaces:
            assert profile.header[physical] == int(interfaces["gpio"][4:]), physical
        else:
            assert profile.power_pins[physical] == interfaces[""], physical
    assert {p for p, kind in profile.power_pins.items() if kind == "GND"} == J8_GROUND
    assert {p: k for p, k in profile.power_pins.items() if k != "GND"} == J8_POWER


@pytest.mark.parametrize("name", FORTY_PIN)
def test_profile_40_pin_buses_pins_and_reservations(name: str) -> None:
    profile = get_profile(name)
    assert profile.i2c_buses == {1: I2CBus(1, sda=2, scl=3)}
    assert profile.default_i2c_bus == 1
    assert profile.onewire_pin == 4
    assert profile.gpio_pins == frozenset(range(28))
    assert profile.reserved[2] == "I2C1 SDA"
    assert profile.reserved[3] == "I2C1 SCL"
    assert "UART TXD" in profile.reserved[14]
    assert "UART RXD" in profile.reserved[15]
    assert "ID_SD" in profile.reserved[0]
    assert "ID_SC" in profile.reserved[1]
    # Bus 0 (the HAT ID EEPROM) is never offered as a user bus.
    assert 0 not in profile.i2c_buses


@pytest.mark.parametrize("name", REAL_PIS)
def test_profile_real_pis_use_lgpio_and_are_detectable(name: str) -> None:
    profile = get_profile(name)
    assert profile.pin_factory == "lgpio"
    assert profile.models
    assert not profile.simulated


def test_profile_simulated_is_a_mock_pi_never_detected() -> None:
    profile = get_profile("simulated")
    assert profile.simulated
    assert profile.pin_factory == "mock"
    assert profile.models == ()


def test_profile_generic_linux_has_nothing_of_its_own(generic: BoardProfile) -> None:
    assert generic.i2c_buses == {}
    assert generic.gpio_pins == frozenset()
    assert generic.header == {}
    assert generic.default_i2c_bus is None
    assert generic.onewire_pin is None
    assert generic.pin_factory is None
    assert generic.models == ()


def test_profile_models_are_unique_across_profiles() -> None:
    models = [m for p in load_profiles().values() for m in p.models]
    assert len(models) == len(set(models))


def test_load_profiles_returns_a_copy_the_caller_may_change() -> None:
    first = load_profiles()
    first.clear()
    assert sorted(load_profiles()) == sorted(EXPECTED_NAMES)


def test_profile_is_frozen(pi4: BoardProfile) -> None:
    with pytest.raises(AttributeError):
        pi4.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        pi4.reserved[17] = "mine"  # type: ignore[index]


def test_get_profile_unknown_suggests_close_name_and_lists_known() -> None:
    with pytest.raises(UnknownBoard) as info:
        get_profile("raspberry-pi-4")
    message = str(info.value)
    assert "'raspberry-pi-4'" in message
    assert "did you mean 'raspberry-pi-4b'" in message
    assert "generic-linux" in message and "simulated" in message
    assert isinstance(info.value, LookupError) and isinstance(info.value, BoardError)


def test_get_profile_unknown_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(UnknownBoard) as info:
        get_profile("beaglebone")
    assert "did you mean" not in str(info.value)


def test_bus_pins_returns_sda_and_scl(pi4: BoardProfile) -> None:
    assert pi4.bus_pins(1) == (2, 3)


def test_bus_pins_missing_bus_lists_buses_and_hints_at_config_txt(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        pi4.bus_pins(3)
    message = str(info.value)
    assert "no I2C bus 3" in message
    assert "buses: 1" in message
    assert "dtparam=i2c_arm=on" in message and "dtoverlay" in message


def test_with_overrides_gives_generic_linux_buses_and_pins(generic: BoardProfile) -> None:
    board = generic.with_overrides(i2c_buses={2: (12, 13)}, gpio_pins=range(10, 20), onewire_pin=15)
    assert board.i2c_buses == {2: I2CBus(2, 12, 13)}
    assert board.default_i2c_bus == 2
    assert board.bus_pins(2) == (12, 13)
    assert board.reserved == {12: "I2C2 SDA", 13: "I2C2 SCL"}
    assert board.onewire_pin == 15
    assert generic.i2c_buses == {}  # the original is untouched


def test_with_overrides_extra_overlay_bus_reserves_its_pins(pi4: BoardProfile) -> None:
    board = pi4.with_overrides(i2c_buses={**pi4.i2c_buses, 3: I2CBus(3, 4, 5)}, onewire_pin=17)
    assert board.bus_pins(3) == (4, 5)
    assert board.reserved[4] == "I2C3 SDA"
    assert board.default_i2c_bus == 1
    assert board.reserved[14].startswith("UART TXD")


def test_with_overrides_reserved_replaces_explicit_reservations(pi4: BoardProfile) -> None:
    board = pi4.with_overrides(reserved={18: "PWM fan"})
    assert board.reserved == {2: "I2C1 SDA", 3: "I2C1 SCL", 18: "PWM fan"}


@pytest.mark.parametrize(
    ("overrides", "key", "problem"),
    [
        ({"i2c_buses": {3: (30, 31)}}, "i2c.3.sda", "GPIO30 is not among gpio_pins"),
        ({"gpio_pins": [17]}, "header (pin 3)", "GPIO2 is not among gpio_pins"),
        ({"onewire_pin": 2}, "onewire_pin", "reserved for I2C1 SDA"),
        ({"reserved": {40: "fan"}}, "reserved.40", "GPIO40 is not among gpio_pins"),
        ({"reserved": {3: "fan"}}, "reserved.3", "already I2C1 SCL"),
        ({"i2c_buses": {1: (2, 2)}}, "i2c.1", "different pins"),
        ({"default_i2c_bus": 5}, "default_i2c_bus", "no i2c.5"),
    ],
)
def test_with_overrides_validates_like_a_file(
    pi4: BoardProfile, overrides: dict, key: str, problem: str
) -> None:
    with pytest.raises(ProfileError) as info:
        pi4.with_overrides(**overrides)
    message = str(info.value)
    assert "raspberry-pi-4b" in message
    assert f"key {key!r}" in message
    assert problem in message


def test_to_dict_is_json_serialisable_and_complete(pi4: BoardProfile) -> None:
    data = json.loads(json.dumps(pi4.to_dict()))
    assert data["name"] == "raspberry-pi-4b"
    assert data["i2c_buses"] == {"1": {"sda": 2, "scl": 3}}
    assert data["reserved"]["2"] == "I2C1 SDA"
    assert data["header"]["name"] == "J8"
    assert data["header"]["pins"]["1"] == "3V3"
    assert data["header"]["pins"]["11"] == "GPIO17"
    assert list(data["header"]["pins"]) == [str(n) for n in range(1, 41)]
    assert data["gpio_pins"] == list(range(28))
    assert data["pin_factory"] == "lgpio"
    assert data["onewire_pin"] == 4


def test_load_profiles_from_directory_accepts_a_valid_copy(
    profile_dir: Callable[[dict[str, str]], Path], pi4_toml: str, pi4: BoardProfile
) -> None:
    loaded = load_profiles(profile_dir({"raspberry-pi-4b.toml": pi4_toml}))
    assert loaded == {"raspberry-pi-4b": pi4}


BROKEN = [
    # (what is changed: old text -> new text, key named in the error, problem)
    (("onewire_pin = 4", "onewire_pin = 4\nonewire = 4"), "onewire", "unknown key"),
    (
        ('models = ["Raspberry Pi 4 Model B"]', 'models = "Raspberry Pi 4 Model B"'),
        "models",
        "expected a list",
    ),
    (("default_i2c_bus = 1", 'default_i2c_bus = "1"'), "default_i2c_bus", "non-negative integer"),
    (("onewire_pin = 4", 'onewire_pin = "4"'), "onewire_pin", "non-negative integer"),
    (("onewire_pin = 4", "onewire_pin = true"), "onewire_pin", "non-negative integer"),
    (("14 = ", "30 = "), "reserved.30", "GPIO30 is not among gpio_pins"),
    (("scl = 3", "scl = 3\nspeed = 400000"), "i2c.1.speed", "unknown key"),
    (('"GPIO3",  "GND"', '"GPIO3",  "GPIO2"'), "header.pins[2] (pin 6)", "appears twice"),
    (('"GPIO4",  "GPIO14"', '"VCC",    "GPIO14"'), "header.pins[3] (pin 7)", "got 'VCC'"),
    (('name = "raspberry-pi-4b"', 'name = "raspberry-pi-4"'), "name", "must match the file"),
    (('pin_factory = "lgpio"', 'pin_factory = "wiringpi"'), "pin_factory", "not a gpiozero"),
    (('pin_factory = "lgpio"', 'pin_factory = "mock"'), "pin_factory", "simulated = true"),
    (("default_i2c_bus = 1", "default_i2c_bus = 3"), "default_i2c_bus", "no i2c.3"),
    (("[i2c.1]", "[i2c.one]"), "i2c.one", "expected a number"),
    (("description = ", "descr = "), "descr", "unknown key"),
]


@pytest.mark.parametrize(("change", "key", "problem"), BROKEN)
def test_load_profiles_rejects_broken_file_naming_file_and_key(
    profile_dir: Callable[[dict[str, str]], Path],
    pi4_toml: str,
    change: tuple[str, str],
    key: str,
    problem: str,
) -> None:
    old, new = change
    assert old in pi4_toml  # the test edits what it thinks it edits
    directory = profile_dir({"raspberry-pi-4b.toml": pi4_toml.replace(old, new, 1)})
    with pytest.raises(ProfileError) as info:
        load_profiles(directory)
    message = str(info.value)
    assert message.startswith("raspberry-pi-4b.toml: ")
    assert f"key {key!r}" in message
    assert problem in message


def test_load_profiles_rejects_i2c_pin_not_on_the_header(
    profile_dir: Callable[[dict[str, str]], Path], pi4_toml: str
) -> None:
    # GPIO28 is a real BCM2711 GPIO, but not one the 40-pin header brings out.
    text = pi4_toml.replace("27,\n]", "27, 28,\n]").replace("sda = 2", "sda = 28")
    with pytest.raises(ProfileError) as info:
        load_profiles(profile_dir({"raspberry-pi-4b.toml": text}))
    assert "key 'i2c.1.sda'" in str(info.value)
    assert "GPIO28 is not on the J8 header" in str(info.value)


def test_load_profiles_rejects_missing_description(
    profile_dir: Callable[[dict[str, str]], Path],
) -> None:
    with pytest.raises(ProfileError) as info:
        load_profiles(profile_dir({"tiny.toml": 'name = "tiny"\n'}))
    assert "tiny.toml: key 'description': missing" in str(info.value)


def test_load_profiles_rejects_invalid_toml_naming_the_file(
    profile_dir: Callable[[dict[str, str]], Path], pi4_toml: str
) -> None:
    # A key given twice is a TOML error, before any schema check.
    directory = profile_dir({"raspberry-pi-4b.toml": "onewire_pin = 5\n" + pi4_toml})
    with pytest.raises(ProfileError) as info:
        load_profiles(directory)
    assert "raspberry-pi-4b.toml: not valid TOML" in str(info.value)


def test_load_profiles_rejects_a_model_claimed_twice(
    profile_dir: Callable[[dict[str, str]], Path], pi4_toml: str
) -> None:
    twin = pi4_toml.replace('name = "raspberry-pi-4b"', 'name = "twin"')
    directory = profile_dir({"raspberry-pi-4b.toml": pi4_toml, "twin.toml": twin})
    with pytest.raises(ProfileError) as info:
        load_profiles(directory)
    message = str(info.value)
    assert message.startswith("twin.toml: key 'models'")
    assert "'Raspberry Pi 4 Model B' is already claimed by raspberry-pi-4b" in message


def test_import_boards_reads_no_profile_and_no_app() -> None:
    code = (
        "import sys, boards\n"
        "assert 'tomllib' not in sys.modules and 'tomli' not in sys.modules, 'parsed TOML'\n"
        "assert not any(m.split('.')[0] == 'sensorkit' for m in sys.modules), 'imported app'\n"
        "assert boards.profile._builtin_profiles.cache_info().currsize == 0, 'loaded profiles'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
