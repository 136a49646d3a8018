"""The systemd unit of `sensorkit service install`, and `examples/sensorkit.service`, from one template.

Every directive is known to the systemd of Raspberry Pi OS Bullseye (247) and
Bookworm (252); `DIRECTIVE_SINCE` says since when (from systemd's NEWS).
`render_unit` fills in what differs between installations: the program, the config, the user, the groups that exist and
the 1-wire bus masters found. ExecStart arguments are quoted as
systemd.service(5) parses them (``%`` and ``$`` doubled, quotes for spaces).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

UNIT_NAME = "sensorkit.service"
STATE_DIR = "/var/lib/sensorkit"
CONFIG_DIR = "/etc/sensorkit"
# The secrets the unit hands the service as systemd credentials: root's only (0700, files 0600).
CREDENTIALS_DIR = f"{CONFIG_DIR}/credentials"
INSTALLED_CONFIG = f"{CONFIG_DIR}/sensorkit.toml"
DEFAULT_GROUPS = ("i2c", "gpio")
DEFAULT_W1_MASTERS = ("w1_bus_master1",)
# The first line of every unit made from the template: how install/uninstall know the file is theirs.
MARKER = "# sensorkit.service, made from sensorkit's unit template."
INSTALLED = "Written by `sensorkit service install`: change it with `sudo systemctl edit sensorkit`, not here."
EXAMPLE = ("An example with placeholder paths: `sudo <venv>/bin/sensorkit service install -c FILE --user USER`\n"
           "# writes this with yours. `scripts/write_example_unit.py` regenerates it from the template.")

# The systemd release each directive is known by: the first whose NEWS names it (an upper bound
# of when it came), or 0 for the basic ones of the first releases. Raspberry Pi OS Bullseye has
# 247, Bookworm 252: nothing may be newer than 247 (a test checks the template against this).
OLDEST_SYSTEMD = 247
DIRECTIVE_SINCE = {
    "Description": 0, "Wants": 0, "After": 0, "WantedBy": 0, "Type": 0, "ExecStart": 0, "User": 0,
    "SupplementaryGroups": 0, "SyslogIdentifier": 0, "UMask": 0, "Restart": 0, "RestartSec": 0, "NotifyAccess": 0,
    "CapabilityBoundingSet": 0, "PrivateTmp": 0, "WorkingDirectory": 0, "EnvironmentFile": 0,
    "TimeoutStartSec": 188, "TimeoutStopSec": 188, "WatchdogSec": 207, "RestartPreventExitStatus": 189,
    "NoNewPrivileges": 227, "SystemCallFilter": 209, "SystemCallArchitectures": 209,
    "SystemCallErrorNumber": 209, "DeviceAllow": 211, "DevicePolicy": 212, "RestrictAddressFamilies": 211,
    "ProtectSystem": 232, "ProtectHome": 232, "ReadWritePaths": 231, "MemoryDenyWriteExecute": 231,
    "RestrictRealtime": 231, "ProtectKernelTunables": 232, "ProtectKernelModules": 232,
    "ProtectControlGroups": 232, "RestrictNamespaces": 233, "StateDirectory": 235, "LockPersonality": 235,
    "PrivateMounts": 239, "ProtectHostname": 242, "RestrictSUIDSGID": 242, "ProtectKernelLogs": 244,
    "ProtectProc": 247, "LoadCredential": 247,
}

TEMPLATE = """\
{marker}
# sensorkit as a systemd service: starts at boot, restarts a failed or hung run, stops cleanly.
# {origin}
#
#   systemctl status sensorkit               # running? its status line: sensors, outbox backlog
#   journalctl -u sensorkit -f               # warnings and errors; readings are not logged
#   sensorkit outbox --state-dir /var/lib/sensorkit   # where the readings are
#   sudo <venv>/bin/sensorkit service uninstall   # stop and remove it; the outbox stays
#
# The token goes in /etc/sensorkit/env (chmod 600), one line: IOBEAM_TOKEN=<project token>,
# with token_env = "IOBEAM_TOKEN" in [uploader.iobeam]; or, kept from the service user too, in
# a systemd credential (`service install --credential`, LoadCredential= below).

