"""A GPIO on/off input: PIR motion sensor, reed switch, push button.

Wraps `gpiozero.DigitalInputDevice` on the pin factory the board gives it
(the real one on a Pi, `MockFactory` under simulation and in tests). Pins
use BCM (GPIO) numbering, not header pin numbers.

Besides `read()` (the level now), `on_change` hears every debounced change
as it happens: gpiozero calls it from its event thread at the edge, so it
must only note the time and hand the state on.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from drivers import DriverConfigError, DriverError
from drivers._driver import Driver
from drivers._gpio import ACTIVE_STATES, PULLS, Lockout, check_bounce, check_pin, open_input

QUANTITIES = ("state",)

log = logging.getLogger(__name__)
_UNSET: Any = object()
# The level at which an input with this pull is active: pulled up, a switch to GND makes it low.
_NATURAL_ACTIVE = {"up": "low", "down": "high"}


def _active_name(value: Any, pin: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "high" if value else "low"
    if value in ACTIVE_STATES:
        return str(value)
    raise DriverConfigError(f'GPIO{pin}: active_state must be "high" or "low", got {value!r}')


def _resolve_pull(pin: int, pull: str | None, pull_up: Any) -> str:
    if pull is not None and pull not in PULLS:
        raise DriverConfigError(f'GPIO{pin}: pull must be "up", "down" or "none", got {pull!r}')
    if pull_up is _UNSET:
        return pull or "down"
    if pull_up is not None and not isinstance(pull_up, bool):
        raise DriverConfigError(f"GPIO{pin}: pull_up must be true, false or None, got {pull_up!r}")
    implied = {True: "up", False: "down", None: "none"}[pull_up]
    if pull is not None and pull != implied:
        raise DriverConfigError(
            f"GPIO{pin}: pull = {pull!r} and pull_up = {pull_up!r} disagree; give only pull "
            '("up", "down" or "none")'
        )
    return implied


class DigitalInput(Driver):
    """`read()` gives ``{"state": 1}`` while the input is active, else 0.

    `pull`: "up" or "down" enables the internal resistor (pulled up, the input
    is active when low: a switch to GND); "none" leaves the pin floating for an
    external resistor and then needs `active_state` ("high" or "low"). The
    older `pull_up` (True / False / None) still works; give one of the two.
    `bounce_time` (seconds) ignores changes that follow a change too soon.
    `on_change(state)` is called at each debounced change, from gpiozero's thread.
    """

    def __init__(
        self,
        pin: int,
        *,
        pin_factory: Any,
        pull: str | None = None,
        pull_up: bool | None = _UNSET,
        active_state: str | bool | None = None,
        bounce_time: float | None = None,
        on_change: Callable[[int], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin = check_pin(pin)
        self.pull = _resolve_pull(pin, pull, pull_up)
        active = _active_name(active_state, pin)
        if self.pull == "none":
            if active is None:
                raise DriverConfigError(
                    f'GPIO{pin} (BCM numbering) is floating (pull = "none", an external resistor): '
                    'say when it is active with active_state = "high" or "low"'
                )
            gpiozero_active: bool | None = active == "high"
        else:
            natural = _NATURAL_ACTIVE[self.pull]
            if active is not None and active != natural:
                raise DriverConfigError(
                    f"GPIO{pin}: with pull = {self.pull!r} the input is active when {natural}; for an input "
                    f'active when {active}, use pull = "{"down" if active == "high" else "up"}", or '
                    'pull = "none" with an external resistor and active_state'
                )
            active, gpiozero_active = natural, None  # gpiozero derives it from the pull
        self.active_state = active
        self.bounce_time = check_bounce(pin, bounce_time)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._lockout = Lockout(self.bounce_time, monotonic)
        self._device = open_input(
            pin, pin_factory=pin_factory, pull=self.pull, active_state=gpiozero_active, bounce_time=self.bounce_time
        )
        self._reported = 1 if self._device.is_active else 0
        if on_change is not None:
            self._device.when_activated = self._activated
            self._device.when_deactivated = self._deactivated

    # -- edges (gpiozero's thread) ---------------------------------------------

    def _activated(self) -> None:
        self._edge(1)

    def _deactivated(self) -> None:
        self._edge(0)

    def _edge(self, state: int) -> None:
        with self._lock:
            if state == self._reported or not self._lockout.accept():
                return
            self._reported = state
        assert self._on_change is not None
        try:
            self._on_change(state)
        except Exception:  # noqa: BLE001 - a failing listener must not stop edge detection
            log.exception("on_change of the input on GPIO%d failed", self.pin)

    # -- public API ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return bool(self._device.closed)

    @property
    def bounces(self) -> int:
        """Edges ignored as bounces so far (software debounce)."""
        return self._lockout.bounces

    def read(self) -> dict[str, int]:
        if self._device.closed:
            raise DriverError(f"the input on GPIO{self.pin} was closed; create it again")
        return {"state": 1 if self._device.is_active else 0}

    def close(self) -> None:
        """Release the pin; safe to call twice."""
        self._device.close()

    def __repr__(self) -> str:
        return f"DigitalInput(pin={self.pin}, pull={self.pull!r}, active_state={self.active_state!r})"


__all__ = ["QUANTITIES", "DigitalInput"]
