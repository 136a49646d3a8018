"""`sensorkit emulate`: local cloud servers for tests and demos."""
from __future__ import annotations

import argparse
from typing import Any

from sensorkit.cli.common import (
    EXIT_OK,
    BadInput,
    duration,
    non_negative_int,
    port,
    positive_int,
    share,
)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    emulate = commands.add_parser("emulate", parents=[common], help="run a local cloud server for tests and demos",
                                  description="Run a local server that speaks a cloud's API strictly.")
    clouds = emulate.add_subparsers(dest="cloud", metavar="CLOUD")
    clouds.required = True
    iobeam = clouds.add_parser("iobeam", parents=[common], help="a local iobeam API server",
                               description="A local iobeam API server. Prints `listening on http://HOST:PORT`, "
                               "then a project id and token to put in [uploader.iobeam]. Ctrl-C stops it.")
    iobeam.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    iobeam.add_argument("--port", type=port, default=0, help="port (default 0: any free port)")
    iobeam.add_argument("--db", metavar="FILE", help="keep devices, points and the signing key in this SQLite "
                        "file (default: memory only)")
    iobeam.add_argument("--project-id", type=positive_int, default=1, metavar="N", help="project id (default 1)")
    iobeam.add_argument("--token-ttl", type=duration, default=5 * 7 * 86400.0, metavar="SECONDS",
                        help="lifetime of the tokens it issues (default 5w = 35 days; e.g. 90s, 2h, 3d)")
    iobeam.add_argument("--secret", metavar="S", help="key that signs the tokens (default: random, kept in --db)")
    iobeam.add_argument("--fail-rate", type=share, default=0.0, metavar="P",
                        help="share of requests answered 503 (0-1)")
    iobeam.add_argument("--throttle-rate", type=share, default=0.0, metavar="P",
                        help="share of requests answered 429 with Retry-After (0-1)")
    iobeam.add_argument("--retry-after", type=duration, default=1.0, metavar="SECONDS",
                        help="the Retry-After of a 429 (default 1)")
    iobeam.add_argument("--latency-ms", type=non_negative_int, default=0, metavar="N",
                        help="delay before every answer")
    iobeam.add_argument("--down-for", type=duration, metavar="SECONDS",
                        help="refuse connections for this long after start")
    iobeam.add_argument("--seed", type=int, metavar="N", help="seed of the injected faults")
    emulate.set_defaults(handler=cmd_emulate)


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
