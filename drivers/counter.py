"""Pulse counting on a GPIO: rain gauges, anemometers, flow meters.

Every counted edge arrives through a gpiozero callback (no polling) and adds
one to a counter under a lock. `read()` takes the pulses counted since the
previous read and the monotonic time they took in one locked step, so a
pulse arriving meanwhile belongs to exactly one read, and a read that fails
takes nothing: the pulses stay for the next one.

Scaling turns pulses into a physical amount. Datasheets state it one of two
ways, and so does the config:

- per pulse (`per = "pulse"`): a rain gauge's 0.2794 mm per tip. The counter
  then reports `amount` (mm in the interval) and `amount_rate` (mm/h);
- per Hz (`per = "hz"`): an anemometer's 2.4 km/h per Hz. The counter then
  reports `amount_rate` (km/h), the pulse rate times the scale.

`scale` is the amount of `unit` per pulse or per Hz; `k_factor` is the other
way round, pulses (or Hz) per unit — a flow meter's "7.5 Hz per L/min" is
`k_factor = 7.5`, `per = "hz"`, `unit = "L/min"`. Give one of the two.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from drivers import DriverConfigError, DriverError, NotReady
from drivers._driver import Driver
from drivers._gpio import PULLS, Lockout, check_bounce, check_pin, open_input

QUANTITIES = ("count", "rate", "amount", "amount_rate")
EDGES = ("falling", "rising")
PERS = ("pulse", "hz")
SECONDS_PER_HOUR = 3600.0
_DIGITS = 6  # rounding of derived values: enough for 1/450 L, no float noise in the output


def _positive(name: str, value: Any, pin: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise DriverConfigError(f"GPIO{pin}: {name} must be a number above 0, got {value!r}")
    return float(value)


class Counter(Driver):
    """Counts pulses on `pin`; `read()` gives those since the previous read and their rate.

    `pull` is the internal resistor ("up": the usual reed switch to GND),
    `edge` the transition counted ("falling" = high to low), `bounce_time`
    (seconds) the time after a counted pulse in which edges are bounces.
    `monotonic` is the clock for rates and debounce.
    """

    def __init__(
        self,
        pin: int,
        *,
        pin_factory: Any,
        pull: str = "up",
        bounce_time: float | None = None,
        edge: str = "falling",
        scale: float | None = None,
        k_factor: float | None = None,
        per: str = "pulse",
        unit: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin = check_pin(pin)
        if pull not in PULLS:
            raise DriverConfigError(f'GPIO{pin}: pull must be "up", "down" or "none", got {pull!r}')
        if edge not in EDGES:
            raise DriverConfigError(f'GPIO{pin}: edge must be "falling" or "rising", got {edge!r}')
        if per not in PERS:
            raise DriverConfigError(f'GPIO{pin}: per must be "pulse" or "hz", got {per!r}')
        scale, k_factor = _positive("scale", scale, pin), _positive("k_factor", k_factor, pin)
        if scale is not None and k_factor is not None:
            raise DriverConfigError(
                f"GPIO{pin}: give scale (units per {per}) or k_factor ({per}s per unit), not both"
            )
        factor = scale if k_factor is None else 1.0 / k_factor
        if factor is not None and not (isinstance(unit, str) and unit.strip()):
            raise DriverConfigError(f'GPIO{pin}: a scaled counter needs its unit, e.g. unit = "mm"')
        if factor is None and unit is not None:
            raise DriverConfigError(f"GPIO{pin}: unit {unit!r} needs scale or k_factor to convert pulses")
        self.pull, self.edge, self.per, self.unit = pull, edge, per, unit
        self.factor = factor  # amount of `unit` per pulse or per Hz
        self.bounce_time = check_bounce(pin, bounce_time)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._lockout = Lockout(self.bounce_time, monotonic)
        self._count = 0
        self.total = 0  # every pulse counted since construction
        # Floating pins count electrical edges: "active" is simply high.
        self._device = open_input(
            pin, pin_factory=pin_factory, pull=pull, active_state=True if pull == "none" else None,
            bounce_time=self.bounce_time,
        )
        self._since = monotonic()
        active_high = pull != "up"  # gpiozero: pulled up means active low
        if (edge == "rising") == active_high:
            self._device.when_activated = self._pulse
        else:
            self._device.when_deactivated = self._pulse

    @property
    def units(self) -> dict[str, str]:
        """The unit of each quantity this counter reports."""
        units = {"count": "", "rate": "1/s"}
        if self.factor is not None and self.unit is not None:
            if self.per == "pulse":
                units.update(amount=self.unit, amount_rate=f"{self.unit}/h")
            else:
                units.update(amount_rate=self.unit)
        return units

    @property
    def bounces(self) -> int:
        return self._lockout.bounces

    @property
    def closed(self) -> bool:
        return bool(self._device.closed)

    def _pulse(self) -> None:  # gpiozero's event thread, at the edge
        with self._lock:
            if self._lockout.accept():
                self._count += 1
                self.total += 1

    def read(self) -> dict[str, float | int]:
        """Pulses since the previous read (`count`), their rate (`rate`, 1/s), and the scaled amounts.

        Raises NotReady, taking nothing, when no time passed since the previous read.
        """
        with self._lock:
            if self._device.closed:
                raise DriverError(f"the counter on GPIO{self.pin} was closed; create it again")
            now = self._monotonic()
            elapsed = now - self._since
            if not elapsed > 0:
                raise NotReady(f"the counter on GPIO{self.pin} was read twice at the same instant")
            count, self._count, self._since = self._count, 0, now
        rate = count / elapsed
        values: dict[str, float | int] = {"count": count, "rate": round(rate, _DIGITS)}
        if self.factor is not None:
            if self.per == "pulse":
                values["amount"] = round(count * self.factor, _DIGITS)
                values["amount_rate"] = round(rate * self.factor * SECONDS_PER_HOUR, _DIGITS)
            else:
                values["amount_rate"] = round(rate * self.factor, _DIGITS)
        return values

    def close(self) -> None:
        """Release the pin; safe to call twice. Pulses not yet read are lost with it."""
        self._device.close()

    def __repr__(self) -> str:
        return f"Counter(pin={self.pin}, edge={self.edge!r}, per={self.per!r}, unit={self.unit!r})"


__all__ = ["EDGES", "PERS", "QUANTITIES", "Counter"]