[Unit]
Description=sensorkit: sample sensors and deliver the readings
# Wants=, not Requires=: the start waits for the network only as long as the system's
# wait-online service does, and never fails without one, since readings wait in the
# outbox until the network comes. After=time-sync.target only starts it after the time
# service, which does not mean the clock is right yet (a Pi has no real-time clock).
# modprobe@i2c_dev loads the module of /dev/i2c-*, so DeviceAllow=char-i2c resolves.
Wants=network-online.target modprobe@i2c_dev.service
After=network-online.target time-sync.target modprobe@i2c_dev.service

[Service]
# READY=1 once the board, the drivers and the outbox are open; STATUS= for systemctl status.
Type=notify
NotifyAccess=main
# WATCHDOG=1 comes every 30 s while the sampler and the delivery threads make progress; a run
# that stops saying it (a read stuck for a whole minute, a stuck schedule, a dead thread) is
# killed with SIGABRT (every thread's stack goes to the journal) and restarted. 60 s is well
# above the slowest read of any driver (a DHT at 10 attempts: about 21 s).
WatchdogSec=60s
User={user}
SupplementaryGroups={groups}
# systemd creates /var/lib/sensorkit for User=; the outbox lives there. It is also the working
# directory, where lgpio makes its notification pipes.
StateDirectory=sensorkit
WorkingDirectory=/var/lib/sensorkit
EnvironmentFile=-/etc/sensorkit/env
{credentials}
ExecStart={exec_start}
# The journal's name for it, also when ExecStart= is `python -m sensorkit`.
SyslogIdentifier=sensorkit
# Opening the outbox runs SQLite's quick check over it: a while, when it is large.
TimeoutStartSec=300
# SIGTERM: stop sampling, commit, one last delivery of at most 5 s, exit 0.
TimeoutStopSec=30
Restart=on-failure
RestartSec=10
# Exit 2 is a configuration mistake: restarting would only repeat it.
RestartPreventExitStatus=2

# Hardening, as far as the hardware allows; the README lists what is left off and why.
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
PrivateTmp=yes
PrivateMounts=yes
ProtectSystem=strict
# The venv and the config may live in a home: readable, never written.
ProtectHome=read-only
ProtectKernelTunables=yes
# /sys is read-only, except each 1-wire bus master's directory: therm_bulk_read and every
# thermometer's resolution are written there (/sys/bus/w1/devices/* link into it).
ReadWritePaths={w1_paths}
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
ProtectProc=invisible
# Devices: the I2C buses, the GPIO chips (lgpio) and /dev/gpiomem (RPi.GPIO under Blinka).
DevicePolicy=closed
DeviceAllow=char-i2c rw
DeviceAllow=char-gpiochip rw
DeviceAllow=char-*gpiomem* rw
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
# Back in after the line above: reading whether the clock is synchronised (adjtimex(2)).
# Setting the clock needs CAP_SYS_TIME, which CapabilityBoundingSet= took away.
SystemCallFilter=adjtimex clock_adjtime clock_adjtime64
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""

_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]*\$?$")  # what useradd accepts by default (Debian's NAME_REGEX)
_GROUP_RE = _USER_RE
_MASTER_RE = re.compile(r"^w1_bus_master[0-9]+$")
# A credential's name is a file name in $CREDENTIALS_DIRECTORY; ':' would end it in LoadCredential=.
CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class UnitSettings:
    """What differs between installations."""

    command: tuple[str, ...]  # the sensorkit program, or (python, "-m", "sensorkit")
    config: str  # absolute path of the config the service runs
    user: str
    groups: tuple[str, ...] = DEFAULT_GROUPS
    w1_masters: tuple[str, ...] = DEFAULT_W1_MASTERS
    origin: str = INSTALLED
    # Names of systemd credentials (files in CREDENTIALS_DIR) the config's *_file keys name bare.
    credentials: tuple[str, ...] = ()

    def exec_args(self) -> list[str]:
        return [*self.command, "run", "--config", self.config, "--state-dir", STATE_DIR, "--output", "none"]


