"""The simulated board: emulated buses and pins whose chips a seeded world drives.

The chosen profile's rules still apply (only its buses exist, only its pins
can be used), so a Pi config can be tried on a laptop. Before each reading,
`prepare(sensor)` sets the twin's true values from the world at the current
wall-clock time; the driver then talks to the twin exactly as to a chip.
"""
from __future__ import annotations

from typing import Any, Callable

from boards.errors import BoardError
from boards.transports import OwnedTransports
from boards.world import World

Refresh = Callable[[float], None]  # wall-clock seconds -> None


class SimulatedTransports(OwnedTransports):
    simulated = True

    def __init__(self, profile: Any, clock: Any, world: World | None = None) -> None:
        # `clock` has .monotonic() (the twins' conversion timers) and .time_ms()
        # (the world's time of day); the drivers must sleep on the same clock.
        super().__init__(profile)
        self.world = world or World(seed=0)
        self.clock = clock
        self._refresh: dict[str, Refresh] = {}

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

    # ------------------------------------------------------------------ twins
    def add_twin(
        self,
        driver: str,
        *,
        name: str,
        bus: int | None = None,
        address: int | None = None,
        pin: int | None = None,
        options: dict[str, Any] | None = None,
        fault: str | None = None,
    ) -> Any:
        """Put the emulated twin of `driver` where the sensor `name` is configured.

        `fault` makes the twin misbehave from the start, as a miswired sensor
        would: "absent" (NACKs everything), "crc" (corrupt checksums) or
        "stuck-bus" (the whole bus times out).
        """
        options = options or {}
        key = name
        if driver == "sht3x":
            from drivers.emulated import EmulatedSHT3x

            assert bus is not None and address is not None
            chip = EmulatedSHT3x(clock=self.clock.monotonic)
            self.i2c(bus).attach(address, chip)
            chip.absent = fault == "absent"
            chip.corrupt_crc = fault == "crc"
            if fault == "stuck-bus":
                self.i2c(bus).stuck = True

            def refresh_sht3x(wall_s: float) -> None:
                chip.temperature = self.world.temperature_c(key, wall_s)
                chip.humidity = self.world.humidity_rh(key, wall_s)

            self._refresh[name] = refresh_sht3x
            return chip
        if fault is not None:
            raise BoardError(f"the emulated {driver} cannot show the fault '{fault}'")
        if driver == "gpio_input":
            assert pin is not None
            mock_pin = self.pin_factory().pin(pin)
            active_low = bool(options.get("pull_up", False))

            def refresh_input(wall_s: float) -> None:
                active = self.world.motion(key, wall_s)
                if active != active_low:
                    mock_pin.drive_high()
                else:
                    mock_pin.drive_low()

            self._refresh[name] = refresh_input
            return mock_pin
        raise BoardError(f"no emulated twin for driver '{driver}'")

    def prepare(self, sensor_name: str) -> None:
        refresh = self._refresh.get(sensor_name)
        if refresh is not None:
            refresh(self.clock.time_ms() / 1000.0)
