"""The CLI as a user runs it: a subprocess, its exit status, stdout and stderr."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sensorkit.readings import JSON_KEYS

TIMEOUT_S = 60


def sensorkit(*args: str, cwd: Path, env_extra=None, timeout=TIMEOUT_S) -> subprocess.CompletedProcess:
    env = dict(os.environ, XDG_CONFIG_HOME=str(cwd / "xdg-config"), XDG_STATE_HOME=str(cwd / "xdg-state"))
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "sensorkit", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_bad_input(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# ------------------------------------------------------------------ run


def test_cli_run_simulate_prints_json_lines_with_current_timestamps(workdir: Path) -> None:
    before_ms = time.time_ns() // 1_000_000
    result = sensorkit("run", "--simulate", "--duration", "1.5", "--output", "jsonl", cwd=workdir)
    after_ms = time.time_ns() // 1_000_000
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["series"] for line in lines} == {
        "greenhouse_temperature", "greenhouse_humidity", "outside_temperature", "outside_humidity", "door_state",
    }
    for line in lines:
        assert tuple(line) == JSON_KEYS
        assert isinstance(line["timestamp_ms"], int) and before_ms <= line["timestamp_ms"] <= after_ms
    temperatures = [line["value"] for line in lines if line["quantity"] == "temperature"]
    assert all(-10 < t < 45 for t in temperatures) and lines[0]["unit"] in ("°C", "%RH", "")
    # The demo has no uploader, so no outbox: a run that only prints creates nothing on disk
    # (as root it used to create /var/lib/sensorkit).
    assert not (workdir / "xdg-state").exists()


def test_cli_run_defaults_to_jsonl_when_stdout_is_not_a_terminal(workdir: Path) -> None:
    result = sensorkit("run", "--simulate", "--duration", "0.5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["timestamp_ms"] > 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_run_stops_cleanly_on_a_signal(workdir: Path, signum: int) -> None:
    env = dict(os.environ, XDG_STATE_HOME=str(workdir / "state"), XDG_CONFIG_HOME=str(workdir / "cfg"))
    process = subprocess.Popen(
        [sys.executable, "-m", "sensorkit", "run", "--simulate", "--output", "jsonl"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stdout.readline()  # blocks until the run is producing
        assert json.loads(first)["series"]
        process.send_signal(signum)
        out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    for line in out.splitlines():  # every line written is whole
        json.loads(line)


def test_cli_run_stops_quietly_when_the_reader_goes_away(workdir: Path) -> None:
    result = subprocess.run(
        f"{sys.executable} -m sensorkit run --simulate --output jsonl | head -n 2",
        shell=True, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S,
        env=dict(os.environ, XDG_STATE_HOME=str(workdir / "state")),
    )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


@pytest.mark.parametrize("command", ["boards", "boards --json", "read --simulate"])
def test_cli_other_commands_stop_quietly_when_the_reader_goes_away(workdir: Path, command: str) -> None:
    result = subprocess.run(
        f"{sys.executable} -m sensorkit {command} | head -c 1",
        shell=True, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S,
        env=dict(os.environ, XDG_STATE_HOME=str(workdir / "state")),
    )
    assert result.stderr == ""


def test_cli_run_with_a_config_uses_its_sensors(workdir: Path) -> None:
    conf = write(workdir / "my.toml", '[device]\nboard = "raspberry-pi-4b"\n[[sensor]]\nname = "bench"\n'
                 'driver = "sht3x"\naddress = 0x45\ninterval = "200ms"\n')
    result = sensorkit("run", "--simulate", "-c", str(conf), "--duration", "0.5", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert {json.loads(line)["sensor"] for line in result.stdout.splitlines()} == {"bench"}


def test_cli_run_finds_sensorkit_toml_in_the_working_directory(workdir: Path) -> None:
    write(workdir / "sensorkit.toml", '[device]\nboard = "simulated"\n[[sensor]]\nname = "here"\ndriver = "sht3x"\n')
    result = sensorkit("run", "--duration", "0.3", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["sensor"] == "here"


def test_cli_run_without_config_and_without_simulate_says_what_to_do(workdir: Path) -> None:
    result = sensorkit("run", cwd=workdir)
    assert_bad_input(result, "no config file given and none found", "sensorkit.toml", "--simulate")


def test_cli_run_unwritable_state_dir_is_bad_input(workdir: Path) -> None:
    blocker = write(workdir / "file", "not a directory")
    result = sensorkit("run", "--simulate", "--duration", "0.1", "--state-dir", str(blocker / "sub"), cwd=workdir)
    assert_bad_input(result, "cannot create the state dir", "--state-dir")


# ------------------------------------------------------------------ bad input, exit 2


def test_cli_unknown_board_suggests_names(workdir: Path) -> None:
    result = sensorkit("run", "--simulate", "--board", "raspberry-pi-6", "--duration", "0.1", cwd=workdir)
    assert_bad_input(result, "raspberry-pi-6", "raspberry-pi-5")


def test_cli_auto_board_on_an_unknown_machine_suggests_simulate(workdir: Path) -> None:
    conf = write(workdir / "c.toml", '[[sensor]]\nname = "air"\ndriver = "sht3x"\n')
    result = sensorkit("read", "-c", str(conf), cwd=workdir)
    if Path("/proc/device-tree/model").exists():
        pytest.skip("this machine is a board with a device tree")
    assert_bad_input(result, "--simulate", "--board")


def test_cli_malformed_toml_names_file_and_line(workdir: Path) -> None:
    conf = write(workdir / "broken.toml", '[device]\nboard = "auto"\n[[sensor]\nname = "x"\n')
    result = sensorkit("validate", "-c", str(conf), cwd=workdir)
    assert_bad_input(result, f"{conf}:3", "not valid TOML")


def test_cli_unknown_driver_and_wrong_types(workdir: Path) -> None:
    conf = write(workdir / "c.toml", '[[sensor]]\nname = "a"\ndriver = "bme999"\n[[sensor]]\nname = "b"\n'
                 'driver = "sht3x"\ninterval = -5\n')
    result = sensorkit("validate", "-c", str(conf), cwd=workdir)
    assert_bad_input(result, "2 problems", f"{conf}:3: [[sensor]] 'a' key 'driver': unknown driver 'bme999'",
                     f"{conf}:7: [[sensor]] 'b' key 'interval'")


def test_cli_duplicate_names_pin_lacking_and_pin_taken(workdir: Path) -> None:
    conf = write(workdir / "c.toml", """\
