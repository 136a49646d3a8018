"""Checking `[[sensor]]` tables: driver, transport keys, options from the catalog, interval, series."""
from __future__ import annotations

from typing import Any, Callable

from sensorkit.catalog import BOOL, CHOICE, DRIVERS, DURATION, FLOAT, INT, STR, TABLE, DriverSpec
from sensorkit.config.model import COMMON_SENSOR_KEYS, NAME_RE, NAME_RULE, TRANSPORT_KEYS, SensorConfig
from sensorkit.config.text import parse_address, short, suggest, type_name
from sensorkit.durations import FORMS, format_duration, parse_duration

# A sensor read less often than weekly is no sensor; longer waits also stop meaning anything to
# a clock that may be stepped (NTP) in between.
MAX_INTERVAL_S = 7 * 86400.0
# With a power_pin and no power_cycle_after: the supply is cycled after this many failed reads in a row.
DEFAULT_POWER_CYCLE_AFTER = 3


def interval_of(raw: dict[str, Any], default_s: float, shortest_s: float, bad: Any,
                too_short: Callable[[str], str]) -> float:
    """The table's `interval` in seconds (`default_s` when not given); a problem for `bad` when it is no
    duration, longer than MAX_INTERVAL_S or shorter than `shortest_s` (`too_short(given)` says why)."""
    if "interval" not in raw:
        return default_s
    try:
        interval_s = parse_duration(raw["interval"])
    except ValueError:
        bad("interval", f"must be a duration such as {FORMS}, got {type_name(raw['interval'])}")
        return default_s
    if interval_s > MAX_INTERVAL_S:
        bad("interval", f"{format_duration(interval_s)} is longer than the longest interval, "
            f"{format_duration(MAX_INTERVAL_S)}: use 1w or less")
    elif interval_s < shortest_s:
        bad("interval", too_short(format_duration(interval_s)))
    return interval_s


