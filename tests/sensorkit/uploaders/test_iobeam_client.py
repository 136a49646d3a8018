"""The iobeam client library, against the local iobeam server over real HTTP."""
from __future__ import annotations

import pytest
import requests

from sensorkit.clock import FakeClock
from sensorkit.emulators.iobeam import IobeamEmulator
from sensorkit.uploaders import http, iobeam

DAY_S = 86400


def imports(server):
    return [r for r in server.requests if r[0] == "POST" and r[1].startswith("/v1/imports")]


def calls(server, method, prefix):
    return [r for r in server.requests if r[0] == method and r[1].startswith(prefix)]


def exported(server, device_id, series="all", **params):
    answer = requests.get(f"{server.url}/v1/exports/{server.project_id}/{device_id}/{series}",
                          headers={"Authorization": f"Bearer {server.project_token}"},
                          params=params, timeout=5)
    answer.raise_for_status()
    return answer.json()


def points_of(server, device_id):
    """{series: {ms: value}} as the server stored it."""
    out = {}
    for device, series, time_ms, value in _points(server, device_id):
        assert device == device_id
        out.setdefault(series, {})[time_ms] = value
    return out


def _points(server, device_id):
    for point in server.points(device_id=device_id):
        yield point.device_id, point.series, point.time_us // 1000, point.value


def client(server, path=None, **kwargs):
    return iobeam.Iobeam(path, server.project_id, server.project_token, backend=server.url, **kwargs)


# --------------------------------------------------------------------------- the seed README


def test_seed_full_example_runs_as_written(iobeam_server, tmp_path):
    def getTemperature():  # noqa: N802 - as the seed names it
        return 21.5

    def getHumidity():  # noqa: N802
        return 48

    # ---- the README's full example; only the import and the base URL differ
    from sensorkit.uploaders import iobeam  # noqa: I001 - was: from iobeam import iobeam
    import time

    PATH = str(tmp_path)  # noqa: N806
    PROJECT_ID = iobeam_server.project_id  # noqa: N806
    PROJECT_TOKEN = iobeam_server.project_token  # noqa: N806

    iobeamClient = iobeam.Iobeam(PATH, PROJECT_ID, PROJECT_TOKEN, backend=iobeam_server.url)  # noqa: N806
    iobeamClient.registerDevice()

    now = int(time.time() * 1000)
    dt = iobeam.DataPoint(getTemperature(), timestamp=now)
    dh = iobeam.DataPoint(getHumidity(), timestamp=now)

    iobeamClient.addDataPoint("temperature", dt)
    iobeamClient.addDataPoint("humidity", dh)

    assert iobeamClient.send() is True
    # ---- end of the example

    device_id = iobeamClient.getDeviceId()
    assert iobeamClient.isRegistered()
    assert (tmp_path / "iobeam_device_id").read_text() == device_id
    assert points_of(iobeam_server, device_id) == {"temperature": {now: 21.5}, "humidity": {now: 48}}
    assert len(imports(iobeam_server)) == 1  # same timestamps: one table of two columns


def test_seed_initialisation_forms(iobeam_server, tmp_path):
    first = iobeam.Iobeam(str(tmp_path), iobeam_server.project_id, iobeam_server.project_token,
                          backend=iobeam_server.url)
    first.registerDevice(deviceId="my_desired_id")
    assert first.getDeviceId() == "my_desired_id"
    given = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token, deviceId="my_desired_id",
                          backend=iobeam_server.url)
    assert given.isRegistered() and given.getDeviceId() == "my_desired_id"
    given.addDataSeries(iobeam.DataSeries("temperature", [iobeam.DataPoint(1.5, timestamp=1000),
                                                          iobeam.DataPoint(2.5, timestamp=2000)]))
    assert given.send()
    assert points_of(iobeam_server, "my_desired_id") == {"temperature": {1000: 1.5, 2000: 2.5}}


# --------------------------------------------------------------------------- registration


