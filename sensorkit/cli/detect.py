"""`sensorkit detect`: scan the board's I2C buses and print a config block for each chip found."""
from __future__ import annotations

import argparse
import json
from typing import Any

from sensorkit.cli.common import EXIT_OK, add_board, add_config


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    detect = commands.add_parser(
        "detect", parents=[common], help="find the sensors on the I2C buses and print config blocks",
        description="Scan every I2C bus of the board as i2cdetect does, identify each chip that answers with "
        "read-only identity checks, and print a ready-to-paste [[sensor]] block for each one recognised. "
        "With --simulate and no -c: a demo world with one chip of each family.")
    add_config(detect)
    add_board(detect)
    detect.add_argument("--json", action="store_true", help="print the findings as JSON")
    detect.set_defaults(handler=cmd_detect)


def cmd_detect(args: argparse.Namespace) -> int:
    from sensorkit import detect
    from sensorkit.cli.common import load
    from sensorkit.config import parse_config
    from sensorkit.system import build_system, choose_board

    if args.simulate and args.config is None:
        config = parse_config(detect.DEMO_CONFIG, detect.DEMO_SOURCE)
    elif args.simulate or args.config is not None:
        config = load(args, allow_demo=False, need_inputs=False)
    else:
        config = None
    if args.simulate:
        system = build_system(config, board=args.board, simulate=True, seed=args.seed)
        profile, transports = system.profile, system.transports
        sleep, clock = system.clock.sleep, system.clock.monotonic
    else:
        from boards.transports import HardwareTransports
        from sensorkit.clock import SystemClock
        from sensorkit.config import parse_config as parse

        profile = choose_board(config or parse("", "<no config>"), args.board)
        system = transports = HardwareTransports(profile)
        sleep, clock = SystemClock().sleep, SystemClock().monotonic
    try:
        scans = detect.scan(transports, profile.i2c_buses, sleep=sleep)
        w1_sleep = getattr(transports, "w1_sleep", lambda: None)() or sleep
        w1 = detect.scan_w1(transports.w1_root(), sleep=w1_sleep, clock=clock, w1_pin=profile.onewire_pin)
    finally:
        system.close()
    if args.json:
        print(json.dumps({"board": profile.name, "buses": [
            {"bus": s.bus, "error": s.error or None, "found": [f.to_dict() for f in s.findings]} for s in scans],
            "onewire": {"root": w1.root, "error": w1.error or None, "found": [f.to_dict() for f in w1.found]}},
            indent=2))
        return EXIT_OK
    _print(scans, w1, profile)
    return EXIT_OK


def _print(scans: list[Any], w1: Any, profile: Any) -> None:
    from sensorkit import detect

    taken: set[str] = set()
    blocks = []
    for scan in scans:
        if scan.error:
            print(f"I2C bus {scan.bus}: {scan.error}")
            continue
        if not scan.findings:
            print(f"I2C bus {scan.bus}: nothing answers (check wiring and power; pull-ups on SDA/SCL)")
            continue
        for finding in scan.findings:
            if finding.driver is None:
                why = f" ({finding.note})" if finding.note else ""
                print(f"I2C bus {scan.bus} {finding.address:#04x}: something answers, but no sensorkit driver "
                      f"recognises it{why}")
                continue
            print(f"I2C bus {scan.bus} {finding.address:#04x}: {finding.part} (driver {finding.driver})")
            blocks.append(detect.sensor_block(finding, default_bus=profile.default_i2c_bus, taken=taken))
    if w1.error:
        print(f"1-wire: {w1.error}")
    for found in w1.found:
        value = f"{found.temperature_c:.2f} °C" if found.temperature_c is not None else f"no reading ({found.error})"
        print(f"1-wire {found.serial}: {found.part}, now {value} (driver ds18b20)")
        blocks.append(detect.w1_block(found, taken=taken))
    if blocks:
        print("\n# Paste into your config (README: 'Configuration'):\n")
        print("\n\n".join(blocks))
