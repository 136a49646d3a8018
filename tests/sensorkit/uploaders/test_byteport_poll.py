"""Polling a directory and storing what changed, against the local Byteport server; no sleeping."""
from __future__ import annotations

import threading

import pytest

from sensorkit.clock import FakeClock
from sensorkit.uploaders.byteport import ByteportHttpClient, DirectoryPoller


@pytest.fixture
def clock():
    return FakeClock(wall_ms=1_700_000_000_000)


def poller(server, directory, clock):
    client = ByteportHttpClient(server.namespace, server.key, "barDev1", base_url=server.url,
                                check_credentials=False, clock=clock)
    return DirectoryPoller(client, directory, "barDev1", clock=clock)


def history(server):
    """[(ms, {field: value})] of the accepted stores, in order."""
    return [(record.ms, dict(record.fields)) for record in server.stores]


def test_poll_stores_added_and_changed_files_and_not_unchanged_ones(make_byteport_server, tmp_path, clock):
    server = make_byteport_server(keep_stores=True)
    (tmp_path / "temperature").write_text("21.5")
    (tmp_path / "status").write_text("ok")
    watch = poller(server, tmp_path, clock)
    assert sorted(watch.poll()) == ["status", "temperature"]  # the first poll: every file is new
    clock.advance(5)
    assert watch.poll() == []  # nothing changed: nothing sent
    (tmp_path / "temperature").write_text("22.0")
    (tmp_path / "humidity").write_text("48")
    clock.advance(5)
    assert sorted(watch.poll()) == ["humidity", "temperature"]
    clock.advance(5)
    (tmp_path / "temperature").write_text("22.0")  # written again, same content
    assert watch.poll() == []
    assert history(server) == [
        (1_700_000_000_000, {"temperature": 21.5, "status": "ok"}),
        (1_700_000_010_000, {"temperature": 22.0, "humidity": 48}),
    ]


def test_a_failed_store_is_sent_at_the_next_poll_with_the_time_it_was_seen(make_byteport_server, tmp_path, clock,
                                                                          caplog):
    server = make_byteport_server(keep_stores=True)
    (tmp_path / "temperature").write_text("21.5")
    watch = poller(server, tmp_path, clock)
    server.set_down(True)
    assert watch.poll() == []
    assert watch.pending == {"temperature": "21.5"}
    clock.advance(5)
    server.set_down(False)
    server.inject(503)
    assert watch.poll() == []
    clock.advance(5)
    (tmp_path / "status").write_text("ok")  # a change seen while the earlier one still waits
    assert sorted(watch.poll()) == ["status", "temperature"]
    assert history(server) == [(1_700_000_000_000, {"temperature": 21.5}), (1_700_000_010_000, {"status": "ok"})]
    assert watch.pending == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "trying again at the next poll" in warnings[0]  # the repeat is not a warning


def test_a_file_that_changes_while_waiting_is_sent_with_its_newest_content(make_byteport_server, tmp_path, clock):
    server = make_byteport_server(keep_stores=True)
    (tmp_path / "temperature").write_text("21.5")
    watch = poller(server, tmp_path, clock)
    server.inject(500)
    watch.poll()
    clock.advance(5)
    (tmp_path / "temperature").write_text("23.0")
    watch.poll()
    assert history(server) == [(1_700_000_005_000, {"temperature": 23.0})]


def test_a_removed_file_that_comes_back_is_added_again(make_byteport_server, tmp_path, clock):
    server = make_byteport_server(keep_stores=True)
    (tmp_path / "door").write_text("open")
    watch = poller(server, tmp_path, clock)
    watch.poll()
    (tmp_path / "door").unlink()
    clock.advance(5)
    assert watch.poll() == []
    (tmp_path / "door").write_text("open")
    clock.advance(5)
    assert watch.poll() == ["door"]


def test_the_seed_call_blocks_until_stopped_from_another_thread(byteport_server, tmp_path, clock):
    client = ByteportHttpClient(byteport_server.namespace, byteport_server.key, "barDev1",
                                base_url=byteport_server.url, clock=clock)
    (tmp_path / "temperature").write_text("21.5")
    polls = []

    def wait(seconds):  # stands in for the poll interval: time passes at once, a file changes
        polls.append(seconds)
        clock.advance(seconds)
        (tmp_path / "temperature").write_text(str(21.5 + len(polls)))
        return len(polls) >= 3

    client.poll_directory_and_store_upon_content_change(tmp_path, "barDev1", poll_interval=10, wait=wait)
    assert polls == [10, 10, 10]
    assert [p.value for p in byteport_server.points("barDev1", "temperature")] == [21.5, 22.5, 23.5]

    worker = threading.Thread(target=client.poll_directory_and_store_upon_content_change,
                              args=(tmp_path, "barDev1"), kwargs={"poll_interval": 3600}, daemon=True)
    worker.start()
    client.stop_polling()  # from this thread: the hour-long wait ends at once
    worker.join(10)
    assert not worker.is_alive()


def test_poll_interval_must_be_positive(byteport_server, tmp_path):
    client = ByteportHttpClient(byteport_server.namespace, byteport_server.key, "barDev1",
                                base_url=byteport_server.url)
    with pytest.raises(ValueError, match="poll_interval"):
        client.poll_directory_and_store_upon_content_change(tmp_path, "barDev1", poll_interval=0)