def quote_exec_arg(arg: str) -> str:
    """One ExecStart= argument as systemd reads it back: specifiers and variables escaped, quoted if needed."""
    if not arg or "\n" in arg or "\0" in arg:
        raise ValueError(f"{arg!r} cannot be an argument of a unit's ExecStart=")
    text = arg.replace("%", "%%").replace("$", "$$")
    if re.search(r"""[\s"'\\;]""", text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def check_settings(settings: UnitSettings) -> None:
    """ValueError for what a unit cannot say (a relative path, a user name systemd refuses)."""
    for path in (settings.command[0], settings.config):
        if not path.startswith("/"):
            raise ValueError(f"{path!r} is not an absolute path: a unit needs absolute paths")
    if not _USER_RE.match(settings.user):
        raise ValueError(f"{settings.user!r} is not a user name systemd accepts")
    for group in settings.groups:
        if not _GROUP_RE.match(group):
            raise ValueError(f"{group!r} is not a group name systemd accepts")
    for name in settings.credentials:
        if not CREDENTIAL_NAME.match(name):
            raise ValueError(f"{name!r} cannot be a credential name: letters, digits, '.', '_' and '-' only")
    for master in settings.w1_masters:
        if not _MASTER_RE.match(master):
            raise ValueError(f"{master!r} is not a 1-wire bus master (w1_bus_masterN)")


def render_unit(settings: UnitSettings) -> str:
    check_settings(settings)
    masters: Sequence[str] = settings.w1_masters or DEFAULT_W1_MASTERS
    return TEMPLATE.format(
        marker=MARKER,
        origin=settings.origin,
        user=settings.user,
        # An empty SupplementaryGroups= is valid: no groups besides the user's own.
        groups=" ".join(settings.groups),
        exec_start=" ".join(quote_exec_arg(a) for a in settings.exec_args()),
        # "-": a bus master that is not there (no 1-wire overlay) is no error.
        w1_paths=" ".join(f"-/sys/devices/{m}" for m in masters),
        credentials=credential_lines(settings.credentials),
    )


def credential_lines(names: Sequence[str]) -> str:
    """LoadCredential= for each name; without any, the comment that says how to add one."""
    if not names:
        return ("# A token from a systemd credential instead (root's file, the service reads its copy in\n"
                "# $CREDENTIALS_DIRECTORY): token_file = \"iobeam-token\" in the config, then\n"
                "# sudo sensorkit service install --credential iobeam-token=FILE ... writes the line:\n"
                f"#LoadCredential=iobeam-token:{CREDENTIALS_DIR}/iobeam-token")
    lines = ["# The secrets the config names by a bare *_file name: systemd reads these root-only files and",
             "# gives the service a private copy in $CREDENTIALS_DIRECTORY, where sensorkit looks for them."]
    return "\n".join(lines + [f"LoadCredential={name}:{CREDENTIALS_DIR}/{name}" for name in names])


def example_settings() -> UnitSettings:
    """The placeholders of examples/sensorkit.service: the README's venv, the installed config, user pi."""
    return UnitSettings(command=("/home/pi/sensorkit-venv/bin/sensorkit",), config=INSTALLED_CONFIG, user="pi",
                        origin=EXAMPLE)


def example_unit() -> str:
    return render_unit(example_settings())


def parse_unit(text: str) -> dict[str, list[str]]:
    """The assignments of a unit file, every value of each key in order (sections merged; comments skipped)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unquote_exec(line: str) -> list[str]:
    """ExecStart= back into arguments (the inverse of `quote_exec_arg`, for units it wrote)."""
    import shlex

    return [arg.replace("%%", "%").replace("$$", "$") for arg in shlex.split(line)]
