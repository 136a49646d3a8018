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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sensorkit.clock import SystemClock
from sensorkit.config import Config, ResolvedSensor, apply_device_overrides, parse_config, resolve
from sensorkit.errors import ConfigError
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
            self._add_w1(resolved)
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
                remake: Any = None) -> None:
        """Put a built driver on the sampler. `read_values` (default: the driver's read) gives its values;
        `remake` builds the driver anew, which the sampler does after an abandoned read."""
        from drivers import QUANTITIES

        sensor = resolved.config
        transports = self.transports
        world_name = world_name or sensor.name
        handle = SensorHandle(resolved, driver)

        power = self._power_switch(resolved)

        def read() -> Any:
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

    def _add_w1(self, resolved: ResolvedSensor) -> None:
        """A ds18b20 entry: its `serial`, or one sampled sensor per thermometer found on the bus now.

        All 1-wire sensors of the board share one W1Bus (so a bulk conversion
        serves them all), its lock and phase 0 (so they line up behind the one
        that converts). Sensors plugged in later are not found until a restart.
        """
        from drivers import DriverConfigError, SensorNotFound
        from drivers.ds18b20 import DS18B20, W1Bus

        sensor = resolved.config
        options = dict(sensor.options)
        serial = options.pop("serial", None)
        aliases = options.pop("aliases", None) or {}
        root = self.transports.w1_root()
        bus = self._w1_buses.get(root)
        if bus is None:
            sleep = self.transports.w1_sleep() or self.clock.sleep
            bus = W1Bus(root, sleep=sleep, clock=self.clock.monotonic, w1_pin=self.profile.onewire_pin)
            self._w1_buses[root] = bus

        def add(config: Any, wanted: str) -> None:
            make = functools.partial(DS18B20, root, wanted, bus=bus, sleep=bus.sleep, clock=self.clock.monotonic,
                                     w1_pin=self.profile.onewire_pin, **options)
            try:
                driver = make()
            except DriverConfigError as exc:
                raise self._config_error(sensor, exc) from None
            self._append(ResolvedSensor(config), driver, lock=bus.lock, lock_name="1-wire bus",
                         world_name=sensor.name, remake=make)

        if serial is not None:
            add(sensor, serial)
            return
        claimed = {s.options["serial"].lower() for s in self.config.enabled_sensors
                   if s.driver == sensor.driver and isinstance(s.options.get("serial"), str)}
        claimed |= {h.driver.serial for h in self.sensors if isinstance(h.driver, DS18B20)}
        found = [s for s in bus.scan() if s not in claimed]
        for wanted in set(aliases) - set(found):
            log.warning("[[sensor]] '%s': aliases names %s, but no such 1-wire sensor was found", sensor.name, wanted)
        if not found:
            def missing() -> Any:
                now = [s for s in bus.scan() if s not in claimed]
                if now:
                    raise SensorNotFound(f"1-wire sensors {', '.join(now)} appeared after start: restart "
                                         "sensorkit to read them")
                raise SensorNotFound(bus.diagnose())

            self._append(resolved, None, missing, lock=bus.lock, lock_name="1-wire bus")
            return
        for wanted in found:
            name = aliases.get(wanted) or f"{sensor.name}_{wanted[-6:]}"
            problem = self._w1_name_problem(sensor, name, f"{name}_temperature")
            if problem:
                log.warning("[[sensor]] '%s': skipping 1-wire sensor %s: %s — name it with aliases = "
                            '{ "%s" = "..." }', sensor.name, wanted, problem, wanted)
                continue
            add(replace(sensor, name=name, series={"temperature": f"{name}_temperature"},
                        options={**sensor.options, "serial": wanted}), wanted)

    def _w1_name_problem(self, entry: Any, name: str, series: str) -> str:
        """Why a sensor found on the bus cannot be called `name` (empty: it can)."""
        from sensorkit.config import NAME_RE, NAME_RULE

        others = [s for s in self.config.sensors if s is not entry]
        if not NAME_RE.match(name) or not NAME_RE.match(series):
            return f"'{name}' is not a usable name ({NAME_RULE})"
        if name in {s.name for s in others} | {h.name for h in self.sensors}:
            return f"the name '{name}' is already taken"
        taken = {v for s in others for v in s.series.values()} | {
            v[0] for h in self.sensors for v in h.sampled.series.values()}
        if series in taken:
            return f"the series name '{series}' is already taken"
        for uploader in self.config.enabled_uploaders:
            why = uploader.spec.series_rule(series)
            if why:
                return f"series '{series}' {why} (uploader '{uploader.name}')"
        return ""


class PowerSwitch:
    """A GPIO that switches a sensor's supply: cycled after `after` failed reads in a row.

    What users otherwise do by hand for a hung DHT22 or a 1-wire bus held low. Off for
    `OFF_S` (long enough for the sensor's supply capacitor to drain), then on, and `ON_S` for
    it to start up before the driver is made anew and reads again.
    """

    OFF_S = 1.0
    ON_S = 2.0  # a DHT22 wants 1 s after power-up, most I2C chips a few ms
    CYCLE_S = OFF_S + ON_S

    def __init__(self, name: str, output: Any, pin: int, after: int, sleep: Any) -> None:
        self.name = name
        self.output = output
        self.pin = pin
        self.after = after
        self._sleep = sleep
        self._failures = 0
        self.due = False
        self.cycles = 0

    def failed(self) -> None:
        self._failures += 1
        if self._failures >= self.after:
            self.due = True

    def answered(self) -> None:
        self._failures = 0

    def cycle(self) -> None:
        log.warning("sensor '%s' failed %d reads in a row: switching its power (GPIO%d) off and on",
                    self.name, self._failures, self.pin)
        self.output.off()
        self._sleep(self.OFF_S)
        self.output.on()
        self._sleep(self.ON_S)
        self.cycles += 1
        self._failures = 0
        self.due = False

    def close(self) -> None:
        self.output.close()


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
    clock = clock or SystemClock()
    profile = choose_board(config, board, simulate=simulate)
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
    network. `close` commits, gives every uploader one last bounded try, and
    closes the file; a restart goes on from the cursors.
    """

    def __init__(self, outbox: Any, deliveries: Sequence[Any]) -> None:
        self.outbox = outbox
        self.deliveries = list(deliveries)

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
) -> Delivering | None:
    """The outbox in `state_dir` and a worker for each enabled uploader; None when there is none.

    Raises OutboxError when the outbox file cannot be used (foreign, damaged,
    read-only): nothing stored is touched.
    """
    uploaders = config.enabled_uploaders
    if not uploaders:
        return None
    from sensorkit.delivery import Delivery
    from sensorkit.outbox import Outbox
    from sensorkit.uploaders import build_uploader

    settings = config.outbox
    outbox = Outbox(
        outbox_path(state_dir), [u.name for u in uploaders], clock=clock,
        commit_interval_s=settings["commit_interval"], sync_interval_s=settings["sync_interval"],
        max_readings=settings["max_readings"], max_age_s=settings["max_age"],
    )
    try:
        deliveries = []
        for uploader_config in uploaders:
            uploader = build_uploader(uploader_config, state_dir, session=session, clock=clock)
            deliveries.append(Delivery(
                outbox, uploader_config.name, uploader, clock=clock, batch_size=uploader_config["batch_size"],
                send_delay_s=uploader_config["send_delay"], min_backoff_s=uploader_config["min_backoff"],
                max_backoff_s=max(uploader_config["max_backoff"], uploader_config["min_backoff"]), rng=rng,
            ))
    except BaseException:
        outbox.close()
        raise
    return Delivering(outbox, deliveries)
