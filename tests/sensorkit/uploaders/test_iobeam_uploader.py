"""The iobeam uploader: Readings in, table imports out, failures sorted for delivery."""
from __future__ import annotations

import json
import os
import stat

import pytest

from sensorkit.clock import FakeClock
from sensorkit.emulators.iobeam import IobeamEmulator
from sensorkit.errors import PermanentUploadError, TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders import build_uploader
from sensorkit.uploaders.settings import IOBEAM, UploaderConfig

DAY_S = 86400


def settings(server, **overrides):
    values = {k.name: k.default for k in IOBEAM.keys if k.default is not None}
    values.update(project_id=server.project_id, token=server.project_token, base_url=server.url)
    values.update(overrides)
    return UploaderConfig("iobeam", values)


def readings(n, start_ms=1_700_000_000_000, sensors=("air",)):
    out = []
    for i in range(n):
        for sensor in sensors:
            t = start_ms + i * 1000
            out.append(Reading(f"{sensor}_temperature", sensor, "temperature", 20.0 + i / 10, "°C", t))
            out.append(Reading(f"{sensor}_humidity", sensor, "humidity", 50.0 - i / 10, "%RH", t))
    return out


def stored(server, device_id):
    out = {}
    for point in server.points(device_id=device_id):
        out.setdefault(point.series, {})[point.time_us // 1000] = point.value
    return out


def test_send_delivers_every_reading_with_ms_timestamps(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server), tmp_path)
    batch = readings(300, sensors=("air", "soil"))
    uploader.send(batch)
    device_id = (tmp_path / "iobeam_device_id").read_text()
    got = stored(iobeam_server, device_id)
    want = {}
    for r in batch:
        want.setdefault(r.series, {})[r.timestamp_ms] = r.value
    assert got == want
    # two sensors, two columns each: 600 rows of 2 columns -> 500 per request
    assert len([r for r in iobeam_server.requests if r[1].startswith("/v1/imports")]) == 2


def test_booleans_arrive_as_0_and_1(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, device_id="door-pi"), tmp_path)
    uploader.send([Reading("door", "door", "state", True, "", 1000), Reading("door", "door", "state", False, "", 2000)])
    assert stored(iobeam_server, "door-pi") == {"door": {1000: 1, 2000: 0}}


def test_registers_once_and_keeps_the_id(iobeam_server, tmp_path):
    build_uploader(settings(iobeam_server), tmp_path).send(readings(1))
    device_id = (tmp_path / "iobeam_device_id").read_text()
    registrations = [r for r in iobeam_server.requests if r[:2] == ("POST", "/v1/devices")]
    restarted = build_uploader(settings(iobeam_server), tmp_path)
    restarted.send(readings(1, start_ms=1_800_000_000_000))
    assert restarted.ensure_device() == device_id
    assert [r for r in iobeam_server.requests if r[:2] == ("POST", "/v1/devices")] == registrations


def test_a_configured_device_id_is_registered_or_adopted(iobeam_server, tmp_path):
    build_uploader(settings(iobeam_server, device_id="gh-1"), tmp_path / "a").send(readings(1))
    # a second install with the same id adopts it instead of failing on code 150
    build_uploader(settings(iobeam_server, device_id="gh-1"), tmp_path / "b").send(readings(2))
    assert (tmp_path / "b" / "iobeam_device_id").read_text() == "gh-1"
    assert len(stored(iobeam_server, "gh-1")["air_temperature"]) == 2


def test_a_resent_batch_does_not_double(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, device_id="twice"), tmp_path)
    batch = readings(50)
    uploader.send(batch)
    uploader.send(batch)
    assert len(iobeam_server.points(device_id="twice")) == len(batch)


def test_server_trouble_is_transient(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, device_id="t1"), tmp_path)
    uploader.ensure_device()
    iobeam_server.inject(503, 1)
    with pytest.raises(TransientUploadError):
        uploader.send(readings(1))
    iobeam_server.inject(429, 1, retry_after_s=12)
    with pytest.raises(TransientUploadError) as caught:
        uploader.send(readings(1))
    assert caught.value.retry_after_s == 12
    iobeam_server.set_down(True)
    with pytest.raises(TransientUploadError, match="cannot reach"):
        uploader.send(readings(1))


def test_refused_data_is_permanent(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, device_id="t2"), tmp_path)
    iobeam_server.reject_series("air_humidity")
    with pytest.raises(PermanentUploadError, match="air_humidity"):
        uploader.send(readings(1))


def test_a_wrong_url_keeps_the_data(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, device_id="t3", base_url=iobeam_server.url + "/wrong/"),
                              tmp_path)
    with pytest.raises(TransientUploadError, match="base_url"):
        uploader.send(readings(1))


def test_a_wrong_project_keeps_the_data(iobeam_server, tmp_path):
    uploader = build_uploader(settings(iobeam_server, project_id=iobeam_server.project_id + 1), tmp_path)
    with pytest.raises(TransientUploadError) as caught:
        uploader.send(readings(1))
    assert not isinstance(caught.value, PermanentUploadError)
    assert iobeam_server.project_token not in str(caught.value)


