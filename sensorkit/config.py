"""Config files: where they are found, what they may hold, and every problem in them.

`load_config()` parses and checks everything that needs no board; `resolve()`
then checks buses, addresses and pins against a board profile. Both collect
every problem they find and raise one `ConfigError` listing them, each as
``FILE:LINE: where: what is wrong — how to fix it``.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorkit.catalog import BOOL, CHOICE, DRIVERS, DURATION, FLOAT, INT, STR, TABLE, DriverSpec
from sensorkit.durations import FORMS, format_duration, parse_duration
from sensorkit.errors import ConfigError
from sensorkit.uploaders.settings import ENV, OUTBOX_KEYS, SECRET, UPLOADERS, Key, UploaderConfig, coerce

CONFIG_NAME = "sensorkit.toml"
SYSTEM_CONFIG = Path("/etc/sensorkit") / CONFIG_NAME

# Names become series names at iobeam and field names at Byteport: keep to the
# characters both accept (0-9 a-z A-Z - _, no leading or trailing - or _).
# Each uploader checks its own further rules (lengths, reserved names).
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,30}[A-Za-z0-9])?$")
NAME_RULE = "1-32 letters, digits, '_' or '-', starting and ending with a letter or digit"

TOP_LEVEL = ("device", "sensor", "uploader", "outbox")
DEVICE_KEYS = ("board", "i2c_buses", "gpio_pins", "onewire_pin")
COMMON_SENSOR_KEYS = ("name", "driver", "interval", "enabled", "series", "simulate_fault")
# Keys each transport kind takes in [[sensor]]: I2C chips, GPIO devices, DHT sensors (one GPIO
# each) and 1-wire sensors (found on the board's 1-wire bus, picked by the driver's `serial`).
TRANSPORT_KEYS = {"i2c": ("bus", "address"), "gpio": ("pin",), "dht": ("pin",), "w1": ()}


@dataclass(frozen=True)
class SensorConfig:
    """One `[[sensor]]` table, checked but not yet tied to a board."""

    name: str
    driver: str
    interval_s: float
    series: Mapping[str, str]  # quantity -> series name, for every quantity
    enabled: bool = True
    bus: int | None = None
    address: int | None = None
    pin: int | str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    simulate_fault: str | None = None  # only honoured under --simulate
    line: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def spec(self) -> DriverSpec:
        return DRIVERS[self.driver]


@dataclass(frozen=True)
class DeviceConfig:
    board: str = "auto"
    i2c_buses: Mapping[int, tuple[int, int]] | None = None
    gpio_pins: tuple[int, ...] | None = None
    onewire_pin: int | None = None
    key_lines: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    source: str
    device: DeviceConfig
    sensors: tuple[SensorConfig, ...]
    uploaders: tuple[UploaderConfig, ...] = ()
    outbox: Mapping[str, Any] = field(default_factory=lambda: {k.name: k.default for k in OUTBOX_KEYS})

    @property
    def enabled_sensors(self) -> tuple[SensorConfig, ...]:
        return tuple(s for s in self.sensors if s.enabled)

    @property
    def enabled_uploaders(self) -> tuple[UploaderConfig, ...]:
        return tuple(u for u in self.uploaders if u.enabled)

    def uploader(self, name: str) -> UploaderConfig | None:
        return next((u for u in self.uploaders if u.name == name), None)


@dataclass(frozen=True)
class ResolvedSensor:
    """A sensor with its bus and pin checked against a board."""

    config: SensorConfig
    bus: int | None = None
    address: int | None = None
    pin: int | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def where(self) -> str:
        if self.bus is not None and self.address is not None:
            return f"I2C bus {self.bus} address {self.address:#04x}"
        if self.pin is not None:
            return f"GPIO{self.pin}"
        return ""


# --------------------------------------------------------------------------- finding


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sensorkit"


def search_paths() -> list[Path]:
    return [Path.cwd() / CONFIG_NAME, user_config_dir() / CONFIG_NAME, SYSTEM_CONFIG]


def find_config() -> Path | None:
    for path in search_paths():
        if path.is_file():
            return path
    return None


def no_config_message() -> str:
    looked = ", ".join(str(p) for p in search_paths())
    return (
        f"no config file given and none found (looked in {looked}). "
        "Write one (README: 'Configuration'), pass it with -c FILE, "
        "or try `sensorkit run --simulate` for the built-in demo"
    )


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check a config file; `environ` (default os.environ) supplies `token_env` secrets."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file — check the path given with -c") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable by this user — check its permissions") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}) — save it as UTF-8") from None
    return parse_config(text, str(path), environ)


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib.loads(text)


def _decode_error(exc: ValueError, source: str) -> ConfigError:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        message = message[: match.start()].strip()
        where = f"{source}:{match.group(1)}:{match.group(2)}"
    else:
        where = source
    return ConfigError(
        f"{where}: not valid TOML: {message} — check quoting, '=' between key and value, "
        "and [[sensor]] headers"
    )


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Config:
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise _decode_error(exc, source) from None
    checker = _Checker(source, _key_lines(text), os.environ if environ is None else environ)
    config = checker.check(data)
    if checker.problems:
        raise _config_error(checker.problems)
    return config


def _config_error(problems: list[str]) -> ConfigError:
    if len(problems) == 1:
        return ConfigError(problems[0], problems)
    return ConfigError(f"{len(problems)} problems:\n" + "\n".join(problems), problems)


_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def _key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line numbers of tables and keys: ("sensor", 0) -> line, ("sensor", 0, "name") -> line.

    A light scan, not a parser: good enough to point at the line of a problem.
    """
    lines: dict[tuple[Any, ...], int] = {}
    counts: dict[str, int] = {}
    table: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ARRAY_HEADER.match(line)
        if match:
            name = match.group(1)
            counts[name] = counts.get(name, -1) + 1
            table = (name, counts[name])
            lines.setdefault(table, number)
            continue
        match = _TABLE_HEADER.match(line)
        if match:
            parts = match.group(1).split(".")
            if parts[0] in counts:  # [sensor.series] belongs to the last [[sensor]]
                table = (parts[0], counts[parts[0]], *parts[1:])
            else:
                table = tuple(parts)
            lines.setdefault(table, number)
            continue
        match = _KEY.match(line)
        if match:
            key = next(g for g in match.groups() if g is not None)
            lines.setdefault((*table, key), number)
    return lines


