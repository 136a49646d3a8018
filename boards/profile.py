"""Board profiles: what a board offers (buses, pins, header), loaded from TOML.

Each ``boards/profiles/<name>.toml`` describes one board; :mod:`boards.schema`
says what such a file may hold and checks it. Files are parsed and validated
lazily, on the first call to :func:`load_profiles`, and cached, so ``import
boards`` stays cheap on a Pi Zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from boards.errors import PinError, ProfileError, UnknownBoard
from boards.schema import HEADER_COLUMNS, PIN_FACTORIES, POWER_PINS, PROFILE_SUFFIX, check_profile, fail

__all__ = [
    "BoardProfile",
    "I2CBus",
    "PIN_FACTORIES",
    "POWER_PINS",
    "get_profile",
    "load_profiles",
    "profile_names",
]

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
            for p in range(1, last + 1, HEADER_COLUMNS)
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


def _build_profile(raw: Mapping[str, Any], source: str, *, check_name: bool) -> BoardProfile:
    """A BoardProfile from one profile in file schema form, checked by :func:`boards.schema.check_profile`."""
    fields = check_profile(raw, source, check_name=check_name)
    fields["i2c_buses"] = {number: I2CBus(number, sda, scl) for number, (sda, scl) in fields["i2c_buses"].items()}
    for key in ("i2c_buses", "reserved", "header", "power_pins"):
        fields[key] = MappingProxyType(fields[key])
    return BoardProfile(**fields)


def _bus_to_raw(bus: I2CBus | tuple[int, int]) -> dict[str, Any]:
    if isinstance(bus, I2CBus):
        return {"sda": bus.sda, "scl": bus.scl}
    sda, scl = bus
    return {"sda": sda, "scl": scl}


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
                raise fail(
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
