"""`[[watch]]` end to end, as a user runs it: `sensorkit emulate byteport` and `sensorkit run` in subprocesses.

The read API (logged in, as a user reads) must give back the sensors'
readings under the uploader's device uid and the watched files' contents
under the watch's, through an outage (the server stopped and started again
on its port and database while files change) and kill -9 of `run`. Every
wait polls for a condition with a deadline; nothing sleeps for time to pass.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from sensorkit.uploaders.byteport import ByteportError, ByteportHttpClient
from tests.sensorkit.test_cli import write
from tests.sensorkit.test_outbox_proofs import WAIT_S, Run, state_dir, wait_until

NAMESPACE, KEY, USER, PASSWORD = "greenhouse", "f00b4s3cretk3y", "ann", "pw-of-ann"
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16  # binary: not UTF-8, has NULs


class Emulator:
    """`sensorkit emulate byteport` on a port and a database of its own; stopped and started again at will."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._reader: ByteportHttpClient | None = None
        self.start()

    def start(self) -> None:
        log = open(self.workdir / "emulator.log", "a")  # noqa: SIM115 - the process holds it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sensorkit", "emulate", "byteport", "--port", str(self.port),
             "--db", str(self.workdir / "byteport.db"), "--namespace", NAMESPACE, "--key", KEY, "--user", USER,
             "--password", PASSWORD, "--object-field", "snap=image/png"],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        first = self.process.stdout.readline().strip()
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.url = first.split(" ")[-1]
        self.port = int(self.url.rsplit(":", 1)[1])  # the same port when started again
        self._reader = None

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(WAIT_S) == 0
        self.process.stdout.close()

    def points(self, uid: str, field: str) -> list[dict]:
        """The read API's points of one field (none when the device is not known yet)."""
        if self._reader is None:
            self._reader = ByteportHttpClient(NAMESPACE, KEY, uid, base_url=self.url, check_credentials=False)
            self._reader.login(USER, PASSWORD)
        try:
            answer = self._reader.load_timeseries_data(NAMESPACE, uid, field, timedelta_days=1)
        except ByteportError as exc:
            if exc.status == 404:
                return []
            raise
        return answer["data"]["ts_data"]

    def values(self, uid: str, field: str) -> list:
        return [point["v"] for point in self.points(uid, field)]


@pytest.fixture
def emulator(tmp_path):
    server = Emulator(tmp_path)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def config(workdir: Path, emulator: Emulator, *, sensors: bool = True) -> Path:
    (workdir / "outbound").mkdir(exist_ok=True)
    air = '[[sensor]]\nname = "air"\ndriver = "sht3x"\ninterval = "100ms"\n\n' if sensors else ""
    return write(workdir / "sensorkit.toml", f"""\
[device]
board = "simulated"

{air}[[watch]]
path = "outbound"
device_uid = "camera-1"
interval = "100ms"
compression = "bzip2"

[uploader.byteport]
namespace = "{NAMESPACE}"
key_env = "BYTEPORT_KEY"
device_uid = "pi-1"
base_url = "{emulator.url}/"
send_delay = "50ms"
min_backoff = "50ms"
max_backoff = "1s"
""")


def start(workdir: Path, emulator: Emulator, **options) -> Run:
    return Run(workdir, config(workdir, emulator, **options), SimpleNamespace(secret_env="BYTEPORT_KEY", secret=KEY))


