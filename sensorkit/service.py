"""`sensorkit service`: install, remove and inspect the systemd unit of this installation.

Everything goes through two seams so tests never touch the machine's systemd:
`root` (where /etc/systemd/system, /etc/sensorkit and /sys are; "/" for real)
and `Systemctl` (how systemctl is run: a command and a runner, both
injectable). The unit itself comes from `sensorkit.service_unit`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensorkit.errors import SensorkitError
from sensorkit.service_unit import (
    CREDENTIALS_DIR,
    DEFAULT_GROUPS,
    DEFAULT_W1_MASTERS,
    INSTALLED_CONFIG,
    MARKER,
    UNIT_NAME,
    UnitSettings,
    parse_unit,
    render_unit,
    unquote_exec,
)

UNIT_DIR = "etc/systemd/system"  # under the root
W1_DEVICES = "sys/devices"  # where the kernel puts w1_bus_masterN, under the root
SHOW_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID", "NRestarts", "StatusText",
                   "ActiveEnterTimestamp", "Result")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ServiceError(SensorkitError):
    """systemctl refused or is missing; the message says which step and what it said."""


class NotOurs(ServiceError):
    """The unit file there was not written from sensorkit's template (a hand-made one): left alone."""


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


class Systemctl:
    """systemctl, run through `runner` (tests give a fake)."""

    def __init__(self, command: Sequence[str] = ("systemctl",), runner: Runner | None = None) -> None:
        self.command = list(command)
        self.runner = runner or _run
        self.calls: list[list[str]] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.command, *args]
        self.calls.append(list(args))
        try:
            result = self.runner(argv)
        except FileNotFoundError:
            raise ServiceError(f"{self.command[0]} not found: sensorkit service needs systemd "
                               "(Raspberry Pi OS has it)") from None
        except subprocess.TimeoutExpired:
            raise ServiceError(f"`{' '.join(argv)}` did not finish within 2 minutes") from None
        if check and result.returncode != 0:
            said = (result.stderr or result.stdout or "").strip()
            raise ServiceError(f"`systemctl {' '.join(args)}` failed (exit {result.returncode})"
                               + (f": {said}" if said else ""))
        return result

    def show(self, unit: str = UNIT_NAME) -> dict[str, str]:
        """`systemctl show` of `unit`: property -> value (an unknown unit says LoadState=not-found)."""
        out = self("show", unit, "--property=" + ",".join(SHOW_PROPERTIES)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


# --------------------------------------------------------------------------- what to install

def sensorkit_command(executable: str | None = None) -> tuple[str, ...]:
    """This installation's `sensorkit`: the script beside the interpreter (a venv's bin), else `python -m`."""
    executable = executable or sys.executable
    script = Path(executable).parent / "sensorkit"  # not resolved: a venv's python is a link out of the venv
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (executable, "-m", "sensorkit")


def existing_groups(groups: Sequence[str] = DEFAULT_GROUPS) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(groups that exist here, groups that do not): systemd refuses to start with an unknown group."""
    import grp

    present, missing = [], []
    for group in groups:
        try:
            grp.getgrnam(group)
            present.append(group)
        except KeyError:
            missing.append(group)
    return tuple(present), tuple(missing)


def w1_masters(root: Path) -> tuple[str, ...]:
    """The 1-wire bus masters the kernel has now (always at least the first, for one added later)."""
    found = sorted(p.name for p in (root / W1_DEVICES).glob("w1_bus_master*") if p.name[13:].isdigit())
    return tuple(sorted(set(found) | set(DEFAULT_W1_MASTERS), key=lambda name: int(name[13:])))


def unit_path(root: Path) -> Path:
    return root / UNIT_DIR / UNIT_NAME


def installed_config_path(root: Path) -> Path:
    return root / INSTALLED_CONFIG.lstrip("/")


def access_problem(path: Path, user: Any, extra_groups: Sequence[str] = (), *, execute: bool = False) -> str | None:
    """Why `user` (a pwd entry) could not read (and run) `path`, or None; every directory on the way counts."""
    import grp
    import stat

    gids = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem or g.gr_name in extra_groups}

    def allowed(st: os.stat_result, bits: int) -> bool:  # bits: 4 read, 2 write, 1 execute (the "other" digit)
        if user.pw_uid == 0:
            return True
        if st.st_uid == user.pw_uid:
            return st.st_mode & (bits << 6) == bits << 6
        if st.st_gid in gids:
            return st.st_mode & (bits << 3) == bits << 3
        return st.st_mode & bits == bits

    try:
        for directory in reversed(path.parents):
            if not allowed(directory.stat(), 1):
                return f"{user.pw_name} cannot enter {directory}"
        st = path.stat()
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    wanted = 5 if execute else 4
    if not stat.S_ISREG(st.st_mode) or not allowed(st, wanted):
        return f"{user.pw_name} cannot {'run' if execute else 'read'} {path}"
    return None


# --------------------------------------------------------------------------- install, uninstall, status

@dataclass
class Installed:
    """What `install` did, for the CLI to say."""

    unit: Path
    config: str
    replaced: bool = False
    steps: list[str] = field(default_factory=list)


def _is_ours(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def _write(path: Path, text: str, mode: int, *, owner: tuple[int, int] | None = None) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, mode)
    if owner is not None and os.geteuid() == 0:
        os.chown(temporary, *owner)
    os.replace(temporary, path)


def copy_config(source: Path, root: Path, user: Any, *, force: bool = False) -> Path:
    """Copy the config to /etc/sensorkit/sensorkit.toml, mode 600 and the service user's (a pwd entry).

    Its secrets stay private, and the service cannot change it all the same: /etc is read-only to it
    (ProtectSystem=strict).
    """
    target = installed_config_path(root)
    if target.exists() and os.path.samefile(target, source):
        return target  # installing with -c /etc/sensorkit/sensorkit.toml --copy-config: already there
    text = source.read_text(encoding="utf-8")
    if target.exists() and target.read_text(encoding="utf-8", errors="replace") != text and not force:
        raise NotOurs(f"{target} exists and differs from {source}: compare them, then give --force to "
                      f"replace it, or install with -c {INSTALLED_CONFIG} to keep it")
    _write(target, text, 0o600, owner=(user.pw_uid, user.pw_gid))
    return target


def credentials_path(root: Path) -> Path:
    return root / CREDENTIALS_DIR.lstrip("/")


def write_credential(root: Path, name: str, secret: bytes) -> Path:
    """Keep `secret` as the systemd credential `name`: root's file (0600) in a root-only directory (0700).

    systemd reads it as root when the service starts and gives the service its own copy
    (`$CREDENTIALS_DIRECTORY`), so neither the service user nor anyone else can read the original.
    """
    directory = credentials_path(root)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    target = directory / name
    temporary = target.with_name(f".{name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secret)
    finally:
        os.close(fd)
    os.replace(temporary, target)
    return target


def credential_names(config: Any, directory: str) -> tuple[str, ...]:
    """The credentials the config's secret files name bare: their files were looked for in `directory`."""
    from sensorkit.uploaders.settings import FileSecret

    names = {os.path.basename(value.path) for uploader in config.enabled_uploaders
             for value in uploader.values.values()
             if isinstance(value, FileSecret) and os.path.dirname(value.path) == directory}
    return tuple(sorted(names))


def install(settings: UnitSettings, *, root: Path, systemctl: Systemctl, force: bool = False) -> Installed:
    """Write the unit, reload systemd, enable it and (re)start it. NotOurs when a hand-made unit is there."""
    path = unit_path(root)
    text = render_unit(settings)
    replaced = path.exists()
    if replaced and not _is_ours(path) and not force:
        raise NotOurs(f"{path} was not written by sensorkit (a copy edited by hand?): give --force to replace "
                      "it; keep your changes as a drop-in with `sudo systemctl edit sensorkit` afterwards")
    _write(path, text, 0o644)
    done = Installed(unit=path, config=settings.config, replaced=replaced)
    for step in (("daemon-reload",), ("enable", UNIT_NAME), ("restart", UNIT_NAME)):
        systemctl(*step)
        done.steps.append("systemctl " + " ".join(step))
    return done


def uninstall(*, root: Path, systemctl: Systemctl, force: bool = False) -> Path | None:
    """Stop, disable and remove the unit; the state dir (the outbox) and /etc/sensorkit stay. None: nothing there."""
    path = unit_path(root)
    if not path.exists():
        return None
    if not _is_ours(path) and not force:
        raise NotOurs(f"{path} was not written by sensorkit: remove it yourself, or give --force")
    systemctl("disable", "--now", UNIT_NAME)
    path.unlink()
    systemctl("daemon-reload")
    systemctl("reset-failed", UNIT_NAME, check=False)  # forget a failed state; fine when there is none
    return path


@dataclass
class ServiceStatus:
    """The installed unit and what systemd says of it."""

    unit: Path
    installed: bool
    command: list[str] = field(default_factory=list)  # ExecStart, split
    user: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    systemctl_error: str | None = None

    @property
    def config(self) -> str | None:
        for flag, value in zip(self.command, self.command[1:]):
            if flag in ("-c", "--config"):
                return value
        return None

    @property
    def active(self) -> bool:
        return self.properties.get("ActiveState") == "active"


def service_status(*, root: Path, systemctl: Systemctl) -> ServiceStatus:
    path = unit_path(root)
    status = ServiceStatus(unit=path, installed=path.exists())
    if status.installed:
        settings = parse_unit(path.read_text(encoding="utf-8", errors="replace"))
        try:
            status.command = unquote_exec(settings["ExecStart"][-1]) if settings.get("ExecStart") else []
        except ValueError:  # quoting this module never writes: a unit made by hand
            status.command = settings["ExecStart"][-1].split()
        status.user = (settings.get("User") or [None])[-1]
    try:
        status.properties = systemctl.show()
    except ServiceError as exc:
        status.systemctl_error = str(exc)
    return status
