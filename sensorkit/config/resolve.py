"""Tying a checked config to a board: its buses, addresses and pins."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from sensorkit.config.model import TRANSPORT_KEYS, Config, ResolvedSensor, SensorConfig, config_error
from sensorkit.errors import ConfigError


def apply_device_overrides(config: Config, profile: Any) -> Any:
    """The profile with the config's [device] buses and pins applied (generic boards, overlays, no console)."""
    device = config.device
    reserved = None
    if not device.serial_console:
        # The serial console's reservations (UART TXD/RXD) go; the rest (HAT EEPROM, ...) stay.
        # (The I2C pins are reserved by their buses, not by the profile's list: leave them to the buses.)
        bus_pins = {pin for bus in profile.i2c_buses.values() for pin in (bus.sda, bus.scl)}
        reserved = {pin: why for pin, why in profile.reserved.items()
                    if pin not in bus_pins and "UART" not in why and "serial console" not in why}
    if device.i2c_buses is None and device.gpio_pins is None and device.onewire_pin is None and reserved is None:
        return profile
    from boards import BoardError

    try:
        return profile.with_overrides(
            i2c_buses=device.i2c_buses,
            gpio_pins=device.gpio_pins,
            onewire_pin=device.onewire_pin,
            reserved=reserved,
        )
    except BoardError as exc:
        line = next(iter(device.key_lines.values()), None)
        prefix = f"{config.source}:{line}" if line else config.source
        raise ConfigError(f"{prefix}: [device]: {exc}") from None


def resolve(config: Config, profile: Any) -> tuple[ResolvedSensor, ...]:
    """Tie every enabled sensor to the board's buses and pins, or raise with every problem."""
    from boards import BoardError, check_pin_free, parse_pin

    problems: list[str] = []
    resolved: list[ResolvedSensor] = []
    used_addresses: dict[tuple[int, int], SensorConfig] = {}
    sensors = config.enabled_sensors

    def bad(sensor: SensorConfig, key: str, message: str) -> None:
        line = sensor.key_lines.get(key, sensor.line)
        prefix = f"{config.source}:{line}" if line else config.source
        problems.append(f"{prefix}: [[sensor]] '{sensor.name}' key '{key}': {message}")

    active_buses: set[int] = set()
    for sensor in sensors:
        if sensor.spec.transport != "i2c":
            continue
        bus = sensor.bus if sensor.bus is not None else profile.default_i2c_bus
        if bus is None:
            bad(sensor, "bus", f"board '{profile.name}' has no I2C bus; name one with bus = N "
                "and declare it in [device] i2c_buses (see README: generic boards)")
            continue
        try:
            profile.bus_pins(bus)
        except BoardError as exc:
            bad(sensor, "bus", str(exc))
            continue
        active_buses.add(bus)
        key = (bus, sensor.address)
        if key in used_addresses:
            other = used_addresses[key]
            alternatives = [a for a in sensor.spec.addresses if a != sensor.address]
            hint = (f"; a {sensor.spec.name} can also be at "
                    f"{', '.join(f'{a:#04x}' for a in alternatives)} ({sensor.spec.address_help})"
                    if alternatives else "; put one of them on another bus")
            bad(sensor, "address", f"address {sensor.address:#04x} on I2C bus {bus} is already used by "
                f"sensor '{other.name}' (line {other.line}){hint}")
            continue
        used_addresses[key] = sensor
        resolved.append(ResolvedSensor(sensor, bus=bus, address=sensor.address))

    taken: dict[int, str] = {}
    onewire = next((s for s in sensors if s.spec.transport == "w1"), None)
    if onewire is not None and profile.onewire_pin is not None:
        # The w1-gpio overlay owns its pin while a 1-wire sensor is configured.
        taken[profile.onewire_pin] = (f"the 1-wire bus of sensor '{onewire.name}' (dtoverlay=w1-gpio; another "
                                      "pin: dtoverlay=w1-gpio,gpiopin=N and [device] onewire_pin = N)")
    for sensor in sensors:
        if "pin" not in TRANSPORT_KEYS[sensor.spec.transport]:  # one GPIO each: gpio devices, DHTs
            continue
        try:
            pin = parse_pin(sensor.pin, profile)
            check_pin_free(pin, profile, taken=taken, active_buses=active_buses)
        except BoardError as exc:
            bad(sensor, "pin", str(exc))
            continue
        taken[pin] = f"sensor '{sensor.name}'"
        resolved.append(ResolvedSensor(sensor, pin=pin))

    # 1-wire sensors have no bus or pin of their own: the board's 1-wire root serves them all.
    resolved.extend(ResolvedSensor(s) for s in sensors if s.spec.transport == "w1")

    # Power switches join the pin checks: no two owners, no bus pins, nothing reserved.
    switched = {}
    for sensor in sensors:
        if sensor.power_pin is None:
            continue
        try:
            pin = parse_pin(sensor.power_pin, profile)
            check_pin_free(pin, profile, taken=taken, active_buses=active_buses)
        except BoardError as exc:
            bad(sensor, "power_pin", str(exc))
            continue
        taken[pin] = f"the power switch of sensor '{sensor.name}'"
        switched[sensor.name] = pin
    resolved = [replace(r, power_pin=switched.get(r.name)) for r in resolved]

    if problems:
        raise config_error(problems)
    order = {s.name: i for i, s in enumerate(sensors)}
    return tuple(sorted(resolved, key=lambda r: order[r.name]))