def _type_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return f"{name} ({_short(value)})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_address(value: Any) -> int:
    """An I2C address written as 0x44, 68 or "0x44"."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip(), 0)
    raise ValueError("not a number")


class _Checker:
    """Walks the parsed TOML, collecting every problem with its line."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int], environ: Mapping[str, str]) -> None:
        self.source = source
        self.lines = lines
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, path: tuple[Any, ...], where: str, message: str) -> None:
        line = None
        probe = path
        while probe and line is None:  # fall back to the enclosing table's line
            line = self.lines.get(probe)
            probe = probe[:-1]
        prefix = f"{self.source}:{line}" if line else self.source
        self.problems.append(f"{prefix}: {where}: {message}")

    def check(self, data: dict[str, Any]) -> Config:
        for key in data:
            if key not in TOP_LEVEL:
                self.problem(
                    (key,),
                    f"[{key}]",
                    f"unknown section{_suggest(key, TOP_LEVEL)}; "
                    f"known sections are {', '.join('[' + k + ']' for k in TOP_LEVEL)}",
                )
        device = self.check_device(data.get("device", {}))
        sensors = self.check_sensors(data.get("sensor", []))
        uploaders = self.check_uploaders(data.get("uploader", {}))
        self.check_series_rules(sensors, uploaders)
        outbox = self.check_keys(("outbox",), "[outbox]", OUTBOX_KEYS, data.get("outbox", {}))
        return Config(source=self.source, device=device, sensors=tuple(sensors), uploaders=tuple(uploaders),
                      outbox=outbox)

    def check_keys(self, path: tuple[str, ...], label: str, keys: tuple[Key, ...], raw: Any) -> dict[str, Any]:
        """Defaults overlaid with the checked values of a table of settings."""
        values: dict[str, Any] = {k.name: k.default for k in keys if k.default is not None}
        if not isinstance(raw, dict):
            self.problem(path, label, f"must be a table ({label} on a line of its own, keys below it)")
            return values
        names = [k.name for k in keys]
        for key, value in raw.items():
            key_spec = next((k for k in keys if k.name == key), None)
            if key_spec is None:
                self.problem((*path, key), f"{label} key '{key}'",
                             f"unknown key{_suggest(key, names)}; known keys: {', '.join(names)}")
                continue
            try:
                values[key] = coerce(key_spec, value)
            except ValueError as exc:
                shown = "a secret" if key_spec.kind == SECRET else _type_name(value)
                hint = f" ({key_spec.help})" if key_spec.help else ""
                self.problem((*path, key), f"{label} key '{key}'", f"{exc}, got {shown}{hint}")
        return values

    # ------------------------------------------------------------------ [device]
    def check_device(self, raw: Any) -> DeviceConfig:
        if not isinstance(raw, dict):
            self.problem(("device",), "device", f"must be a table ([device]), got {_type_name(raw)}")
            return DeviceConfig()
        for key in raw:
            if key not in DEVICE_KEYS:
                self.problem(
                    ("device", key),
                    f"[device] key '{key}'",
                    f"unknown key{_suggest(key, DEVICE_KEYS)}; known keys: {', '.join(DEVICE_KEYS)}",
                )
        board = raw.get("board", "auto")
        if not isinstance(board, str) or not board:
            self.problem(
                ("device", "board"),
                "[device] key 'board'",
                f"must be a board profile name or \"auto\", got {_type_name(board)} — "
                "`sensorkit boards` lists the names",
            )
            board = "auto"
        buses = self._device_buses(raw.get("i2c_buses"))
        pins = self._int_list(raw.get("gpio_pins"), ("device", "gpio_pins"), "[device] key 'gpio_pins'")
        onewire = raw.get("onewire_pin")
        if onewire is not None and (type(onewire) is not int or onewire < 0):
            self.problem(
                ("device", "onewire_pin"),
                "[device] key 'onewire_pin'",
                f"must be a BCM GPIO number such as 4, got {_type_name(onewire)}",
            )
            onewire = None
        lines = {k[1]: v for k, v in self.lines.items() if len(k) == 2 and k[0] == "device"}
        return DeviceConfig(board, buses, pins, onewire, lines)

    def _device_buses(self, raw: Any) -> dict[int, tuple[int, int]] | None:
        if raw is None:
            return None
        where = "[device] key 'i2c_buses'"
        example = "i2c_buses = { 1 = { sda = 2, scl = 3 } }"
        if not isinstance(raw, dict):
            self.problem(("device", "i2c_buses"), where, f"must be a table like {example}")
            return None
        buses: dict[int, tuple[int, int]] = {}
        for number, pins in raw.items():
            ok_pins = isinstance(pins, dict) and all(
                type(pins.get(k)) is int and pins.get(k) >= 0 for k in ("sda", "scl")
            )
            if not number.isdigit() or not ok_pins or set(pins) - {"sda", "scl"}:
                self.problem(
                    ("device", "i2c_buses"),
                    where,
                    f"bus '{number}' must be a bus number with its SDA and SCL GPIOs, like {example}",
                )
                continue
            buses[int(number)] = (pins["sda"], pins["scl"])
        return buses

    def _int_list(self, raw: Any, path: tuple[Any, ...], where: str) -> tuple[int, ...] | None:
        if raw is None:
            return None
        if not isinstance(raw, list) or not all(type(v) is int and v >= 0 for v in raw):
            self.problem(path, where, f"must be a list of BCM GPIO numbers like [5, 6, 13], got {_type_name(raw)}")
            return None
        return tuple(raw)

    # ------------------------------------------------------------------ [uploader.NAME]
    def check_uploaders(self, raw: Any) -> list[UploaderConfig]:
        if not isinstance(raw, dict):
            self.problem(("uploader",), "uploader", "must be tables such as [uploader.iobeam]")
            return []
        known = ", ".join(f"[uploader.{n}]" for n in UPLOADERS)
        out = []
        for name, table in raw.items():
            if name not in UPLOADERS:
                self.problem(("uploader", name), f"[uploader.{name}]",
                             f"unknown uploader{_suggest(name, UPLOADERS)}; known: {known}")
            elif not isinstance(table, dict):
                self.problem(("uploader", name), f"[uploader.{name}]", "must be a table of keys")
            else:
                uploader = self.check_uploader(name, table)
                if uploader is not None:
                    out.append(uploader)
        return out

    def check_uploader(self, name: str, raw: dict[str, Any]) -> UploaderConfig | None:
        spec = UPLOADERS[name]
        path = ("uploader", name)
        problems_before = len(self.problems)

        def bad(key: str, message: str) -> None:
            self.problem((*path, key), f"[uploader.{name}] key '{key}'", message)

        values = self.check_keys(path, f"[uploader.{name}]", spec.keys, raw)
        for key in spec.required:
            if key not in raw:
                bad(key, f"missing: {spec.key(key).help or 'required'}")  # type: ignore[union-attr]
        for group in spec.one_of:
            given = [k for k in group if k in raw]
            if len(given) != 1:
                what = "both" if given else "neither"
                bad(group[0], f"give exactly one of {' or '.join(group)} ({what} given)")
        for key_spec in spec.keys:  # a secret named by an environment variable is read now
            if key_spec.kind == ENV and key_spec.name in values:
                variable = values.pop(key_spec.name)
                secret = self.environ.get(variable, "").strip()
                if not secret:
                    bad(key_spec.name, f"the environment variable {variable} is not set or empty — export it "
                        "(for the service: Environment= in its unit), or give the token in the file")
                values[key_spec.name.removesuffix("_env")] = secret
        if len(self.problems) > problems_before:
            return None
        lines = {k[2]: v for k, v in self.lines.items() if len(k) == 3 and k[:2] == path}
        return UploaderConfig(name, values, self.lines.get(path), lines)

    def check_series_rules(self, sensors: list[SensorConfig], uploaders: list[UploaderConfig]) -> None:
        """Series names must suit every enabled uploader (iobeam reserves some)."""
        for uploader in uploaders:
            if not uploader.enabled:
                continue
            for sensor in sensors:
                for quantity, series in sensor.series.items():
                    why = uploader.spec.series_rule(series)
                    if why:
                        line = sensor.key_lines.get("series", sensor.line)
                        prefix = f"{self.source}:{line}" if line else self.source
                        self.problems.append(
                            f"{prefix}: [[sensor]] '{sensor.name}' series '{quantity}': '{series}' {why} — "
                            f"set another name with series = {{ {quantity} = \"...\" }}")

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
            bad("name", f"{_type_name(name)} is not a usable name: use {NAME_RULE}")

        driver = raw.get("driver")
        spec: DriverSpec | None = None
        if driver is None:
            bad("driver", f"missing: say which driver reads it, one of {', '.join(sorted(DRIVERS))}")
        elif not isinstance(driver, str) or driver not in DRIVERS:
            bad(
                "driver",
                f"unknown driver {_short(driver)}{_suggest(driver, DRIVERS)}; "
                f"known drivers: {', '.join(sorted(DRIVERS))}",
            )
        else:
            spec = DRIVERS[driver]

        if spec is None:  # the rest depends on the driver
            return None
        allowed = COMMON_SENSOR_KEYS + TRANSPORT_KEYS[spec.transport] + tuple(o.name for o in spec.options)
        for key in raw:
            if key not in allowed:
                bad(key, f"unknown key for driver '{spec.name}'{_suggest(key, allowed)}; "
                    f"it takes: {', '.join(allowed)}")

        # Options first (the shortest interval depends on them), their problems reported after the rest.
        option_problems: list[tuple[str, str]] = []
        options = self._options(raw, spec, lambda key, message: option_problems.append((key, message)))
        interval_s = spec.default_interval_s
        if "interval" in raw:
            try:
                interval_s = parse_duration(raw["interval"])
            except ValueError:
                bad("interval", f"must be a duration such as {FORMS}, got {_type_name(raw['interval'])}")
            else:
                shortest = spec.min_interval(options)
                if interval_s < shortest:
                    bad(
                        "interval",
                        f"{format_duration(interval_s)} is faster than a {spec.name} can measure"
                        + (" with these options" if spec.timing else "")
                        + f"; use {format_duration(shortest)} or more",
                    )


        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            bad("enabled", f"must be true or false, got {_type_name(enabled)}")
            enabled = True

        fault = raw.get("simulate_fault")
        if fault is not None and fault not in spec.simulated_faults:
            faults = ", ".join(f'"{f}"' for f in spec.simulated_faults) or "none"
            bad("simulate_fault", f"{_short(fault)} is not a fault the emulated {spec.name} can show; "
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
                bad("series", f"'{quantity}' is not measured by {spec.name}{_suggest(quantity, spec.quantities)}; "
                    f"it measures {', '.join(spec.quantities)}")
            elif not isinstance(value, str) or not NAME_RE.match(value):
                bad("series", f"series name for '{quantity}' is {_type_name(value)}: use {NAME_RULE}")
            else:
                series[quantity] = value
        return series

    def _transport(self, raw: dict[str, Any], spec: DriverSpec, bad: Any) -> dict[str, Any]:
        if spec.transport == "i2c":
            out: dict[str, Any] = {"address": spec.addresses[0] if spec.addresses else None}
            if "bus" in raw:
                bus = raw["bus"]
                if type(bus) is not int or bus < 0:
                    bad("bus", f"must be an I2C bus number such as 1 (for /dev/i2c-1), got {_type_name(bus)}")
                else:
                    out["bus"] = bus
            if "address" in raw:
                try:
                    address = parse_address(raw["address"])
                except ValueError:
                    bad("address", f"must be an I2C address such as 0x44, got {_type_name(raw['address'])}")
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
            bad("pin", f'must be a pin such as "GPIO17", 17 or "BOARD11", got {_type_name(pin)}')
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
                CHOICE: "one of " + ", ".join(f'"{c}"' for c in option.choices),
                TABLE: 'a table of names to names, e.g. { "28-00000a1b2c3d" = "soil" }',
            }[option.kind]
            bad(option.name, f"must be {wanted}, got {_type_name(value) if value is not None else 'something else'}"
                + (f" — {option.help}" if option.help else ""))
            return None
        return float(value) if option.kind in (FLOAT, DURATION) else value


# --------------------------------------------------------------------------- against a board


def apply_device_overrides(config: Config, profile: Any) -> Any:
    """The profile with the config's [device] buses and pins applied (generic boards)."""
    device = config.device
    if device.i2c_buses is None and device.gpio_pins is None and device.onewire_pin is None:
        return profile
    from boards import BoardError

    try:
        return profile.with_overrides(
            i2c_buses=device.i2c_buses,
            gpio_pins=device.gpio_pins,
            onewire_pin=device.onewire_pin,
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
    for sensor in sensors:
        if sensor.spec.transport not in ("gpio", "dht"):  # one GPIO each
            continue
        try:
            pin = parse_pin(sensor.pin, profile)
            check_pin_free(pin, profile, taken=taken, active_buses=active_buses)
        except BoardError as exc:
            bad(sensor, "pin", str(exc))
            continue
        taken[pin] = f"sensor '{sensor.name}'"
        resolved.append(ResolvedSensor(sensor, pin=pin))

    if problems:
        raise _config_error(problems)
    order = {s.name: i for i, s in enumerate(sensors)}
    return tuple(sorted(resolved, key=lambda r: order[r.name]))
