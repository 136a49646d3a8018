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


def test_every_sensor_example_reads_and_runs_under_simulate(tmp_path: Path) -> None:
    import json

    from tests.sensorkit.test_cli import sensorkit

    config = str(EXAMPLES / "every-sensor.toml")
    read = sensorkit("read", "--simulate", "-c", config, "--json", cwd=tmp_path)
    assert read.returncode == 0, read.stdout + read.stderr
    doc = json.loads(read.stdout)
    drivers = {r["sensor"] for r in doc["readings"]}
    assert {"sht31", "sht41", "shtc3", "bme280", "bmp280", "aht20", "si7021", "hdc1080", "porch", "door",
            "rain"} <= drivers and doc["errors"] == []
    assert sum(s.startswith("soil_") for s in drivers) == 2  # two thermometers found on the 1-wire bus
    assert {r["quantity"] for r in doc["readings"] if r["sensor"] == "bme280"} == {"temperature", "humidity",
                                                                                   "pressure"}
    run = sensorkit("run", "--simulate", "-c", config, "--duration", "2", "--output", "jsonl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    sampled = {json.loads(line)["sensor"] for line in run.stdout.splitlines()}
    assert sampled and sampled <= drivers  # the first slots of a 10 s grid: some sensors, none unknown