[device]
board = "raspberry-pi-3b"
[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
[[sensor]]
name = "door"
driver = "gpio_input"
pin = 27
""")
    assert_bad_input(sensorkit("validate", "-c", str(conf), cwd=workdir), "duplicate sensor name")
    conf.write_text(conf.read_text().replace('name = "door"\ndriver = "gpio_input"\npin = 27',
                                             'name = "pir"\ndriver = "gpio_input"\npin = "BOARD11"'))
    assert_bad_input(sensorkit("validate", "-c", str(conf), cwd=workdir), f"{conf}:10", "sensor 'door'")
    conf.write_text(conf.read_text().replace('pin = "BOARD11"', "pin = 31"))
    assert_bad_input(sensorkit("validate", "-c", str(conf), cwd=workdir), f"{conf}:10", "31")


def test_cli_bad_duration_argument_is_exit_2(workdir: Path) -> None:
    result = sensorkit("run", "--simulate", "--duration", "soon", cwd=workdir)
    assert_bad_input(result, "--duration", "expected a duration")


def test_cli_real_hardware_missing_i2c_device_says_how_to_enable_it(workdir: Path) -> None:
    if Path("/dev/i2c-1").exists():
        pytest.skip("this machine has /dev/i2c-1")
    conf = write(workdir / "c.toml", '[device]\nboard = "raspberry-pi-4b"\n'
                 '[[sensor]]\nname = "air"\ndriver = "sht3x"\n')
    result = sensorkit("read", "-c", str(conf), cwd=workdir)
    assert_bad_input(result, "/dev/i2c-1 does not exist", "raspi-config")


# ------------------------------------------------------------------ read, boards, validate, help


def test_cli_read_simulate_prints_every_sensor(workdir: Path) -> None:
    result = sensorkit("read", "--simulate", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert {line.split()[0] for line in result.stdout.splitlines()} == {"greenhouse", "outside", "door"}


def test_cli_read_json_and_a_failing_sensor_exits_1(workdir: Path) -> None:
    conf = write(workdir / "c.toml", """\
[device]
board = "simulated"
[[sensor]]
name = "unplugged"
driver = "sht3x"
simulate_fault = "absent"
[[sensor]]
name = "fine"
driver = "sht3x"
address = 0x45
""")
    result = sensorkit("read", "--simulate", "-c", str(conf), "--json", cwd=workdir)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert {r["sensor"] for r in doc["readings"]} == {"fine"}
    [error] = doc["errors"]
    assert error["sensor"] == "unplugged" and error["error"] == "SensorNotFound"
    assert "0x44" in error["message"] and error["where"] == "I2C bus 1 address 0x44"
    table = sensorkit("read", "--simulate", "-c", str(conf), cwd=workdir)
    assert table.returncode == 1
    [failed_line] = [line for line in table.stdout.splitlines() if line.startswith("unplugged")]
    assert "FAILED  SensorNotFound: no SHT3x answered at 0x44" in failed_line


def test_cli_boards_lists_every_profile(workdir: Path) -> None:
    result = sensorkit("boards", "--json", cwd=workdir)
    assert result.returncode == 0
    names = [b["name"] for b in json.loads(result.stdout)]
    assert set(names) >= {
        "raspberry-pi-zero-w", "raspberry-pi-zero-2-w", "raspberry-pi-3b", "raspberry-pi-3b-plus",
        "raspberry-pi-4b", "raspberry-pi-400", "raspberry-pi-5", "raspberry-pi-cm4", "generic-linux", "simulated",
    }
    table = sensorkit("boards", cwd=workdir)
    assert "raspberry-pi-5" in table.stdout and "lgpio" in table.stdout


def test_cli_validate_ok_lists_the_sensors(workdir: Path) -> None:
    conf = write(workdir / "c.toml", '[device]\nboard = "raspberry-pi-5"\n[[sensor]]\nname = "air"\n'
                 'driver = "sht3x"\n')
    result = sensorkit("validate", "-c", str(conf), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {conf}: 1 enabled sensor(s) on board raspberry-pi-5")
    assert "I2C bus 1 address 0x44" in result.stdout


@pytest.mark.parametrize("command", [[], ["run"], ["read"], ["boards"], ["validate"]])
def test_cli_help_on_every_command(workdir: Path, command: list[str]) -> None:
    result = sensorkit(*command, "--help", cwd=workdir)
    assert result.returncode == 0 and result.stdout.startswith("usage: sensorkit")


def test_cli_version(workdir: Path) -> None:
    from sensorkit import __version__

    result = sensorkit("--version", cwd=workdir)
    assert result.returncode == 0 and result.stdout.strip() == f"sensorkit {__version__}"
