"""`sensorkit doctor`: check the machine and the config, and say the exact fix for whatever is wrong.

`diagnose(options, host)` runs every check and returns a `Report`; each
check is a small function returning `Check(name, status, detail, fix)`.
The `Host` is the machine (a fake root and stand-ins in tests). A config that
cannot be loaded or does not fit the board raises ConfigError, as elsewhere
(the CLI's exit 2); everything else becomes a check.

Modules: `checks` (Check, Status), `host` (the machine), `bootconfig`
(config.txt as the firmware reads it), `machine` (board, I2C, 1-wire, GPIO,
clock), `state` (config warnings, state dir, disk space, outbox), `live`
(sensor reads, uploaders), `service` (the systemd unit).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorkit.doctor.checks import Check, Status, fail, ok
from sensorkit.doctor.host import Host, KernelClock
from sensorkit.doctor.live import READ_TIMEOUT_S, UPLOADER_TIMEOUT_S

__all__ = ["Check", "Host", "KernelClock", "Options", "Report", "Status", "diagnose"]


@dataclass(frozen=True)
class Options:
    config: str | None = None  # -c; None: the first config found, as `sensorkit run` looks
    board: str | None = None  # --board, over the config's [device] board
    state_dir: str | None = None  # --state-dir; None: the service's, else `default_state_dir`
    default_state_dir: str = "/var/lib/sensorkit"
    uploader_timeout_s: float = UPLOADER_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    board: str | None
    config: str | None
    state_dir: str

    @property
    def failed(self) -> bool:
        return any(c.status is Status.FAIL for c in self.checks)

    def count(self, status: Status) -> int:
        return sum(c.status is status for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": not self.failed, "board": self.board, "config": self.config, "state_dir": self.state_dir,
                "counts": {s.value: self.count(s) for s in Status}, "checks": [c.to_dict() for c in self.checks]}


def _search_paths(host: Host) -> list[Path]:
    """Where `sensorkit run` looks, with the system config under the root."""
    from sensorkit.config import SYSTEM_CONFIG, search_paths

    return [host.path(path) if path == SYSTEM_CONFIG else path for path in search_paths()]


def _load(options: Options, host: Host, environ: dict[str, str]) -> tuple[Any, list[Check]]:
    from sensorkit.config import load_config

    if options.config is not None:
        path: Path | None = Path(options.config)
    else:
        path = next((p for p in _search_paths(host) if p.is_file()), None)
    if path is None:
        looked = ", ".join(host.shown(p) for p in _search_paths(host))
        return None, [fail("config", f"no config file given and none found (looked in {looked})",
                           "write one (README: 'Configuration'; `sensorkit detect` prints a block for each chip it "
                           "finds) and give it with -c FILE")]
    config = load_config(path, environ)
    return config, [ok("config", f"{config.source} is valid: {len(config.enabled_sensors)} enabled sensor(s), "
                       f"{len(config.enabled_uploaders)} enabled uploader(s)")]


def _secrets(config: Any) -> list[str]:
    from sensorkit.uploaders.settings import SECRET

    if config is None:
        return []
    return [str(value) for u in config.uploaders for key, value in u.values.items()
            if u.spec.key(key) is not None and u.spec.key(key).kind == SECRET]


def _hardware(host: Host, config: Any, profile: Any, resolved: Any) -> list[Check]:
    from sensorkit.doctor import machine
    from sensorkit.doctor.bootconfig import read_boot_config

    boot = read_boot_config(host, profile.name)
    sensors = config.enabled_sensors if config is not None else ()
    transports = {s.spec.transport for s in sensors}
    checks = []
    if config is None:
        buses = [profile.default_i2c_bus] if profile.default_i2c_bus is not None else []
    else:
        buses = sorted({r.bus for r in resolved if r.bus is not None})
    checks += [machine.check_i2c(host, profile, boot, bus) for bus in buses]
    if not buses:
        checks.append(ok("i2c", "not needed: no I2C sensor in the config"))
    if "w1" in transports:
        checks.append(machine.check_w1(host, profile, boot))
    else:
        checks.append(ok("1-wire", "not needed: no 1-wire sensor in the config"))
    if config is None or transports & {"gpio", "dht"}:
        checks.append(machine.check_gpio(host))
    else:
        checks.append(ok("gpio", "not needed: no GPIO or DHT sensor in the config"))
    if config is None or "gpio" in transports:
        checks.append(machine.check_gpio_library(host, profile))
    return checks


def diagnose(options: Options, host: Host | None = None, *, clock: Any = None) -> Report:
    """Every check, in the order a user fixes things; raises ConfigError for a config that cannot be used."""
    from sensorkit.config import apply_device_overrides, resolve
    from sensorkit.doctor import live, machine, service, state

    host = host or Host()
    unit = service.read_unit(host)
    environ = dict(os.environ)
    if unit is not None:  # the token_env a service gets from its EnvironmentFile, when this user may read it
        for key, value in service.unit_environment(host, unit).items():
            environ.setdefault(key, value)
    config, config_checks = _load(options, host, environ)

    name = options.board or (config.device.board if config is not None else "auto")
    where = ("from --board" if options.board else
             f"from [device] board in {config.source}" if config is not None else "no config")
    board_check, profile = machine.check_board(host, name, where)
    checks = [board_check, *config_checks]
    if config is not None:
        checks += state.check_config_warnings(config)
    resolved: Any = ()
    if profile is not None and config is not None:
        profile = apply_device_overrides(config, profile)
        resolved = resolve(config, profile)
    if profile is not None and not profile.simulated:
        checks += _hardware(host, config, profile, resolved)
    if profile is not None and config is not None:
        if host.fake and not profile.simulated:
            checks.append(ok("sensors", "not read: under --root the sensors would be this machine's, not the "
                             "fake root's"))
        else:
            active = unit is not None and service.is_active(host)  # it may hold the pins doctor wants to read
            checks += live.check_sensors(config, profile, service_active=active, clock=clock,
                                         read_timeout_s=options.read_timeout_s)

    if options.state_dir is not None:
        state_dir = Path(options.state_dir)
    elif unit is not None and unit.state_dir:
        state_dir = host.path(unit.state_dir)
    else:
        state_dir = host.path(options.default_state_dir)
    checks.append(state.check_state_dir(host, state_dir))
    checks.append(state.check_free_space(host, state_dir))
    checks += state.check_outbox(host, config, state_dir, time.time_ns() // 1_000_000)
    if config is not None:
        checks += live.check_uploaders(config, state_dir, timeout_s=options.uploader_timeout_s)
    checks.append(machine.check_clock(host, simulated=profile is not None and profile.simulated,
                                      mode=config.device.clock if config is not None else "auto",
                                      board=profile.name if profile is not None else ""))
    checks += service.check_service(host, unit, config.source if config is not None else None)

    secrets = _secrets(config)
    return Report(tuple(c.redacted(secrets) for c in checks), profile.name if profile is not None else None,
                  config.source if config is not None else None, host.shown(state_dir))
