"""The `sensorkit` parser and `main`: each command group lives in its own module and adds its parsers."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from sensorkit.cli import detect, doctor, emulate, outbox, running, service, setup
from sensorkit.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, PROG, BadInput, silence_stdout

# Each command group adds its own subcommands; a new group is a module and a line here.
COMMAND_GROUPS = (running, setup, detect, doctor, service, outbox, emulate)


def _version() -> str:
    from sensorkit import __version__

    return __version__


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    # -v counts the same before and after the subcommand (`sensorkit -vv run` = `sensorkit run -vv`):
    # the two places have their own destinations, added up in `main`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, dest="verbose_after",
                        help="more detail on stderr (-vv for debug)")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read sensors on a Raspberry Pi on a steady schedule and deliver the readings.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail on stderr (-vv for debug)")
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for group in COMMAND_GROUPS:
        group.add_parsers(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose += getattr(args, "verbose_after", 0)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    _setup_logging(args.verbose)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `sensorkit boards | head`: the reader has all it wanted
        silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into messages
        bad = _bad_input_message(exc)
        if bad is not None:
            print(f"{PROG}: error: {bad}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.verbose:
            raise
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)
        return EXIT_FAILED


def _bad_input_message(exc: Exception) -> str | None:
    from boards import BoardError
    from sensorkit.errors import ConfigError, StateError

    if isinstance(exc, (ConfigError, BoardError, BadInput, StateError)):
        return str(exc)
    return None


def _setup_logging(verbose: int) -> None:
    import logging

    from sensorkit.systemd import JournalFormatter, stream_is_journal

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if stream_is_journal(sys.stderr):  # under systemd: the journal takes "<4>" prefixes as priorities
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JournalFormatter())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr)
