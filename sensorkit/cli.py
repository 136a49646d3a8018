"""The `sensorkit` command. It parses arguments and prints; `sensorkit.system` does the work.

Exit status: 0 success, 1 a sensor failed (`read`) or an unexpected error,
2 bad input (arguments, config, board, pins) with a message saying how to fix it.
Everything heavy is imported inside the commands so `--help` starts fast.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PROG = "sensorkit"


class BadInput(Exception):
    """An error the user can fix; printed without a traceback, exit 2."""


def _version() -> str:
    from sensorkit import __version__

    return __version__


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _duration(text: str) -> float:
    from sensorkit.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", metavar="FILE",
        help="config file (default: ./sensorkit.toml, then the user config dir, then "
        "/etc/sensorkit/sensorkit.toml)",
    )


def _add_board(parser: argparse.ArgumentParser, *, simulate: bool = True) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail on stderr (-vv for debug)")
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read sensors on a Raspberry Pi on a steady schedule and deliver the readings.",
        parents=[common],
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="sample every configured sensor until stopped",
                              description="Sample every configured sensor on its interval until stopped "
                              "(Ctrl-C / SIGTERM) or for --duration.")
    _add_config(run)
    _add_board(run)
    run.add_argument("--output", choices=("console", "jsonl", "none"),
                     help="console: a live table (default on a terminal); jsonl: one JSON object per "
                     "reading per line (default otherwise); none: print nothing (a service with uploaders)")
    run.add_argument("--duration", type=_duration, metavar="SECONDS",
                     help='stop after this long ("30", "90s", "5m")')
    _add_state_dir(run)

    read = commands.add_parser("read", parents=[common], help="read every configured sensor once",
                               description="Read every configured sensor once. Exit 0 when all answered, "
                               "1 when any failed.")
    _add_config(read)
    _add_board(read)
    read.add_argument("--json", action="store_true", help="print JSON instead of a table")

    boards = commands.add_parser("boards", parents=[common], help="list the board profiles",
                                 description="List the board profiles and what each offers.")
    boards.add_argument("--json", action="store_true", help="print JSON instead of a table")

    validate = commands.add_parser("validate", parents=[common], help="check a config file",
                                   description="Check a config without touching hardware; prints OK or "
                                   "every problem found (exit 2).")
    _add_config(validate)
    _add_board(validate, simulate=False)

    register = commands.add_parser("register", parents=[common], help="register this device with iobeam",
                                   description="Register this device with the iobeam server of "
                                   "[uploader.iobeam] (or adopt its configured device_id) and print the id. "
                                   "The id is kept in the state dir; `run` registers by itself when needed.")
    _add_config(register)
    _add_state_dir(register)

    outbox = commands.add_parser("outbox", parents=[common], help="show or manage the readings waiting for delivery",
                                 description="Where your readings are: per uploader, how many wait and since "
                                 "when, the last success and error, the dead letters (readings a server refused).")
    outbox.add_argument("action", nargs="?", default="status",
                        choices=("status", "list-dead", "retry-dead", "purge-dead"),
                        help="status (default); list-dead: the readings a server refused, with its reason; "
                             "retry-dead: send them again; purge-dead: delete them")
    outbox.add_argument("--uploader", metavar="NAME", help="only this uploader's dead letters")
    _add_state_dir(outbox)
    outbox.add_argument("--json", action="store_true", help="print JSON instead of text")

    emulate = commands.add_parser("emulate", parents=[common], help="run a local cloud server for tests and demos",
                                  description="Run a local server that speaks a cloud's API strictly.")
    clouds = emulate.add_subparsers(dest="cloud", metavar="CLOUD")
    clouds.required = True
    iobeam = clouds.add_parser("iobeam", parents=[common], help="a local iobeam API server",
                               description="A local iobeam API server. Prints `listening on http://HOST:PORT`, "
                               "then a project id and token to put in [uploader.iobeam]. Ctrl-C stops it.")
    iobeam.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    iobeam.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    iobeam.add_argument("--db", metavar="FILE", help="keep devices, points and the signing key in this SQLite "
                        "file (default: memory only)")
    iobeam.add_argument("--project-id", type=_positive_int, default=1, metavar="N", help="project id (default 1)")
    iobeam.add_argument("--token-ttl", type=_duration, default=5 * 7 * 86400.0, metavar="SECONDS",
                        help="lifetime of the tokens it issues (default 5w = 35 days; e.g. 90s, 2h, 3d)")
    iobeam.add_argument("--secret", metavar="S", help="key that signs the tokens (default: random, kept in --db)")
    iobeam.add_argument("--fail-rate", type=_share, default=0.0, metavar="P",
                        help="share of requests answered 503 (0-1)")
    iobeam.add_argument("--throttle-rate", type=_share, default=0.0, metavar="P",
                        help="share of requests answered 429 with Retry-After (0-1)")
    iobeam.add_argument("--retry-after", type=_duration, default=1.0, metavar="SECONDS",
                        help="the Retry-After of a 429 (default 1)")
    iobeam.add_argument("--latency-ms", type=_non_negative_int, default=0, metavar="N",
                        help="delay before every answer")
    iobeam.add_argument("--down-for", type=_duration, metavar="SECONDS",
                        help="refuse connections for this long after start")
    iobeam.add_argument("--seed", type=int, metavar="N", help="seed of the injected faults")
    return parser


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where sensorkit keeps its state (default: $XDG_STATE_HOME/sensorkit, else "
                        "/var/lib/sensorkit for root, else ~/.local/state/sensorkit)")


def _number(kind: Any, check: Any, wanted: str) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
        return value

    return convert


_port = _number(int, lambda v: 0 <= v <= 65535, "a port number (0-65535)")
_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer of 0 or more")
_share = _number(float, lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    _setup_logging(args.verbose)
    handler = {"run": cmd_run, "read": cmd_read, "boards": cmd_boards, "validate": cmd_validate,
               "register": cmd_register, "emulate": cmd_emulate, "outbox": cmd_outbox}
    try:
        return handler[args.command](args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # `sensorkit boards | head`: the reader has all it wanted
        _silence_stdout()
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

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr)


# --------------------------------------------------------------------------- config


def _load(args: argparse.Namespace, *, allow_demo: bool) -> Any:
    from sensorkit import config as cfg

    if args.config:
        return cfg.load_config(args.config)
    path = cfg.find_config()
    if path is not None:
        return cfg.load_config(path)
    if allow_demo:
        from sensorkit.system import demo_config

        return demo_config()
    raise BadInput(cfg.no_config_message())


def _build(args: argparse.Namespace) -> Any:
    from sensorkit.system import build_system

    config = _load(args, allow_demo=args.simulate)
    return build_system(config, board=args.board, simulate=args.simulate, seed=args.seed)


# --------------------------------------------------------------------------- run


def default_state_dir() -> str:
    """$XDG_STATE_HOME/sensorkit when set; else /var/lib/sensorkit for root (the service),
    ~/.local/state/sensorkit for everyone else."""
    if os.environ.get("XDG_STATE_HOME"):
        return os.path.join(os.environ["XDG_STATE_HOME"], "sensorkit")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/sensorkit"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "sensorkit")


def _prepare_state_dir(path: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"cannot create the state dir {path}: {exc.strerror} — "
                       "choose another with --state-dir DIR") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"the state dir {path} is not writable by this user — "
                       "fix its permissions or choose another with --state-dir DIR")
    return path


DRAIN_TIMEOUT_S = 5.0  # the last delivery at a stop: bounded, so a service stops promptly


def cmd_run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from sensorkit.output import ConsoleOutput, JsonlOutput, NoOutput, OutputClosed
    from sensorkit.system import open_delivering

    log = logging.getLogger("sensorkit")
    state_dir = _prepare_state_dir(args.state_dir or default_state_dir())
    output_kind = args.output or ("console" if sys.stdout.isatty() else "jsonl")
    system = _build(args)
    stop = threading.Event()
    with system:
        if output_kind == "none" and not system.config.enabled_uploaders:
            raise BadInput(f"--output none, and {system.config.source} has no enabled [uploader.*] table: every "
                           "reading would be thrown away; add an uploader or choose --output jsonl")
        delivering = open_delivering(system.config, state_dir, clock=system.clock)
        if output_kind == "console":
            output: Any = ConsoleOutput(sys.stdout, title=_title(system), wall_ms=system.clock.time_ms)
        elif output_kind == "jsonl":
            output = JsonlOutput(sys.stdout)
        else:
            output = NoOutput()
        closed = threading.Event()

        def sink(readings: list[Any]) -> None:
            if delivering is not None:
                delivering.add(readings)  # first: a closed output never costs a reading
            try:
                output.write(readings)
            except OutputClosed:
                closed.set()
                stop.set()

        sampler = system.sampler(sink)
        if isinstance(output, ConsoleOutput):
            output.status = sampler.status
            if delivering is not None:
                output.delivery = delivering.progress
            root = logging.getLogger()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            root.addHandler(output.log_handler())

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        log.info("sampling %d sensor(s) on %s; state in %s", len(system.sensors), system.profile.name, state_dir)
        if delivering is not None:
            delivering.start()
        worker = threading.Thread(target=sampler.run, args=(stop, args.duration), name="sampler", daemon=True)
        worker.start()
        caught_up: dict[str, bool] = {}
        try:
            while worker.is_alive():
                worker.join(0.25)
                if not closed.is_set():
                    try:
                        output.refresh()
                    except OutputClosed:
                        closed.set()
                        stop.set()
        finally:
            stop.set()
            worker.join(2.0)
            stuck = sampler.stop(timeout_s=2.0)
            if delivering is not None:
                caught_up = delivering.close(drain_timeout_s=DRAIN_TIMEOUT_S)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if not closed.is_set():
                output.close()
        for name in stuck:
            print(f"{PROG}: warning: sensor '{name}' was still reading when stopped; left behind",
                  file=sys.stderr)
        for name, done in caught_up.items():
            if not done:
                print(f"{PROG}: note: readings for '{name}' are still waiting in the outbox; they go at the "
                      "next run (`sensorkit outbox status` shows them)", file=sys.stderr)
    if closed.is_set():
        _silence_stdout()
    return EXIT_OK


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the interpreter's final flush is quiet."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _title(system: Any) -> str:
    mode = "simulated" if system.simulated else "hardware"
    return (f"sensorkit — board {system.profile.name} ({mode}), config {system.config.source}, "
            f"{len(system.sensors)} sensor(s); Ctrl-C stops")


# --------------------------------------------------------------------------- read


def cmd_read(args: argparse.Namespace) -> int:
    import json

    from sensorkit.output import format_value

    with _build(args) as system:
        results = system.read_once()
    failed = [(h, r) for h, r in results if isinstance(r, Exception)]
    if args.json:
        doc = {
            "board": system.profile.name,
            "simulated": system.simulated,
            "readings": [r.to_dict() for _, rs in results if not isinstance(rs, Exception) for r in rs],
            "errors": [
                {"sensor": h.name, "where": h.resolved.where(), "error": type(e).__name__, "message": str(e)}
                for h, e in failed
            ],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for handle, result in results:
            where = handle.resolved.where()
            if isinstance(result, Exception):
                print(f"{handle.name:<16} FAILED  {type(result).__name__}: {result} ({where})")
                continue
            for reading in result:
                print(f"{handle.name:<16} {reading.series:<28} {format_value(reading.value):>10} {reading.unit}")
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- boards


def cmd_boards(args: argparse.Namespace) -> int:
    import json

    import boards

    profiles = [boards.get_profile(name) for name in boards.profile_names()]
    if args.json:
        print(json.dumps([p.to_dict() for p in profiles], indent=2))
        return EXIT_OK
    for profile in profiles:
        buses = ", ".join(f"{n} (SDA GPIO{b.sda}, SCL GPIO{b.scl})" for n, b in sorted(profile.i2c_buses.items()))
        print(f"{profile.name}")
        print(f"  {profile.description}")
        if profile.models:
            print(f"  detected from:  {'; '.join(profile.models)}")
        print(f"  I2C buses:      {buses or 'none (declare them in [device] i2c_buses)'}")
        onewire = f"GPIO{profile.onewire_pin}" if profile.onewire_pin is not None else "none"
        print(f"  1-wire pin:     {onewire}")
        print(f"  GPIO pins:      {_ranges(sorted(profile.gpio_pins)) or 'none (declare them in [device] gpio_pins)'}")
        if profile.reserved:
            reserved = ", ".join(f"GPIO{p} {why}" for p, why in sorted(profile.reserved.items()))
            print(f"  reserved:       {reserved}")
        print(f"  pin factory:    {profile.pin_factory or 'gpiozero default'}")
        print()
    return EXIT_OK


def _ranges(numbers: list[int]) -> str:
    """[2, 3, 4, 7] -> "2-4, 7"."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


