"""Board profiles: what a board offers (buses, pins, header), loaded from TOML.

Each ``boards/profiles/<name>.toml`` describes one board. Files are parsed and
validated lazily, on the first call to :func:`load_profiles`, and cached, so
``import boards`` stays cheap on a Pi Zero. :func:`_build_profile` enforces the
schema for files and for :meth:`BoardProfile.with_overrides` alike.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from boards.errors import PinError, ProfileError, UnknownBoard

__all__ = [
    "BoardProfile",
    "I2CBus",
    "PIN_FACTORIES",
    "POWER_PINS",
    "get_profile",
    "load_profiles",
    "profile_names",
]

PROFILE_SUFFIX = ".toml"
# gpiozero's pin factory names (GPIOZERO_PIN_FACTORY); "mock" is its MockFactory.
PIN_FACTORIES = frozenset({"lgpio", "rpigpio", "pigpio", "native", "mock"})
# What a header position can be besides a GPIO; parse_pin names them in errors.
POWER_PINS = MappingProxyType({"3V3": "3V3 power", "5V": "5V power", "GND": "ground"})
_GPIO_NAME = re.compile(r"GPIO(\d+)")
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# Pins per header row: the Pi's header is two columns, odd pins on the left.
_HEADER_COLUMNS = 2

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


@dataclass(frozen=True)
class I2CBus:
    """An I2C bus as Linux numbers it (``/dev/i2c-<number>``) and its BCM pins."""

    number: int
    sda: int
    scl: int


@dataclass(frozen=True)
class BoardProfile:
    """What one board offers. Build through :func:`load_profiles` or overrides."""

    name: str
    description: str
    models: tuple[str, ...]
    i2c_buses: Mapping[int, I2CBus]
    default_i2c_bus: int | None
    onewire_pin: int | None
    gpio_pins: frozenset[int]
    reserved: Mapping[int, str]
    header: Mapping[int, int]
    pin_factory: str | None
    simulated: bool = False
    header_name: str | None = None
    # physical pin -> "3V3" / "5V" / "GND", so errors can say what a pin is
    power_pins: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def bus_pins(self, bus_number: int) -> tuple[int, int]:
        """Return ``(sda, scl)`` of I2C bus *bus_number*; PinError if absent."""
        bus = self.i2c_buses.get(bus_number)
        if bus is None:
            have = ", ".join(str(n) for n in sorted(self.i2c_buses)) or "none"
            raise PinError(
                f"{self.name} has no I2C bus {bus_number} (buses: {have}); enable the bus in "
                f"config.txt (dtparam=i2c_arm=on for bus 1; dtoverlay=i2c-gpio or an i2cN "
                f"overlay for more), then add it to the board's i2c_buses"
            )
        return bus.sda, bus.scl

    def bcm_to_physical(self, pin: int) -> int | None:
        """The header position of BCM *pin*, or None when it is not on the header."""
        for physical, bcm in self.header.items():
            if bcm == pin:
                return physical
        return None

    def with_overrides(
        self,
        *,
        i2c_buses: Mapping[int, I2CBus | tuple[int, int]] | None = None,
        gpio_pins: Iterable[int] | None = None,
        onewire_pin: int | None = None,
        reserved: Mapping[int, str] | None = None,
        default_i2c_bus: int | None = None,
    ) -> BoardProfile:
        """A copy with fields replaced, validated exactly like a profile file.

        Each given argument replaces the field wholesale (to add a bus, pass
        ``{**profile.i2c_buses, 3: (23, 24)}``). *reserved* replaces the
        explicit reservations; I2C pins are always reserved by their bus. When
        the default bus disappears, the lowest remaining bus becomes default.
        """
        raw = self._to_raw()
        if i2c_buses is not None:
            raw["i2c"] = {str(number): _bus_to_raw(bus) for number, bus in i2c_buses.items()}
            if default_i2c_bus is None and self.default_i2c_bus not in i2c_buses:
                raw["default_i2c_bus"] = min(i2c_buses) if i2c_buses else None
        if default_i2c_bus is not None:
            raw["default_i2c_bus"] = default_i2c_bus
        if gpio_pins is not None:
            raw["gpio_pins"] = list(gpio_pins)
        if onewire_pin is not None:
            raw["onewire_pin"] = onewire_pin
        if reserved is not None:
            raw["reserved"] = {str(pin): reason for pin, reason in reserved.items()}
        return _build_profile(raw, f"overrides for board {self.name!r}", check_name=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable view (keys are strings), for ``sensorkit boards --json``."""
        header = {str(p): f"GPIO{b}" for p, b in self.header.items()}
        header.update({str(p): kind for p, kind in self.power_pins.items()})
        return {
            "name": self.name,
            "description": self.description,
            "models": list(self.models),
            "simulated": self.simulated,
            "pin_factory": self.pin_factory,
            "i2c_buses": {
                str(n): {"sda": b.sda, "scl": b.scl} for n, b in sorted(self.i2c_buses.items())
            },
            "default_i2c_bus": self.default_i2c_bus,
            "onewire_pin": self.onewire_pin,
            "gpio_pins": sorted(self.gpio_pins),
            "reserved": {str(p): r for p, r in sorted(self.reserved.items())},
            "header": {
                "name": self.header_name,
                "pins": dict(sorted(header.items(), key=lambda item: int(item[0]))),
            },
        }

    def _to_raw(self) -> dict[str, Any]:
        """This profile in file schema form, so overrides go through one validator."""
        i2c_pins = {pin for bus in self.i2c_buses.values() for pin in (bus.sda, bus.scl)}
        positions = {**{p: f"GPIO{b}" for p, b in self.header.items()}, **self.power_pins}
        last = max(positions, default=0)
        rows = [
            [positions.get(p, ""), positions.get(p + 1, "")]
            for p in range(1, last + 1, _HEADER_COLUMNS)
        ]
        raw: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "models": list(self.models),
            "simulated": self.simulated,
            "gpio_pins": sorted(self.gpio_pins),
            "i2c": {str(n): _bus_to_raw(b) for n, b in self.i2c_buses.items()},
            "default_i2c_bus": self.default_i2c_bus,
            "onewire_pin": self.onewire_pin,
            "pin_factory": self.pin_factory,
            "reserved": {str(p): r for p, r in self.reserved.items() if p not in i2c_pins},
        }
        if rows:
            raw["header"] = {"name": self.header_name, "pins": rows}
        return raw


