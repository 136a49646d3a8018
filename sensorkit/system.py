"""Composition: from a config to a running system (board, transports, drivers, sampler, delivery).

The one place that knows how the pieces fit. The CLI only parses arguments
and prints; tests build systems here directly.
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorkit.clock import choose_clock
from sensorkit.config import Config, ResolvedSensor, apply_device_overrides, parse_config, resolve
from sensorkit.errors import ConfigError
from sensorkit.power import PowerSwitch
from sensorkit.readings import Reading
from sensorkit.sampler import SampledSensor, Sampler, Sink, to_readings

log = logging.getLogger(__name__)

DEMO_SOURCE = "<built-in demo>"
DEMO_CONFIG = """\
# The built-in demo: `sensorkit run --simulate` uses it when no config file is found.
[device]
board = "simulated"

[[sensor]]
name = "greenhouse"
driver = "sht3x"
address = 0x44
interval = "2s"

[[sensor]]
name = "outside"
driver = "sht3x"
address = 0x45
interval = "5s"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
interval = "1s"
"""


def demo_config() -> Config:
    return parse_config(DEMO_CONFIG, DEMO_SOURCE)


def choose_board(config: Config, board: str | None = None, *, simulate: bool = False) -> Any:
    """The board profile to use: `board` (from --board) over the config's, 'auto' detects.

    Under `simulate`, an 'auto' board that cannot be detected is the `simulated`
    board, since the point is to run anywhere.
    """
    import boards

    name = board or config.device.board
    if name == "auto":
        try:
            profile = boards.detect()
        except boards.BoardNotDetected:
            if not simulate:
                raise
            profile = boards.get_profile("simulated")
    else:
        profile = boards.get_profile(name)
    return apply_device_overrides(config, profile)


# A read timeout's margin over the longest conversion: room for the bus transactions, a driver's
# retry within its read and a busy Pi Zero's scheduling, while a hung read still shows within seconds.
READ_TIMEOUT_MARGIN_S = 2.0


def read_timeout_s(sensor: Any, driver: Any = None) -> float:
    """How long one read of `sensor` may take: its `timeout`, else its longest read plus a margin.

    The longest read is the catalog's conversion time for its options, or what the driver says its
    read can take (`max_read_s`: a DHT retries within its slot) when that is longer.
    """
    configured = sensor.timeout_s  # the [[sensor]] key `timeout`
    if configured is not None:
        return float(configured)
    longest = max(sensor.spec.conversion_s(dict(sensor.options)), float(getattr(driver, "max_read_s", 0.0) or 0.0))
    return longest + READ_TIMEOUT_MARGIN_S


class _Remembering:
    """A driver class that remembers how it was called, so a driver can be made again alike."""

    def __init__(self, cls: Any) -> None:
        self._cls = cls
        self._call: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        driver = self._cls(*args, **kwargs)
        self._call = functools.partial(self._cls, *args, **kwargs)
        return driver

    def again(self) -> Any:
        return self._call()

    def __getattr__(self, name: str) -> Any:  # the class's own attributes (a DHT driver's `model`)
        return getattr(self._cls, name)


@dataclass
class SensorHandle:
    resolved: ResolvedSensor
    driver: Any  # the driver in use: after an abandoned read the sampler has it re-created
    sampled: SampledSensor = field(init=False)

    @property
    def name(self) -> str:
        return self.resolved.name


class System:
    """A board with its transports and the drivers of every enabled sensor."""

    def __init__(self, config: Config, profile: Any, transports: Any, clock: Any) -> None:
        self.config = config
        self.profile = profile
        self.transports = transports
        self.clock = clock
        self.sensors: list[SensorHandle] = []
        self._bus_locks: dict[int, threading.Lock] = {}
        self._sampler: Sampler | None = None
        self._closers: list[Any] = []  # what else the sensors hold: power switches
        self._w1_buses: dict[Path, Any] = {}  # root -> drivers.ds18b20.W1Bus

    @property
    def simulated(self) -> bool:
        return bool(self.transports.simulated)

    def sampler(self, sink: Sink, **kwargs: Any) -> Sampler:
        """The sampler of every sensor; events (an input's edges) go to it from now on."""
        self._sampler = Sampler([s.sampled for s in self.sensors], sink, clock=self.clock, **kwargs)
        return self._sampler

    def _power_switch(self, resolved: ResolvedSensor) -> PowerSwitch | None:
        if resolved.power_pin is None:
            return None
        from gpiozero import DigitalOutputDevice

        sensor = resolved.config
        output = DigitalOutputDevice(resolved.power_pin, initial_value=True, pin_factory=self.transports.pin_factory())
        switch = PowerSwitch(sensor.name, output, resolved.power_pin, sensor.power_cycle_after or 1, self.clock.sleep)
        self._closers.append(switch.close)
        return switch

    def _edge(self, name: str, state: int) -> None:
        self._event(name, {"state": state})

    def _event(self, name: str, values: dict[str, Any]) -> None:
        """An input's edge: readings of their own once a sampler runs (`read` has none to give them to)."""
        sampler = self._sampler
        if sampler is not None:
            sampler.event(name, values)

    def read_once(self) -> list[tuple[SensorHandle, list[Reading] | Exception]]:
        """One reading of every sensor, one after the other: (sensor, readings or error)."""
        results: list[tuple[SensorHandle, list[Reading] | Exception]] = []
        for handle in self.sensors:
            sampled = handle.sampled
            try:
                if sampled.lock is not None:
                    sampled.lock.acquire()
                started = self.clock.monotonic()
                try:
                    timestamp_ms = self.clock.time_ms()
                    values = sampled.read()
                finally:
                    if sampled.lock is not None:
                        sampled.lock.release()
                log.info("sensor '%s' (%s, %s) answered in %.1f ms", handle.name, handle.resolved.config.driver,
                         handle.resolved.where() or "no address", 1000 * (self.clock.monotonic() - started))
                log.debug("sensor '%s': %r returned %r", handle.name, handle.driver, values)
                results.append((handle, to_readings(sampled, values, timestamp_ms)))
            except Exception as exc:  # noqa: BLE001 - reported per sensor, the rest still read
                log.info("sensor '%s' (%s, %s) failed: %s", handle.name, handle.resolved.config.driver,
                         handle.resolved.where() or "no address", type(exc).__name__)
                log.debug("sensor '%s' failed", handle.name, exc_info=True)
                results.append((handle, exc))
        return results

    def close(self) -> None:
        for handle in self.sensors:
            _close_driver(handle)
        for close in self._closers:
            close()
        self.transports.close()

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ building
    def _bus_lock(self, number: int) -> threading.Lock:
        return self._bus_locks.setdefault(number, threading.Lock())

    def _add(self, resolved: ResolvedSensor, phase_s: float) -> None:
        from drivers import DriverConfigError

        sensor = resolved.config
        spec = sensor.spec
        options = dict(sensor.options)
        twin = None
        if self.transports.simulated:
            twin = self.transports.add_twin(
                spec,
                name=sensor.name,
                bus=resolved.bus,
                address=resolved.address,
                pin=resolved.pin,
                options=options,
                fault=sensor.simulate_fault,
            )
        if spec.transport == "w1":
            from sensorkit.onewire import add_w1

            add_w1(self, resolved)
            return
        cls = _Remembering(spec.load_class())
        lock: threading.Lock | None = None
        lock_name = ""
        try:
            if spec.transport == "i2c":
                assert resolved.bus is not None
                driver = cls(
                    self.transports.i2c(resolved.bus), resolved.address, sleep=self.clock.sleep, **options
                )
                lock = self._bus_lock(resolved.bus)
                lock_name = f"I2C bus {resolved.bus}"
            elif spec.transport == "dht":
                from drivers.dht import library_device

                assert resolved.pin is not None
                # Under --simulate the board's factory makes emulated library objects; on a board,
                # adafruit_dht is imported on the first read. Either way a re-created driver gets a
                # fresh library object (what recovers a hung read).
                device = twin if twin is not None else library_device(cls.model, resolved.pin)
                driver = cls(
                    device, pin=resolved.pin, slot_s=sensor.interval_s, sleep=self.clock.sleep,
                    monotonic=self.clock.monotonic, **options,
                )
            else:
                if "on_change" in inspect.signature(cls._cls).parameters:  # every edge is a reading of its own
                    options["on_change"] = functools.partial(self._edge, sensor.name)
                driver = cls(
                    resolved.pin, pin_factory=self.transports.pin_factory(), monotonic=self.clock.monotonic,
                    **options,
                )
        except DriverConfigError as exc:
            raise self._config_error(sensor, exc) from None
        self._append(resolved, driver, lock=lock, lock_name=lock_name, phase_s=phase_s, remake=cls.again)

    def _config_error(self, sensor: Any, exc: Exception) -> ConfigError:
        line = f":{sensor.line}" if sensor.line else ""
        return ConfigError(f"{self.config.source}{line}: [[sensor]] '{sensor.name}': {exc}")

    def _append(self, resolved: ResolvedSensor, driver: Any, read_values: Any = None, *, lock: Any = None,
                lock_name: str = "", phase_s: float = 0.0, world_name: str | None = None,
                remake: Any = None, before_read: Any = None) -> None:
        """Put a built driver on the sampler. `read_values` (default: the driver's read) gives its values;
        `remake` builds the driver anew, which the sampler does after an abandoned read."""
        from drivers import QUANTITIES

        sensor = resolved.config
        transports = self.transports
        world_name = world_name or sensor.name
        handle = SensorHandle(resolved, driver)

        power = self._power_switch(resolved)

        def read() -> Any:
            if before_read is not None:
                before_read()
            if power is not None and power.due:
                power.cycle()  # before the next read, within its timeout
                if remake is not None:
                    recreate()
            transports.prepare(world_name)
            try:
                values = read_values() if read_values is not None else handle.driver.read()
            except Exception:
                if power is not None:
                    power.failed()
                raise
            if power is not None:
                power.answered()
            return values

        def recreate() -> None:
            _close_driver(handle)
            handle.driver = remake()

        units = getattr(driver, "units", {})  # drivers whose units come from their config (counter)
        series = {q: (name, units.get(q) or QUANTITIES.get(q, "")) for q, name in sensor.series.items()}
        handle.sampled = SampledSensor(
            name=sensor.name,
            read=read,
            interval_s=sensor.interval_s,
            series=series,
            lock=lock,
            lock_name=lock_name,
            phase_s=phase_s,
            timeout_s=read_timeout_s(sensor, driver) + (PowerSwitch.CYCLE_S if power is not None else 0.0),
            recreate=recreate if remake is not None else None,
        )
        self.sensors.append(handle)
        if self._sampler is not None:  # found while running (a thermometer plugged in): on the grid now
            self._sampler.add(handle.sampled)


def _close_driver(handle: SensorHandle) -> None:
    close = getattr(handle.driver, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must go on (for the others, or to make it anew)
            log.debug("closing sensor '%s' failed", handle.name, exc_info=True)


def _phases(sensors: Sequence[ResolvedSensor]) -> dict[str, float]:
    """Spread every sensor over the device and the sensors of one bus over their shortest interval.

    1-wire sensors are left out: they line up at phase 0 behind their bus's lock, so the first
    one's bulk conversion serves them all.
    """
    from sensorkit.phases import Planned, plan_phases

    return plan_phases([Planned(s.name, s.config.interval_s, s.bus) for s in sensors
                        if s.config.spec.transport != "w1"])


def build_system(
    config: Config,
    *,
    board: str | None = None,
    simulate: bool = False,
    seed: int = 0,
    clock: Any = None,
) -> System:
    """Choose the board, check the config against it and build every enabled sensor.

    Raises ConfigError / boards.BoardError for anything the user must fix.
    """
    profile = choose_board(config, board, simulate=simulate)
    if clock is None:  # [device] clock: whether timestamps wait for NTP (sensorkit.holding)
        clock = choose_clock(config.device.clock, board=profile.name, simulated=simulate or profile.simulated)
    resolved = resolve(config, profile)
    log.info("board %s (%s), %d enabled sensor(s) from %s", profile.name,
             "simulated" if simulate or profile.simulated else "hardware", len(resolved), config.source)
    if simulate or profile.simulated:
        from boards.simulated import SimulatedTransports
        from boards.world import World

        transports: Any = SimulatedTransports(profile, clock, World(seed=seed, altitude_m=config.device.altitude_m))
    else:
        from boards.transports import HardwareTransports

        transports = HardwareTransports(profile)
    system = System(config, profile, transports, clock)
    phases = _phases(resolved)
    try:
        for sensor in resolved:
            system._add(sensor, phases.get(sensor.name, 0.0))
    except BaseException:
        system.close()
        raise
    return system


# --------------------------------------------------------------------------- delivery

OUTBOX_FILE = "outbox.sqlite"


def outbox_path(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / OUTBOX_FILE


class Delivering:
    """The delivery side of a run: the outbox and one delivery worker per enabled uploader.

    `add` is the sampler's sink; it queues in memory and never waits on the
    network. `close` commits, gives every uploader one last bounded try,
    closes the uploaders that have a `close()` (MQTT says `offline`), and
    closes the file; a restart goes on from the cursors.
    """

    def __init__(self, outbox: Any, deliveries: Sequence[Any], uploaders: Sequence[Any] = ()) -> None:
        self.outbox = outbox
        self.deliveries = list(deliveries)
        self.uploaders = list(uploaders)

    def add(self, readings: Sequence[Reading]) -> None:
        self.outbox.add(readings)

    def start(self) -> None:
        self.outbox.start()
        for delivery in self.deliveries:
            delivery.start()

    def progress(self) -> list[Any]:
        return [d.progress() for d in self.deliveries]

    def close(self, drain_timeout_s: float = 5.0) -> dict[str, bool]:
        """Commit, try one last delivery within `drain_timeout_s`, close; uploader -> caught up."""
        from sensorkit.delivery import drain_all

        try:
            self.outbox.commit(sync=True)
            caught_up = drain_all(self.deliveries, drain_timeout_s) if self.deliveries else {}
        finally:
            for delivery in self.deliveries:
                delivery.stop(timeout_s=1.0)
            for uploader in self.uploaders:
                close = getattr(uploader, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:  # noqa: BLE001 - the outbox must still be closed
                        log.warning("closing uploader '%s' failed", getattr(uploader, "name", "?"), exc_info=True)
            self.outbox.stop()
            self.outbox.close()
        return caught_up


def open_delivering(
    config: Config,
    state_dir: str | os.PathLike[str],
    *,
    clock: Any = None,
    session: Any = None,
    rng: Any = None,
    board: str | None = None,
) -> Delivering | None:
    """The outbox in `state_dir` and a worker for each enabled uploader; None when there is none.

    Uploaders whose spec `wants_sensors` (MQTT, for Home Assistant discovery)
    are also given the enabled sensors and `board`, the board profile's name.

    Raises OutboxError when the outbox file cannot be used (foreign, damaged,
    read-only): nothing stored is touched.
    """
    uploaders = config.enabled_uploaders
    if not uploaders:
        return None
    from sensorkit.delivery import Delivery
    from sensorkit.outbox import Outbox
    from sensorkit.uploaders import build_uploader
    from sensorkit.watching import skipping_files, uploader_options

    settings = config.outbox
    outbox = Outbox(
        outbox_path(state_dir), [u.name for u in uploaders], clock=clock,
        commit_interval_s=settings["commit_interval"], sync_interval_s=settings["sync_interval"],
        max_readings=settings["max_readings"], max_age_s=settings["max_age"],
    )
    built: list[Any] = []
    try:
        deliveries = []
        for uploader_config in uploaders:
            extra = ({"sensors": config.enabled_sensors, "board": board or config.device.board}
                     if uploader_config.spec.wants_sensors else {})
            extra.update(uploader_options(config, uploader_config))  # [[watch]]: Byteport's routes
            uploader = skipping_files(uploader_config, build_uploader(uploader_config, state_dir, session=session,
                                                                      clock=clock, **extra))
            built.append(uploader)
            deliveries.append(Delivery(
                outbox, uploader_config.name, uploader, clock=clock, batch_size=uploader_config["batch_size"],
                send_delay_s=uploader_config["send_delay"], min_backoff_s=uploader_config["min_backoff"],
                max_backoff_s=max(uploader_config["max_backoff"], uploader_config["min_backoff"]), rng=rng,
            ))
    except BaseException:
        outbox.close()
        raise
    return Delivering(outbox, deliveries, built)
