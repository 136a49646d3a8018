"""`sensorkit emulate iobeam`, `register` and `run` delivering to it, as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.sensorkit.test_cli import assert_bad_input, sensorkit, write

TIMEOUT_S = 60


class EmulatorProcess:
    """`sensorkit emulate iobeam` in a subprocess, with what its banner said."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensorkit", "emulate", "iobeam", "--port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.banner = [self.process.stdout.readline().rstrip("\n") for _ in range(3)]
        first = self.banner[0]
        assert first.startswith("listening on http://127.0.0.1:"), (first, self.process.stderr.read())
        self.url = first.split(" ")[-1]
        self.project_id = int(self.banner[1].split(": ")[1])
        self.token = self.banner[2].split(": ")[1]

    def export(self, device: str = "all", series: str = "all", **params: str) -> dict:
        answer = requests.get(f"{self.url}/v1/exports/{self.project_id}/{device}/{series}",
                              headers={"Authorization": f"Bearer {self.token}"}, params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(TIMEOUT_S)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def emulator(tmp_path: Path):
    process = EmulatorProcess(cwd=tmp_path)
    yield process
    process.stop()


def iobeam_config(path: Path, url: str, project_id: int, extra: str = "") -> Path:
    return write(path / "sensorkit.toml", f"""\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "500ms"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
interval = "250ms"
series = {{ state = "door" }}

[uploader.iobeam]
project_id = {project_id}
token_env = "IOBEAM_TOKEN"
base_url = "{url}/v1/"
{extra}""")


def test_emulate_prints_where_it_listens_and_stops_on_sigterm(emulator):
    assert emulator.banner[1] == f"project id: {emulator.project_id}"
    assert requests.get(f"{emulator.url}/v1/devices/timestamp", timeout=10,
                        headers={"Authorization": f"Bearer {emulator.token}"}).status_code == 200
    assert emulator.stop() == 0


@pytest.mark.parametrize(("args", "fragment"), [
    (["--fail-rate", "0.7", "--throttle-rate", "0.5"], "must not exceed 1"),
    (["--port", "70000"], "port number"),
    (["--token-ttl", "soon"], "duration"),
])
def test_emulate_refuses_bad_options(tmp_path, args, fragment):
    assert_bad_input(sensorkit("emulate", "iobeam", *args, cwd=tmp_path), fragment)


def test_emulate_refuses_a_foreign_db(tmp_path):
    write(tmp_path / "notes.db", "not a database at all")
    assert_bad_input(sensorkit("emulate", "iobeam", "--db", "notes.db", cwd=tmp_path), "notes.db")


def test_emulate_refuses_a_taken_port(tmp_path, emulator):
    port = emulator.url.rsplit(":", 1)[1]
    assert_bad_input(sensorkit("emulate", "iobeam", "--port", port, cwd=tmp_path), "choose another --port")


def test_validate_shows_the_uploaders(tmp_path):
    config = iobeam_config(tmp_path, "http://127.0.0.1:9", 7, 'batch_size = 500\nsend_delay = "30s"\n')
    result = sensorkit("validate", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    assert result.returncode == 0, result.stderr
    assert "1 enabled uploader(s)" in result.stdout
    assert "iobeam           to http://127.0.0.1:9/v1/, batches of up to 500, a part batch waits at most 30s" \
        in result.stdout
    disabled = iobeam_config(tmp_path, "http://127.0.0.1:9", 7, "enabled = false\n")
    result = sensorkit("validate", "-c", str(disabled), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    assert "0 enabled uploader(s)" in result.stdout and "iobeam           disabled" in result.stdout


def test_register_prints_the_id_and_keeps_it(tmp_path, emulator):
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    env = {"IOBEAM_TOKEN": emulator.token}
    first = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra=env)
    assert first.returncode == 0, first.stderr
    device_id = first.stdout.splitlines()[0]
    kept = tmp_path / "xdg-state" / "sensorkit" / "iobeam_device_id"
    assert kept.read_text() == device_id
    again = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra=env)
    assert again.stdout.splitlines()[0] == device_id and "already registered" in again.stdout
    assert [d["device_id"] for d in emulator.export()["result"]] == [device_id]


def test_register_with_a_configured_id(tmp_path, emulator):
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id, 'device_id = "greenhouse-1"\n')
    result = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": emulator.token})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("greenhouse-1\n")


