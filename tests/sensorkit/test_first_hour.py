"""What a new user hits in the first hour, tried as they would: the CLI in a subprocess.

Each test here was written against a defect found that way, and fails on the
code before its fix (see the structure-and-defects issue). The few that call
sensorkit in-process import it inside the test, so this file also runs
against an older checkout (PYTHONPATH=OLD pytest this file) to show that.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sensorkit.test_cli import assert_bad_input, sensorkit, write

REPO = Path(__file__).resolve().parents[2]
SENSOR = '[[sensor]]\nname = "air"\ndriver = "sht3x"\naddress = 0x44\n'
BOARD = '[device]\nboard = "simulated"\n'


# ------------------------------------------------------------------ a config that reads nothing


@pytest.mark.parametrize("text", [
    "",
    "# my greenhouse\n# (sensors to come)\n",
    BOARD + SENSOR + "enabled = false\n",
])
@pytest.mark.parametrize("command", ["validate", "read", "run"])
def test_first_hour_config_with_nothing_to_read_is_bad_input(tmp_path: Path, text: str, command: str) -> None:
    config = write(tmp_path / "sensorkit.toml", text)
    extra = ["--duration", "1"] if command == "run" else []
    result = sensorkit(command, "-c", str(config), "--board", "simulated", *extra, cwd=tmp_path)
    assert_bad_input(result, str(config), "nothing to read")
    assert "[[sensor]]" in result.stderr or "enabled = true" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize("interval", ["1e10", '"99999999999999s"', '"2w"'])
def test_first_hour_interval_no_clock_can_keep_is_refused_at_load(tmp_path: Path, interval: str) -> None:
    config = write(tmp_path / "c.toml", BOARD + SENSOR + f"interval = {interval}\n")
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert_bad_input(result, f"{config}:7", "interval")
    assert "OverflowError" not in result.stderr


def test_first_hour_weeks_are_a_duration_unit_everywhere(tmp_path: Path) -> None:
    from sensorkit.durations import format_duration, parse_duration

    assert parse_duration("1w") == 7 * 86400 and parse_duration("5w") == 35 * 86400
    assert format_duration(14 * 86400) == "2w"
    config = write(tmp_path / "c.toml", BOARD + SENSOR + 'interval = "1w"\n\n[outbox]\nmax_age = "5w"\n')
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "every 1w" in result.stdout
    with pytest.raises(ValueError, match="at most"):
        parse_duration("11000d")


# ------------------------------------------------------------------ -v before the subcommand


def test_first_hour_verbose_before_the_subcommand_counts(tmp_path: Path) -> None:
    before = sensorkit("-vv", "read", "--simulate", cwd=tmp_path)
    after = sensorkit("read", "--simulate", "-vv", cwd=tmp_path)
    assert before.returncode == after.returncode == 0
    for result in (before, after):
        assert "DEBUG: sensor 'greenhouse'" in result.stderr, result.stderr
        assert "INFO: board simulated" in result.stderr
    quiet = sensorkit("read", "--simulate", cwd=tmp_path)
    assert quiet.stderr == ""


def test_first_hour_verbose_validate_shows_more(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", BOARD + SENSOR)
    plain = sensorkit("validate", "-c", str(config), cwd=tmp_path).stdout
    one = sensorkit("-v", "validate", "-c", str(config), cwd=tmp_path).stdout
    two = sensorkit("validate", "-vv", "-c", str(config), cwd=tmp_path).stdout
    assert "series:" not in plain and "series: temperature -> air_temperature" in one
    assert "options (with defaults): repeatability = 'high'" in two


# ------------------------------------------------------------------ TOML the parser chokes on


def test_first_hour_deep_array_is_bad_input_with_the_file_name(tmp_path: Path) -> None:
    config = write(tmp_path / "deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n")
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert_bad_input(result, str(config), "nested too deeply")
    assert "RecursionError" not in result.stderr


def test_first_hour_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbf" + (BOARD + SENSOR).encode())
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("text", "line"), [
    (BOARD + SENSOR + 'name = "again"', 7),              # a key given twice, on the last line
    (BOARD + SENSOR + 'interval = "10s', 7),             # a string never closed, on the last line
    (BOARD + 'note = """\nnever closed\n\n' + SENSOR, 3),  # a multi-line string never closed
])
def test_first_hour_errors_at_the_end_of_the_file_name_a_line(text: str, line: int) -> None:
    from sensorkit.config import parse_config
    from sensorkit.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.toml")
    assert str(caught.value).startswith(f"c.toml:{line}:"), caught.value
    assert "end of document" not in str(caught.value)


# ------------------------------------------------------------------ empty names on the command line


@pytest.mark.parametrize("option", ["-c", "--state-dir"])
def test_first_hour_empty_path_options_are_bad_input(tmp_path: Path, option: str) -> None:
    result = sensorkit("run", "--simulate", "--duration", "0.5", option, "", cwd=tmp_path)
    assert_bad_input(result, "an empty name")
    assert result.stdout == ""


