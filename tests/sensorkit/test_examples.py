"""The files in examples/ work as shipped: a user copies them."""
from __future__ import annotations

import shlex
from pathlib import Path

from sensorkit.cli import build_parser
from sensorkit.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def unit_settings(path: Path) -> dict[str, str]:
    settings = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings[key] = value
    return settings


def test_the_service_unit_runs_a_command_sensorkit_accepts() -> None:
    unit = unit_settings(EXAMPLES / "sensorkit.service")
    program, *argv = shlex.split(unit["ExecStart"])
    assert program.endswith("/bin/sensorkit")
    args = build_parser().parse_args(argv)
    assert args.command == "run" and args.output == "none"  # readings go to the uploaders, not the journal
    assert args.state_dir == f"/var/lib/{unit['StateDirectory']}"
    assert unit["RestartPreventExitStatus"] == "2"  # bad input is not retried in a loop


def test_the_iobeam_example_config_loads() -> None:
    config = load_config(str(EXAMPLES / "iobeam.toml"), environ={"IOBEAM_TOKEN": "a.b.c"})
    [iobeam] = config.enabled_uploaders
    assert iobeam.name == "iobeam" and iobeam["token"] == "a.b.c"
