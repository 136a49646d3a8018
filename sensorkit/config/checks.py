"""Checking a parsed config section by section, collecting every problem with its line.

`[[sensor]]` tables are checked in `sensorkit.config.sensors` (driver options
come from the catalog); uploader keys come from each uploader's own settings.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sensorkit.clock import CLOCK_MODES
from sensorkit.config.model import DEVICE_KEYS, TOP_LEVEL, Config, DeviceConfig, SensorConfig
from sensorkit.config.sensors import SensorChecks
from sensorkit.config.text import suggest, type_name
from sensorkit.config.watches import WatchChecks
from sensorkit.durations import format_duration
from sensorkit.uploaders.settings import ENV, OUTBOX_KEYS, SECRET, SECRET_FILE, UPLOADERS, Key, UploaderConfig, coerce


class Checker(SensorChecks, WatchChecks):
    """Walks the parsed TOML, collecting every problem with its line.

    `base_dir` is where relative paths in the file start from: the config file's directory.
    """

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int], environ: Mapping[str, str],
                 base_dir: Path | None = None) -> None:
        self.source = source
        self.base_dir = Path(base_dir if base_dir is not None else Path.cwd()).absolute()
        self.lines = lines
        self.environ = environ
        self.problems: list[str] = []
        self.warnings: list[str] = []  # what works but should be fixed (a readable secret file)

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
                    f"unknown section{suggest(key, TOP_LEVEL)}; "
                    f"known sections are {', '.join('[' + k + ']' for k in TOP_LEVEL)}",
                )
        device = self.check_device(data.get("device", {}))
        sensors = self.check_sensors(data.get("sensor", []))
        uploaders = self.check_uploaders(data.get("uploader", {}))
        self.check_series_rules(sensors, uploaders)
        raw_uploaders = data.get("uploader", {})
        watches = self.check_watches(
            data.get("watch", []), next((u for u in uploaders if u.name == "byteport"), None),
            isinstance(raw_uploaders, dict) and "byteport" in raw_uploaders, {s.name for s in sensors})
        outbox = self.check_keys(("outbox",), "[outbox]", OUTBOX_KEYS, data.get("outbox", {}))
        warnings = tuple(self.warnings) + tuple(
            f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}"
            for uploader in uploaders if uploader.enabled for line, message in uploader.warnings())
        return Config(source=self.source, device=device, sensors=tuple(sensors), uploaders=tuple(uploaders),
                      outbox=outbox, warnings=warnings, watches=tuple(watches))

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
                             f"unknown key{suggest(key, names)}; known keys: {', '.join(names)}")
                continue
            try:
                values[key] = coerce(key_spec, value)
            except ValueError as exc:
                # A secret, or a token pasted where a variable name belongs, is never shown back.
                shown = "" if key_spec.hides_value else f", got {type_name(value)}"
                hint = f" ({key_spec.help})" if key_spec.help else ""
                self.problem((*path, key), f"{label} key '{key}'", f"{exc}{shown}{hint}")
        return values

    # ------------------------------------------------------------------ [device]
    def check_device(self, raw: Any) -> DeviceConfig:
        if not isinstance(raw, dict):
            self.problem(("device",), "device", f"must be a table ([device]), got {type_name(raw)}")
            return DeviceConfig()
        for key in raw:
            if key not in DEVICE_KEYS:
                self.problem(
                    ("device", key),
                    f"[device] key '{key}'",
                    f"unknown key{suggest(key, DEVICE_KEYS)}; known keys: {', '.join(DEVICE_KEYS)}",
                )
        board = raw.get("board", "auto")
        if not isinstance(board, str) or not board:
            self.problem(
                ("device", "board"),
                "[device] key 'board'",
                f"must be a board profile name or \"auto\", got {type_name(board)} — "
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
                f"must be a BCM GPIO number such as 4, got {type_name(onewire)}",
            )
            onewire = None
        altitude = raw.get("altitude_m", 0.0)
        if type(altitude) not in (int, float) or not -500 <= altitude <= 9000:
            self.problem(("device", "altitude_m"), "[device] key 'altitude_m'",
                         f"must be the height above sea level in metres (-500 to 9000), got {type_name(altitude)}")
            altitude = 0.0
        console = raw.get("serial_console", True)
        if not isinstance(console, bool):
            self.problem(("device", "serial_console"), "[device] key 'serial_console'",
                         f"must be true or false (false: the serial console is off, so GPIO14/15 are free), "
                         f"got {type_name(console)}")
            console = True
        clock = raw.get("clock", "auto")
        if clock not in CLOCK_MODES:
            self.problem(("device", "clock"), "[device] key 'clock'",
                         f"must be \"ntp\" (readings wait until NTP has set the clock), \"trusted\" (a battery-"
                         f"backed clock, or no NTP at all) or \"auto\" (ntp on a Raspberry Pi), got {type_name(clock)}")
            clock = "auto"
        lines = {k[1]: v for k, v in self.lines.items() if len(k) == 2 and k[0] == "device"}
        return DeviceConfig(board, buses, pins, onewire, lines, float(altitude), console, clock)

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
            self.problem(path, where, f"must be a list of BCM GPIO numbers like [5, 6, 13], got {type_name(raw)}")
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
                             f"unknown uploader{suggest(name, UPLOADERS)}; known: {known}")
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

        raw = self._credential_paths(spec, raw)
        values = self.check_keys(path, f"[uploader.{name}]", spec.keys, raw)
        for key in spec.required:
            if key not in raw:
                bad(key, f"missing: {spec.key(key).help or 'required'}")  # type: ignore[union-attr]
        for group in spec.one_of:
            given = [k for k in group if k in raw]
            if len(given) != 1:
                what = "both" if given else "neither"
                bad(group[0], f"give exactly one of {' or '.join(group)} ({what} given)")
        for key, message in spec.table_rule(raw):  # rules across keys (MQTT: one password, TLS files)
            bad(key, message)
        for key_spec in spec.keys:  # a secret named by an environment variable is read now
            if key_spec.kind == ENV and key_spec.name in values:
                variable = values.pop(key_spec.name)
                secret = self.environ.get(variable, "").strip()
                if not secret:
                    bad(key_spec.name, f"the environment variable {variable} is not set or empty — export it "
                        "(for the service: a line in /etc/sensorkit/env), or give it in the file")
                values[key_spec.name.removesuffix("_env")] = secret
            elif key_spec.kind == SECRET_FILE and key_spec.name in values:
                # token_file -> token: the uploader takes the secret as if written in the file; the
                # FileSecret stays under its own key (shown as its path) for what a file has to say.
                # (Only for the service's own secret, `token`/`key`: MQTT reads its password_file itself.)
                target = spec.key(key_spec.name.removesuffix("_file"))
                if (target is not None and target.kind == SECRET and target.name == spec.secret_word
                        and target.name not in values):
                    values[target.name] = values[key_spec.name].secret
                self._secret_file_warning(name, key_spec.name, values[key_spec.name].path)
        low, high = values.get("min_backoff"), values.get("max_backoff")
        if low is not None and high is not None and low > high:
            bad("min_backoff", f"{format_duration(low)} is longer than max_backoff ({format_duration(high)}): "
                "the first wait after a failure cannot exceed the longest one; lower min_backoff or raise "
                "max_backoff")
        if len(self.problems) > problems_before:
            return None
        lines = {k[2]: v for k, v in self.lines.items() if len(k) == 3 and k[:2] == path}
        return UploaderConfig(name, values, self.lines.get(path), lines)

    def _credential_paths(self, spec: Any, raw: dict[str, Any]) -> dict[str, Any]:
        """A secret file given by a bare name is a systemd credential when $CREDENTIALS_DIRECTORY is set.

        (`LoadCredential=iobeam-token:/etc/sensorkit/iobeam-token` in the unit; `token_file = "iobeam-token"`
        in the config.) Elsewhere a bare name is a path relative to the working directory, as always.
        """
        credentials = self.environ.get("CREDENTIALS_DIRECTORY")
        if not credentials:
            return raw
        raw = dict(raw)
        for key in spec.keys:
            value = raw.get(key.name)
            if key.kind == SECRET_FILE and isinstance(value, str) and value and "/" not in value:
                raw[key.name] = os.path.join(credentials, value)
        return raw

    def _secret_file_warning(self, uploader: str, key: str, path: str) -> None:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            who = "its group and other users" if mode & stat.S_IROTH else "its group"
            self.warnings.append(f"[uploader.{uploader}] {key}: {path} can be read by {who} — run "
                                 f"`chmod 600 {path}` (it holds a secret)")

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
