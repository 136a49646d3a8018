"""`sensorkit doctor`: check the machine and the config, one line per check, with the fix for each problem."""
from __future__ import annotations

import argparse
import json
from typing import Any

from sensorkit.cli.common import EXIT_FAILED, EXIT_OK, add_board, add_config, add_state_dir, path

MARKS = {"OK": "OK  ", "WARN": "WARN", "FAIL": "FAIL"}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    doctor = commands.add_parser(
        "doctor", parents=[common], help="check this machine and the config, and say how to fix what is wrong",
        description="Check the board, I2C, 1-wire and GPIO access, the config, the state dir and the outbox, one "
        "read of every sensor, every uploader's server and credentials, the system clock and the service. One "
        "line per check (OK, WARN or FAIL); every WARN and FAIL says the exact fix. Exit 0 when nothing FAILs, "
        "1 when something does, 2 for a config that cannot be used.")
    add_config(doctor)
    add_board(doctor, simulate=False)
    add_state_dir(doctor)
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    # A fake machine for tests: every system path (/boot, /dev, /sys, /proc, /run, /etc/systemd) under DIR.
    doctor.add_argument("--root", type=path, default="/", help=argparse.SUPPRESS)
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, host: Any = None) -> int:
    from pathlib import Path

    from sensorkit.cli.common import default_state_dir
    from sensorkit.doctor import Host, Options, diagnose

    host = host or Host(root=Path(args.root))
    options = Options(config=args.config, board=args.board, state_dir=args.state_dir,
                      default_state_dir=default_state_dir())
    report = diagnose(options, host)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    return EXIT_FAILED if report.failed else EXIT_OK


def _print(report: Any) -> None:
    from sensorkit.doctor import Status

    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        print(f"{MARKS[check.status.value]}  {check.name:<{width}}  {check.detail}")
        if check.fix:
            print(f"      {'':<{width}}  fix: {check.fix}")
    fails, warns = report.count(Status.FAIL), report.count(Status.WARN)
    if fails:
        print(f"\n{fails} FAIL, {warns} WARN: fix the FAIL lines first, then run `sensorkit doctor` again")
    elif warns:
        print(f"\nnothing fails; {warns} WARN worth a look")
    else:
        print(f"\nall {len(report.checks)} checks pass")