# --------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    import boards
    from sensorkit.config import resolve
    from sensorkit.errors import ConfigError
    from sensorkit.system import choose_board

    config = _load(args, allow_demo=False)
    try:
        profile = choose_board(config, args.board)
    except boards.BoardNotDetected:
        print(f"OK: {config.source}: {len(config.sensors)} sensor(s); board is 'auto' and this machine "
              "is not a known board, so buses and pins were not checked — add --board NAME to check them")
        _print_uploaders(config)
        return EXIT_OK
    try:
        resolved = resolve(config, profile)
    except ConfigError as exc:
        raise BadInput(f"{config.source} does not fit board '{profile.name}':\n" + "\n".join(exc.problems)) from None
    print(f"OK: {config.source}: {len(resolved)} enabled sensor(s) on board {profile.name}")
    for sensor in resolved:
        print(f"  {sensor.name:<16} {sensor.config.driver:<12} {sensor.where():<28} "
              f"every {sensor.config.interval_s:g} s")
    _print_uploaders(config)
    return EXIT_OK


def _print_uploaders(config: Any) -> None:
    from sensorkit.durations import format_duration

    if not config.uploaders:
        print("no uploader: readings are only printed (add an [uploader.iobeam] table to send them)")
        return
    print(f"{len(config.enabled_uploaders)} enabled uploader(s), through the outbox in the state dir:")
    for uploader in config.uploaders:
        if not uploader.enabled:
            print(f"  {uploader.name:<16} disabled (enabled = false)")
            continue
        where = f"to {uploader['base_url']}, " if uploader.get("base_url") else ""
        print(f"  {uploader.name:<16} {where}batches of up to {uploader['batch_size']:,}, "
              f"a part batch waits at most {format_duration(uploader['send_delay'])}")