def test_register_persists_and_is_read_back(iobeam_server, tmp_path):
    first = client(iobeam_server, tmp_path)
    assert not first.is_registered()
    first.register_device()
    device_id = first.get_device_id()
    assert iobeam.DEVICE_ID_RE.match(device_id)

    registrations = len(calls(iobeam_server, "POST", "/v1/devices"))
    again = client(iobeam_server, tmp_path)  # a restart
    assert again.get_device_id() == device_id
    again.register_device()  # an id is known and no other asked for: nothing happens
    again.register_device(device_id)
    assert len(calls(iobeam_server, "POST", "/v1/devices")) == registrations

    again.register_device("replacement")  # a different id replaces the stored one
    assert client(iobeam_server, tmp_path).get_device_id() == "replacement"


def test_register_without_path_keeps_nothing(iobeam_server, tmp_path):
    c = client(iobeam_server, None)
    c.register_device()
    assert c.is_registered()
    assert list(tmp_path.iterdir()) == []
    assert not client(iobeam_server, None).is_registered()


def test_register_taken_id_raises_with_the_servers_message(iobeam_server):
    client(iobeam_server).register_device("taken")
    with pytest.raises(iobeam.DuplicateIdError) as caught:
        client(iobeam_server).register_device("taken")
    assert caught.value.code == 150 and caught.value.status == 422
    assert caught.value.server_message and caught.value.server_message in str(caught.value)


def test_register_or_set_id_adopts_a_taken_id(iobeam_server, tmp_path):
    client(iobeam_server).register_device("shared")
    c = client(iobeam_server, tmp_path)
    c.registerOrSetId("shared")
    assert c.getDeviceId() == "shared"
    assert (tmp_path / "iobeam_device_id").read_text() == "shared"


@pytest.mark.parametrize("bad", ["", "with space", "semi;colon", "ünï", 42, None])
def test_register_refuses_bad_ids_before_sending(iobeam_server, bad):
    c = client(iobeam_server)
    before = len(iobeam_server.requests)
    with pytest.raises(ValueError, match="device id"):
        c.register_device(bad) if bad is not None else c.set_device_id(bad)
    assert len(iobeam_server.requests) == before


def test_a_damaged_device_id_file_says_what_to_do(iobeam_server, tmp_path):
    (tmp_path / "iobeam_device_id").write_text("not an id!\n")
    with pytest.raises(ValueError, match="delete the file"):
        client(iobeam_server, tmp_path)


# --------------------------------------------------------------------------- data and batching


@pytest.mark.parametrize(("points", "requests_expected"), [(999, 1), (1000, 1), (1001, 2), (2500, 3)])
def test_send_splits_at_1000_points(iobeam_server, points, requests_expected):
    c = client(iobeam_server).register_or_set_id("d1")
    for i in range(points):
        c.add_data_point("temperature", iobeam.DataPoint(float(i), timestamp=1_000 + i))
    assert c.send()
    sent = imports(iobeam_server)
    assert len(sent) == requests_expected
    assert len(points_of(iobeam_server, "d1")["temperature"]) == points


@pytest.mark.parametrize("columns", [3, 7, 1000])
def test_send_splits_rows_by_columns(iobeam_server, columns):
    c = client(iobeam_server).register_or_set_id("d2")
    names = [f"c{i}" for i in range(columns)]
    store = c.create_data_store(names)
    rows = 1000 // columns + 1  # one row more than fits one request
    for r in range(rows):
        store.add(10_000 + r, {n: r for n in names})
    assert c.send()
    assert len(imports(iobeam_server)) == 2
    stored = points_of(iobeam_server, "d2")
    assert sorted(stored) == sorted(names)
    assert all(len(v) == rows for v in stored.values())


def test_table_body_is_what_the_protocol_says():
    table = iobeam.tables(["a", "b"], [(5, {"a": 1}), (6, {"a": 2, "b": 3.5})])[0]
    assert table.body(3, "dev") == {
        "project_id": 3, "device_id": "dev", "timefmt": "usec",
        "sources": {"fields": ["time", "a", "b"], "data": [[5000, 1, None], [6000, 2, 3.5]]},
    }
    assert table.points == 3


