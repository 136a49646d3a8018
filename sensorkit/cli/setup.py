"""`sensorkit boards`, `validate` and `register`: the board, the config and the cloud account."""
from __future__ import annotations

import argparse
import os
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
    default_state_dir,
    load,
    prepare_state_dir,
    print_warnings,
)


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the `sensorkit` parser."""
    boards = commands.add_parser("boards", parents=[common], help="list the board profiles",
                                 description="List the board profiles and what each offers.")
    boards.add_argument("--json", action="store_true", help="print JSON instead of a table")

    validate = commands.add_parser("validate", parents=[common], help="check a config file",
                                   description="Check a config without touching hardware; prints OK or "
                                   "every problem found (exit 2).")
    add_config(validate)
    add_board(validate, simulate=False)

    register = commands.add_parser("register", parents=[common], help="register this device with iobeam",
                                   description="Register this device with the iobeam server of "
                                   "[uploader.iobeam] (or adopt its configured device_id) and print the id. "
                                   "The id is kept in the state dir; `run` registers by itself when needed.")
    add_config(register)
    add_state_dir(register)
    boards.set_defaults(handler=cmd_boards)
    validate.set_defaults(handler=cmd_validate)
    register.set_defaults(handler=cmd_register)


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


def cmd_validate(args: argparse.Namespace) -> int:
    import boards
    from sensorkit.config import resolve
    from sensorkit.errors import ConfigError
    from sensorkit.system import choose_board

    config = load(args, allow_demo=False)
    print_warnings(config)
    try:
        profile = choose_board(config, args.board)
    except boards.BoardNotDetected:
        print(f"OK: {config.source}: {len(config.enabled_sensors)} enabled sensor(s); board is 'auto' and this "
              "machine is not a known board, so buses and pins were not checked — add --board NAME to check them")
        _print_sensors([(s, _configured_where(s)) for s in config.enabled_sensors], args.verbose)
        _print_watches(config)
        _print_uploaders(config, args.verbose)
        return EXIT_OK
    try:
        resolved = resolve(config, profile)
    except ConfigError as exc:
        raise BadInput(f"{config.source} does not fit board '{profile.name}':\n" + "\n".join(exc.problems)) from None
    print(f"OK: {config.source}: {len(resolved)} enabled sensor(s) on board {profile.name}")
    _print_sensors([(r.config, r.where()) for r in resolved], args.verbose)
    _print_watches(config)
    _print_uploaders(config, args.verbose)
    return EXIT_OK


def _print_watches(config: Any) -> None:
    """The [[watch]] directories, one line each (none printed when there are none)."""
    from sensorkit.durations import format_duration

    if not config.watches:
        return
    print(f"{len(config.enabled_watches)} enabled watch(es) of a directory, to Byteport:")
    for watch in config.watches:
        if not watch.enabled:
            print(f"  {watch.name:<16} disabled (enabled = false)")
            continue
        packed = f", {watch.compression}" if watch.compression else ""
        print(f"  {watch.name:<16} {watch.path}/{watch.pattern} every {format_duration(watch.interval_s)} "
              f"to device {watch.device_uid}{packed}")


def _configured_where(sensor: Any) -> str:
    """Where a sensor is, as configured (no board to resolve bus defaults and pin names against)."""
    if sensor.address is not None:
        bus = f"I2C bus {sensor.bus}" if sensor.bus is not None else "default I2C bus"
        return f"{bus} address {sensor.address:#04x}"
    if sensor.pin is not None:
        return f"pin {sensor.pin}"
    return ""


def _print_sensors(sensors: list[tuple[Any, str]], verbose: int) -> None:
    from sensorkit.durations import format_duration

    for sensor, where in sensors:
        print(f"  {sensor.name:<16} {sensor.driver:<12} {where:<28} every {format_duration(sensor.interval_s)}")
        if verbose:
            series = ", ".join(f"{q} -> {name}" for q, name in sensor.series.items())
            print(f"      series: {series}")
        if verbose > 1:
            options = ", ".join(f"{k} = {v!r}" for k, v in sensor.options.items()) or "none"
            print(f"      options (with defaults): {options}")


def _print_uploaders(config: Any, verbose: int = 0) -> None:
    from sensorkit.durations import format_duration

    if not config.uploaders:
        print("no uploader: readings are only printed (add an [uploader.iobeam] or [uploader.byteport] table to "
              "send them)")
        return
    print(f"{len(config.enabled_uploaders)} enabled uploader(s), through the outbox in the state dir:")
    for uploader in config.uploaders:
        if not uploader.enabled:
            print(f"  {uploader.name:<16} disabled (enabled = false)")
            continue
        target = uploader.get("base_url") or uploader.get("host")
        where = f"to {target}, " if target else ""
        print(f"  {uploader.name:<16} {where}batches of up to {uploader['batch_size']:,}, "
              f"a part batch waits at most {format_duration(uploader['send_delay'])}")
        if verbose:
            for key, value in uploader.shown_values().items():
                print(f"      {key} = {value!r}")


def cmd_register(args: argparse.Namespace) -> int:
    from sensorkit.errors import UploadError
    from sensorkit.uploaders import build_uploader
    from sensorkit.uploaders.iobeam_uploader import KNOWN, REGISTERED, REGISTERED_AGAIN

    config = load(args, allow_demo=False, need_inputs=False)
    print_warnings(config)
    settings = config.uploader("iobeam")
    if settings is None:
        raise BadInput(f"{config.source} has no [uploader.iobeam] table — add one with project_id and token "
                       "(README: 'Sending readings to iobeam')")
    state_dir = prepare_state_dir(args.state_dir or default_state_dir())
    uploader: Any = build_uploader(settings, state_dir)
    try:
        device_id, outcome = uploader.check_device()  # asks the server, even for a stored id
    except UploadError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    kept = os.path.join(state_dir, "iobeam_device_id")
    told = {
        REGISTERED: f"registered with {uploader.base_url}",
        KNOWN: f"already registered with {uploader.base_url}, which knows it",
        REGISTERED_AGAIN: f"{uploader.base_url} did not know it any more: registered it again",
    }[outcome]
    print(f"{device_id}\n({told}; kept in {kept})")
    return EXIT_OK
