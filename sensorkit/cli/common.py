"""What every command shares: exit codes, bad input, argument types, loading the config, the state dir."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sensorkit.clock import local_time  # noqa: F401 - the CLI's commands format times with it

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PROG = "sensorkit"


class BadInput(Exception):
    """An error the user can fix; printed without a traceback, exit 2."""


def duration(text: str) -> float:
    from sensorkit.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def path(text: str) -> str:
    """A file or directory name on the command line: an empty one is a mistake, not "the default"."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name: give a path, or leave the option out for the default")
    return text


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", metavar="FILE", type=path,
        help="config file (default: ./sensorkit.toml, then the user config dir, then "
        "/etc/sensorkit/sensorkit.toml)",
    )


def add_board(parser: argparse.ArgumentParser, *, simulate: bool = True) -> None:
    parser.add_argument(
        "--board", metavar="NAME|auto",
        help="board profile (overrides the config's [device] board); `sensorkit boards` lists them",
    )
    if simulate:
        parser.add_argument(
            "--simulate", action="store_true",
            help="use emulated twins of every sensor instead of real hardware "
            "(with no config file: the built-in demo)",
        )
        parser.add_argument("--seed", type=int, default=0, metavar="N",
                            help="seed of the simulated world (default 0)")


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", metavar="DIR", type=path,
                        help="where sensorkit keeps its state (default: $XDG_STATE_HOME/sensorkit, else "
                        "/var/lib/sensorkit for root, else ~/.local/state/sensorkit)")


def number(kind: Any, check: Any, wanted: str) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    return convert


port = number(int, lambda v: 0 <= v <= 65535, "a port number (0-65535)")
positive_int = number(int, lambda v: v > 0, "a positive integer")
non_negative_int = number(int, lambda v: v >= 0, "an integer of 0 or more")
share = number(float, lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1")


def load(args: argparse.Namespace, *, allow_demo: bool, need_inputs: bool = True) -> Any:
    """The config of -c, else the first one found, else (with `allow_demo`) the built-in demo.

    `need_inputs`: a config that would read nothing is bad input (exit 2), not a run that idles.
    """
    from sensorkit import config as cfg

    if args.config is not None:
        config = cfg.load_config(args.config)
    else:
        path = cfg.find_config()
        if path is not None:
            config = cfg.load_config(path)
        elif allow_demo:
            from sensorkit.system import demo_config

            config = demo_config()
        else:
            raise BadInput(cfg.no_config_message())
    if need_inputs:
        config.require_inputs()
    return config


def print_warnings(config: Any) -> None:
    """What the config loader found worth a warning (a readable secret, a token sent in clear text)."""
    for warning in config.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)


def build(args: argparse.Namespace) -> Any:
    from sensorkit.system import build_system

    config = load(args, allow_demo=args.simulate)
    return build_system(config, board=args.board, simulate=args.simulate, seed=args.seed)


def default_state_dir() -> str:
    """$XDG_STATE_HOME/sensorkit when set; else /var/lib/sensorkit for root (the service),
    ~/.local/state/sensorkit for everyone else."""
    if os.environ.get("XDG_STATE_HOME"):
        return os.path.join(os.environ["XDG_STATE_HOME"], "sensorkit")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/sensorkit"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "sensorkit")


def prepare_state_dir(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create the state dir {path}: {exc.strerror} — "
                       "choose another with --state-dir DIR") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"the state dir {path} is not writable by this user — "
                       "fix its permissions or choose another with --state-dir DIR")
    return path


def silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush is quiet."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
