"""A GPIO on/off input: PIR motion sensor, reed switch, push button.

Wraps `gpiozero.DigitalInputDevice` on the pin factory the board gives it
(the real one on a Pi, `MockFactory` under simulation and in tests). Pins
use BCM (GPIO) numbering, not header pin numbers.
"""
from __future__ import annotations

from typing import Any

from drivers import DriverConfigError, DriverError

QUANTITIES = ("state",)


class DigitalInput:
    """`read()` gives ``{"state": 1}`` while the input is active, else 0.

    `pull_up`: True/False enables the internal pull-up/down; None leaves the
    pin floating (an external resistor), which then needs `active_state`.
    `bounce_time` (seconds) ignores changes that follow a change too soon.
    """

    def __init__(
        self,
        pin: int,
        *,
        pin_factory: Any,
        pull_up: bool | None = False,
        active_state: bool | None = None,
        bounce_time: float | None = None,
    ) -> None:
        from gpiozero import DigitalInputDevice
        from gpiozero.exc import GPIOPinInUse, PinError

        if not isinstance(pin, int) or isinstance(pin, bool):
            raise DriverConfigError(f"GPIO pin must be a BCM number (int), got {pin!r}")
        self.pin = pin
        try:
            # DigitalInputDevice closes itself when its own set-up fails.
            self._device = DigitalInputDevice(
                pin,
                pull_up=pull_up,
                active_state=active_state,
                bounce_time=bounce_time,
                pin_factory=pin_factory,
            )
        except GPIOPinInUse as exc:
            raise DriverConfigError(
                f"GPIO{pin} (BCM numbering) is already in use by another device; "
                "give each sensor its own pin"
            ) from exc
        except PinError as exc:
            # Invalid pin, floating pin without active_state, a pull the pin
            # cannot have (GPIO2/3 have fixed pull-ups), a negative bounce time.
            raise DriverConfigError(
                f"GPIO{pin} (BCM numbering) cannot be used as an input with "
                f"pull_up={pull_up!r}, active_state={active_state!r}, "
                f"bounce_time={bounce_time!r}: {exc}"
            ) from exc

    @property
    def closed(self) -> bool:
        return bool(self._device.closed)

    def read(self) -> dict[str, int]:
        if self._device.closed:
            raise DriverError(f"the input on GPIO{self.pin} was closed; create it again")
        return {"state": 1 if self._device.is_active else 0}

    def close(self) -> None:
        """Release the pin; safe to call twice."""
        self._device.close()

    def __enter__(self) -> DigitalInput:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DigitalInput(pin={self.pin})"


__all__ = ["QUANTITIES", "DigitalInput"]