class SensorChecks:
    """The `[[sensor]]` half of the config checker (mixed into `Checker`)."""

    source: str
    lines: dict[tuple[Any, ...], int]
    problems: list[str]

    def problem(self, path: tuple[Any, ...], where: str, message: str) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ [[sensor]]
    def check_sensors(self, raw: Any) -> list[SensorConfig]:
        if isinstance(raw, dict):
            self.problem(
                ("sensor",),
                "[sensor]",
                "each sensor is a table in an array: write [[sensor]] (double brackets) above each one",
            )
            return []
        if not isinstance(raw, list):
            self.problem(("sensor",), "sensor", "must be [[sensor]] tables")
            return []
        sensors: list[SensorConfig] = []
        first_line: dict[str, int | None] = {}
        series_owner: dict[str, str] = {}
        for index, table in enumerate(raw):
            sensor = self.check_sensor(index, table)
            if sensor is None:
                continue
            if sensor.name in first_line:
                earlier = first_line[sensor.name]
                at = f" (line {earlier})" if earlier else ""
                self.problem(
                    ("sensor", index, "name"),
                    f"[[sensor]] '{sensor.name}'",
                    f"duplicate sensor name: another sensor{at} is already called '{sensor.name}' — "
                    "give each sensor its own name",
                )
                continue
            first_line[sensor.name] = self.lines.get(("sensor", index, "name"))
            for quantity, series in sensor.series.items():
                owner = series_owner.get(series)
                if owner is not None:
                    self.problem(
                        ("sensor", index, "series"),
                        f"[[sensor]] '{sensor.name}' series '{quantity}'",
                        f"series name '{series}' is already used by {owner} — choose another name",
                    )
                series_owner[series] = f"sensor '{sensor.name}'"
            sensors.append(sensor)
        return sensors

    def check_sensor(self, index: int, raw: Any) -> SensorConfig | None:
        path = ("sensor", index)
        if not isinstance(raw, dict):
            self.problem(path, f"[[sensor]] #{index + 1}", "must be a table")
            return None
        name = raw.get("name")
        label = f"[[sensor]] '{name}'" if isinstance(name, str) and name else f"[[sensor]] #{index + 1}"
        problems_before = len(self.problems)

        def bad(key: str, message: str) -> None:
            self.problem((*path, key), f"{label} key '{key}'", message)

        if name is None:
            bad("name", 'missing: every sensor needs a name, e.g. name = "air"')
        elif not isinstance(name, str) or not NAME_RE.match(name):
            bad("name", f"{type_name(name)} is not a usable name: use {NAME_RULE}")

        driver = raw.get("driver")
        spec: DriverSpec | None = None
        if driver is None:
            bad("driver", f"missing: say which driver reads it, one of {', '.join(sorted(DRIVERS))}")
        elif not isinstance(driver, str) or driver not in DRIVERS:
            bad(
                "driver",
                f"unknown driver {short(driver)}{suggest(driver, DRIVERS)}; "
                f"known drivers: {', '.join(sorted(DRIVERS))}",
            )
        else:
            spec = DRIVERS[driver]

        if spec is None:  # the rest depends on the driver
            return None
        allowed = COMMON_SENSOR_KEYS + TRANSPORT_KEYS[spec.transport] + tuple(o.name for o in spec.options)
        for key in raw:
            if key not in allowed:
                bad(key, f"unknown key for driver '{spec.name}'{suggest(key, allowed)}; "
                    f"it takes: {', '.join(allowed)}")

        # Options first (the shortest interval depends on them), their problems reported after the rest.
        option_problems: list[tuple[str, str]] = []
        options = self._options(raw, spec, lambda key, message: option_problems.append((key, message)))
        shortest = spec.min_interval(options)
        interval_s = interval_of(
            raw, spec.default_interval_s, shortest, bad,
            lambda given: f"{given} is faster than a {spec.name} can measure"
            + (" with these options" if spec.timing else "") + f"; use {format_duration(shortest)} or more")


        timeout_s = None
        if "timeout" in raw:
            try:
                timeout_s = parse_duration(raw["timeout"])
            except ValueError:
                bad("timeout", f"must be a duration such as {FORMS}, got {type_name(raw['timeout'])}")
            else:
                conversion = spec.conversion_s(options)
                if timeout_s > MAX_INTERVAL_S:
                    bad("timeout", f"{format_duration(timeout_s)} is longer than a week: use 1w or less")
                    timeout_s = None
                elif timeout_s <= conversion:
                    bad("timeout", f"{format_duration(timeout_s)} is no longer than a {spec.name}'s conversion "
                        f"({format_duration(conversion)}): every read would be abandoned; give it more")
                    timeout_s = None

        power_pin = raw.get("power_pin")
        if power_pin is not None and (isinstance(power_pin, bool) or not isinstance(power_pin, (int, str))):
            bad("power_pin", f'must be a pin such as "GPIO26", 26 or "BOARD37", got {type_name(power_pin)}')
            power_pin = None
        cycle_after = raw.get("power_cycle_after")
        if cycle_after is not None:
            if type(cycle_after) is not int or not 1 <= cycle_after <= 1000:
                bad("power_cycle_after",
                    f"must be a number of failed reads from 1 to 1000, got {type_name(cycle_after)}")
                cycle_after = None
            elif power_pin is None:
                bad("power_cycle_after", 'needs power_pin: the GPIO that switches the sensor\'s supply, e.g. '
                    'power_pin = "GPIO26"')
        elif power_pin is not None:
            cycle_after = DEFAULT_POWER_CYCLE_AFTER

        device_class = raw.get("device_class")
        if device_class is not None:
            from sensorkit.uploaders.homeassistant import BINARY_SENSOR_DEVICE_CLASSES as CLASSES

            if "state" not in spec.quantities:
                bad("device_class", f"is for on/off inputs (gpio_input): a {spec.name}'s quantities get their "
                    "Home Assistant class by themselves")
                device_class = None
            elif device_class not in CLASSES:
                bad("device_class", f"{short(device_class)} is not a Home Assistant binary sensor class"
                    f"{suggest(str(device_class), CLASSES)}; e.g. door, window, motion, moisture, occupancy")
                device_class = None

        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            bad("enabled", f"must be true or false, got {type_name(enabled)}")
            enabled = True

        fault = raw.get("simulate_fault")
        if fault is not None and fault not in spec.simulated_faults:
            faults = ", ".join(f'"{f}"' for f in spec.simulated_faults) or "none"
            bad("simulate_fault", f"{short(fault)} is not a fault the emulated {spec.name} can show; "
                f"it can show: {faults}")
            fault = None

        series = self._series(raw.get("series"), spec, name if isinstance(name, str) else "", bad)
        transport = self._transport(raw, spec, bad)
        for key, message in option_problems:
            bad(key, message)
        if len(self.problems) > problems_before or not isinstance(name, str):
            return None
        lines = {k[2]: v for k, v in self.lines.items() if len(k) == 3 and k[:2] == path}
        return SensorConfig(
            name=name,
            driver=spec.name,
            interval_s=interval_s,
            series=series,
            enabled=enabled,
            options=options,
            simulate_fault=fault,
            timeout_s=timeout_s,
            power_pin=power_pin,
            power_cycle_after=cycle_after,
            device_class=device_class,
            line=self.lines.get(path),
            key_lines=lines,
            **transport,
        )

    def _series(self, raw: Any, spec: DriverSpec, name: str, bad: Any) -> dict[str, str]:
        series = {q: f"{name}_{q}" for q in spec.quantities}
        if raw is None:
            return series
        if not isinstance(raw, dict):
            bad("series", f'must be a table of quantity = "series name", e.g. series = {{ '
                f'{spec.quantities[0]} = "greenhouse" }}')
            return series
        for quantity, value in raw.items():
            if quantity not in spec.quantities:
                bad("series", f"'{quantity}' is not measured by {spec.name}{suggest(quantity, spec.quantities)}; "
                    f"it measures {', '.join(spec.quantities)}")
            elif not isinstance(value, str) or not NAME_RE.match(value):
                bad("series", f"series name for '{quantity}' is {type_name(value)}: use {NAME_RULE}")
            else:
                series[quantity] = value
        return series

    def _transport(self, raw: dict[str, Any], spec: DriverSpec, bad: Any) -> dict[str, Any]:
        if spec.transport == "i2c":
            out: dict[str, Any] = {"address": spec.addresses[0] if spec.addresses else None}
            if "bus" in raw:
                bus = raw["bus"]
                if type(bus) is not int or bus < 0:
                    bad("bus", f"must be an I2C bus number such as 1 (for /dev/i2c-1), got {type_name(bus)}")
                else:
                    out["bus"] = bus
            if "address" in raw:
                try:
                    address = parse_address(raw["address"])
                except ValueError:
                    bad("address", f"must be an I2C address such as 0x44, got {type_name(raw['address'])}")
                else:
                    if spec.addresses and address not in spec.addresses:
                        allowed = " or ".join(f"{a:#04x}" for a in spec.addresses)
                        hint = f" ({spec.address_help})" if spec.address_help else ""
                        bad("address", f"a {spec.name} answers only at {allowed}{hint}, not {address:#04x}")
                    else:
                        out["address"] = address
            return out
        if "pin" not in TRANSPORT_KEYS[spec.transport]:
            return {}
        pin = raw.get("pin")
        if pin is None:
            bad("pin", 'missing: say which GPIO it is wired to, e.g. pin = "GPIO17" (or 17, or "BOARD11")')
            return {}
        if isinstance(pin, bool) or not isinstance(pin, (int, str)):
            bad("pin", f'must be a pin such as "GPIO17", 17 or "BOARD11", got {type_name(pin)}')
            return {}
        return {"pin": pin}

    def _options(self, raw: dict[str, Any], spec: DriverSpec, bad: Any) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for option in spec.options:
            if option.name not in raw:
                if option.default is not None:
                    options[option.name] = option.default
                continue
            value = self._option(option, raw[option.name], bad)
            if value is not None:
                options[option.name] = value
        return options


    @staticmethod
    def _option(option: Any, value: Any, bad: Any) -> Any:
        """The option's value as the driver takes it, or None after reporting why it cannot be used."""
        number = type(value) in (int, float)
        if option.kind == DURATION and isinstance(value, str):
            try:
                value = parse_duration(value)
            except ValueError:
                value = None
            number = value is not None
        kind_ok = {
            BOOL: isinstance(value, bool),
            INT: type(value) is int,
            FLOAT: number and value >= 0,
            DURATION: number and value >= 0,
            STR: isinstance(value, str),
            CHOICE: value in option.choices and not isinstance(value, bool),
            TABLE: isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()),
        }[option.kind]
        if kind_ok and option.kind in (INT, FLOAT, DURATION):
            low, high = option.minimum, option.maximum
            kind_ok = (low is None or value >= low) and (high is None or value <= high)
        if not kind_ok:
            bounds = ""
            if option.minimum is not None or option.maximum is not None:
                shown = format_duration if option.kind == DURATION else (lambda v: f"{v:g}")
                bounds = (f" from {shown(option.minimum)}" if option.minimum is not None else "") + (
                    f" up to {shown(option.maximum)}" if option.maximum is not None else "")
            wanted = {
                BOOL: "true or false",
                INT: "an integer" + bounds,
                FLOAT: "a number of 0 or more" if not bounds else "a number" + bounds,
                DURATION: f"a duration such as {FORMS}" + bounds,
                STR: "a string",
                CHOICE: "one of " + ", ".join(f'"{c}"' if isinstance(c, str) else f"{c}" for c in option.choices),
                TABLE: 'a table of names to names, e.g. { "28-00000a1b2c3d" = "soil" }',
            }[option.kind]
            bad(option.name, f"must be {wanted}, got {type_name(value) if value is not None else 'something else'}"
                + (f" — {option.help}" if option.help else ""))
            return None
        return float(value) if option.kind in (FLOAT, DURATION) else value
