"""The simulated board: emulated buses and pins whose chips a seeded world drives.

The chosen profile's rules still apply (only its buses exist, only its pins
can be used), so a Pi config can be tried on a laptop. Before each reading,
`prepare(sensor)` sets the twin's true values from the world at the current
wall-clock time; the driver then talks to the twin exactly as to a chip.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

from boards.errors import BoardError
from boards.transports import OwnedTransports
from boards.world import DHT_SIGMA, World

Refresh = Callable[[float], None]  # wall-clock seconds -> None
# "hang" under --simulate: each DHT library object hangs after this many good transfers.
DHT_HANG_AFTER = 3


def _active_low(options: dict[str, Any]) -> bool:
    """Whether a gpio_input with these options is active when its pin is low."""
    pull = options.get("pull")
    if pull is None and "pull_up" in options:
        pull = {True: "up", False: "down"}.get(options["pull_up"], "none")
    if pull in (None, "down"):
        return False
    return pull == "up" or options.get("active_state") == "low"

# DS18B20 datasheet: +-0.5 °C from -10 to +85 °C, taken as roughly 2 sigma.
DS18B20_SIGMA_C = 0.25
# A ds18b20 entry without `serial` finds this many emulated sensors on the bus.
W1_SENSORS_WITHOUT_SERIAL = 2
# simulate_fault -> the emulated sensor's fault counter, set to "always".
W1_FAULTS = {"crc": "crc_failures", "power-on": "power_on_reads", "zeros": "zero_reads"}


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    import importlib

    return getattr(importlib.import_module(module_name), attr)


class SimulatedTransports(OwnedTransports):
    simulated = True

    def __init__(self, profile: Any, clock: Any, world: World | None = None) -> None:
        # `clock` has .monotonic() (the twins' conversion timers) and .time_ms()
        # (the world's time of day); the drivers must sleep on the same clock.
        super().__init__(profile)
        self.world = world or World(seed=0)
        self.clock = clock
        self._refresh: dict[str, Refresh] = {}
        self._w1: Any | None = None  # the EmulatedW1Bus, in a temporary directory
        self._w1_dir: Path | None = None

    # ------------------------------------------------------------------ transports
    def i2c(self, number: int) -> Any:
        from drivers.emulated import EmulatedSMBus

        with self._lock:
            if number not in self._buses:
                if number not in self.profile.i2c_buses:
                    raise BoardError(f"board '{self.profile.name}' has no I2C bus {number}")
                self._buses[number] = EmulatedSMBus(number)
            return self._buses[number]

    def pin_factory(self) -> Any:
        with self._lock:
            if self._factory is None:
                from gpiozero.pins.mock import MockFactory

                self._factory = MockFactory()
            return self._factory

    def w1_root(self) -> Path:
        return self._w1_bus().root

    def w1_sleep(self) -> Callable[[float], None]:
        # The emulated kernel acts while a driver sleeps (see drivers.emulated.w1).
        return self._w1_bus().sleep

    def _w1_bus(self) -> Any:
        from drivers.emulated import EmulatedW1Bus

        with self._lock:
            if self._w1 is None:
                self._w1_dir = Path(tempfile.mkdtemp(prefix="sensorkit-w1-"))
                self._w1 = EmulatedW1Bus(self._w1_dir / "devices", clock=self.clock.monotonic,
                                         sleep=self.clock.sleep)
            return self._w1

    def close(self) -> None:
        super().close()
        with self._lock:
            if self._w1_dir is not None:
                shutil.rmtree(self._w1_dir, ignore_errors=True)
                self._w1 = self._w1_dir = None

    # ------------------------------------------------------------------ twins
    def add_twin(
        self,
        spec: Any,
        *,
        name: str,
        bus: int | None = None,
        address: int | None = None,
        pin: int | None = None,
        options: dict[str, Any] | None = None,
        fault: str | None = None,
    ) -> Any:
        """Put the emulated twin of `spec` (a catalog `DriverSpec`) where sensor `name` is configured.

        The catalog says which twin class, which world quantities drive it
        and which sibling answers under "wrong-chip"; `fault` makes the twin
        misbehave from the start, as a miswired or failing sensor would.
        """
        options = options or {}
        if fault is not None and fault not in spec.simulated_faults:
            raise BoardError(f"the emulated {spec.name} cannot show the fault '{fault}'")
        if spec.transport == "i2c":
            return self._add_i2c_twin(spec, name, bus, address, fault)
        if spec.transport == "dht":
            return self._add_dht_twin(spec, name, fault)
        if spec.transport == "gpio" and "pulses" in spec.world:
            return self._add_counter_twin(name, pin, options)
        if spec.transport == "gpio":
            return self._add_input_twin(name, pin, active_low=_active_low(options))
        if spec.transport == "w1":
            return self._add_w1_twins(name, options.get("serial"), fault)
        raise BoardError(f"no emulated twin for driver '{spec.name}'")

    def _add_i2c_twin(self, spec: Any, name: str, bus: int | None, address: int | None, fault: str | None) -> Any:
        from drivers.emulated.base import CHIP_FAULTS

        if bus is None or address is None or not spec.twin:
            raise BoardError(f"no emulated twin for driver '{spec.name}'")
        target = spec.sibling if fault == "wrong-chip" else spec.twin
        chip = _load(target)(clock=self.clock.monotonic)
        self.i2c(bus).attach(address, chip)
        if fault in CHIP_FAULTS:
            chip.fault = fault
        elif fault == "stuck-bus":
            self.i2c(bus).stuck = True
        world, quantities = self.world, [q for q in spec.world if hasattr(chip, q)]

        def refresh(wall_s: float) -> None:
            for quantity in quantities:
                setattr(chip, quantity, world.value(quantity, name, wall_s))

        self._refresh[name] = refresh
        return chip

    def _add_input_twin(self, name: str, pin: int | None, *, active_low: bool) -> Any:
        if pin is None:
            raise BoardError("an emulated input needs a pin")
        mock_pin = self.pin_factory().pin(pin)
        world = self.world

        def refresh(wall_s: float) -> None:
            if world.motion(name, wall_s) != active_low:
                mock_pin.drive_high()
            else:
                mock_pin.drive_low()

        self._refresh[name] = refresh
        return mock_pin

    def _add_dht_twin(self, spec: Any, name: str, fault: str | None) -> Callable[[], Any]:
        """One emulated part per sensor; returns a factory for the library object that reads it.

        Each object the driver creates (again after an abandoned read) reads
        the same part, with its own seed; under "hang" each one hangs after
        `DHT_HANG_AFTER` good transfers, so a run shows hang and recovery.
        """
        from drivers.emulated.dht import EmulatedDHT, EmulatedDHTSensor

        model, clock, world = spec.name, self.clock, self.world
        part = EmulatedDHTSensor(model, clock=clock.monotonic)
        sigma_c, sigma_rh = DHT_SIGMA[model]

        def refresh(wall_s: float) -> None:
            part.temperature = world.temperature_c(name, wall_s, noise_c=sigma_c)
            part.humidity = world.humidity_rh(name, wall_s, noise_rh=sigma_rh)

        self._refresh[name] = refresh
        seeds = itertools.count(zlib.crc32(f"{world.seed}\x1f{name}".encode()))

        def create() -> Any:
            return EmulatedDHT(
                model, clock=clock.monotonic, sleep=clock.sleep, sensor=part, fault=fault,
                seed=next(seeds), hang_after=DHT_HANG_AFTER,
            )

        return create

    def _add_counter_twin(self, name: str, pin: int | None, options: dict[str, Any]) -> Any:
        """The counter's pin, pulsed before each reading with the world's pulses since the last one."""
        if pin is None:
            raise BoardError("an emulated counter needs a pin")
        mock_pin = self.pin_factory().pin(pin)
        idle_high = options.get("pull", "up") == "up"
        kind = "wind" if options.get("per") == "hz" else "rain"
        world = self.world
        last: list[float | None] = [None]
        (mock_pin.drive_high if idle_high else mock_pin.drive_low)()

        def refresh(wall_s: float) -> None:
            count = 0 if last[0] is None else world.pulses(name, last[0], wall_s, kind=kind)
            last[0] = wall_s
            for _ in range(count):  # away from the idle level and back: one counted edge each
                (mock_pin.drive_low if idle_high else mock_pin.drive_high)()
                (mock_pin.drive_high if idle_high else mock_pin.drive_low)()

        self._refresh[name] = refresh
        return mock_pin
    def _add_w1_twins(self, name: str, serial: str | None, fault: str | None) -> list[Any]:
        """The configured sensor, or two with serials seeded by the sensor's name, on the emulated bus."""
        bus = self._w1_bus()
        if serial is None:
            serials = [self._w1_serial(name, i) for i in range(W1_SENSORS_WITHOUT_SERIAL)]
        else:
            serials = [serial.lower()] if isinstance(serial, str) else []
        sensors = []
        for wanted in [] if fault == "absent" else serials:
            try:
                sensors.append(bus.sensors.get(wanted) or bus.add_sensor(wanted))
            except ValueError:
                continue  # not a thermometer's serial: the driver says so when it is built
            if fault in W1_FAULTS:
                setattr(sensors[-1], W1_FAULTS[fault], math.inf)
        world = self.world

        def refresh(wall_s: float) -> None:
            for sensor in sensors:
                sensor.temperature = world.temperature_c(f"{name}/{sensor.serial}", wall_s,
                                                         noise_c=DS18B20_SIGMA_C)
            bus.sync()

        self._refresh[name] = refresh
        refresh(self.clock.time_ms() / 1000.0)
        return sensors

    def _w1_serial(self, name: str, index: int) -> str:
        digest = hashlib.sha256(f"{self.world.seed}/{name}/{index}".encode()).hexdigest()
        return f"28-{digest[:12]}"

    def prepare(self, sensor_name: str) -> None:
        refresh = self._refresh.get(sensor_name)
        if refresh is not None:
            refresh(self.clock.time_ms() / 1000.0)