def test_series_with_different_times_get_their_own_tables():
    out = iobeam.tables_from_series({"t": {1: 1.0, 2: 2.0}, "h": {1: 10, 2: 20}, "motion": {3: 1}})
    assert sorted(t.columns for t in out) == [("motion",), ("t", "h")]
    assert all(None not in values for t in out for _, values in t.rows)


def test_data_store_leaves_missing_columns_null(iobeam_server):
    c = client(iobeam_server).register_or_set_id("d3")
    store = c.createDataStore(["temperature", "humidity"])
    store.add(1000, {"temperature": 20.0})
    store.add(2000, {"temperature": 21.0, "humidity": 40})
    assert c.send()
    assert points_of(iobeam_server, "d3") == {"temperature": {1000: 20.0, 2000: 21.0}, "humidity": {2000: 40}}


@pytest.mark.parametrize("name", ["time", "TIME", "Time_Offset", "all", "ALL", ""])
def test_reserved_and_empty_series_names_are_refused_before_sending(iobeam_server, name):
    c = client(iobeam_server, deviceId="d4")
    with pytest.raises(ValueError, match="series name"):
        c.add_data_point(name, iobeam.DataPoint(1))
    with pytest.raises(ValueError, match="series name"):
        iobeam.DataStore(["ok", name])
    assert iobeam_server.requests == []


@pytest.mark.parametrize("value", ["21.5", None, float("nan"), float("inf"), [1]])
def test_data_points_must_be_finite_numbers(value):
    with pytest.raises(ValueError):
        iobeam.DataPoint(value, timestamp=1)


def test_data_point_timestamps_are_int_ms():
    with pytest.raises(ValueError, match="ms"):
        iobeam.DataPoint(1, timestamp=1.5)
    assert iobeam.DataPoint(True, timestamp=1).value == 1  # booleans go as 0/1
    assert abs(iobeam.DataPoint(1).timestamp - iobeam._now_ms()) < 5_000


def test_send_without_a_device_says_register_first(iobeam_server):
    c = client(iobeam_server)
    c.add_data_point("t", iobeam.DataPoint(1, timestamp=1))
    with pytest.raises(iobeam.IobeamError, match="register_device"):
        c.send()


# --------------------------------------------------------------------------- failures keep data


def test_a_failed_send_keeps_what_was_not_accepted(iobeam_server):
    c = client(iobeam_server).register_or_set_id("d5")
    for i in range(2500):
        c.add_data_point("t", iobeam.DataPoint(i, timestamp=1 + i))
    iobeam_server.inject(200, 1)  # the first import passes
    iobeam_server.inject(503, 1)  # the second fails
    with pytest.raises(iobeam.IobeamUnavailable) as caught:
        c.send()
    assert caught.value.status == 503
    assert isinstance(caught.value, iobeam.TransientUploadError)
    assert c.pending_points() == 1500
    assert c.send()
    assert c.pending_points() == 0
    assert len(points_of(iobeam_server, "d5")["t"]) == 2500


def test_429_carries_retry_after(iobeam_server):
    c = client(iobeam_server).register_or_set_id("d6")
    c.add_data_point("t", iobeam.DataPoint(1, timestamp=1))
    iobeam_server.inject(429, 1, retry_after_s=7)
    with pytest.raises(iobeam.IobeamUnavailable) as caught:
        c.send()
    assert caught.value.retry_after_s == 7


def test_a_refused_import_raises_permanent_with_the_servers_words(iobeam_server):
    c = client(iobeam_server).register_or_set_id("d7")
    iobeam_server.reject_series("forbidden")
    c.add_data_point("forbidden", iobeam.DataPoint(1, timestamp=1))
    with pytest.raises(iobeam.IobeamRefused) as caught:
        c.send()
    assert caught.value.status == 400
    assert "forbidden" in str(caught.value)
    assert isinstance(caught.value, iobeam.PermanentUploadError)


def test_an_unreachable_server_is_unavailable_not_refused(iobeam_server):
    iobeam_server.set_down(True)
    c = client(iobeam_server, deviceId="d8")
    with pytest.raises(iobeam.IobeamUnavailable, match="cannot reach"):
        c.get_timestamp()
    iobeam_server.set_down(False)
    assert c.get_timestamp() > 0


