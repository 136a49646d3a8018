"""The profile schema on its own: a profile in file form checked without building or loading one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import boards.schema
from boards import ProfileError
from boards.schema import check_profile

TINY = {
    "name": "tiny",
    "description": "a board with one bus and a 1-wire pin",
    "gpio_pins": [2, 3, 4, 17],
    "i2c": {"1": {"sda": 2, "scl": 3}},
    "default_i2c_bus": 1,
    "onewire_pin": 4,
    "reserved": {"17": "status LED"},
}


def test_schema_checks_a_profile_into_plain_fields() -> None:
    fields = check_profile(TINY, "tiny.toml", check_name=True)
    assert fields["i2c_buses"] == {1: (2, 3)}
    # a bus's pins are reserved by the bus, before the file's own reservations
    assert fields["reserved"] == {2: "I2C1 SDA", 3: "I2C1 SCL", 17: "status LED"}
    assert fields["gpio_pins"] == frozenset({2, 3, 4, 17})
    assert (fields["default_i2c_bus"], fields["onewire_pin"], fields["pin_factory"]) == (1, 4, None)


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"gpio_pins": [2, 3, 3, 4, 17]}, "gpio_pins", "lists the same pin twice"),
        ({"onewire_pin": 2}, "onewire_pin", "GPIO2 is reserved for I2C1 SDA"),
        ({"reserved": {"3": "fan"}}, "reserved.3", "GPIO3 is already I2C1 SCL"),
        ({"i2c": {"1": {"sda": 2, "scl": 2}}}, "i2c.1", "sda and scl must be different pins"),
    ],
)
def test_schema_names_the_source_and_key_of_a_problem(change: dict, key: str, problem: str) -> None:
    with pytest.raises(ProfileError) as info:
        check_profile({**TINY, **change}, "tiny.toml", check_name=True)
    assert str(info.value).startswith(f"tiny.toml: key {key!r}: ")
    assert problem in str(info.value)


def test_schema_name_must_match_the_file_only_when_asked() -> None:
    with pytest.raises(ProfileError, match="must match the file name"):
        check_profile(TINY, "other.toml", check_name=True)
    assert check_profile(TINY, "overrides for board 'tiny'", check_name=False)["name"] == "tiny"


def test_schema_imports_no_profile_module() -> None:
    """The schema is the lower layer: boards.profile builds on it, never the other way round."""
    tree = ast.parse(Path(boards.schema.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"__future__", "re", "collections.abc", "types", "typing", "boards.errors"}