def _bus_to_raw(bus: I2CBus | tuple[int, int]) -> dict[str, Any]:
    if isinstance(bus, I2CBus):
        return {"sda": bus.sda, "scl": bus.scl}
    sda, scl = bus
    return {"sda": sda, "scl": scl}


# --- validation -------------------------------------------------------------


def _fail(source: str, key: str, problem: str) -> ProfileError:
    return ProfileError(f"{source}: key {key!r}: {problem}")


def _int(value: Any, source: str, key: str) -> int:
    # bool is an int in Python, but `pin = true` is always a mistake
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(source, key, f"expected a non-negative integer, got {value!r}")
    return value


def _str(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, key, f"expected a non-empty string, got {value!r}")
    return value


def _table(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(source, key, f"expected a table, got {value!r}")
    return value


def _int_key(text: str, source: str, key: str) -> int:
    if not text.isdigit():
        raise _fail(source, key, f"expected a number as the key, got {text!r}")
    return int(text)


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], source: str, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise _fail(
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
        raise _fail(source, "header.pins", "expected a list of [odd, even] pin rows")
    header: dict[int, int] = {}
    power: dict[int, str] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != _HEADER_COLUMNS:
            raise _fail(source, f"header.pins[{index}]", f"expected [odd, even], got {row!r}")
        for column, label in enumerate(row):
            physical = index * _HEADER_COLUMNS + column + 1
            key = f"header.pins[{index}] (pin {physical})"
            match = _GPIO_NAME.fullmatch(label) if isinstance(label, str) else None
            if match:
                bcm = int(match.group(1))
                if bcm in header.values():
                    raise _fail(source, key, f"GPIO{bcm} appears twice on the header")
                header[physical] = bcm
            elif label in POWER_PINS:
                power[physical] = label
            else:
                raise _fail(source, key, f"expected 'GPIOn', '3V3', '5V' or 'GND', got {label!r}")
    return name, header, power


def _build_profile(raw: Mapping[str, Any], source: str, *, check_name: bool) -> BoardProfile:
    """Validate one profile in file schema form; ProfileError names *source* and key."""
    _check_keys(raw, _TOP_KEYS, source, "")
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise _fail(source, key, "missing (every profile needs a name and a description)")
    name = _str(raw["name"], source, "name")
    if not _NAME.fullmatch(name):
        raise _fail(source, "name", f"{name!r} must be lower-case words joined by '-'")
    if check_name and source != name + PROFILE_SUFFIX:
        raise _fail(source, "name", f"{name!r} must match the file name ({name}{PROFILE_SUFFIX})")
    description = _str(raw["description"], source, "description")

    models_raw = raw.get("models", [])
    if not isinstance(models_raw, list):
        raise _fail(source, "models", "expected a list of /proc/device-tree/model prefixes")
    models = tuple(_str(m, source, f"models[{i}]") for i, m in enumerate(models_raw))
    if len(set(models)) != len(models):
        raise _fail(source, "models", "lists the same model string twice")

    simulated = raw.get("simulated", False)
    if not isinstance(simulated, bool):
        raise _fail(source, "simulated", f"expected true or false, got {simulated!r}")
    if simulated and models:
        raise _fail(source, "models", "a simulated board must not be auto-detected; remove models")

    pin_factory = raw.get("pin_factory")
    if pin_factory is not None and pin_factory not in PIN_FACTORIES:
        raise _fail(
            source,
            "pin_factory",
            f"{pin_factory!r} is not a gpiozero pin factory ({', '.join(sorted(PIN_FACTORIES))})",
        )
    if (pin_factory == "mock") != simulated:
        raise _fail(source, "pin_factory", "'mock' goes with simulated = true, and only with it")

    gpio_raw = raw.get("gpio_pins", [])
    if not isinstance(gpio_raw, list):
        raise _fail(source, "gpio_pins", "expected a list of BCM numbers")
    gpio_pins = frozenset(_int(p, source, f"gpio_pins[{i}]") for i, p in enumerate(gpio_raw))
    if len(gpio_pins) != len(gpio_raw):
        raise _fail(source, "gpio_pins", "lists the same pin twice")

    header_name, header, power_pins = _parse_header(raw.get("header"), source)
    for physical, bcm in header.items():
        if bcm not in gpio_pins:
            raise _fail(source, f"header (pin {physical})", f"GPIO{bcm} is not among gpio_pins")

    def check_gpio(pin: int, key: str) -> None:
        if pin not in gpio_pins:
            raise _fail(source, key, f"GPIO{pin} is not among gpio_pins")
        if header and pin not in header.values():
            raise _fail(source, key, f"GPIO{pin} is not on the {header_name} header")

    buses: dict[int, I2CBus] = {}
    for number_text, bus_raw in _table(raw.get("i2c", {}), source, "i2c").items():
        where = f"i2c.{number_text}"
        number = _int_key(number_text, source, where)
        table = _table(bus_raw, source, where)
        _check_keys(table, _BUS_KEYS, source, where)
        for pin_key in sorted(_BUS_KEYS):
            if pin_key not in table:
                raise _fail(source, f"{where}.{pin_key}", "missing (a bus needs sda and scl)")
        sda = _int(table["sda"], source, f"{where}.sda")
        scl = _int(table["scl"], source, f"{where}.scl")
        check_gpio(sda, f"{where}.sda")
        check_gpio(scl, f"{where}.scl")
        if sda == scl:
            raise _fail(source, where, "sda and scl must be different pins")
        buses[number] = I2CBus(number, sda, scl)

    reserved: dict[int, str] = {}
    for bus in buses.values():
        for pin, role in ((bus.sda, "SDA"), (bus.scl, "SCL")):
            if pin in reserved:
                key = f"i2c.{bus.number}.{role.lower()}"
                raise _fail(source, key, f"GPIO{pin} is already {reserved[pin]}")
            reserved[pin] = f"I2C{bus.number} {role}"
    for pin_text, reason in _table(raw.get("reserved", {}), source, "reserved").items():
        key = f"reserved.{pin_text}"
        pin = _int_key(pin_text, source, key)
        _str(reason, source, key)
        check_gpio(pin, key)
        if pin in reserved:
            raise _fail(source, key, f"GPIO{pin} is already {reserved[pin]}")
        reserved[pin] = reason

    default_bus = raw.get("default_i2c_bus")
    if default_bus is not None:
        default_bus = _int(default_bus, source, "default_i2c_bus")
        if default_bus not in buses:
            have = ", ".join(str(n) for n in sorted(buses)) or "none"
            raise _fail(source, "default_i2c_bus", f"no i2c.{default_bus} table (buses: {have})")

    onewire = raw.get("onewire_pin")
    if onewire is not None:
        onewire = _int(onewire, source, "onewire_pin")
        check_gpio(onewire, "onewire_pin")
        if onewire in reserved:
            raise _fail(source, "onewire_pin", f"GPIO{onewire} is reserved for {reserved[onewire]}")

    return BoardProfile(
        name=name,
        description=description,
        models=models,
        i2c_buses=MappingProxyType(dict(sorted(buses.items()))),
        default_i2c_bus=default_bus,
        onewire_pin=onewire,
        gpio_pins=gpio_pins,
        reserved=MappingProxyType(dict(sorted(reserved.items()))),
        header=MappingProxyType(header),
        pin_factory=pin_factory,
        simulated=simulated,
        header_name=header_name,
        power_pins=MappingProxyType(power_pins),
    )


# --- loading ----------------------------------------------------------------


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    # Imported here, not at module top, so `import boards` parses nothing.
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from exc


def _load_directory(directory: Any) -> dict[str, BoardProfile]:
    """Load every ``*.toml`` under *directory* (a Path or importlib Traversable)."""
    profiles: dict[str, BoardProfile] = {}
    claimed: dict[str, str] = {}  # model string -> profile that claims it
    files = sorted(
        (f for f in directory.iterdir() if f.name.endswith(PROFILE_SUFFIX)), key=lambda f: f.name
    )
    for file in files:
        raw = _parse_toml(file.read_text(encoding="utf-8"), file.name)
        profile = _build_profile(raw, file.name, check_name=True)
        for model in profile.models:
            if model in claimed:
                raise _fail(
                    file.name, "models", f"{model!r} is already claimed by {claimed[model]}"
                )
            claimed[model] = profile.name
        profiles[profile.name] = profile
    return profiles


@cache
def _builtin_profiles() -> Mapping[str, BoardProfile]:
    from importlib.resources import files

    return MappingProxyType(_load_directory(files("boards") / "profiles"))


def load_profiles(directory: Path | None = None) -> dict[str, BoardProfile]:
    """All profiles by name: the bundled ones (parsed once, cached) or *directory*'s."""
    if directory is None:
        return dict(_builtin_profiles())
    return _load_directory(Path(directory))


def profile_names() -> list[str]:
    """The bundled profile names, sorted."""
    return sorted(_builtin_profiles())


def get_profile(name: str) -> BoardProfile:
    """The bundled profile *name*; UnknownBoard (with a suggestion) if there is none."""
    profiles = _builtin_profiles()
    try:
        return profiles[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(profiles), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownBoard(
            f"unknown board {name!r}; {hint}known boards: {', '.join(sorted(profiles))}"
        ) from None
