"""Watched files on their way out: Byteport's routes and objects read back, and the uploaders that skip them."""
from __future__ import annotations

import base64
import os
import textwrap
import time

import pytest

from sensorkit.clock import FakeClock
from sensorkit.config import parse_config
from sensorkit.outbox.status import dead_letters, read_status
from sensorkit.readings import Reading
from sensorkit.system import open_delivering, outbox_path
from sensorkit.uploaders import build_uploader
from sensorkit.uploaders.byteport import ByteportHttpClient
from sensorkit.uploaders.byteport_uploader import FileRoute, stores
from sensorkit.uploaders.settings import BYTEPORT, UploaderConfig
from sensorkit.watching import FILE_QUANTITY, SkippingFiles, watching_for
from tests.sensorkit.test_outbox_proofs import wait_until

T0 = 1_700_000_000_000
# Binary that is not UTF-8, compresses, and holds every byte value.
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def settings(server):
    values = {k.name: k.default for k in BYTEPORT.keys if k.default is not None}
    values.update(namespace=server.namespace, key=server.key, device_uid="pi-1", base_url=server.url + "/")
    return UploaderConfig("byteport", values)


def reader(server):
    client = ByteportHttpClient(server.namespace, server.key, "pi-1", base_url=server.url, check_credentials=False)
    client.login(server.user, server.password)
    return client


def read_back(server, uid, field):
    answer = reader(server).load_timeseries_data(server.namespace, uid, field, timedelta_days=10000)
    return answer["data"]["ts_data"]


def file_reading(series, value, ms=T0, sensor="snaps", media_type=None):
    if isinstance(value, bytes) and media_type is None:
        media_type = "image/png"
    return Reading(series, sensor, FILE_QUANTITY, value, "", ms, media_type)


@pytest.mark.parametrize(("compression", "found"), [(None, "none"), ("gzip", "zlib"), ("bzip2", "bzip2")])
def test_watched_bytes_come_back_from_the_servers_download_path_as_they_were(make_byteport_server, tmp_path,
                                                                            compression, found):
    server = make_byteport_server(object_fields={"snap": "image/png"})
    uploader = build_uploader(settings(server), tmp_path, routes={"snaps": FileRoute("camera-1", compression)})
    uploader.send([file_reading("snap", PICTURE)])
    [point] = read_back(server, "camera-1", "snap")
    assert point["m"]["encoding"] == "base64" and point["m"]["compression"] == found
    assert base64.b64decode(point["v"]) == PICTURE
    assert point["m"]["object_type"] == "image/png"
    sent = server.points("camera-1", "snap")[0].value
    if compression is not None:
        assert len(sent) < len(base64.b64encode(PICTURE)) / 2, "it travelled compressed"


def test_watched_text_goes_as_text_to_the_watch_device_and_sensors_to_the_uploaders(make_byteport_server, tmp_path):
    server = make_byteport_server(keep_stores=True)
    uploader = build_uploader(settings(server), tmp_path, routes={"snaps": FileRoute("camera-1", "bzip2")})
    batch = [Reading("air_temperature", "air", "temperature", 21.5, "°C", T0),
             file_reading("status", "all well\n"),  # text is never compressed
             file_reading("status", "later", ms=T0 + 1000)]
    uploader.send(batch)
    assert [(r.uid, r.ms, dict(r.fields)) for r in server.stores] == [
        ("camera-1", T0, {"status": "all well\n"}), ("pi-1", T0, {"air_temperature": 21.5}),
        ("camera-1", T0 + 1000, {"status": "later"})]
    assert [p["v"] for p in read_back(server, "camera-1", "status")] == ["all well\n", "later"]


def test_stores_are_one_per_device_and_timestamp():
    batch = [Reading("a1", "air", "q", 1, "", 10), file_reading("f1", "x", ms=10), file_reading("f2", "y", ms=10),
             file_reading("g1", "z", ms=10, sensor="other"), Reading("a1", "air", "q", 2, "", 20)]
    routes = {"snaps": FileRoute("cam"), "other": FileRoute("pi-1")}
    assert stores(batch, "pi-1", routes) == [("cam", 10, {"f1": "x", "f2": "y"}), ("pi-1", 10, {"a1": 1, "g1": "z"}),
                                             ("pi-1", 20, {"a1": 2})]


def test_skipping_files_gives_an_uploader_only_the_other_readings():
    sent = []

    class Recorder:
        name, batch_size = "iobeam", 1000

        def send(self, batch):
            sent.append(list(batch))

    wrapped = SkippingFiles(Recorder())
    sensor = Reading("air_temperature", "air", "temperature", 21.5, "°C", T0)
    wrapped.send([sensor, file_reading("status", "ok")])
    wrapped.send([file_reading("status", "ok")])  # nothing left: no call at all
    assert sent == [[sensor]] and (wrapped.name, wrapped.batch_size) == ("iobeam", 1000)


def test_a_watch_through_the_outbox_to_byteport_while_iobeam_takes_only_the_sensors(make_byteport_server,
                                                                                     make_iobeam_server, tmp_path):
    """The composition as `run` builds it: routes for Byteport, files skipped by iobeam, no dead letters."""
    byteport = make_byteport_server(object_fields={"snap": "application/octet-stream"})
    iobeam = make_iobeam_server()
    directory = tmp_path / "files"
    directory.mkdir()
    (directory / "status").write_text("ok")
    (directory / "snap").write_bytes(PICTURE)
    config = parse_config(textwrap.dedent(f"""
        [[watch]]
        path = "files"
        device_uid = "camera-1"
        compression = "gzip"

        [uploader.byteport]
        namespace = "{byteport.namespace}"
        key = "{byteport.key}"
        device_uid = "pi-1"
        base_url = "{byteport.url}/"
        send_delay = "10ms"

        [uploader.iobeam]
        project_id = {iobeam.project_id}
        token = "{iobeam.project_token}"
        base_url = "{iobeam.url}/v1/"
        send_delay = "10ms"
    """), "conf.toml", {}, base_dir=tmp_path)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    delivering = open_delivering(config, state_dir)
    clock = FakeClock(wall_ms=time.time_ns() // 1_000_000)
    watching = watching_for(config, delivering.add, delivering=delivering, state_dir=state_dir, clock=clock)
    delivering.start()
    try:
        watching.poll()
        wait_until(lambda: len(byteport.points("camera-1")) == 2, "the watched files at Byteport")
        wait_until(lambda: all(p.waiting == 0 for p in delivering.progress()), "both uploaders done")
    finally:
        delivering.close()
    assert base64.b64decode(read_back(byteport, "camera-1", "snap")[0]["v"]) == PICTURE
    assert [p["v"] for p in read_back(byteport, "camera-1", "status")] == ["ok"]
    assert iobeam.points() == [] and dead_letters(outbox_path(state_dir)) == []
    assert read_status(outbox_path(state_dir)).uploader("iobeam").waiting == 0
    assert os.path.exists(state_dir / "watch-files.json")
