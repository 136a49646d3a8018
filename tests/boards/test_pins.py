"""Pin names as gpiozero spells them, and which pins are free to use."""

from __future__ import annotations

import re

import pytest

from boards import BoardProfile, PinError, check_pin_free, get_profile, parse_pin, pin_label


@pytest.mark.parametrize(
    "spec", [17, "17", " 17 ", "GPIO17", "gpio17", "BCM17", "bcm17", "BOARD11", "J8:11", "j8:11"]
)
def test_parse_pin_accepts_gpiozero_names(pi4: BoardProfile, spec: int | str) -> None:
    assert parse_pin(spec, pi4) == 17


@pytest.mark.parametrize(
    ("spec", "bcm"),
    [("BOARD3", 2), ("BOARD5", 3), ("BOARD7", 4), ("BOARD27", 0), ("BOARD40", 21), ("J8:12", 18)],
)
def test_parse_pin_physical_pins_map_to_bcm(pi4: BoardProfile, spec: str, bcm: int) -> None:
    assert parse_pin(spec, pi4) == bcm


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ("BOARD1", "BOARD1 is 3V3 power, not a GPIO"),
        ("BOARD17", "BOARD17 is 3V3 power, not a GPIO"),
        ("BOARD2", "BOARD2 is 5V power, not a GPIO"),
        ("J8:6", "BOARD6 is ground, not a GPIO"),
        ("BOARD39", "BOARD39 is ground, not a GPIO"),
    ],
)
def test_parse_pin_power_and_ground_are_refused_with_an_alternative(
    pi4: BoardProfile, spec: str, what: str
) -> None:
    with pytest.raises(PinError) as info:
        parse_pin(spec, pi4)
    message = str(info.value)
    assert what in message
    # The suggestion is a header GPIO that no bus claims.
    suggestion = re.search(r"such as BOARD(\d+) \(GPIO(\d+)\)", message)
    assert suggestion is not None, message
    physical, bcm = int(suggestion.group(1)), int(suggestion.group(2))
    assert pi4.header[physical] == bcm
    assert bcm not in pi4.reserved


