"""Pin names as users write them, and whether a pin is free to use.

Names follow gpiozero (``17``, ``"GPIO17"``, ``"BCM17"``, ``"BOARD11"``,
``"J8:11"``) so a config reads the same as gpiozero code; unlike gpiozero we
accept any letter case, since ``gpio17`` in a config file is never ambiguous.
Everything resolves to a BCM number, which is what drivers and gpiozero get.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from boards.errors import PinError
from boards.profile import POWER_PINS, BoardProfile

__all__ = ["check_pin_free", "parse_pin", "pin_label"]

_BCM = re.compile(r"(?:GPIO|BCM)?(\d+)", re.IGNORECASE)
_BOARD = re.compile(r"BOARD(\d+)", re.IGNORECASE)
_HEADER_PIN = re.compile(r"([A-Z][A-Z0-9]*):(\d+)", re.IGNORECASE)
_ACCEPTED_FORMS = (
    'a BCM number (17, "17", "GPIO17", "BCM17") or a physical header pin ("BOARD11", "J8:11")'
)
# How many free pins an error suggests: enough to choose from, short to read.
_SUGGESTIONS = 3


def pin_label(pin: int, profile: BoardProfile) -> str:
    """``"GPIO17 (BOARD11)"``, or ``"GPIO17"`` when the pin is not on the header."""
    physical = profile.bcm_to_physical(pin)
    return f"GPIO{pin}" if physical is None else f"GPIO{pin} (BOARD{physical})"


def _pin_ranges(pins: Iterable[int]) -> str:
    """``GPIO0-GPIO27`` style summary of a pin set, for error messages."""
    ordered = sorted(pins)
    if not ordered:
        return "none"
    spans: list[str] = []
    start = prev = ordered[0]
    for pin in [*ordered[1:], None]:
        if pin is not None and pin == prev + 1:
            prev = pin
            continue
        spans.append(f"GPIO{start}" if start == prev else f"GPIO{start}-GPIO{prev}")
        if pin is not None:
            start = prev = pin
    return ", ".join(spans)


def _require_gpio(pin: int, profile: BoardProfile, spec: object) -> int:
    if pin not in profile.gpio_pins:
        raise PinError(
            f"pin {spec!r}: GPIO{pin} is not a usable GPIO on {profile.name} "
            f"(usable: {_pin_ranges(profile.gpio_pins)})"
        )
    return pin


def _physical_to_bcm(number: int, profile: BoardProfile, spec: object) -> int:
    if not profile.header:
        raise PinError(
            f"pin {spec!r}: {profile.name} has no known pin header; name the pin by its "
            f'GPIO number instead (e.g. "GPIO17")'
        )
    if number in profile.header:
        return _require_gpio(profile.header[number], profile, spec)
    if number in profile.power_pins:
        kind = POWER_PINS[profile.power_pins[number]]
        # Suggest the nearest header GPIO that no bus claims: the likely intent.
        candidates = [p for p, bcm in profile.header.items() if bcm not in profile.reserved]
        nearest = min(candidates or profile.header, key=lambda p: (abs(p - number), p))
        raise PinError(
            f"pin {spec!r}: BOARD{number} is {kind}, not a GPIO; connect the data line to "
            f"a GPIO pin such as BOARD{nearest} (GPIO{profile.header[nearest]})"
        )
    last = max([*profile.header, *profile.power_pins])
    raise PinError(
        f"pin {spec!r}: the {profile.header_name} header of {profile.name} has pins 1-{last}"
    )


def parse_pin(spec: int | str, profile: BoardProfile) -> int:
    """The BCM number *spec* names on *profile*; PinError says what is accepted."""
    # bool is an int subclass; `pin = true` in a config is a mistake, not GPIO1
    if isinstance(spec, bool) or not isinstance(spec, (int, str)):
        raise PinError(f"pin {spec!r}: expected {_ACCEPTED_FORMS}")
    if isinstance(spec, int):
        return _require_gpio(spec, profile, spec)
    text = spec.strip()
    match = _BCM.fullmatch(text)
    if match:
        return _require_gpio(int(match.group(1)), profile, spec)
    match = _BOARD.fullmatch(text)
    if match:
        return _physical_to_bcm(int(match.group(1)), profile, spec)
    match = _HEADER_PIN.fullmatch(text)
    if match:
        header = match.group(1).upper()
        if profile.header_name is None or header != profile.header_name.upper():
            have = profile.header_name or "no header"
            raise PinError(f"pin {spec!r}: {profile.name} has no header {header} (it has {have})")
        return _physical_to_bcm(int(match.group(2)), profile, spec)
    raise PinError(f"cannot read pin {spec!r}: expected {_ACCEPTED_FORMS}")


def _blocked_by(
    pin: int, profile: BoardProfile, taken: Mapping[int, str], active: frozenset[int]
) -> str | None:
    """Why *pin* is not free, as a phrase, or None when it is free."""
    for bus in profile.i2c_buses.values():
        if pin in (bus.sda, bus.scl):
            # An I2C pin is an ordinary GPIO until its bus is used.
            if bus.number in active:
                return f"is {profile.reserved[pin]} and I2C bus {bus.number} is in use"
            break
    else:
        if pin in profile.reserved:
            return f"is reserved for {profile.reserved[pin]}"
    if pin in taken:
        return f"is already used by {taken[pin]}"
    return None


def check_pin_free(
    pin: int,
    profile: BoardProfile,
    *,
    taken: Mapping[int, str],
    active_buses: Iterable[int] = (),
) -> None:
    """Raise PinError unless BCM *pin* is a usable, unreserved, untaken GPIO.

    *taken* maps pins already claimed to who claimed them (``"sensor 'door'"``);
    *active_buses* are the I2C bus numbers in use, whose SDA/SCL are then off
    limits. UART and ID EEPROM pins are always off limits.
    """
    if pin not in profile.gpio_pins:
        raise PinError(
            f"GPIO{pin} is not a usable GPIO on {profile.name} "
            f"(usable: {_pin_ranges(profile.gpio_pins)})"
        )
    active = frozenset(active_buses)
    reason = _blocked_by(pin, profile, taken, active)
    if reason is None:
        return
    # Suggest pins no bus could ever claim, so the advice survives enabling I2C.
    free = [
        p
        for p in sorted(profile.gpio_pins)
        if p != pin and p not in profile.reserved and p not in taken
    ][:_SUGGESTIONS]
    hint = (
        f"; pick a free pin such as {', '.join(pin_label(p, profile) for p in free)}"
        if free
        else "; no GPIO on this board is free"
    )
    raise PinError(f"{pin_label(pin, profile)} {reason}{hint}")
