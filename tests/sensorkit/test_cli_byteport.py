"""`sensorkit emulate byteport` and `sensorkit run` delivering to it, as a user runs them."""
from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sensorkit.config import load_config
from sensorkit.uploaders.byteport import ByteportHttpClient, ByteportHttpGetClient
from tests.sensorkit.test_cli import assert_bad_input, sensorkit, write

TIMEOUT_S = 60
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "byteport.toml"


class EmulatorProcess:
    """`sensorkit emulate byteport` in a subprocess, with what its banner said."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensorkit", "emulate", "byteport", "--port", "0", *args],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.banner = [self.process.stdout.readline().rstrip("\n") for _ in range(6)]
        first = self.banner[0]
        assert first.startswith("listening on http://127.0.0.1:"), (first, self.process.stderr.read())
        self.url = first.split(" ")[-1]
        said = dict(line.split(": ", 1) for line in self.banner[1:])
        self.namespace, self.key, self.user, self.password = (said[k] for k in ("namespace", "key", "user",
                                                                                "password"))

    def reader(self, uid: str) -> ByteportHttpClient:
        client = ByteportHttpClient(self.namespace, self.key, uid, base_url=self.url, check_credentials=False)
        client.login(self.user, self.password)
        return client

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
    process = EmulatorProcess("--namespace", "greenhouse", cwd=tmp_path)
    yield process
    process.stop()


def test_emulate_prints_where_it_listens_what_it_made_up_and_stops_on_sigterm(emulator):
    assert emulator.banner[1] == "namespace: greenhouse"
    assert re.fullmatch(r"[0-9a-f]{24}", emulator.key) and emulator.user == "sensorkit" and emulator.password
    assert emulator.banner[5] == "write methods: GET, POST"
    assert emulator.reader("pi-1").echo(a="b") == {"a": "b"}
    assert emulator.stop() == 0


def test_emulate_with_every_namespace_option(tmp_path):
    process = EmulatorProcess("--namespace", "myownspace", "--key", "f00b4s3cretk3y", "--write-methods", "get",
                              "--require-registration", "--register", "barDev1", "barDev2", "--user", "ann",
                              "--password", "pw", "--object-field", "snap=image/png", cwd=tmp_path)
    try:
        assert process.banner[2:5] == ["key: (as given)", "user: ann", "password: (as given)"]
        rest = [process.process.stdout.readline().rstrip("\n") for _ in range(3)]
        assert process.banner[5] == "write methods: GET"
        assert rest[:2] == ["registration required; registered: barDev1, barDev2", "object fields: snap (image/png)"]
        ByteportHttpGetClient("myownspace", "f00b4s3cretk3y", "barDev2", base_url=process.url,
                              http_write_method="get")  # registered, GET: the heartbeat is taken
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize(("args", "fragment"), [
    (["--write-methods", "put"], "not get, post or get,post"),
    (["--namespace", "short"], "longer than 6"),
    (["--register", "x"], "cannot register"),
    (["--object-field", "snap"], "FIELD=TYPE/SUBTYPE"),
    (["--fail-rate", "0.7", "--throttle-rate", "0.5"], "must not exceed 1"),
])
def test_emulate_refuses_bad_options(tmp_path, args, fragment):
    assert_bad_input(sensorkit("emulate", "byteport", *args, cwd=tmp_path), fragment)


def test_emulate_refuses_a_foreign_db_and_a_taken_port(tmp_path, emulator):
    write(tmp_path / "notes.db", "not a database at all")
    assert_bad_input(sensorkit("emulate", "byteport", "--db", "notes.db", cwd=tmp_path), "notes.db")
    port = emulator.url.rsplit(":", 1)[1]
    assert_bad_input(sensorkit("emulate", "byteport", "--port", port, cwd=tmp_path), "choose another --port")


def test_the_byteport_example_config_loads():
    config = load_config(str(EXAMPLE), environ={"BYTEPORT_KEY": "k3y"})
    [byteport] = config.enabled_uploaders
    assert byteport.name == "byteport" and byteport["key"] == "k3y" and byteport["namespace"] == "greenhouse"


def test_run_with_the_example_delivers_what_the_read_api_gives_back(tmp_path, emulator):
    """`sensorkit emulate byteport` + `sensorkit run --simulate -c examples/byteport.toml`, as the README says."""
    port = emulator.url.rsplit(":", 1)[1]
    text = EXAMPLE.read_text()
    assert "127.0.0.1:8000" in text and "--namespace greenhouse" in text
    config = write(tmp_path / "byteport.toml", text.replace("127.0.0.1:8000", f"127.0.0.1:{port}"))
    shutil.copytree(EXAMPLE.with_name("byteport-files"), tmp_path / "byteport-files")  # its [[watch]]
    run = sensorkit("run", "--simulate", "-c", str(config), "--duration", "3", "--output", "jsonl",
                    "--state-dir", str(tmp_path / "state"), cwd=tmp_path, env_extra={"BYTEPORT_KEY": emulator.key})
    assert run.returncode == 0, run.stderr
    taken = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["series"] for r in taken} == {"air_temperature", "air_humidity", "soil_temperature",
                                            "soil_humidity", "door", "status"}
    [status] = [r for r in taken if r["sensor"] == "byteport-files"]  # the watched directory's file
    assert status["value"] == (tmp_path / "byteport-files" / "status").read_text()
    reader = emulator.reader("greenhouse-pi")
    for series in {r["series"] for r in taken}:
        answer = reader.load_timeseries_data("greenhouse", "greenhouse-pi", series, timedelta_hours=1)
        got = [(p["t"], p["v"]) for p in answer["data"]["ts_data"]]
        want = [(datetime.datetime.fromtimestamp(r["timestamp_ms"] / 1000, datetime.timezone.utc)
                 .strftime("%Y-%m-%dT%H:%M:%S.%f"), r["value"]) for r in taken if r["series"] == series]
        assert got == want, series


def test_validate_shows_the_byteport_uploader(tmp_path):
    text = EXAMPLE.read_text().replace("[[watch]]", 'method = "get"\n\n[[watch]]')
    config = write(tmp_path / "sensorkit.toml", text)
    shutil.copytree(EXAMPLE.with_name("byteport-files"), tmp_path / "byteport-files")
    result = sensorkit("validate", "-c", str(config), "-v", cwd=tmp_path, env_extra={"BYTEPORT_KEY": "k3y"})
    assert result.returncode == 0, result.stderr
    assert "byteport         to http://127.0.0.1:8000/, batches of up to 1,000" in result.stdout
    assert "method = 'get'" in result.stdout and "key = '***'" in result.stdout and "k3y" not in result.stdout