# --------------------------------------------------------------------------- register


def cmd_register(args: argparse.Namespace) -> int:
    from sensorkit.errors import UploadError
    from sensorkit.uploaders import build_uploader

    config = _load(args, allow_demo=False)
    settings = config.uploader("iobeam")
    if settings is None:
        raise BadInput(f"{config.source} has no [uploader.iobeam] table — add one with project_id and token "
                       "(README: 'Sending readings to iobeam')")
    state_dir = _prepare_state_dir(args.state_dir or default_state_dir())
    uploader: Any = build_uploader(settings, state_dir)
    before = uploader.client.get_device_id()
    try:
        device_id = uploader.ensure_device()
    except UploadError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    kept = os.path.join(state_dir, "iobeam_device_id")
    if device_id == before:
        print(f"{device_id}\n(already registered with {uploader.base_url}; kept in {kept})")
    else:
        print(f"{device_id}\n(registered with {uploader.base_url}; kept in {kept})")
    return EXIT_OK


# --------------------------------------------------------------------------- outbox


def cmd_outbox(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    from sensorkit.outbox import status as outbox_status
    from sensorkit.system import outbox_path

    state_dir = args.state_dir or default_state_dir()
    path = outbox_path(state_dir)
    if not path.exists():
        if args.json:
            print(json.dumps({"path": str(path), "exists": False}))
        else:
            print(f"no outbox at {path} yet: `sensorkit run` makes one when the config has an [uploader.*] "
                  "table (a different state dir? give --state-dir DIR)")
        return EXIT_OK
    if args.action == "list-dead":
        return _list_dead(outbox_status.dead_letters(path, args.uploader), as_json=args.json)
    if args.action != "status":
        change = outbox_status.retry_dead if args.action == "retry-dead" else outbox_status.purge_dead
        count = change(path, args.uploader)
        whose = f" of '{args.uploader}'" if args.uploader else ""
        if args.json:
            print(json.dumps({"action": args.action, "dead_letters": count, "uploader": args.uploader}))
        elif args.action == "retry-dead":
            print(f"{count} dead letter(s){whose} will be sent again by the next `sensorkit run`")
        else:
            print(f"{count} dead letter(s){whose} deleted")
        return EXIT_OK
    status = outbox_status.read_status(path)
    if args.json:
        print(json.dumps(asdict(status), indent=2))
        return EXIT_OK
    now_ms = time.time_ns() // 1_000_000
    for line in _outbox_lines(status, now_ms):
        print(line)
    return EXIT_OK


def _list_dead(letters: list[Any], *, as_json: bool) -> int:
    import json
    from dataclasses import asdict

    if as_json:
        print(json.dumps([asdict(letter) for letter in letters], indent=2))
        return EXIT_OK
    if not letters:
        print("no dead letters: every server took every reading it was sent")
        return EXIT_OK
    for letter in letters:
        again = " (to be sent again)" if letter.retry else ""
        taken = _local_time(letter.timestamp_ms, ms=True)
        print(f"{letter.uploader}  {taken}  {letter.series} = {letter.value}{again}: {letter.reason}")
    return EXIT_OK


def _outbox_lines(status: Any, now_ms: int) -> list[str]:
    size_mb = status.file_bytes / 1_000_000
    lines = [f"outbox {status.path}: {size_mb:.1f} MB, {status.stored:,} reading(s) stored"]
    if status.writer_pid is not None:
        lines.append(f"  (as published by the running sensorkit, pid {status.writer_pid}, "
                     f"{_ago(status.as_of_ms, now_ms)}; {status.unsaved:,} more in memory)")
    if status.last_write_error:
        lines.append(f"  ! cannot write: {status.last_write_error}")
    if status.dropped:
        series = ", ".join(f"{name} ({count:,})" for name, count in status.dropped_by_series[:5])
        lines.append(f"  dropped undelivered (outbox full or too old): {status.dropped:,} — {series}")
    for uploader in status.uploaders:
        lines.append(f"{uploader.name}:")
        if uploader.waiting:
            lines.append(f"  waiting:       {uploader.waiting:,} reading(s), the oldest taken "
                         f"{_ago(uploader.oldest_waiting_ms, now_ms)}")
        else:
            lines.append("  waiting:       none — up to date")
        lines.append(f"  delivered:     {uploader.delivered:,} in all; last success "
                     f"{_ago(uploader.last_success_ms, now_ms)}")
        if uploader.last_error:
            lines.append(f"  last error:    {_ago(uploader.last_error_ms, now_ms)}: {uploader.last_error}")
        dead = f"{uploader.dead_letters:,}"
        if uploader.dead_letters_to_retry:
            dead += f" ({uploader.dead_letters_to_retry:,} to be sent again)"
        if uploader.dead_letters:
            dead += (" — `sensorkit outbox list-dead` shows them, `retry-dead` sends them again, "
                     "`purge-dead` deletes them")
        lines.append(f"  dead letters:  {dead}")
        for reason, count in uploader.dead_letter_reasons:
            lines.append(f"    {count:,} refused: {reason}")
    if not status.uploaders:
        lines.append("no uploader has used this outbox yet")
    return lines


def _ago(when_ms: int | None, now_ms: int) -> str:
    if when_ms is None:
        return "never"
    seconds = max(0, (now_ms - when_ms) // 1000)
    if seconds < 120:
        span = f"{seconds} s"
    elif seconds < 7200:
        span = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        span = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        span = f"{seconds // 86400} days"
    return f"{span} ago ({_local_time(when_ms)})"


def _local_time(when_ms: int, *, ms: bool = False) -> str:
    import datetime

    stamp = datetime.datetime.fromtimestamp(when_ms / 1000)
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + (f".{when_ms % 1000:03d}" if ms else "")


# --------------------------------------------------------------------------- emulate


def cmd_emulate(args: argparse.Namespace) -> int:
    import signal
    import threading

    from sensorkit.emulators.iobeam import EmulatorError, IobeamEmulator, PortUnavailable

    if args.fail_rate + args.throttle_rate > 1:
        raise BadInput("--fail-rate and --throttle-rate together must not exceed 1")
    try:
        emulator = IobeamEmulator(
            host=args.host, port=args.port, db_path=args.db, project_id=args.project_id,
            token_ttl_s=args.token_ttl, secret=args.secret.encode() if args.secret else None,
            fail_rate=args.fail_rate, throttle_rate=args.throttle_rate, retry_after_s=args.retry_after,
            latency_ms=args.latency_ms, down_for_s=args.down_for or 0.0, seed=args.seed,
        )
        emulator.start()
    except PortUnavailable as exc:
        raise BadInput(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} — choose another "
                       "--port (0 picks a free one) or --host") from None
    except (EmulatorError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in emulator.banner():
            print(line, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