def test_parse_pin_power_suggestion_is_the_nearest_free_gpio(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        parse_pin("BOARD1", pi4)
    assert "such as BOARD7 (GPIO4)" in str(info.value)


@pytest.mark.parametrize(
    "spec", ["", "GPIO", "pin17", "17.5", "GPIO-1", "BOARD", "GPIO 17", None, 17.0, True, [17]]
)
def test_parse_pin_garbage_says_which_forms_are_accepted(pi4: BoardProfile, spec: object) -> None:
    with pytest.raises(PinError) as info:
        parse_pin(spec, pi4)  # type: ignore[arg-type]
    message = str(info.value)
    assert repr(spec) in message
    assert '"GPIO17"' in message and '"BOARD11"' in message and '"J8:11"' in message


@pytest.mark.parametrize("spec", [28, "GPIO40", "BCM99"])
def test_parse_pin_number_the_board_lacks_lists_usable_pins(
    pi4: BoardProfile, spec: object
) -> None:
    with pytest.raises(PinError) as info:
        parse_pin(spec, pi4)  # type: ignore[arg-type]
    message = str(info.value)
    assert "is not a usable GPIO on raspberry-pi-4b" in message
    assert "usable: GPIO0-GPIO27" in message


def test_parse_pin_off_the_header_says_its_size(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        parse_pin("BOARD41", pi4)
    assert "the J8 header of raspberry-pi-4b has pins 1-40" in str(info.value)


def test_parse_pin_wrong_header_name_names_the_right_one(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        parse_pin("P1:11", pi4)
    assert "no header P1 (it has J8)" in str(info.value)


def test_parse_pin_physical_name_on_board_without_header(generic: BoardProfile) -> None:
    board = generic.with_overrides(gpio_pins=[17])
    assert parse_pin("GPIO17", board) == 17
    with pytest.raises(PinError) as info:
        parse_pin("BOARD11", board)
    assert "no known pin header" in str(info.value)
    assert 'GPIO number instead (e.g. "GPIO17")' in str(info.value)


def test_parse_pin_generic_linux_without_pins_says_none_usable(generic: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        parse_pin(17, generic)
    assert "usable: none" in str(info.value)


def test_pin_label_names_bcm_and_physical(pi4: BoardProfile, generic: BoardProfile) -> None:
    assert pin_label(17, pi4) == "GPIO17 (BOARD11)"
    assert pin_label(17, generic.with_overrides(gpio_pins=[17])) == "GPIO17"


def test_check_pin_free_accepts_a_free_gpio(pi4: BoardProfile) -> None:
    check_pin_free(17, pi4, taken={4: "sensor 'ds18b20'"}, active_buses=[1])


def test_check_pin_free_i2c_pin_is_free_while_its_bus_is_unused(pi4: BoardProfile) -> None:
    check_pin_free(2, pi4, taken={})
    check_pin_free(3, pi4, taken={}, active_buses=[3])


@pytest.mark.parametrize(("pin", "role"), [(2, "I2C1 SDA"), (3, "I2C1 SCL")])
def test_check_pin_free_i2c_pin_of_active_bus_is_refused(
    pi4: BoardProfile, pin: int, role: str
) -> None:
    with pytest.raises(PinError) as info:
        check_pin_free(pin, pi4, taken={}, active_buses=[1])
    message = str(info.value)
    assert f"GPIO{pin} (BOARD{pin * 2 - 1}) is {role} and I2C bus 1 is in use" in message
    assert "pick a free pin such as GPIO4 (BOARD7)" in message


@pytest.mark.parametrize(
    ("pin", "label", "reason"),
    [
        (14, "GPIO14 (BOARD8)", "UART TXD"),
        (15, "GPIO15 (BOARD10)", "UART RXD"),
        (0, "GPIO0 (BOARD27)", "ID_SD"),
        (1, "GPIO1 (BOARD28)", "ID_SC"),
    ],
)
def test_check_pin_free_uart_and_id_pins_are_always_refused(
    pi4: BoardProfile, pin: int, label: str, reason: str
) -> None:
    with pytest.raises(PinError) as info:
        check_pin_free(pin, pi4, taken={})
    message = str(info.value)
    assert message.startswith(f"{label} is reserved for {reason}")
    assert "pick a free pin" in message


def test_check_pin_free_taken_pin_names_the_holder(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        check_pin_free(17, pi4, taken={17: "sensor 'door'"})
    message = str(info.value)
    assert "GPIO17 (BOARD11) is already used by sensor 'door'" in message
    assert "GPIO17" not in message.split("pick a free pin")[1]


def test_check_pin_free_suggestions_skip_reserved_and_taken_pins(pi4: BoardProfile) -> None:
    taken = {4: "sensor 'a'", 5: "sensor 'b'", 17: "sensor 'door'"}
    with pytest.raises(PinError) as info:
        check_pin_free(17, pi4, taken=taken)
    assert "such as GPIO6 (BOARD31), GPIO7 (BOARD26), GPIO8 (BOARD24)" in str(info.value)


def test_check_pin_free_pin_not_on_board_lists_usable(pi4: BoardProfile) -> None:
    with pytest.raises(PinError) as info:
        check_pin_free(30, pi4, taken={})
    assert "GPIO30 is not a usable GPIO on raspberry-pi-4b (usable: GPIO0-GPIO27)" in str(
        info.value
    )


def test_check_pin_free_extra_overlay_bus_blocks_its_pins(pi4: BoardProfile) -> None:
    board = pi4.with_overrides(i2c_buses={**pi4.i2c_buses, 3: (4, 5)}, onewire_pin=17)
    check_pin_free(4, board, taken={}, active_buses=[1])
    with pytest.raises(PinError) as info:
        check_pin_free(4, board, taken={}, active_buses=[1, 3])
    assert "GPIO4 (BOARD7) is I2C3 SDA and I2C bus 3 is in use" in str(info.value)


def test_pin_error_is_a_value_error(pi4: BoardProfile) -> None:
    with pytest.raises(ValueError):
        parse_pin("nonsense", pi4)


def test_parse_pin_works_on_the_simulated_board() -> None:
    assert parse_pin("J8:7", get_profile("simulated")) == 4
