"""`sensorkit run` and `sensorkit read`: sample the configured sensors."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from sensorkit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    BadInput,
    add_board,
    add_config,
    add_state_dir,
    build,
    default_state_dir,
    duration,
    prepare_state_dir,
    print_warnings,
    silence_stdout,
)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    run = commands.add_parser("run", parents=[common], help="sample every configured sensor until stopped",
                              description="Sample every configured sensor on its interval until stopped "
                              "(Ctrl-C / SIGTERM) or for --duration.")
    add_config(run)
    add_board(run)
    run.add_argument("--output", choices=("console", "jsonl", "none"),
                     help="console: a live table (default on a terminal); jsonl: one JSON object per "
                     "reading per line (default otherwise); none: print nothing (a service with uploaders)")
    run.add_argument("--duration", type=duration, metavar="SECONDS",
                     help='stop after this long ("30", "90s", "5m")')
    add_state_dir(run)

    read = commands.add_parser("read", parents=[common], help="read every configured sensor once",
                               description="Read every configured sensor once. Exit 0 when all answered, "
                               "1 when any failed.")
    add_config(read)
    add_board(read)
    read.add_argument("--json", action="store_true", help="print JSON instead of a table")
    run.set_defaults(handler=cmd_run)
    read.set_defaults(handler=cmd_read)


DRAIN_TIMEOUT_S = 5.0  # the last delivery at a stop: bounded, so a service stops promptly


def cmd_run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from sensorkit.holding import Timestamps
    from sensorkit.output import ConsoleOutput, JsonlOutput, NoOutput, OutputClosed
    from sensorkit.system import open_delivering
    from sensorkit.watchdog import Heartbeat
    from sensorkit.watching import watching_for

    log = logging.getLogger("sensorkit")
    output_kind = args.output or ("console" if sys.stdout.isatty() else "jsonl")
    system = build(args)
    stop = threading.Event()
    with system:
        print_warnings(system.config)
        if output_kind == "none" and not system.config.enabled_uploaders:
            raise BadInput(f"--output none, and {system.config.source} has no enabled [uploader.*] table: every "
                           "reading would be thrown away; add an uploader or choose --output jsonl")
        # Only an outbox needs the state dir: a run that just prints creates nothing on disk
        # (unless a state dir was asked for by name; then it is checked all the same).
        state_dir = (prepare_state_dir(args.state_dir or default_state_dir())
                     if system.config.enabled_uploaders or args.state_dir else None)
        delivering = (open_delivering(system.config, state_dir, clock=system.clock, board=system.profile.name)
                      if state_dir else None)
        if output_kind == "console":
            output: Any = ConsoleOutput(sys.stdout, title=_title(system), wall_ms=system.clock.time_ms)
        elif output_kind == "jsonl":
            output = JsonlOutput(sys.stdout)
        else:
            output = NoOutput()
        closed = threading.Event()

        def show(readings: list[Any]) -> None:
            try:
                output.write(readings)
            except OutputClosed:
                closed.set()
                stop.set()

        # Every reading passes here: held while the clock is not synchronised, stamped right once it is.
        # The outbox gets them first (a closed output never costs a reading); the console shows them live.
        console = isinstance(output, ConsoleOutput)
        sink = Timestamps(system.clock, outbox=delivering.outbox if delivering is not None else None,
                          show=None if console else show, live=show if console else None)
        sampler = system.sampler(sink.add)
        watching = watching_for(system.config, sink.add, delivering=delivering, state_dir=state_dir,
                                clock=system.clock, trusted=lambda: sink.synchronized)
        if isinstance(output, ConsoleOutput):
            output.clock_note = sink.note
            output.status = sampler.status
            if delivering is not None:
                output.delivery = delivering.progress
            root = logging.getLogger()
            for handler in list(root.handlers):
                root.removeHandler(handler)
            root.addHandler(output.log_handler())

        redraw = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()
            redraw.set()

        # SIGHUP (the SSH session closed) stops a run like SIGTERM: with the final commit, not half-way.
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        if output_kind == "console" and hasattr(signal, "SIGWINCH"):  # a resized terminal: redraw now
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: redraw.set())
        log.info("sampling %d sensor(s) on %s; state in %s", len(system.sensors), system.profile.name,
                 state_dir or "(none: no uploader)")
        if delivering is not None:
            delivering.start()
        # A config of only [[watch]] tables: the watches are the run's worker.
        sampling = bool(system.config.enabled_sensors)
        worker = threading.Thread(target=sampler.run if sampling else watching.run, args=(stop, args.duration),
                                  name="sampler" if sampling else "watching", daemon=True)
        worker.start()
        if sampling:
            watching.start()
        # Under systemd: READY=1 now, then STATUS= and the watchdog's WATCHDOG=1 while the threads make
        # progress, STOPPING=1 at the end. Outside systemd it does nothing.
        heartbeat = Heartbeat.from_environ(sampler, delivering)
        heartbeat.start()
        caught_up: dict[str, bool] = {}
        try:
            while worker.is_alive():
                redraw.wait(0.25)
                redraw.clear()
                sink.tick()  # held readings go once the clock is set, even when no new reading comes
                if not closed.is_set():
                    try:
                        output.refresh()
                    except OutputClosed:
                        closed.set()
                        stop.set()
        finally:
            heartbeat.stop()
            stop.set()
            worker.join(2.0)
            watching.stop()
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
        silence_stdout()
    return EXIT_OK


def _title(system: Any) -> str:
    mode = "simulated" if system.simulated else "hardware"
    return (f"sensorkit — board {system.profile.name} ({mode}), config {system.config.source}, "
            f"{len(system.sensors)} sensor(s); Ctrl-C stops")


def cmd_read(args: argparse.Namespace) -> int:
    import json

    from sensorkit.clock import synchronized
    from sensorkit.output import format_value

    with build(args) as system:
        results = system.read_once()
    failed = [(h, r) for h, r in results if isinstance(r, Exception)]
    if args.json:
        doc = {
            "board": system.profile.name,
            "simulated": system.simulated,
            "clock_synchronized": synchronized(system.clock),  # false: the timestamps below may be days off
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
