"""The systemd service, when one is installed: which config and state dir it runs with, and whether it runs.

The unit is /etc/systemd/system/sensorkit.service under the root, with its
drop-ins (sensorkit.service.d/*.conf, what `systemctl edit` writes) applied
in order, as systemd does: a later assignment wins, an empty `ExecStart=`
clears the list. Whether it runs is asked of systemctl, never under a fake root.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorkit.doctor.checks import Check, fail, ok, warn

UNIT = "/etc/systemd/system/sensorkit.service"
SERVICE = "sensorkit"
_EXEC_PREFIXES = "-@:+!"  # systemd's ExecStart= prefixes (ignore failure, argv0, no env expansion, privileges)


@dataclass
class ServiceUnit:
    shown_path: str
    exec_start: list[str] = field(default_factory=list)  # the last ExecStart= command, split
    user: str | None = None
    environment_files: list[str] = field(default_factory=list)
    state_directory: str | None = None

    def option(self, *names: str) -> str | None:
        """The value of a `sensorkit run` option in ExecStart (`--config FILE`, `--config=FILE`, `-c FILE`)."""
        words = self.exec_start
        for index, word in enumerate(words):
            for name in names:
                if word == name and index + 1 < len(words):
                    return words[index + 1]
                if name.startswith("--") and word.startswith(name + "="):
                    return word[len(name) + 1:]
        return None

    @property
    def config(self) -> str | None:
        return self.option("--config", "-c")

    @property
    def state_dir(self) -> str | None:
        """The run's --state-dir, else systemd's StateDirectory= (/var/lib/NAME), else None."""
        given = self.option("--state-dir")
        if given and "$" not in given:
            return given
        if self.state_directory:
            return "/var/lib/" + self.state_directory.split()[0]
        return None


def _assignments(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined."""
    out: list[tuple[str, str, str]] = []
    section, pending = "", ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, _, value = line.partition("=")
            out.append((section, key.strip(), value.strip()))
    return out


def read_unit(host: Any) -> ServiceUnit | None:
    path = host.path(UNIT)
    if not path.is_file():
        return None
    unit = ServiceUnit(UNIT)
    drop_ins = sorted(host.path(UNIT + ".d").glob("*.conf"))
    for file in [path, *drop_ins]:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for section, key, value in _assignments(text):
            if section != "Service":
                continue
            if key == "ExecStart":
                unit.exec_start = _command(value) if value else []
            elif key == "User":
                unit.user = value or None
            elif key == "EnvironmentFile":
                if value:
                    unit.environment_files.append(value)
                else:
                    unit.environment_files.clear()
            elif key == "StateDirectory":
                unit.state_directory = value or None
    return unit


def _command(value: str) -> list[str]:
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    if words:
        words[0] = words[0].lstrip(_EXEC_PREFIXES)
    return words


def unit_environment(host: Any, unit: ServiceUnit) -> dict[str, str]:
    """The variables of the unit's EnvironmentFile= files this user can read (`-FILE`: may be missing)."""
    found: dict[str, str] = {}
    for name in unit.environment_files:
        try:
            text = host.path(name.lstrip("-")).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = key.strip()
            if key.startswith("export "):
                key = key[len("export "):].strip()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            found[key] = value
    return found


def _same(host: Any, service_path: str, checked: str | None) -> bool:
    if checked is None:
        return False
    try:
        return os.path.realpath(host.path(service_path)) == os.path.realpath(Path(checked))
    except OSError:
        return False


def check_service(host: Any, unit: ServiceUnit | None, checked_config: str | None) -> list[Check]:
    name = "service"
    if unit is None:
        return [ok(name, f"not installed ({UNIT} does not exist); `sensorkit service install` runs sensorkit at "
                   "boot")]
    if not unit.exec_start:
        return [fail(name, f"{unit.shown_path} has no ExecStart=", "install it again: `sensorkit service install "
                     "-c FILE`")]
    command = shlex.join(unit.exec_start)
    user = f" as {unit.user}" if unit.user else " as root (no User=)"
    checks = []
    config = unit.config
    if config is None:
        checks.append(ok("service-config", "the service gives no --config: it finds one as `sensorkit run` does "
                         "(/etc/sensorkit/sensorkit.toml for a service)"))
    elif not host.path(config).is_file():
        checks.append(fail("service-config", f"the service runs with {config}, which does not exist",
                           f"copy your config there (`sudo install -m 640 FILE {config}`), or install the service "
                           "again with `sensorkit service install -c FILE`"))
    elif not _same(host, config, checked_config):
        checks.append(warn("service-config", f"the service runs with {config}, but this check read "
                           f"{checked_config or 'no config'}", f"sensorkit doctor -c {config}"))
    else:
        checks.append(ok("service-config", f"the service runs with {config}, the config checked here"))
    if host.systemctl is None:
        checks.insert(0, ok(name, f"installed: runs `{command}`{user} (not asked whether it runs: a fake root)"))
        return checks
    active = host.systemctl(["is-active", SERVICE])
    enabled = host.systemctl(["is-enabled", SERVICE])
    logs = f"`journalctl -u {SERVICE} -b -n 50` says why"
    if active is None:
        checks.insert(0, warn(name, f"installed, but systemctl did not answer whether {SERVICE} runs",
                              f"systemctl status {SERVICE}"))
    elif active == "active":
        checks.insert(0, ok(name, f"running: `{command}`{user}"))
    elif active in ("activating", "deactivating", "reloading"):
        checks.insert(0, warn(name, f"{active}: it is starting or stopping, or restarting after a failure",
                              f"wait a minute and look again; if it keeps restarting, {logs}"))
    else:
        checks.insert(0, fail(name, f"installed but {active}: `{command}`{user}",
                              f"sudo systemctl enable --now {SERVICE}; if it stops again, {logs}"))
    if enabled is not None and enabled not in ("enabled", "enabled-runtime", "static", "alias"):
        checks.append(warn("service-boot", f"the service is {enabled}: it will not start at boot",
                           f"sudo systemctl enable {SERVICE}"))
    return checks


def is_active(host: Any) -> bool:
    return host.systemctl is not None and host.systemctl(["is-active", SERVICE]) == "active"
