"""The board profile schema: every check a profile file (or a set of overrides) must pass.

Each ``boards/profiles/<name>.toml`` describes one board. :func:`check_profile`
enforces the schema for files and for :meth:`BoardProfile.with_overrides`
alike and returns the fields of a :class:`~boards.profile.BoardProfile`;
building and caching the profiles is :mod:`boards.profile`'s business.

Schema (every key but ``name`` and ``description`` optional)::

    name = "raspberry-pi-4b"            # must equal the file's stem
    description = "..."
    models = ["Raspberry Pi 4 Model B"] # /proc/device-tree/model prefixes
    simulated = false                   # true only for the simulated board
    pin_factory = "lgpio"               # a gpiozero factory name, or absent
    gpio_pins = [0, 1, ..., 27]         # usable BCM numbers
    onewire_pin = 4
    default_i2c_bus = 1
    [i2c.1]                             # /dev/i2c-1; its pins become reserved
    sda = 2
    scl = 3
    [reserved]                          # BCM pin = why it is never free
    14 = "UART TXD (serial console)"
    [header]
    name = "J8"                         # as in gpiozero's "J8:11"
    pins = [["3V3", "5V"], ["GPIO2", "5V"], ...]  # rows of [odd, even] pins
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from boards.errors import ProfileError

__all__ = ["HEADER_COLUMNS", "PIN_FACTORIES", "POWER_PINS", "PROFILE_SUFFIX", "check_profile", "fail"]

PROFILE_SUFFIX = ".toml"
# gpiozero's pin factory names (GPIOZERO_PIN_FACTORY); "mock" is its MockFactory.
PIN_FACTORIES = frozenset({"lgpio", "rpigpio", "pigpio", "native", "mock"})
# What a header position can be besides a GPIO; parse_pin names them in errors.
POWER_PINS = MappingProxyType({"3V3": "3V3 power", "5V": "5V power", "GND": "ground"})
_GPIO_NAME = re.compile(r"GPIO(\d+)")
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# Pins per header row: the Pi's header is two columns, odd pins on the left.
HEADER_COLUMNS = 2

_TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "models",
        "simulated",
        "pin_factory",
        "gpio_pins",
        "onewire_pin",
        "default_i2c_bus",
        "i2c",
        "reserved",
        "header",
    }
)
_REQUIRED_KEYS = ("name", "description")
_BUS_KEYS = frozenset({"sda", "scl"})
_HEADER_KEYS = frozenset({"name", "pins"})


def fail(source: str, key: str, problem: str) -> ProfileError:
    """The error for *key* of the profile in *source*: ``SOURCE: key 'KEY': PROBLEM``."""
    return ProfileError(f"{source}: key {key!r}: {problem}")


def _int(value: Any, source: str, key: str) -> int:
    # bool is an int in Python, but `pin = true` is always a mistake
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(source, key, f"expected a non-negative integer, got {value!r}")
    return value


def _str(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(source, key, f"expected a non-empty string, got {value!r}")
    return value


def _table(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(source, key, f"expected a table, got {value!r}")
    return value


def _int_key(text: str, source: str, key: str) -> int:
    if not text.isdigit():
        raise fail(source, key, f"expected a number as the key, got {text!r}")
    return int(text)


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], source: str, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise fail(
            source,
            prefix + unknown[0],
            f"unknown key; allowed keys are {', '.join(sorted(allowed))}",
        )


def _parse_header(raw: Any, source: str) -> tuple[str | None, dict[int, int], dict[int, str]]:
    if raw is None:
        return None, {}, {}
    table = _table(raw, source, "header")
    _check_keys(table, _HEADER_KEYS, source, "header")
    name = _str(table.get("name"), source, "header.name")
    rows = table.get("pins")
    if not isinstance(rows, list) or not rows:
        raise fail(source, "header.pins", "expected a list of [odd, even] pin rows")
    header: dict[int, int] = {}
    power: dict[int, str] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != HEADER_COLUMNS:
            raise fail(source, f"header.pins[{index}]", f"expected [odd, even], got {row!r}")
        for column, label in enumerate(row):
            physical = index * HEADER_COLUMNS + column + 1
            key = f"header.pins[{index}] (pin {physical})"
            match = _GPIO_NAME.fullmatch(label) if isinstance(label, str) else None
            if match:
                bcm = int(match.group(1))
                if bcm in header.values():
                    raise fail(source, key, f"GPIO{bcm} appears twice on the header")
                header[physical] = bcm
            elif label in POWER_PINS:
                power[physical] = label
            else:
                raise fail(source, key, f"expected 'GPIOn', '3V3', '5V' or 'GND', got {label!r}")
    return name, header, power


def check_profile(raw: Mapping[str, Any], source: str, *, check_name: bool) -> dict[str, Any]:
    """The fields of a BoardProfile from one profile in file schema form; ProfileError names *source* and key.

    *check_name*: the name must match the file's stem (*source* is the file name).
    """
    _check_keys(raw, _TOP_KEYS, source, "")
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise fail(source, key, "missing (every profile needs a name and a description)")
    name = _str(raw["name"], source, "name")
    if not _NAME.fullmatch(name):
        raise fail(source, "name", f"{name!r} must be lower-case words joined by '-'")
    if check_name and source != name + PROFILE_SUFFIX:
        raise fail(source, "name", f"{name!r} must match the file name ({name}{PROFILE_SUFFIX})")
    description = _str(raw["description"], source, "description")

    models_raw = raw.get("models", [])
    if not isinstance(models_raw, list):
        raise fail(source, "models", "expected a list of /proc/device-tree/model prefixes")
    models = tuple(_str(m, source, f"models[{i}]") for i, m in enumerate(models_raw))
    if len(set(models)) != len(models):
        raise fail(source, "models", "lists the same model string twice")

    simulated = raw.get("simulated", False)
    if not isinstance(simulated, bool):
        raise fail(source, "simulated", f"expected true or false, got {simulated!r}")
    if simulated and models:
        raise fail(source, "models", "a simulated board must not be auto-detected; remove models")

    pin_factory = raw.get("pin_factory")
    if pin_factory is not None and pin_factory not in PIN_FACTORIES:
        raise fail(
            source,
            "pin_factory",
            f"{pin_factory!r} is not a gpiozero pin factory ({', '.join(sorted(PIN_FACTORIES))})",
        )
    if (pin_factory == "mock") != simulated:
        raise fail(source, "pin_factory", "'mock' goes with simulated = true, and only with it")

    gpio_raw = raw.get("gpio_pins", [])
    if not isinstance(gpio_raw, list):
        raise fail(source, "gpio_pins", "expected a list of BCM numbers")
    gpio_pins = frozenset(_int(p, source, f"gpio_pins[{i}]") for i, p in enumerate(gpio_raw))
    if len(gpio_pins) != len(gpio_raw):
        raise fail(source, "gpio_pins", "lists the same pin twice")

    header_name, header, power_pins = _parse_header(raw.get("header"), source)
    for physical, bcm in header.items():
        if bcm not in gpio_pins:
            raise fail(source, f"header (pin {physical})", f"GPIO{bcm} is not among gpio_pins")

    def check_gpio(pin: int, key: str) -> None:
        if pin not in gpio_pins:
            raise fail(source, key, f"GPIO{pin} is not among gpio_pins")
        if header and pin not in header.values():
            raise fail(source, key, f"GPIO{pin} is not on the {header_name} header")

    buses: dict[int, tuple[int, int]] = {}
    for number_text, bus_raw in _table(raw.get("i2c", {}), source, "i2c").items():
        where = f"i2c.{number_text}"
        number = _int_key(number_text, source, where)
        table = _table(bus_raw, source, where)
        _check_keys(table, _BUS_KEYS, source, where)
        for pin_key in sorted(_BUS_KEYS):
            if pin_key not in table:
                raise fail(source, f"{where}.{pin_key}", "missing (a bus needs sda and scl)")
        sda = _int(table["sda"], source, f"{where}.sda")
        scl = _int(table["scl"], source, f"{where}.scl")
        check_gpio(sda, f"{where}.sda")
        check_gpio(scl, f"{where}.scl")
        if sda == scl:
            raise fail(source, where, "sda and scl must be different pins")
        buses[number] = (sda, scl)

    reserved: dict[int, str] = {}
    for number, (sda, scl) in buses.items():
        for pin, role in ((sda, "SDA"), (scl, "SCL")):
            if pin in reserved:
                key = f"i2c.{number}.{role.lower()}"
                raise fail(source, key, f"GPIO{pin} is already {reserved[pin]}")
            reserved[pin] = f"I2C{number} {role}"
    for pin_text, reason in _table(raw.get("reserved", {}), source, "reserved").items():
        key = f"reserved.{pin_text}"
        pin = _int_key(pin_text, source, key)
        _str(reason, source, key)
        check_gpio(pin, key)
        if pin in reserved:
            raise fail(source, key, f"GPIO{pin} is already {reserved[pin]}")
        reserved[pin] = reason

    default_bus = raw.get("default_i2c_bus")
    if default_bus is not None:
        default_bus = _int(default_bus, source, "default_i2c_bus")
        if default_bus not in buses:
            have = ", ".join(str(n) for n in sorted(buses)) or "none"
            raise fail(source, "default_i2c_bus", f"no i2c.{default_bus} table (buses: {have})")

    onewire = raw.get("onewire_pin")
    if onewire is not None:
        onewire = _int(onewire, source, "onewire_pin")
        check_gpio(onewire, "onewire_pin")
        if onewire in reserved:
            raise fail(source, "onewire_pin", f"GPIO{onewire} is reserved for {reserved[onewire]}")

    return {
        "name": name,
        "description": description,
        "models": models,
        "i2c_buses": dict(sorted(buses.items())),  # number -> (sda, scl)
        "default_i2c_bus": default_bus,
        "onewire_pin": onewire,
        "gpio_pins": gpio_pins,
        "reserved": dict(sorted(reserved.items())),
        "header": header,
        "pin_factory": pin_factory,
        "simulated": simulated,
        "header_name": header_name,
        "power_pins": power_pins,
    }
