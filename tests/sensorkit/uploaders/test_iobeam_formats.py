"""iobeam imports at their request floor: the table or the series format, whichever needs fewer requests.

A table has one set of timestamps and its nulls count against the 1000-point
limit, so ten sensors read at different moments need ten tables for 1000
readings; the series format carries any 1000 points in one request. These
tests count the requests the local iobeam server answers.
"""
from __future__ import annotations

import math

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorkit.readings import Reading
from sensorkit.uploaders import build_uploader, iobeam
from sensorkit.uploaders.settings import IOBEAM, UploaderConfig

T0_MS = 1_700_000_000_000


class RecordingSession(requests.Session):
    """A plain requests session that also keeps the URL (query included) of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201 - requests' signature
        self.urls.append(url)
        return super().request(method, url, *args, **kwargs)


def uploader_for(server, state_dir, **overrides):
    values = {k.name: k.default for k in IOBEAM.keys if k.default is not None}
    values.update(project_id=server.project_id, token=server.project_token, base_url=server.url, device_id="pi")
    values.update(overrides)
    session = RecordingSession()
    return build_uploader(UploaderConfig("iobeam", values), state_dir, session=session), session


def sht3x_readings(sensors: int, instants: int, *, apart_ms: int = 1) -> list[Reading]:
    """Temperature and humidity of `sensors` sensors, each read `apart_ms` after the one before it."""
    out = []
    for i in range(instants):
        for s in range(sensors):
            t = T0_MS + i * 1000 + s * apart_ms
            out.append(Reading(f"s{s}_temperature", f"s{s}", "temperature", 20.0 + i % 7 / 10, "°C", t))
            out.append(Reading(f"s{s}_humidity", f"s{s}", "humidity", 50 + i % 5, "%RH", t))
    return out


def import_urls(session):
    return [url for url in session.urls if "/v1/imports" in url]


def stored(server):
    return {(p.series, p.time_us // 1000): p.value for p in server.points()}


def expected(batch):
    return {(r.series, r.timestamp_ms): r.value for r in batch}


# --------------------------------------------------------------------------- against the local server


def test_uploader_sends_ten_sensors_at_different_moments_in_one_request_per_1000(iobeam_server, tmp_path):
    uploader, session = uploader_for(iobeam_server, tmp_path)
    batch = sht3x_readings(10, 50)  # 1000 readings, 10 sets of timestamps: 10 tables, or 1 series import
    uploader.send(batch)
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == 1
    assert [url.rsplit("/", 1)[1] for url in import_urls(session)] == ["imports"]  # the series format: no fmt
    assert stored(iobeam_server) == expected(batch)


@pytest.mark.parametrize(("sensors", "apart_ms"), [(1, 0), (2, 0), (10, 0), (3, 1), (10, 1), (10, 7)])
def test_uploader_requests_per_1000_readings_are_one_whatever_the_sensor_mix(iobeam_server, tmp_path, sensors,
                                                                             apart_ms):
    uploader, _ = uploader_for(iobeam_server, tmp_path)
    batch = sht3x_readings(sensors, 4000 // (2 * sensors), apart_ms=apart_ms)
    for start in range(0, len(batch), 1000):  # the outbox gives batches of batch_size = 1000
        uploader.send(batch[start:start + 1000])
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == math.ceil(len(batch) / 1000)
    assert stored(iobeam_server) == expected(batch)


def test_uploader_keeps_tables_where_series_share_their_timestamps(iobeam_server, tmp_path):
    uploader, session = uploader_for(iobeam_server, tmp_path)
    batch = sht3x_readings(1, 500)  # one sensor: temperature and humidity share 500 timestamps
    uploader.send(batch)
    assert [url.rsplit("/", 1)[1] for url in import_urls(session)] == ["imports?fmt=table"]
    assert stored(iobeam_server) == expected(batch)


def test_uploader_sends_a_large_batch_at_the_floor_too(iobeam_server, tmp_path):
    uploader, session = uploader_for(iobeam_server, tmp_path, batch_size=5000)
    batch = sht3x_readings(10, 250)  # 5000 readings
    uploader.send(batch)
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == 5
    assert stored(iobeam_server) == expected(batch)


def test_uploader_series_import_refused_whole_is_permanent(iobeam_server, tmp_path):
    from sensorkit.errors import PermanentUploadError

    uploader, _ = uploader_for(iobeam_server, tmp_path)
    iobeam_server.reject_series("s3_humidity")
    with pytest.raises(PermanentUploadError, match="s3_humidity"):
        uploader.send(sht3x_readings(10, 50))
    assert iobeam_server.points() == []  # nothing of the request was stored: delivery's bisection finds the one


def test_client_send_of_series_at_different_moments_takes_the_floor(iobeam_server):
    client = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token,
                           backend=iobeam_server.url).register_or_set_id("c1")
    for s in range(10):
        for i in range(100):
            client.add_data_point(f"s{s}", iobeam.DataPoint(float(i), timestamp=T0_MS + i * 1000 + s))
    assert client.send()
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == 1
    assert len(iobeam_server.points(device_id="c1")) == 1000


def test_client_send_of_a_sparse_data_store_does_not_pay_for_its_nulls(iobeam_server):
    client = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token,
                           backend=iobeam_server.url).register_or_set_id("c2")
    store = client.create_data_store(["a", "b", "c"])
    for i in range(400):  # 1200 cells (two table requests), 1000 values: c only every other row
        store.add(T0_MS + i, {"a": i, "b": -i, **({"c": 0.5} if i % 2 else {})})
    assert client.send()
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == 1
    points = {(p.series, p.time_us // 1000): p.value for p in iobeam_server.points(device_id="c2")}
    assert len(points) == 1000 and points[("c", T0_MS + 1)] == 0.5 and ("c", T0_MS) not in points


def test_client_a_store_value_wins_over_a_point_at_the_same_time(iobeam_server):
    client = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token,
                           backend=iobeam_server.url).register_or_set_id("c3")
    client.add_data_point("t", iobeam.DataPoint(1, timestamp=T0_MS))
    client.create_data_store(["t"]).add(T0_MS, {"t": 2})
    assert client.send()
    assert [p.value for p in iobeam_server.points(device_id="c3")] == [2]


def test_client_failed_series_import_keeps_what_was_not_accepted(iobeam_server):
    client = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token,
                           backend=iobeam_server.url).register_or_set_id("c4")
    for s in range(5):
        for i in range(500):
            client.add_data_point(f"s{s}", iobeam.DataPoint(i, timestamp=T0_MS + i * 10 + s))
    iobeam_server.inject(200, 1)
    iobeam_server.inject(503, 1)
    with pytest.raises(iobeam.IobeamUnavailable):
        client.send()
    assert client.pending_points() == 1500
    assert client.send()
    assert len(iobeam_server.points(device_id="c4")) == 2500
    assert iobeam_server.request_count(method="POST", path="/v1/imports") == 4  # 3 at the floor + 1 refused


# --------------------------------------------------------------------------- the choice, without a server


def test_imports_choose_the_series_format_for_sensors_at_different_moments():
    series = {f"s{s}": {T0_MS + i * 1000 + s: float(i) for i in range(100)} for s in range(10)}
    chosen = iobeam.imports(series)
    assert [type(x) for x in chosen] == [iobeam.SeriesImport]
    assert len(iobeam.tables_from_series(series)) == 10


def test_imports_choose_tables_when_they_need_no_more_requests():
    series = {"t": {T0_MS + i: 1.0 for i in range(500)}, "h": {T0_MS + i: 2 for i in range(500)}}
    assert [type(x) for x in iobeam.imports(series)] == [iobeam.Table]
    three = {name: {T0_MS + i: 1 for i in range(334)} for name in "abc"}  # 1002 points: 2 tables or 2 imports
    assert [type(x) for x in iobeam.imports(three)] == [iobeam.Table, iobeam.Table]


def test_imports_more_columns_than_a_table_holds_go_as_series():
    series = {f"c{i}": {T0_MS: i} for i in range(1001)}
    with pytest.raises(ValueError, match="1001 columns"):
        iobeam.tables_from_series(series)
    chosen = iobeam.imports(series)
    assert [x.points for x in chosen] == [1000, 1]


def test_imports_of_nothing_is_no_request():
    assert iobeam.imports({}) == [] and iobeam.imports({"t": {}}) == []


def test_series_imports_split_a_long_series_and_pack_short_ones():
    series = {"long": {T0_MS + i: i for i in range(2500)}, "short": {T0_MS + i: -i for i in range(700)}}
    chosen = iobeam.series_imports(series)
    assert [x.points for x in chosen] == [1000, 1000, 1000, 200]
    assert [[(name, len(p)) for name, p in x.series] for x in chosen] == [
        [("long", 1000)], [("long", 1000)], [("long", 500), ("short", 500)], [("short", 200)]]
    assert [t for name, p in chosen[2].series for t, _ in p if name == "long"][0] == T0_MS + 2000  # in given order


def test_series_import_body_is_what_the_protocol_says():
    body = iobeam.series_imports({"a": {6: 2.5, 5: 1}, "b": {5: 3}})[0].body(3, "dev")
    assert body == {
        "project_id": 3, "device_id": "dev", "timefmt": "usec",
        "sources": [{"name": "a", "data": [{"time": 6000, "value": 2.5}, {"time": 5000, "value": 1}]},
                    {"name": "b", "data": [{"time": 5000, "value": 3}]}],
    }
    assert iobeam.SeriesImport.path == "imports" and iobeam.Table.path == "imports?fmt=table"


def test_send_import_refuses_an_oversized_series_import_before_sending(iobeam_server):
    client = iobeam.Iobeam(None, 1, iobeam_server.project_token, backend=iobeam_server.url, deviceId="d")
    too_big = iobeam.SeriesImport((("t", tuple((T0_MS + i, i) for i in range(1001))),))
    with pytest.raises(ValueError, match="1001 points"):
        client.send_import(too_big)
    assert iobeam_server.requests == []


names = st.sampled_from([f"s{i}" for i in range(12)])
points = st.dictionaries(st.integers(0, 3000), st.one_of(st.integers(-2**53, 2**53), st.floats(allow_nan=False,
                         allow_infinity=False)), max_size=400)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, points, max_size=12))
def test_imports_reach_the_floor_and_carry_every_point_once(series):
    chosen = iobeam.imports(series)
    total = sum(len(p) for p in series.values())
    assert len(chosen) == math.ceil(total / iobeam.MAX_POINTS_PER_REQUEST)
    carried: dict[tuple[str, int], object] = {}
    for each in chosen:
        assert each.points <= iobeam.MAX_POINTS_PER_REQUEST
        if isinstance(each, iobeam.Table):
            assert len(each.rows) * len(each.columns) <= iobeam.MAX_POINTS_PER_REQUEST
            assert all(v is not None for _, values in each.rows for v in values)  # a table of ours has no nulls
            for t, values in each.rows:
                for name, value in zip(each.columns, values):
                    assert (name, t) not in carried
                    carried[(name, t)] = value
        else:
            in_request = [name for name, _ in each.series]
            assert len(in_request) == len(set(in_request))  # the server refuses a series named twice
            for name, pts in each.series:
                for t, value in pts:
                    assert (name, t) not in carried
                    carried[(name, t)] = value
    assert carried == {(name, t): v for name, pts in series.items() for t, v in pts.items()}
    if len(iobeam.tables_from_series(series)) == len(chosen):
        assert all(isinstance(each, iobeam.Table) for each in chosen)  # a tie keeps the smaller tables
