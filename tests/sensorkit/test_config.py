"""Config loading: every problem found, each message naming file, line, key and the fix."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import boards
from sensorkit.catalog import DRIVERS
from sensorkit.config import apply_device_overrides, find_config, load_config, parse_config, resolve, search_paths
from sensorkit.durations import format_duration, parse_duration
from sensorkit.errors import ConfigError

GOOD = """\
[device]
board = "raspberry-pi-4b"

[[sensor]]
name = "air"
driver = "sht3x"
address = 0x44
interval = "10s"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
pull_up = true
interval = "500ms"
series = { state = "front_door" }
"""


def problems_of(text: str, source: str = "conf.toml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), source)
    return info.value.problems


def test_config_parses_the_documented_shape() -> None:
    config = parse_config(GOOD, "conf.toml")
    assert config.device.board == "raspberry-pi-4b"
    air, door = config.sensors
    assert (air.driver, air.address, air.bus, air.interval_s) == ("sht3x", 0x44, None, 10.0)
    assert air.series == {"temperature": "air_temperature", "humidity": "air_humidity"}
    assert air.options == {"repeatability": "high", "mode": "single", "mps": 1, "heater": False}
    assert (door.pin, door.interval_s, door.options["pull_up"]) == ("GPIO17", 0.5, True)
    assert door.series == {"state": "front_door"}
    assert air.line == 4 and door.key_lines["pin"] == 13


def test_config_malformed_toml_names_file_line_and_column() -> None:
    [message] = problems_of('[device]\nboard = "auto\n')
    assert message.startswith("conf.toml:2:")
    assert "not valid TOML" in message


def test_config_unknown_driver_suggests_the_close_one() -> None:
    [message] = problems_of('[[sensor]]\nname = "air"\ndriver = "sht31"\n')
    assert message.startswith("conf.toml:3: [[sensor]] 'air' key 'driver': unknown driver 'sht31'")
    assert "did you mean 'sht3x'" in message and f"known drivers: {', '.join(sorted(DRIVERS))}" in message


def test_config_wrong_types_are_each_reported_with_their_line() -> None:
    problems = problems_of(
        """\
        [[sensor]]
        name = "air"
        driver = "sht3x"
        address = "forty-four"
        interval = true
        enabled = "yes"
        repeatability = "ultra"
        """
    )
    assert len(problems) == 4
    assert problems[0].startswith("conf.toml:5: [[sensor]] 'air' key 'interval': must be a duration")
    assert "got a boolean (true)" in problems[0]
    assert problems[1].startswith("conf.toml:6: [[sensor]] 'air' key 'enabled': must be true or false")
    assert problems[2].startswith("conf.toml:4: [[sensor]] 'air' key 'address': must be an I2C address such as 0x44")
    assert problems[3].startswith("conf.toml:7: [[sensor]] 'air' key 'repeatability': must be one of")
    assert '"high", "medium", "low"' in problems[3]


def test_config_rejects_an_address_the_chip_cannot_have() -> None:
    [message] = problems_of('[[sensor]]\nname = "air"\ndriver = "sht3x"\naddress = 0x40\n')
    assert "key 'address': a sht3x answers only at 0x44 or 0x45" in message
    assert "ADDR pin" in message and "not 0x40" in message


def test_config_duplicate_sensor_names_point_at_both() -> None:
    [message] = problems_of(
        '[[sensor]]\nname = "air"\ndriver = "sht3x"\n\n[[sensor]]\nname = "air"\ndriver = "sht3x"\naddress = 0x45\n'
    )
    assert message.startswith("conf.toml:6: [[sensor]] 'air'")
    assert "duplicate sensor name" in message and "(line 2)" in message


def test_config_duplicate_series_names_are_refused() -> None:
    [message] = problems_of(
        """\
        [[sensor]]
        name = "a"
        driver = "sht3x"
        series = { temperature = "temp" }
        [[sensor]]
        name = "b"
        driver = "sht3x"
        address = 0x45
        series = { temperature = "temp" }
        """
    )
    assert "series name 'temp' is already used by sensor 'a'" in message


def test_config_unknown_keys_and_sections_get_suggestions() -> None:
    problems = problems_of(
        """\
        [devices]
        board = "auto"
        [[sensor]]
        name = "air"
        driver = "sht3x"
        adress = 0x44
        """
    )
    assert problems[0].startswith("conf.toml:1: [devices]: unknown section (did you mean 'device'?)")
    assert problems[1].startswith("conf.toml:6: [[sensor]] 'air' key 'adress': unknown key for driver 'sht3x' "
                                  "(did you mean 'address'?)")


def test_config_single_bracket_sensor_table_explains_double_brackets() -> None:
    [message] = problems_of('[sensor]\nname = "air"\ndriver = "sht3x"\n')
    assert "write [[sensor]] (double brackets)" in message


def test_config_missing_name_driver_and_pin() -> None:
    problems = problems_of('[[sensor]]\ndriver = "gpio_input"\n\n[[sensor]]\nname = "x1"\n')
    assert any("[[sensor]] #1 key 'name': missing" in p for p in problems)
    assert any("key 'pin': missing" in p and '"GPIO17"' in p for p in problems)
    assert any("[[sensor]] 'x1' key 'driver': missing" in p for p in problems)


def test_config_interval_faster_than_the_chip_is_refused() -> None:
    [message] = problems_of('[[sensor]]\nname = "air"\ndriver = "sht3x"\ninterval = "10ms"\n')
    assert "10ms is faster than a sht3x can measure with these options; use 50ms or more" in message


def test_config_bad_names_explain_the_rule() -> None:
    [message] = problems_of('[[sensor]]\nname = "air temp"\ndriver = "sht3x"\n')
    assert "key 'name'" in message and "letters, digits, '_' or '-'" in message


def test_config_load_reports_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_config_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert search_paths()[:2] == [tmp_path / "sensorkit.toml", tmp_path / "xdg" / "sensorkit" / "sensorkit.toml"]
    assert str(search_paths()[2]) == "/etc/sensorkit/sensorkit.toml"
    user = tmp_path / "xdg" / "sensorkit" / "sensorkit.toml"
    user.parent.mkdir(parents=True)
    user.write_text(GOOD)
    assert find_config() == user
    (tmp_path / "sensorkit.toml").write_text(GOOD)
    assert find_config() == tmp_path / "sensorkit.toml"


# ------------------------------------------------------------------ against a board


def resolve_text(text: str, board: str = "raspberry-pi-4b"):
    config = parse_config(textwrap.dedent(text), "conf.toml")
    return resolve(config, boards.get_profile(board))


def resolve_problems(text: str, board: str = "raspberry-pi-4b") -> list[str]:
    with pytest.raises(ConfigError) as info:
        resolve_text(text, board)
    return info.value.problems


def test_resolve_ties_sensors_to_buses_and_pins() -> None:
    air, door = resolve_text(GOOD)
    assert (air.bus, air.address, air.where()) == (1, 0x44, "I2C bus 1 address 0x44")
    assert door.pin == 17 and door.where() == "GPIO17"


def test_resolve_accepts_board_numbering() -> None:
    [door] = resolve_text('[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = "BOARD11"\n')
    assert door.pin == 17


def test_resolve_pin_the_board_lacks() -> None:
    [message] = resolve_problems('[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = 40\n')
    assert message.startswith("conf.toml:4: [[sensor]] 'door' key 'pin':")
    assert "40" in message


def test_resolve_pin_taken_by_another_sensor() -> None:
    [message] = resolve_problems(
        '[[sensor]]\nname = "a"\ndriver = "gpio_input"\npin = 17\n'
        '[[sensor]]\nname = "b"\ndriver = "gpio_input"\npin = "BOARD11"\n'
    )
    assert message.startswith("conf.toml:8: [[sensor]] 'b' key 'pin':")
    assert "sensor 'a'" in message and "GPIO17" in message


def test_resolve_pin_taken_by_the_i2c_bus_in_use() -> None:
    [message] = resolve_problems(
        '[[sensor]]\nname = "air"\ndriver = "sht3x"\n[[sensor]]\nname = "b"\ndriver = "gpio_input"\npin = 2\n'
    )
    assert "key 'pin'" in message and "GPIO2" in message and "I2C" in message


def test_resolve_power_pin_is_not_a_gpio() -> None:
    [message] = resolve_problems('[[sensor]]\nname = "b"\ndriver = "gpio_input"\npin = "BOARD1"\n')
    assert "BOARD1" in message and "3V3" in message


def test_resolve_bus_the_board_lacks() -> None:
    [message] = resolve_problems('[[sensor]]\nname = "air"\ndriver = "sht3x"\nbus = 7\n')
    assert message.startswith("conf.toml:4: [[sensor]] 'air' key 'bus':")
    assert "7" in message


def test_resolve_same_address_twice_on_one_bus_suggests_the_other_address() -> None:
    [message] = resolve_problems(
        '[[sensor]]\nname = "a"\ndriver = "sht3x"\n[[sensor]]\nname = "b"\ndriver = "sht3x"\n'
    )
    assert "address 0x44 on I2C bus 1 is already used by sensor 'a' (line 1)" in message
    assert "can also be at 0x45" in message


def test_resolve_disabled_sensors_take_no_pins() -> None:
    resolved = resolve_text(
        '[[sensor]]\nname = "a"\ndriver = "gpio_input"\npin = 17\nenabled = false\n'
        '[[sensor]]\nname = "b"\ndriver = "gpio_input"\npin = 17\n'
    )
    assert [r.name for r in resolved] == ["b"]


def test_resolve_generic_board_uses_buses_and_pins_from_the_config() -> None:
    text = """\
    [device]
    board = "generic-linux"
    gpio_pins = [5, 6, 8, 9]
    i2c_buses = { 3 = { sda = 8, scl = 9 } }
    [[sensor]]
    name = "air"
    driver = "sht3x"
    bus = 3
    [[sensor]]
    name = "door"
    driver = "gpio_input"
    pin = 5
    """
    from sensorkit.config import apply_device_overrides

    config = parse_config(textwrap.dedent(text), "conf.toml")
    profile = apply_device_overrides(config, boards.get_profile("generic-linux"))
    air, door = resolve(config, profile)
    assert (air.bus, door.pin) == (3, 5)


def test_resolve_generic_board_without_buses_says_how_to_declare_them() -> None:
    [message] = resolve_problems('[[sensor]]\nname = "air"\ndriver = "sht3x"\n', board="generic-linux")
    assert "has no I2C bus" in message and "i2c_buses" in message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("1m", 60.0), ("2h", 7200.0), ("1d", 86400.0),
     (3, 3.0), (0.25, 0.25), ("1.5s", 1.5)],
)
def test_durations_parse_every_documented_form(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "ten", "5 parsecs", "-1s", 0, -3, True, "1e3"])
def test_durations_refuse_nonsense(bad) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_durations_format_shortest_form() -> None:
    assert [format_duration(s) for s in (0.05, 10, 60, 90, 1.5, 86400)] == ["50ms", "10s", "1m", "90s", "1.5s", "1d"]


def test_config_onewire_pin_is_reserved_while_a_1wire_sensor_is_configured() -> None:
    import boards

    text = ('[[sensor]]\nname = "soil"\ndriver = "ds18b20"\n\n'
            '[[sensor]]\nname = "button"\ndriver = "gpio_input"\npin = "GPIO4"\n')
    config = parse_config(text, "conf.toml")
    with pytest.raises(ConfigError) as caught:
        resolve(config, boards.get_profile("simulated"))
    [problem] = caught.value.problems
    assert "conf.toml:8: [[sensor]] 'button' key 'pin'" in problem
    assert "1-wire bus of sensor 'soil'" in problem and "dtoverlay=w1-gpio" in problem
    without = parse_config(text.replace('driver = "ds18b20"', 'driver = "ds18b20"\nenabled = false'), "conf.toml")
    assert [r.name for r in resolve(without, boards.get_profile("simulated"))] == ["button"]


def test_config_timeout_key_is_a_duration_longer_than_the_conversion() -> None:
    base = '[[sensor]]\nname = "air"\ndriver = "bme280"\noversampling_pressure = 16\n'
    assert parse_config(base + 'timeout = "3s"\n', "c.toml").sensors[0].timeout_s == 3.0
    assert parse_config(base, "c.toml").sensors[0].timeout_s is None
    [short] = problems_of(base + 'timeout = "10ms"\n')
    assert "key 'timeout'" in short and "every read would be abandoned" in short
    [week] = problems_of(base + 'timeout = "2w"\n')
    assert "longer than a week" in week


def test_config_serial_console_off_frees_gpio14_and_15() -> None:
    import boards

    text = '[[sensor]]\nname = "button"\ndriver = "gpio_input"\npin = "GPIO14"\n'
    profile = boards.get_profile("raspberry-pi-4b")
    with pytest.raises(ConfigError, match="serial console"):
        resolve(parse_config(text, "c.toml"), apply_device_overrides(parse_config(text, "c.toml"), profile))
    off = parse_config('[device]\nserial_console = false\n' + text, "c.toml")
    freed = apply_device_overrides(off, profile)
    assert [r.pin for r in resolve(off, freed)] == [14]
    assert 0 in freed.reserved  # the HAT EEPROM pins stay reserved
    [problem] = problems_of('[device]\nserial_console = "off"\n')
    assert "true or false" in problem


def test_config_device_class_names_a_home_assistant_binary_class() -> None:
    door = '[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = 17\n'
    assert parse_config(door + 'device_class = "door"\n', "c.toml").sensors[0].device_class == "door"
    [typo] = problems_of(door + 'device_class = "doors"\n')
    assert "not a Home Assistant binary sensor class" in typo and "did you mean 'door'" in typo
    [wrong] = problems_of('[[sensor]]\nname = "air"\ndriver = "sht3x"\ndevice_class = "door"\n')
    assert "for on/off inputs" in wrong