# --------------------------------------------------------------------------- tokens


@pytest.fixture
def clocked_server():
    clock = FakeClock(wall_ms=1_800_000_000_000)
    with IobeamEmulator(clock=clock, token_ttl_s=3 * DAY_S) as server:
        server.clock = clock
        yield server


def test_token_is_refreshed_a_day_before_it_expires(clocked_server):
    server = clocked_server
    seen = []
    c = iobeam.Iobeam(None, server.project_id, server.project_token, backend=server.url, deviceId="dev",
                      clock=server.clock, on_token=seen.append)
    c.get_timestamp()
    assert calls(server, "POST", "/v1/tokens/project") == []
    server.clock.advance(2 * DAY_S)  # exactly exp - 1 day
    c.get_timestamp()
    assert len(calls(server, "POST", "/v1/tokens/project")) == 1
    assert seen == [c.token] and c.token != server.project_token
    c.get_timestamp()
    assert len(calls(server, "POST", "/v1/tokens/project")) == 1  # the new token is good for 3 more days


def test_an_expired_token_is_refreshed_and_used(clocked_server):
    server = clocked_server
    c = iobeam.Iobeam(None, server.project_id, server.project_token, backend=server.url, clock=server.clock)
    server.clock.advance(30 * DAY_S)
    c.register_device("late")
    assert c.get_device_id() == "late"


def test_a_401_refreshes_once_and_retries(iobeam_server):
    c = client(iobeam_server, deviceId="d9")
    iobeam_server.inject(401, 1)
    assert c.get_timestamp() > 0
    assert len(calls(iobeam_server, "POST", "/v1/tokens/project")) == 1


def test_a_token_refused_twice_is_an_auth_error(iobeam_server):
    stale = iobeam_server.issue_token(refreshable=False)
    c = iobeam.Iobeam(None, iobeam_server.project_id, stale, backend=iobeam_server.url, deviceId="x")
    iobeam_server.inject(403, 1)
    with pytest.raises(iobeam.IobeamAuthError) as caught:
        c.get_timestamp()
    assert "token" in str(caught.value)
    assert isinstance(caught.value, iobeam.TransientUploadError)  # delivery keeps the readings
    assert stale not in str(caught.value)  # secrets never in messages


def test_read_only_token_cannot_import(iobeam_server):
    reader = iobeam_server.issue_token(write=False, refreshable=False)
    c = iobeam.Iobeam(None, iobeam_server.project_id, reader, backend=iobeam_server.url, deviceId="ro")
    client(iobeam_server).register_device("ro")
    c.add_data_point("t", iobeam.DataPoint(1, timestamp=1))
    with pytest.raises(iobeam.IobeamAuthError):
        c.send()
    assert c.pending_points() == 1


# --------------------------------------------------------------------------- transport


def test_one_session_per_base_url(iobeam_server):
    a = client(iobeam_server)
    b = client(iobeam_server)
    assert a._session is b._session is http.session_for(a.base_url)
    assert a.base_url == iobeam_server.url + "/v1/"
    assert iobeam.api_base_url(iobeam_server.url + "/v1") == a.base_url


def test_server_time(clocked_server):
    c = iobeam.Iobeam(None, clocked_server.project_id, clocked_server.project_token, backend=clocked_server.url)
    assert c.getTimestamp() == clocked_server.clock.time_ms()


@pytest.mark.parametrize("url", ["", "ftp://x", "localhost:8080", "http://x/?q=1"])
def test_bad_base_urls_are_refused(url):
    with pytest.raises(ValueError):
        iobeam.Iobeam(None, 1, "t", backend=url or " ")


@pytest.mark.parametrize(("project_id", "token"), [(0, "t"), (True, "t"), ("1", "t"), (1, ""), (1, None)])
def test_bad_credentials_are_refused_before_sending(project_id, token):
    with pytest.raises(ValueError):
        iobeam.Iobeam(None, project_id, token)