def make_outbound(workdir: Path, **files: str | bytes) -> Path:
    """The watched directory, with `files` (name = content) in it."""
    directory = workdir / "outbound"
    directory.mkdir()
    for name, content in files.items():
        (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return directory


def until(run: Run, condition, what: str) -> None:
    """wait_until, failing at once (with what it said) when the run ended."""
    def check():
        if run.process.poll() is not None:
            pytest.fail(f"sensorkit run ended ({run.process.returncode}) while waiting for {what}:\n{run.stderr}")
        return condition()

    wait_until(check, what)


def files_printed(run: Run, series: str) -> list:
    return [r["value"] for r in run.readings if r["sensor"] == "outbound" and r["series"] == series]


def iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def record(workdir: Path) -> dict:
    path = state_dir(workdir) / "watch-outbound.json"
    return json.loads(path.read_text())["files"] if path.exists() else {}


def test_run_delivers_sensor_readings_and_watched_files_each_to_its_device(tmp_path, emulator):
    outbound = make_outbound(tmp_path, status="all well", snap=PICTURE)
    run = start(tmp_path, emulator)
    until(run, lambda: emulator.values("camera-1", "status") == ["all well"], "the text file at the server")
    (outbound / "status").write_text("door open")
    until(run, lambda: emulator.values("camera-1", "status") == ["all well", "door open"], "the changed file")
    until(run, lambda: emulator.points("pi-1", "air_temperature"), "the sensor's readings at the server")
    assert run.stop() == 0, run.stderr
    assert "Traceback" not in run.stderr

    [snap] = emulator.points("camera-1", "snap")
    assert base64.b64decode(snap["v"]) == PICTURE and snap["m"]["compression"] == "bzip2"
    taken = run.readings
    files = {(r["series"], r["timestamp_ms"]) for r in taken if r["sensor"] == "outbound"}
    at_server = {(field, p["t"]) for field in ("status", "snap") for p in emulator.points("camera-1", field)}
    assert {(series, iso(ms)) for series, ms in files} == at_server, "each file once, at the time it was seen"
    air = [(iso(r["timestamp_ms"]), r["value"]) for r in taken if r["series"] == "air_temperature"]
    assert [(p["t"], p["v"]) for p in emulator.points("pi-1", "air_temperature")] == air
    assert emulator.points("pi-1", "status") == [] and emulator.points("camera-1", "air_temperature") == []


def test_watched_files_changed_during_an_outage_arrive_once_it_is_over(tmp_path, emulator):
    outbound = make_outbound(tmp_path, status="before")
    run = start(tmp_path, emulator)
    until(run, lambda: emulator.values("camera-1", "status") == ["before"], "the first file at the server")

    emulator.stop()
    (outbound / "status").write_text("during")
    (outbound / "snap").write_bytes(PICTURE)
    until(run, lambda: files_printed(run, "status") == ["before", "during"] and files_printed(run, "snap"),
               "the run to take the files changed while the server is away")
    until(run, lambda: "cannot reach" in run.stderr, "the outage to be noticed")
    emulator.start()

    until(run, lambda: emulator.values("camera-1", "status") == ["before", "during"], "the file after the outage")
    until(run, lambda: emulator.points("camera-1", "snap"), "the picture after the outage")
    assert run.stop() == 0, run.stderr
    assert base64.b64decode(emulator.points("camera-1", "snap")[0]["v"]) == PICTURE


def test_kill_9_loses_no_watched_file_and_a_restart_does_not_send_unchanged_ones_again(tmp_path, emulator):
    outbound = make_outbound(tmp_path, status="v1", snap=PICTURE)
    first = start(tmp_path, emulator)
    until(first, lambda: emulator.values("camera-1", "status") == ["v1"] and emulator.points("camera-1", "snap"),
               "the files at the server")
    until(first, lambda: set(record(tmp_path)) == {"status", "snap"}, "the watch's record of them")

    # Committed but not delivered: the server is away when the file changes, and the run is killed then.
    emulator.stop()
    (outbound / "status").write_text("v2")
    v2 = hashlib.sha256(b"v2").hexdigest()
    until(first, lambda: record(tmp_path)["status"][2] == v2 and files_printed(first, "status") == ["v1", "v2"],
               "v2 committed and recorded")
    first.kill()
    assert first.wait() == -signal.SIGKILL
    emulator.start()

    # Handed on but perhaps not committed: killed at once after the reading is printed.
    second = start(tmp_path, emulator)
    until(second, lambda: emulator.values("camera-1", "status") == ["v1", "v2"],
          "v2, from the outbox of the killed run (its record says v2 was stored: this run does not send it)")
    (outbound / "status").write_text("v3")
    until(second, lambda: files_printed(second, "status") == ["v3"], "v3 taken")
    second.kill()
    assert second.wait() == -signal.SIGKILL

    third = start(tmp_path, emulator)
    until(third, lambda: emulator.values("camera-1", "status")[-1:] == ["v3"], "v3 after the restart")
    more = len(third.readings) + 20  # 2 s of air readings: the watch looked about 20 times meanwhile
    wait_until(lambda: third.printed(more), "the third run to go on")
    assert third.stop() == 0, third.stderr

    statuses = emulator.values("camera-1", "status")
    assert statuses[:2] == ["v1", "v2"] and set(statuses[2:]) == {"v3"}, statuses  # v3 once, or twice (re-sent)
    assert len(emulator.points("camera-1", "snap")) == 1, "the unchanged picture was never sent again"
    assert files_printed(second, "snap") == files_printed(third, "snap") == []
    assert files_printed(third, "status") in ([], ["v3"])  # again only when the kill came before its record


def test_a_config_of_only_watches_runs_and_delivers(tmp_path, emulator):
    outbound = make_outbound(tmp_path, status="only files here")
    run = start(tmp_path, emulator, sensors=False)
    until(run, lambda: emulator.values("camera-1", "status") == ["only files here"], "the file at the server")
    (outbound / "count").write_text("1")
    until(run, lambda: emulator.values("camera-1", "count") == [1], "a file added later")
    assert run.stop() == 0, run.stderr
    assert {r["sensor"] for r in run.readings} == {"outbound"}