def test_a_refreshed_token_is_kept_for_the_next_start(tmp_path):
    clock = FakeClock(wall_ms=1_800_000_000_000)
    with IobeamEmulator(clock=clock, token_ttl_s=3 * DAY_S) as server:
        first = build_uploader(settings(server, device_id="tok"), tmp_path, clock=clock)
        first.send(readings(1))
        clock.advance(2 * DAY_S)
        first.send(readings(1, start_ms=1_800_000_100_000))
        kept = json.loads((tmp_path / "iobeam_token").read_text())
        assert kept["token"] == first.client.token != server.project_token
        assert stat.S_IMODE(os.stat(tmp_path / "iobeam_token").st_mode) == 0o600

        clock.advance(2 * DAY_S)  # the config's token is now expired; the kept one is not
        second = build_uploader(settings(server, device_id="tok"), tmp_path, clock=clock)
        assert second.client.token == kept["token"]
        refreshes = len([r for r in server.requests if r[1] == "/v1/tokens/project"])
        second.send(readings(1, start_ms=1_800_000_200_000))
        assert len([r for r in server.requests if r[1] == "/v1/tokens/project"]) == refreshes + 1

        # a new token in the config wins over the kept one
        fresh = server.issue_token()
        third = build_uploader(settings(server, device_id="tok", token=fresh), tmp_path, clock=clock)
        assert third.client.token == fresh


def test_a_server_that_forgot_the_device_gets_it_registered_again(iobeam_server, tmp_path):
    (tmp_path / "iobeam_device_id").write_text("remembered-pi")  # from a server that lost its data
    uploader = build_uploader(settings(iobeam_server), tmp_path)
    uploader.send(readings(3))
    assert [d.device_id for d in iobeam_server.devices()] == ["remembered-pi"]
    assert len(stored(iobeam_server, "remembered-pi")["air_temperature"]) == 3


# -- check_device: what `sensorkit register` asks the server ------------------------------------------


def device_posts(server):
    return server.request_count(method="POST", path="/v1/devices")


def test_check_device_registers_when_no_id_is_stored(iobeam_server, tmp_path):
    from sensorkit.uploaders.iobeam_uploader import REGISTERED

    check = build_uploader(settings(iobeam_server), tmp_path).check_device()
    assert check.outcome == REGISTERED
    assert [d.device_id for d in iobeam_server.devices()] == [check.device_id]
    assert (tmp_path / "iobeam_device_id").read_text() == check.device_id


def test_check_device_asks_the_server_about_a_stored_id(iobeam_server, tmp_path):
    from sensorkit.uploaders.iobeam_uploader import KNOWN

    first = build_uploader(settings(iobeam_server), tmp_path).check_device()
    asked = device_posts(iobeam_server)
    check = build_uploader(settings(iobeam_server), tmp_path).check_device()
    assert check == (first.device_id, KNOWN)
    assert device_posts(iobeam_server) == asked + 1  # asked, not taken on trust
    assert [d.device_id for d in iobeam_server.devices()] == [first.device_id]


def test_check_device_registers_again_a_device_the_server_forgot(make_iobeam_server, tmp_path):
    from sensorkit.uploaders.iobeam_uploader import REGISTERED_AGAIN

    secret = b"kept across the restart"
    first = make_iobeam_server(secret=secret)
    device_id = build_uploader(settings(first), tmp_path).check_device().device_id
    first.stop()
    forgetful = make_iobeam_server(secret=secret)  # memory storage: its devices are gone
    check = build_uploader(settings(forgetful, token=first.project_token), tmp_path).check_device()
    assert check == (device_id, REGISTERED_AGAIN)
    assert [d.device_id for d in forgetful.devices()] == [device_id]


def test_check_device_with_a_refused_token_is_an_auth_error_without_the_token(iobeam_server, tmp_path):
    from sensorkit.uploaders.iobeam import IobeamAuthError

    build_uploader(settings(iobeam_server), tmp_path).check_device()
    other = IobeamEmulator().start()  # another server's token: well formed, badly signed here
    try:
        token = other.project_token
    finally:
        other.stop()
    with pytest.raises(IobeamAuthError) as caught:
        build_uploader(settings(iobeam_server, token=token), tmp_path).check_device()
    assert isinstance(caught.value, TransientUploadError) and caught.value.status in (401, 403)
    assert "put a valid token" in str(caught.value)
    assert token not in str(caught.value) and token[-12:] not in str(caught.value)


def test_check_device_against_a_server_that_is_down_is_unavailable(iobeam_server, tmp_path):
    from sensorkit.uploaders.iobeam import IobeamUnavailable

    build_uploader(settings(iobeam_server), tmp_path).check_device()
    iobeam_server.set_down(True)
    with pytest.raises(IobeamUnavailable, match="Connection refused"):
        build_uploader(settings(iobeam_server), tmp_path).check_device()


def test_check_device_says_what_to_check_when_the_server_will_not_register(iobeam_server, tmp_path):
    build_uploader(settings(iobeam_server), tmp_path).check_device()
    with pytest.raises(TransientUploadError, match="check base_url"):
        build_uploader(settings(iobeam_server, base_url=iobeam_server.url + "/elsewhere/"), tmp_path).check_device()
    with pytest.raises(TransientUploadError, match="project_id 2 is not the token's project"):
        build_uploader(settings(iobeam_server, project_id=2), tmp_path).check_device()
