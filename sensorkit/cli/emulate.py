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


def _server_options(parser: argparse.ArgumentParser, stored: str) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=0, help="port (default 0: any free port)")
    parser.add_argument("--db", metavar="FILE", help=f"keep {stored} in this SQLite file (default: memory only)")


def _fault_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fail-rate", type=share, default=0.0, metavar="P",
                        help="share of requests answered 503 (0-1)")
    parser.add_argument("--throttle-rate", type=share, default=0.0, metavar="P",
                        help="share of requests answered 429 with Retry-After (0-1)")
    parser.add_argument("--retry-after", type=duration, default=1.0, metavar="SECONDS",
                        help="the Retry-After of a 429 (default 1)")
    parser.add_argument("--latency-ms", type=non_negative_int, default=0, metavar="N",
                        help="delay before every answer")
    parser.add_argument("--down-for", type=duration, metavar="SECONDS",
                        help="refuse connections for this long after start")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the injected faults")


def _write_methods(text: str) -> tuple[str, ...]:
    methods = tuple(m.strip().lower() for m in text.split(","))
    if not methods or not set(methods) <= {"get", "post"} or len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(f"{text!r} is not get, post or get,post")
    return methods


def _object_field(text: str) -> tuple[str, str]:
    field, _, media_type = text.partition("=")
    if not field or "/" not in media_type:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=TYPE/SUBTYPE, such as snapshot=image/png")
    return field, media_type


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    emulate = commands.add_parser("emulate", parents=[common], help="run a local cloud server for tests and demos",
                                  description="Run a local server that speaks a cloud's API strictly.")
    clouds = emulate.add_subparsers(dest="cloud", metavar="CLOUD")
    clouds.required = True
    iobeam = clouds.add_parser("iobeam", parents=[common], help="a local iobeam API server",
                               description="A local iobeam API server. Prints `listening on http://HOST:PORT`, "
                               "then a project id and token to put in [uploader.iobeam]. Ctrl-C stops it.")
    _server_options(iobeam, "devices, points and the signing key")
    iobeam.add_argument("--project-id", type=positive_int, default=1, metavar="N", help="project id (default 1)")
    iobeam.add_argument("--token-ttl", type=duration, default=5 * 7 * 86400.0, metavar="SECONDS",
                        help="lifetime of the tokens it issues (default 5w = 35 days; e.g. 90s, 2h, 3d)")
    iobeam.add_argument("--secret", metavar="S", help="key that signs the tokens (default: random, kept in --db)")
    _fault_options(iobeam)

    byteport = clouds.add_parser("byteport", parents=[common], help="a local Byteport API v1 server",
                                 description="A local Byteport API v1 server. Prints `listening on "
                                 "http://HOST:PORT`, then the namespace, its write key and a login to put in "
                                 "[uploader.byteport] and to read data back with. Ctrl-C stops it.")
    _server_options(byteport, "devices, points and the made-up namespace, key and login")
    byteport.add_argument("--namespace", metavar="NAME", help="the namespace (default: made up, kept in --db)")
    byteport.add_argument("--key", metavar="KEY", help="the namespace's API write key (default: made up)")
    byteport.add_argument("--write-methods", type=_write_methods, default=("get", "post"), metavar="get,post",
                          help="HTTP methods the namespace takes writes by (default get,post)")
    byteport.add_argument("--require-registration", action="store_true",
                          help="answer 404 to stores for devices not registered (see --register)")
    byteport.add_argument("--register", nargs="+", action="extend", default=[], metavar="UID",
                          help="device uids registered in the namespace")
    byteport.add_argument("--user", metavar="U", help="user name of the read API's login (default sensorkit)")
    byteport.add_argument("--password", metavar="P", help="its password (default: made up)")
    byteport.add_argument("--object-field", type=_object_field, action="append", default=[],
                          metavar="FIELD=TYPE", help="declare a field a base64 object of this media type "
                          "(decoded and decompressed when read back), e.g. snapshot=image/png")
    _fault_options(byteport)
    emulate.set_defaults(handler=cmd_emulate)


def _iobeam(args: argparse.Namespace) -> Any:
    from sensorkit.emulators.iobeam import IobeamEmulator

    return IobeamEmulator(
        host=args.host, port=args.port, db_path=args.db, project_id=args.project_id,
        token_ttl_s=args.token_ttl, secret=args.secret.encode() if args.secret else None,
        fail_rate=args.fail_rate, throttle_rate=args.throttle_rate, retry_after_s=args.retry_after,
        latency_ms=args.latency_ms, down_for_s=args.down_for or 0.0, seed=args.seed,
    )


def _byteport(args: argparse.Namespace) -> Any:
    from sensorkit.emulators.byteport import ByteportEmulator

    return ByteportEmulator(
        host=args.host, port=args.port, db_path=args.db, namespace=args.namespace, key=args.key,
        write_methods=args.write_methods, require_registration=args.require_registration,
        register=args.register, user=args.user, password=args.password, object_fields=dict(args.object_field),
        fail_rate=args.fail_rate, throttle_rate=args.throttle_rate, retry_after_s=args.retry_after,
        latency_ms=args.latency_ms, down_for_s=args.down_for or 0.0, seed=args.seed,
    )


def cmd_emulate(args: argparse.Namespace) -> int:
    import signal
    import threading

    from sensorkit.emulators import EmulatorError, PortUnavailable

    if args.fail_rate + args.throttle_rate > 1:
        raise BadInput("--fail-rate and --throttle-rate together must not exceed 1")
    try:
        emulator = {"iobeam": _iobeam, "byteport": _byteport}[args.cloud](args)
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