# ------------------------------------------------------------------ uploader settings


def test_first_hour_min_backoff_above_max_backoff_is_refused() -> None:
    from sensorkit.config import parse_config
    from sensorkit.errors import ConfigError

    text = (BOARD + SENSOR + '[uploader.iobeam]\nproject_id = 1\ntoken = "a.b.c"\n'
            'min_backoff = "10m"\nmax_backoff = "1m"\n')
    with pytest.raises(ConfigError, match="min_backoff.*longer than max_backoff"):
        parse_config(text, "c.toml")


def _readable_secret_config(tmp_path: Path, mode: int) -> Path:
    config = write(tmp_path / "secret.toml", BOARD + SENSOR + '[uploader.iobeam]\nproject_id = 1\n'
                   'token = "k7Hq.secret.token"\nbase_url = "http://127.0.0.1:9/v1/"\n')
    config.chmod(mode)
    return config


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_first_hour_secret_readable_by_others_is_warned_about(tmp_path: Path, mode: int) -> None:
    config = _readable_secret_config(tmp_path, mode)
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"chmod 600 {config}" in result.stderr and "[uploader.iobeam] token" in result.stderr
    assert "k7Hq" not in result.stderr + result.stdout
    run = sensorkit("run", "--simulate", "-c", str(config), "--duration", "0.5", "--output", "jsonl",
                    cwd=tmp_path)
    assert run.returncode == 0 and f"chmod 600 {config}" in run.stderr


def test_first_hour_secret_kept_private_gets_no_warning(tmp_path: Path) -> None:
    config = _readable_secret_config(tmp_path, 0o600)
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0 and "chmod" not in result.stderr


# ------------------------------------------------------------------ validate on an unknown machine


def test_first_hour_validate_auto_board_lists_the_sensors(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[device]\nboard = "auto"\n' + SENSOR +
                   '\n[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = "GPIO17"\n')
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if "not a known board" not in result.stdout:
        pytest.skip("this machine is a known board")
    assert re.search(r"air\s+sht3x\s+default I2C bus address 0x44\s+every 10s", result.stdout), result.stdout
    assert re.search(r"door\s+gpio_input\s+pin GPIO17", result.stdout), result.stdout


# ------------------------------------------------------------------ the outbox, from outside


