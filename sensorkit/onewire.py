"""The 1-wire sensors of a config: one per `serial`, or one per thermometer found on the bus.

An entry without `serial` becomes a sensor for every thermometer on the bus when the system
is built, and keeps looking while it runs: once per interval, before its first sensor reads
(or, while none is found, its stand-in, which fails with what to check), the bus is listed
again (a directory listing, cheap), and a thermometer plugged in since is named, checked and
put on the sampler's grid. A name that breaks the naming rules or clashes is a warning and
that thermometer is skipped, once, never a crash. All 1-wire sensors of the board share one
W1Bus (so one bulk conversion serves them all), its lock and phase 0 (so they line up behind
the one that converts).
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import replace
from typing import Any

from sensorkit.config import ResolvedSensor

log = logging.getLogger(__name__)


def add_w1(system: Any, resolved: ResolvedSensor) -> None:
    """Put a ds18b20 entry's sensors on `system` (a `sensorkit.system.System` being built)."""
    from drivers.ds18b20 import W1Bus

    sensor = resolved.config
    root = system.transports.w1_root()
    bus = system._w1_buses.get(root)
    if bus is None:
        sleep = system.transports.w1_sleep() or system.clock.sleep
        bus = W1Bus(root, sleep=sleep, clock=system.clock.monotonic, w1_pin=system.profile.onewire_pin)
        system._w1_buses[root] = bus
    entry = W1Entry(system, resolved, bus)
    serial = sensor.options.get("serial")
    if serial is not None:
        entry.add(sensor, serial)
        return
    found = entry.discover(at_start=True)
    if not found:
        system._append(resolved, None, entry.stand_in, lock=bus.lock, lock_name="1-wire bus")


class W1Entry:
    """One `[[sensor]]` entry of the ds18b20 driver, and the thermometers it has put on the grid."""

    def __init__(self, system: Any, resolved: ResolvedSensor, bus: Any) -> None:
        self.system = system
        self.resolved = resolved
        self.config = resolved.config
        self.bus = bus
        options = dict(self.config.options)
        options.pop("serial", None)
        self.aliases: dict[str, str] = options.pop("aliases", None) or {}
        self.options = options
        self.seen: set[str] = set()  # serials added or skipped: each is looked at once
        self.added: list[str] = []
        self._lock = threading.Lock()
        self._next_look = 0.0

    def add(self, config: Any, serial: str, *, watch: bool = False) -> None:
        """One sampled sensor for the thermometer `serial`; `watch`: it also looks for new ones."""
        from drivers import DriverConfigError
        from drivers.ds18b20 import DS18B20

        system, bus = self.system, self.bus
        make = functools.partial(DS18B20, bus.root, serial, bus=bus, sleep=bus.sleep, clock=system.clock.monotonic,
                                 w1_pin=system.profile.onewire_pin, **self.options)
        try:
            driver = make()
        except DriverConfigError as exc:
            raise system._config_error(self.config, exc) from None
        system._append(ResolvedSensor(config), driver, lock=bus.lock, lock_name="1-wire bus",
                       world_name=self.config.name, remake=make, before_read=self.look if watch else None)
        self.added.append(serial)

    def discover(self, *, at_start: bool = False) -> list[str]:
        """Add every thermometer on the bus not yet seen; the serials added."""
        from drivers.ds18b20 import DS18B20

        system = self.system
        claimed = {s.options["serial"].lower() for s in system.config.enabled_sensors
                   if s.driver == self.config.driver and isinstance(s.options.get("serial"), str)}
        claimed |= {h.driver.serial for h in system.sensors if isinstance(h.driver, DS18B20)}
        new = [s for s in self.bus.scan() if s not in claimed and s not in self.seen]
        if at_start:
            for wanted in set(self.aliases) - set(new):
                log.warning("[[sensor]] '%s': aliases names %s, but no such 1-wire sensor was found",
                            self.config.name, wanted)
        added = []
        for serial in new:
            self.seen.add(serial)
            name = self.aliases.get(serial) or f"{self.config.name}_{serial[-6:]}"
            problem = w1_name_problem(system, self.config, name, f"{name}_temperature")
            if problem:
                log.warning("[[sensor]] '%s': skipping 1-wire sensor %s: %s — name it with aliases = "
                            '{ "%s" = "..." }', self.config.name, serial, problem, serial)
                continue
            if not at_start:
                log.warning("[[sensor]] '%s': 1-wire sensor %s found on the bus: reading it as '%s'",
                            self.config.name, serial, name)
            self.add(replace(self.config, name=name, series={"temperature": f"{name}_temperature"},
                             options={**self.config.options, "serial": serial}), serial, watch=not self.added)
            added.append(serial)
        return added

    def look(self) -> None:
        """Look for thermometers plugged in since, at most once an interval (from a sensor's read)."""
        now = self.system.clock.monotonic()
        with self._lock:
            if now < self._next_look:
                return
            self._next_look = now + self.config.interval_s
        try:
            self.discover()
        except Exception:  # noqa: BLE001 - looking must never fail the read it rides on
            log.debug("looking for new 1-wire sensors failed", exc_info=True)

    def stand_in(self) -> Any:
        """While the entry has no thermometer: look again, then say what to check."""
        from drivers import SensorNotFound

        self.look()
        if self.added:
            return {}  # they are sensors of their own now
        raise SensorNotFound(self.bus.diagnose())


def w1_name_problem(system: Any, entry: Any, name: str, series: str) -> str:
    """Why a sensor found on the bus cannot be called `name` (empty: it can)."""
    from sensorkit.config import NAME_RE, NAME_RULE

    others = [s for s in system.config.sensors if s is not entry]
    if not NAME_RE.match(name) or not NAME_RE.match(series):
        return f"'{name}' is not a usable name ({NAME_RULE})"
    if name in {s.name for s in others} | {h.name for h in system.sensors}:
        return f"the name '{name}' is already taken"
    taken = {v for s in others for v in s.series.values()} | {
        v[0] for h in system.sensors for v in h.sampled.series.values()}
    if series in taken:
        return f"the series name '{series}' is already taken"
    for uploader in system.config.enabled_uploaders:
        why = uploader.spec.series_rule(series)
        if why:
            return f"series '{series}' {why} (uploader '{uploader.name}')"
    return ""
