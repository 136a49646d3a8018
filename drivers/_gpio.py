"""What the GPIO drivers share: opening a gpiozero input, pulls, and software debounce.

gpiozero hands `bounce_time` to the pin factory, and the factories disagree:
lgpio reports a level only once it held for that long, RPi.GPIO ignores
edges for that long after one, pigpio filters glitches up to 0.3 s, and the
native and mock factories ignore it. So the drivers also debounce in
software, the RPi.GPIO way (`Lockout`): after an accepted edge, edges within
`bounce_time` are bounces. On a factory that debounced already this changes
nothing; on the others it is the only debounce there is.
"""
from __future__ import annotations

from typing import Any, Callable

from drivers import DriverConfigError

PULLS = ("up", "down", "none")
ACTIVE_STATES = ("high", "low")
# gpiozero's pull_up argument for each pull.
GPIOZERO_PULL_UP = {"up": True, "down": False, "none": None}


def check_pin(pin: Any) -> int:
    if not isinstance(pin, int) or isinstance(pin, bool):
        raise DriverConfigError(f"GPIO pin must be a BCM number (int), got {pin!r}")
    return pin


def check_bounce(pin: int, bounce_time: Any) -> float | None:
    if bounce_time is None:
        return None
    if isinstance(bounce_time, bool) or not isinstance(bounce_time, (int, float)) or not bounce_time >= 0:
        raise DriverConfigError(f"GPIO{pin}: bounce_time must be a duration of 0 s or more, got {bounce_time!r}")
    return float(bounce_time)


def open_input(
    pin: int, *, pin_factory: Any, pull: str, active_state: bool | None, bounce_time: float | None
) -> Any:
    """A `gpiozero.DigitalInputDevice`, or DriverConfigError saying why the pin cannot be one."""
    from gpiozero import DigitalInputDevice
    from gpiozero.exc import GPIOPinInUse, PinError

    try:
        # DigitalInputDevice closes itself when its own set-up fails.
        return DigitalInputDevice(
            pin,
            pull_up=GPIOZERO_PULL_UP[pull],
            active_state=active_state,
            bounce_time=bounce_time,
            pin_factory=pin_factory,
        )
    except GPIOPinInUse as exc:
        raise DriverConfigError(
            f"GPIO{pin} (BCM numbering) is already in use by another device; give each sensor its own pin"
        ) from exc
    except PinError as exc:
        # An invalid pin, a pull the pin cannot have (GPIO2/3 have fixed pull-ups), ...
        raise DriverConfigError(
            f"GPIO{pin} (BCM numbering) cannot be used as an input with pull = {pull!r}, "
            f"bounce_time = {bounce_time!r}: {exc}"
        ) from exc


class Lockout:
    """Software debounce: an edge sooner than `bounce_s` after the last accepted one is a bounce.

    Not thread-safe by itself: call `accept()` under the caller's lock.
    """

    def __init__(self, bounce_s: float | None, monotonic: Callable[[], float]) -> None:
        self.bounce_s = bounce_s or 0.0
        self._monotonic = monotonic
        self._last: float | None = None
        self.bounces = 0

    def accept(self) -> bool:
        now = self._monotonic()
        if self.bounce_s and self._last is not None and now - self._last < self.bounce_s:
            self.bounces += 1
            return False
        self._last = now
        return True