def _outbox_with_dead_letters(tmp_path: Path) -> Path:
    """A state dir whose outbox knows the uploader 'iobeam', made by a real run against a server that is away."""
    config = write(tmp_path / "c.toml", BOARD + SENSOR + 'interval = "100ms"\n[uploader.iobeam]\nproject_id = 1\n'
                   'token = "a.b.c"\nbase_url = "http://127.0.0.1:9/v1/"\n')
    config.chmod(0o600)
    run = sensorkit("run", "--simulate", "-c", str(config), "--duration", "1", "--output", "jsonl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    state = tmp_path / "xdg-state" / "sensorkit"
    assert (state / "outbox.sqlite").exists()
    return state


@pytest.mark.parametrize("action", ["list-dead", "retry-dead", "purge-dead"])
def test_first_hour_outbox_unknown_uploader_is_bad_input(tmp_path: Path, action: str) -> None:
    _outbox_with_dead_letters(tmp_path)
    result = sensorkit("outbox", action, "--uploader", "iobaem", cwd=tmp_path)
    assert_bad_input(result, "no uploader 'iobaem'", "'iobeam'")


def test_first_hour_outbox_state_dir_that_is_a_file(tmp_path: Path) -> None:
    blocker = write(tmp_path / "notes.txt", "hello")
    result = sensorkit("outbox", "status", "--state-dir", str(blocker), cwd=tmp_path)
    assert_bad_input(result, "not a directory")


def _read_only(state: Path, tmp_path: Path):
    """How to run sensorkit where the state dir cannot be written, as an administrator who is not the
    service user sees it: for root (CI), a read-only bind mount of it in a private mount namespace;
    for anyone else, the directory's write bit taken away."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), XDG_STATE_HOME=str(tmp_path / "xdg-state"))
    python = [sys.executable, "-m", "sensorkit"]
    if os.geteuid() == 0:
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("root without mount namespaces cannot be shown a read-only state dir")
        mount = f"mount --bind {state} {state} && mount -o remount,bind,ro {state} && exec \"$@\""

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", *python, *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)

        return run
    state.chmod(0o555)

    def run_as_user(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*python, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    return run_as_user


def test_first_hour_outbox_status_works_without_write_access(tmp_path: Path) -> None:
    state = _outbox_with_dead_letters(tmp_path)
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    run = _read_only(state, tmp_path)
    try:
        probe = run("outbox", "status")
        for action in (["status", "--json"], ["list-dead"], ["status"]):
            result = run("outbox", *action)
            assert result.returncode == 0, result.stderr
            assert "cannot open the outbox" not in result.stderr
        [iobeam] = json.loads(run("outbox", "status", "--json").stdout)["uploaders"]
        assert iobeam["waiting"] > 0
        assert probe.stdout.startswith("outbox ")
    finally:
        state.chmod(0o755)
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before  # untouched


# ------------------------------------------------------------------ signals


def test_first_hour_sighup_stops_run_with_its_final_commit(tmp_path: Path) -> None:
    """An SSH session closing sends SIGHUP: every reading printed must be in the outbox."""
    config = write(tmp_path / "c.toml", BOARD + SENSOR + 'interval = "50ms"\n[uploader.iobeam]\nproject_id = 1\n'
                   'token = "a.b.c"\nbase_url = "http://127.0.0.1:9/v1/"\n')
    config.chmod(0o600)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg-config"), XDG_STATE_HOME=str(tmp_path / "xdg-state"))
    process = subprocess.Popen([sys.executable, "-m", "sensorkit", "run", "--simulate", "-c", str(config),
                                "--output", "jsonl"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lines = []
    while len(lines) < 40:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        lines.append(line)
    process.send_signal(signal.SIGHUP)
    rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    printed = len(lines) + len(rest.splitlines())
    status = sensorkit("outbox", "status", "--json", cwd=tmp_path)
    [iobeam] = json.loads(status.stdout)["uploaders"]
    assert iobeam["waiting"] == printed


# ------------------------------------------------------------------ smaller ones


def test_first_hour_live_table_lines_are_cut_to_the_width() -> None:
    from sensorkit.output import fit

    lines = fit(["x" * 200, "short", "é" * 80, "y" * 79], 80, 24)
    assert lines[0] == "x" * 78 + "…" and lines[1] == "short" and lines[2] == "é" * 78 + "…" and lines[3] == "y" * 79
    assert all(len(line) <= 79 for line in lines)
    tall = fit([str(i) for i in range(30)], 80, 10)
    assert len(tall) == 9 and tall[-1].startswith("  … 22 more line(s)")


def test_first_hour_dead_letter_warning_shows_local_time() -> None:
    from sensorkit.clock import local_time

    text = (REPO / "sensorkit" / "delivery.py").read_text()
    assert "first.timestamp_ms, reason" not in text  # the raw epoch ms is no longer printed
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", local_time(1_700_000_000_123, ms=True))


def test_first_hour_pyproject_cites_only_files_in_the_repository() -> None:
    text = (REPO / "pyproject.toml").read_text()
    for name in re.findall(r"[\w/.-]+\.md\b", text):
        assert (REPO / name).exists() or name == "README.md", f"pyproject.toml cites {name}, which is not here"


def test_first_hour_demo_run_creates_no_state_dir(tmp_path: Path) -> None:
    result = sensorkit("run", "--simulate", "--duration", "0.5", "--output", "jsonl", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout
    assert not (tmp_path / "xdg-state").exists()


def test_first_hour_help_shows_verbose_in_both_places(tmp_path: Path) -> None:
    top = sensorkit("--help", cwd=tmp_path).stdout
    sub = sensorkit("run", "--help", cwd=tmp_path).stdout
    assert "-v, --verbose" in top and "-v, --verbose" in sub


@pytest.mark.parametrize("token", ["eyJhbGciOiJIUzI1NiJ9.eyJwaWQiOjF9.k7HqZ2x9Lm3Pq8RtW4vNc1Bd",
                                   "k7HqZ2x9Lm3Pq8RtW4vNc1Bd"])
def test_first_hour_token_pasted_into_token_env_is_not_printed(tmp_path: Path, token: str) -> None:
    config = write(tmp_path / "c.toml", BOARD + SENSOR + f'[uploader.iobeam]\nproject_id = 1\ntoken_env = "{token}"\n')
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path)
    assert_bad_input(result, "token_env", "does not look like the name")
    shown = result.stdout + result.stderr
    assert not [token[i:i + 4] for i in range(len(token) - 3) if token[i:i + 4] in shown], shown


def test_first_hour_clear_text_token_to_another_machine_is_warned_about(tmp_path: Path) -> None:
    text = BOARD + SENSOR + '[uploader.iobeam]\nproject_id = 1\ntoken_env = "T"\nbase_url = "http://{}/v1/"\n'
    far = write(tmp_path / "far.toml", text.format("iobeam.example.org"))
    near = write(tmp_path / "near.toml", text.format("127.0.0.1:8080"))
    warned = sensorkit("validate", "-c", str(far), cwd=tmp_path, env_extra={"T": "a.b.c"})
    assert warned.returncode == 0 and "clear text" in warned.stderr and f"{far}:10" in warned.stderr
    quiet = sensorkit("validate", "-c", str(near), cwd=tmp_path, env_extra={"T": "a.b.c"})
    assert quiet.returncode == 0 and "clear text" not in quiet.stderr
