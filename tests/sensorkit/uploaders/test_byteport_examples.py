"""The seed README's four Python examples, run against the local Byteport server and read back.

Each example's code is the seed's, word for word, except the constructor,
which gets the server's URL (the namespace and key are the README's own:
the server is started with them). Two things stand in for the examples'
surroundings: their import ``from http_clients import ...`` names the
reference client's module, which here is `sensorkit.uploaders.byteport`,
and example 1 calls ``ByteportHttpClient`` although it imports only the GET
client, so the examples run with the package's names in scope (as after
``from sensorkit.uploaders.byteport import *``). Example 1 loops forever and
example 3 blocks by design: the first runs with a `time` whose `sleep` ends
the loop after three rounds, the second is stopped from another thread.
Paths the examples name (/home/iot_user/..., /tmp/status_data) are put in
the test's temp dir.
"""
from __future__ import annotations

import base64
import builtins
import bz2
import threading
import time as real_time
from typing import Any

import pytest

from sensorkit.uploaders import byteport

SEED_CONSTRUCTOR = "ByteportHttpClient('myownspace', 'f00b4s3cretk3y', 'barDev1')"

EXAMPLE_1 = """
from http_clients import ByteportHttpGetClient
import time

# Will send a single empty heart beat packet.
client = ByteportHttpClient('myownspace', 'f00b4s3cretk3y', 'barDev1')

while True:
    # Store a string and the current UNIX Epoch time on a regular interval
    client.store({'info': 'All systems nominal', 'current_time': time.time()})
    time.sleep(60)
"""

EXAMPLE_2 = """
from http_clients import ByteportHttpGetClient

client = ByteportHttpClient('myownspace', 'f00b4s3cretk3y', 'barDev1')

client.store_file('temperature', './current_temperature')
"""

EXAMPLE_3 = """
from http_clients import ByteportHttpGetClient

client = ByteportHttpClient('myownspace', 'f00b4s3cretk3y', 'barDev1')

# NOTE: This will block the current thread!
client.poll_directory_and_store_upon_content_change('/home/iot_user/measured_values/', 'barDev1', poll_interval=10)
"""

EXAMPLE_4 = """
from http_clients import ByteportHttpPostClient

client = ByteportHttpClient('myownspace', 'f00b4s3cretk3y', 'barDev1')

path_to_interesting_file = '/tmp/status_data'

client.base64_encode_and_store_store_file('staus_files', path_to_interesting_file, compression='bzip2')
"""


class EndOfExample(Exception):
    """Raised by the stand-in `time.sleep` to end example 1's endless loop."""


class ExampleTime:
    """`time` for example 1: the real clock, and a sleep that counts (never sleeps) and ends the loop."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.sleeps: list[float] = []

    @staticmethod
    def time() -> float:
        return real_time.time()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.rounds:
            raise EndOfExample


def prepared(code: str, server: Any, paths: dict[str, str] | None = None) -> str:
    assert code.count(SEED_CONSTRUCTOR) == 1
    code = code.replace(SEED_CONSTRUCTOR, SEED_CONSTRUCTOR[:-1] + f", base_url={server.url!r})")
    for seed_path, here in (paths or {}).items():
        assert seed_path in code
        code = code.replace(seed_path, here)
    return code


def scope(modules: dict[str, Any]) -> dict[str, Any]:
    """Globals for an example: the package's names, and imports of `modules` answered with stand-ins."""
    def find(name: str, *args: Any, **kwargs: Any) -> Any:
        return modules[name] if name in modules else builtins.__import__(name, *args, **kwargs)

    names = {name: getattr(byteport, name) for name in byteport.__all__}
    return {"__builtins__": {**vars(builtins), "__import__": find}, "__name__": "__example__", **names}


def run(code: str, modules: dict[str, Any] | None = None, env: dict[str, Any] | None = None) -> dict[str, Any]:
    env = env if env is not None else scope({"http_clients": byteport, **(modules or {})})
    exec(compile(code, "<seed example>", "exec"), env)
    return env


@pytest.fixture
def server(make_byteport_server):
    return make_byteport_server(namespace="myownspace", key="f00b4s3cretk3y", keep_stores=True,
                                object_fields={"staus_files": "application/octet-stream"})


def read_back(server, field):
    reader = byteport.ByteportHttpClient(server.namespace, server.key, "barDev1", base_url=server.url,
                                         check_credentials=False)
    reader.login(server.user, server.password)
    return reader.load_timeseries_data(server.namespace, "barDev1", field, timedelta_hours=1)["data"]


def test_seed_example_1_stores_numbers_and_a_log_message_on_an_interval(server):
    clock = ExampleTime(rounds=3)
    before = real_time.time()
    with pytest.raises(EndOfExample):
        run(prepared(EXAMPLE_1, server), {"time": clock})
    assert clock.sleeps == [60, 60, 60]
    assert server.stores[0].fields == ()  # the constructor's heart beat
    times = [p["v"] for p in read_back(server, "current_time")["ts_data"]]
    assert len(times) == 3 and all(before <= t <= real_time.time() for t in times)
    logged = read_back(server, "info")
    assert [p["v"] for p in logged["ts_data"]] == ["All systems nominal"] * 3
    assert [(p.field, p.value) for p in server.logs()] == [("info", "All systems nominal")] * 3


def test_seed_example_2_stores_a_files_content_as_a_value(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "current_temperature").write_text("21.5\n")
    run(prepared(EXAMPLE_2, server))
    [point] = read_back(server, "temperature")["ts_data"]
    assert point["v"] == 21.5


def test_seed_example_3_stores_every_file_of_a_directory_and_blocks(server, tmp_path):
    measured = tmp_path / "measured_values"
    measured.mkdir()
    (measured / "temperature").write_text("21.5")
    (measured / "humidity").write_text("48")
    env = scope({"http_clients": byteport})
    worker = threading.Thread(target=run, args=(prepared(EXAMPLE_3, server, {
        "/home/iot_user/measured_values/": f"{measured}/"}),), kwargs={"env": env}, daemon=True)
    worker.start()
    assert server.wait_for_points(2, timeout_s=30), "the first poll stores both files"
    assert worker.is_alive(), "it blocks the thread, as the README says"
    env["client"].stop_polling()
    worker.join(30)
    assert not worker.is_alive()
    assert [p["v"] for p in read_back(server, "temperature")["ts_data"]] == [21.5]
    assert [p["v"] for p in read_back(server, "humidity")["ts_data"]] == [48]


def test_seed_example_4_compresses_encodes_and_stores_a_file(server, tmp_path):
    content = b"uptime 12345\nload 0.42\n" + bytes(range(256))
    (tmp_path / "status_data").write_bytes(content)
    run(prepared(EXAMPLE_4, server, {"/tmp/status_data": str(tmp_path / "status_data")}))
    [stored] = server.points("barDev1", "staus_files")
    assert bz2.decompress(base64.b64decode(stored.value)) == content
    [point] = read_back(server, "staus_files")["ts_data"]  # decoded and decompressed by the server
    assert base64.b64decode(point["v"]) == content and point["m"]["compression"] == "bzip2"