def test_register_without_an_iobeam_table_is_bad_input(tmp_path):
    config = write(tmp_path / "c.toml", '[[sensor]]\nname = "air"\ndriver = "sht3x"\n')
    assert_bad_input(sensorkit("register", "-c", str(config), cwd=tmp_path), "no [uploader.iobeam]")


def test_register_against_a_dead_server_fails_with_the_reason(tmp_path, emulator):
    url = emulator.url
    emulator.stop()
    config = iobeam_config(tmp_path, url, 1)
    result = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    assert result.returncode == 1
    assert "cannot reach" in result.stderr and "Traceback" not in result.stderr


def test_register_with_a_wrong_token_says_so_without_showing_it(tmp_path, emulator):
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    wrong = emulator.token[:-4] + ("AAAA" if not emulator.token.endswith("AAAA") else "BBBB")
    result = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": wrong})
    assert result.returncode == 1
    assert "token" in result.stderr and wrong not in result.stderr and "Traceback" not in result.stderr


def test_missing_token_variable_is_bad_input(tmp_path, emulator):
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    env = {k: v for k, v in os.environ.items() if k != "IOBEAM_TOKEN"}
    result = subprocess.run([sys.executable, "-m", "sensorkit", "register", "-c", str(config)], cwd=tmp_path,
                            env=dict(env, XDG_STATE_HOME=str(tmp_path / "s")), capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert_bad_input(result, "IOBEAM_TOKEN is not set")


def test_run_delivers_what_it_printed(tmp_path, emulator):
    """The issue's "done": every reading `run` printed is at the server, same series, value and ms."""
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    result = sensorkit("run", "--simulate", "-c", str(config), "--duration", "3", "--output", "jsonl",
                       cwd=tmp_path, env_extra={"IOBEAM_TOKEN": emulator.token})
    assert result.returncode == 0, result.stderr
    printed = {(r["series"], r["timestamp_ms"]): r["value"] for r in map(json.loads, result.stdout.splitlines())}
    assert {series for series, _ in printed} == {"air_temperature", "air_humidity", "door"}
    [device] = emulator.export(limit="100000")["result"]
    arrived = {(s["name"], p["time"]): p["value"] for s in device["sources"] for p in s["data"]}
    assert arrived == printed
    assert device["device_id"] == (tmp_path / "xdg-state" / "sensorkit" / "iobeam_device_id").read_text()


def test_run_keeps_readings_while_the_server_is_away(tmp_path, emulator):
    url = emulator.url
    emulator.stop()
    config = iobeam_config(tmp_path, url, 1)
    result = sensorkit("run", "--simulate", "-c", str(config), "--duration", "2", "--output", "jsonl",
                       cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    assert result.returncode == 0, result.stderr
    assert "still waiting in the outbox" in result.stderr
    assert "Traceback" not in result.stderr


def test_outbox_status_tells_where_the_readings_are(tmp_path, emulator):
    url = emulator.url
    emulator.stop()  # the server is away: everything waits
    config = iobeam_config(tmp_path, url, 1)
    run = sensorkit("run", "--simulate", "-c", str(config), "--duration", "2", "--output", "jsonl",
                    cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    taken = len(run.stdout.splitlines())
    status = sensorkit("outbox", "status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    [iobeam] = json.loads(status.stdout)["uploaders"]
    assert iobeam["name"] == "iobeam" and iobeam["waiting"] == taken > 0
    assert "cannot reach" in iobeam["last_error"]
    text = sensorkit("outbox", cwd=tmp_path).stdout
    assert f"waiting:       {taken:,} reading(s)" in text and "last error:" in text
    assert sensorkit("outbox", "list-dead", cwd=tmp_path).stdout.startswith("no dead letters")
    assert json.loads(sensorkit("outbox", "list-dead", "--json", cwd=tmp_path).stdout) == []


def test_run_output_none_prints_nothing_and_keeps_everything(tmp_path, emulator):
    """The service's way: no readings on stdout (nor in its journal), all of them at the server."""
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    result = sensorkit("run", "--simulate", "-c", str(config), "--duration", "2", "--output", "none",
                       cwd=tmp_path, env_extra={"IOBEAM_TOKEN": emulator.token})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    [device] = emulator.export(limit="100000")["result"]
    arrived = sum(len(source["data"]) for source in device["sources"])
    [iobeam] = json.loads(sensorkit("outbox", "status", "--json", cwd=tmp_path).stdout)["uploaders"]
    assert iobeam["waiting"] == 0 and iobeam["delivered"] == arrived > 0


def test_run_output_none_without_an_uploader_is_bad_input(tmp_path):
    assert_bad_input(sensorkit("run", "--simulate", "--output", "none", "--duration", "1", cwd=tmp_path),
                     "every reading would be thrown away")


def test_outbox_status_without_an_outbox(tmp_path):
    result = sensorkit("outbox", "status", cwd=tmp_path)
    assert result.returncode == 0 and "no outbox at" in result.stdout


def test_outbox_on_a_foreign_file_is_bad_input(tmp_path):
    state = tmp_path / "xdg-state" / "sensorkit"
    state.mkdir(parents=True)
    write(state / "outbox.sqlite", "my shopping list")
    assert_bad_input(sensorkit("outbox", "status", cwd=tmp_path), "outbox.sqlite")


def test_register_with_a_stored_id_checks_the_token_with_the_server(tmp_path, emulator):
    """A stored id used to be reported as registered without asking the server, whatever the token."""
    config = iobeam_config(tmp_path, emulator.url, emulator.project_id)
    first = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": emulator.token})
    assert first.returncode == 0, first.stderr
    wrong = emulator.token[:-4] + ("AAAA" if not emulator.token.endswith("AAAA") else "BBBB")
    again = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": wrong})
    assert again.returncode == 1, again.stdout
    assert "token" in again.stderr and wrong not in again.stderr + again.stdout
    assert "already registered" not in again.stdout


def test_register_with_a_stored_id_the_server_forgot_registers_it_again(tmp_path):
    first_server = EmulatorProcess(cwd=tmp_path)
    try:
        config = iobeam_config(tmp_path, first_server.url, first_server.project_id)
        first = sensorkit("register", "-c", str(config), cwd=tmp_path,
                          env_extra={"IOBEAM_TOKEN": first_server.token})
        assert first.returncode == 0, first.stderr
        device_id = first.stdout.splitlines()[0]
    finally:
        first_server.stop()
    forgetful = EmulatorProcess(cwd=tmp_path)  # memory storage: it knows no device
    try:
        config = iobeam_config(tmp_path, forgetful.url, forgetful.project_id)
        again = sensorkit("register", "-c", str(config), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": forgetful.token})
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[0] == device_id and "registered it again" in again.stdout
        assert [d["device_id"] for d in forgetful.export()["result"]] == [device_id]
    finally:
        forgetful.stop()


def test_emulate_refuses_a_file_that_is_not_its_database(tmp_path):
    """`--db` pointed at an outbox (any SQLite file of another program) must leave it alone."""
    import sqlite3

    outbox = tmp_path / "outbox.sqlite"
    with sqlite3.connect(outbox) as conn:
        conn.execute("CREATE TABLE chunk (first_id INTEGER PRIMARY KEY, data BLOB)")
        conn.execute("INSERT INTO chunk VALUES (1, x'00ff')")
    before = outbox.read_bytes()
    result = subprocess.run([sys.executable, "-m", "sensorkit", "emulate", "iobeam", "--port", "0", "--db",
                             str(outbox)], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert_bad_input(result, str(outbox))
    assert outbox.read_bytes() == before


def test_emulate_db_path_that_cannot_be_created_is_bad_input(tmp_path):
    blocker = write(tmp_path / "file", "x")
    result = subprocess.run([sys.executable, "-m", "sensorkit", "emulate", "iobeam", "--port", "0", "--db",
                             str(blocker / "sub" / "db.sqlite")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert_bad_input(result, "db.sqlite")
