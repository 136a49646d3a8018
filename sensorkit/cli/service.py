"""`sensorkit service install|uninstall|status`: sensorkit as a systemd service of this installation."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sensorkit.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, PROG, BadInput, add_config, path, print_warnings

ENV_FILE = "etc/sensorkit/env"  # under the root: the service's EnvironmentFile=


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    service = commands.add_parser(
        "service", parents=[common], help="run sensorkit as a systemd service: install, uninstall, status",
        description="Install sensorkit as a systemd service that starts at boot, runs `sensorkit run` as an "
        "unprivileged user with --output none, and is restarted when it fails or hangs.")
    actions = service.add_subparsers(dest="action", metavar="ACTION", required=True)

    install = actions.add_parser(
        "install", parents=[common], help="write, enable and start the unit (needs root)",
        description="Write /etc/systemd/system/sensorkit.service for this installation (this venv's "
        "sensorkit, the config given), enable it and (re)start it. --print shows it instead.")
    add_config(install)
    install.add_argument("--user", metavar="USER",
                         help="the unprivileged user the service runs as (default: the user who ran sudo)")
    install.add_argument("--copy-config", action="store_true",
                         help="copy the config to /etc/sensorkit/sensorkit.toml (mode 600, owned by USER) "
                         "and run that copy")
    install.add_argument("--credential", action="append", default=[], metavar="NAME=FILE",
                         help="keep FILE's secret (- reads it from standard input) as the systemd credential "
                         "NAME in /etc/sensorkit/credentials (root's only) for a token_file/key_file = \"NAME\" in the "
                         "config; the unit loads every credential the config names (repeatable)")
    install.add_argument("--print", action="store_true", help="print the unit and install nothing")
    install.add_argument("--force", action="store_true",
                         help="replace a unit, or an /etc/sensorkit/sensorkit.toml, that sensorkit did not write")
    install.set_defaults(handler=cmd_install)

    uninstall = actions.add_parser(
        "uninstall", parents=[common], help="stop, disable and remove the unit (needs root); keeps the outbox",
        description="Stop and disable sensorkit.service and remove its unit file. The state dir "
        "(/var/lib/sensorkit: the outbox and what waits in it) and /etc/sensorkit stay.")
    uninstall.add_argument("--force", action="store_true", help="remove a unit that sensorkit did not write")
    uninstall.set_defaults(handler=cmd_uninstall)

    status = actions.add_parser(
        "status", parents=[common], help="is it installed and running, as whom, with which config",
        description="What systemd says of sensorkit.service and what the unit runs. Exit 0 when it runs.")
    status.set_defaults(handler=cmd_status)

    for parser in (install, uninstall, status):
        # For tests: a directory standing for / and another systemctl, so the machine's systemd is never touched.
        parser.add_argument("--root", type=path, default="/", help=argparse.SUPPRESS)
        parser.add_argument("--systemctl", type=path, default="systemctl", help=argparse.SUPPRESS)


def _systemctl(args: argparse.Namespace) -> Any:
    import shlex

    from sensorkit.service import Systemctl

    return Systemctl(shlex.split(args.systemctl))


def _need_root(args: argparse.Namespace, what: str) -> None:
    import shlex

    from sensorkit.service import sensorkit_command

    if args.root == "/" and os.geteuid() != 0:
        # The full path: sudo's PATH does not have the venv's bin.
        again = " ".join(shlex.quote(a) for a in [*sensorkit_command(), *sys.argv[1:]])
        raise BadInput(f"{what} writes to /etc/systemd/system, which needs root: sudo {again}")


def _user(name: str | None) -> Any:
    import pwd

    name = name or os.environ.get("SUDO_USER") or (pwd.getpwuid(os.getuid()).pw_name if os.getuid() else None)
    if not name:
        raise BadInput("give --user USER: the service runs as an unprivileged user, not root (e.g. --user pi)")
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        raise BadInput(f"there is no user '{name}' here: give an existing one with --user, or create one "
                       f"(sudo adduser --system --group {name})") from None
    if user.pw_uid == 0 or name == "nobody":
        raise BadInput(f"the service must not run as '{name}': give an unprivileged user with --user "
                       "(e.g. --user pi)")
    return user


def _environment(root: Path) -> dict[str, str]:
    """The environment the service will have: this one, plus /etc/sensorkit/env as systemd reads it."""
    environ = dict(os.environ)
    try:
        lines = (root / ENV_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return environ
    for line in lines:
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            environ[key.strip()] = value
    return environ


def _new_credentials(args: argparse.Namespace) -> dict[str, bytes]:
    """--credential NAME=FILE (or NAME=-, standard input): name -> the secret, read now."""
    from sensorkit.service_unit import CREDENTIAL_NAME

    secrets: dict[str, bytes] = {}
    for given in args.credential:
        name, equals, source = given.partition("=")
        if not equals or not source or not CREDENTIAL_NAME.match(name):
            raise BadInput(f"--credential {given.split('=')[0]}=...: expected NAME=FILE (or NAME=- for standard "
                           "input), NAME of letters, digits, '.', '_' and '-', as token_file names it")
        try:
            secret = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise BadInput(f"--credential {name}: cannot read {source}: {exc.strerror}") from None
        if not secret.strip():
            raise BadInput(f"--credential {name}: {'standard input' if source == '-' else source} is empty")
        secrets[name] = secret
    return secrets


def _load(args: argparse.Namespace, root: Path, new_credentials: dict[str, bytes] | None = None
          ) -> tuple[Path, Any, tuple[str, ...]]:
    """The config as the service will load it, and the credentials it names.

    A bare `token_file` name is looked for among the credentials: those already kept under the root and
    those given with --credential, in a private temporary directory (nothing is installed yet).
    """
    import shutil
    import tempfile

    from sensorkit.config import find_config, load_config, no_config_message
    from sensorkit.errors import ConfigError
    from sensorkit.service import credential_names, credentials_path
    from sensorkit.service_unit import CREDENTIALS_DIR

    found = Path(args.config) if args.config else find_config()
    if found is None:
        raise BadInput(no_config_message())
    config_path = found.absolute()
    staged = tempfile.mkdtemp(prefix="sensorkit-credentials-")  # mode 0700
    try:
        kept = credentials_path(root)
        for existing in (kept.iterdir() if kept.is_dir() else ()):
            if existing.is_file() and not existing.name.startswith("."):
                shutil.copyfile(existing, os.path.join(staged, existing.name))
        for name, secret in (new_credentials or {}).items():
            with open(os.path.join(staged, name), "wb") as file:
                file.write(secret)
        environ = {**_environment(root), "CREDENTIALS_DIRECTORY": staged}
        try:
            config = load_config(config_path, environ=environ)
        except ConfigError as exc:
            message = str(exc).replace(staged, CREDENTIALS_DIR)
            if CREDENTIALS_DIR in message:
                message += (" (a bare token_file/key_file name is a systemd credential: give its secret with "
                            "--credential NAME=FILE)")
            elif not (root / ENV_FILE).exists():
                message += f" (the service's environment comes from /{ENV_FILE}: NAME=value lines, chmod 600)"
            raise BadInput(message) from None
        names = credential_names(config, staged)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    config.require_inputs()
    if not config.enabled_uploaders:
        raise BadInput(f"{config_path} has no enabled [uploader.*] table: the service runs with --output none "
                       "and would throw every reading away — add an uploader (README: 'Sending readings')")
    return config_path, config, names


def cmd_install(args: argparse.Namespace) -> int:
    from sensorkit import service as svc
    from sensorkit.service_unit import INSTALLED_CONFIG, UnitSettings, render_unit

    root = Path(args.root)
    new_credentials = _new_credentials(args)
    config_path, config, credentials = _load(args, root, new_credentials)
    print_warnings(config)
    unused = sorted(set(new_credentials) - set(credentials))
    if unused:
        raise BadInput(f"--credential {unused[0]}: the config names no token_file/key_file \"{unused[0]}\", so the "
                       f"service would never read it — set token_file = \"{unused[0]}\" in {config_path}")
    user = _user(args.user)
    groups, missing = svc.existing_groups()
    for group in missing:
        print(f"{PROG}: note: there is no group '{group}' here: left out of SupplementaryGroups=", file=sys.stderr)
    settings = UnitSettings(command=svc.sensorkit_command(), config=INSTALLED_CONFIG if args.copy_config
                            else str(config_path), user=user.pw_name, groups=groups,
                            w1_masters=svc.w1_masters(root), credentials=credentials)
    if args.print:
        for problem in _reach_problems(settings, config_path, user, groups):
            print(f"{PROG}: warning: {problem}", file=sys.stderr)
        print(render_unit(settings), end="")
        return EXIT_OK
    _need_root(args, "installing the service")
    try:
        if args.copy_config:
            config_path = svc.copy_config(config_path, root, user, force=args.force)
        for name, secret in new_credentials.items():
            print(f"kept the credential {name} in {svc.write_credential(root, name, secret)} (root's only)")
        problems = _reach_problems(settings, config_path, user, groups)
        if problems and args.root == "/":
            raise BadInput("; ".join(problems) + " — the service could not start: move the venv or the config "
                           "where that user can reach them (or give --copy-config), or choose another --user")
        for problem in problems:  # a stand-in root (tests): the real paths say nothing of it
            print(f"{PROG}: note: {problem}", file=sys.stderr)
        done = svc.install(settings, root=root, systemctl=_systemctl(args), force=args.force)
    except svc.ServiceError as exc:
        return _failed(exc)
    print(f"{'replaced' if done.replaced else 'installed'} {done.unit}: runs {' '.join(settings.command)} as "
          f"{user.pw_name} with {settings.config}")
    print("enabled (starts at boot) and started; see how it goes with `sensorkit service status` or "
          "`journalctl -u sensorkit -f`")
    return EXIT_OK


def _failed(exc: Exception) -> int:
    """Say why a step failed: exit 2 for a file sensorkit will not touch (NotOurs), 1 when systemctl failed."""
    from sensorkit import service as svc

    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT if isinstance(exc, svc.NotOurs) else EXIT_FAILED


def _reach_problems(settings: Any, config_file: Path, user: Any, groups: Any) -> list[str]:
    """What the service user could not reach: the program, the interpreter behind it, the config."""
    from sensorkit import service as svc

    interpreter = Path(os.path.realpath(sys.executable))  # a venv's python links to the system's (or pyenv's)
    problems = [svc.access_problem(Path(settings.command[0]), user, groups, execute=True),
                svc.access_problem(interpreter, user, groups, execute=True),
                svc.access_problem(config_file, user, groups)]
    return [p for p in problems if p]


def cmd_uninstall(args: argparse.Namespace) -> int:
    from sensorkit import service as svc
    from sensorkit.service_unit import CONFIG_DIR, STATE_DIR

    root = Path(args.root)
    _need_root(args, "removing the service")
    try:
        removed = svc.uninstall(root=root, systemctl=_systemctl(args), force=args.force)
    except svc.ServiceError as exc:
        return _failed(exc)
    if removed is None:
        print(f"not installed: there is no {svc.unit_path(root)}")
        return EXIT_OK
    print(f"stopped, disabled and removed {removed}")
    print(f"kept {STATE_DIR} (the outbox: `sensorkit outbox --state-dir {STATE_DIR}`) and {CONFIG_DIR}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from sensorkit import service as svc

    status = svc.service_status(root=Path(args.root), systemctl=_systemctl(args))
    props = status.properties
    if not status.installed:
        print(f"not installed (no {status.unit}): `sudo {PROG} service install -c FILE` installs it")
        return EXIT_FAILED
    enabled = props.get("UnitFileState")
    print(f"unit:    {status.unit}" + (f" ({enabled})" if enabled else ""))
    if status.systemctl_error:
        print(f"state:   unknown: {status.systemctl_error}")
    else:
        state = f"{props.get('ActiveState', '?')} ({props.get('SubState', '?')})"
        if props.get("MainPID", "0") != "0":
            state += f", pid {props['MainPID']}"
        if props.get("ActiveEnterTimestamp"):
            state += f", since {props['ActiveEnterTimestamp']}"
        if props.get("NRestarts", "0") not in ("", "0"):
            state += f", restarted {props['NRestarts']} time(s)"
        if props.get("Result") not in (None, "", "success"):
            state += f", last result: {props['Result']}"
        print(f"state:   {state}")
        if props.get("StatusText"):
            print(f"says:    {props['StatusText']}")
    if status.command:
        print(f"runs:    {status.command[0]}" + (f" as {status.user}" if status.user else ""))
    print(f"config:  {status.config or '(the default search: none given)'}")
    print("logs:    journalctl -u sensorkit -e")
    return EXIT_OK if status.active else EXIT_FAILED
