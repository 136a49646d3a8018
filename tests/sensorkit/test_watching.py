"""`[[watch]]` at run time: what becomes a reading, when, what is recorded for a restart; no sleeping."""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock
from sensorkit.config.model import WatchConfig
from sensorkit.errors import OutboxError
from sensorkit.readings import MAX_VALUE_BYTES, Reading
from sensorkit.watching import FILE_QUANTITY, Watching, state_path

HOUR_NS = 3600 * 10**9


def settled(path: Path, content: bytes | str) -> Path:
    """Write a file with an mtime an hour ago, as a file written before the run looks."""
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    mtime = time.time_ns() - HOUR_NS
    os.utime(path, ns=(mtime, mtime))
    return path


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[Reading]] = []

    def __call__(self, readings: list[Reading]) -> None:
        self.batches.append(list(readings))

    def take(self) -> dict[str, Reading]:
        """The readings handed on since the last take, by series."""
        out = {r.series: r for batch in self.batches for r in batch}
        self.batches.clear()
        return out


class Commits:
    """The outbox's commit as Watching sees it: fails while `failing`, counts the calls that worked."""

    def __init__(self) -> None:
        self.failing = False
        self.done = 0
        self.before: list[bool] = []  # was the record file there at each call?
        self.record: Path | None = None

    def __call__(self) -> None:
        if self.record is not None:
            self.before.append(self.record.exists())
        if self.failing:
            raise OutboxError("the outbox outbox.sqlite cannot be written: disk full")
        self.done += 1


@pytest.fixture
def clock():
    return FakeClock(wall_ms=1_700_000_000_000)


@pytest.fixture
def state_dir(tmp_path):
    directory = tmp_path / "state"
    directory.mkdir()
    return directory


@pytest.fixture
def files(tmp_path):
    directory = tmp_path / "files"
    directory.mkdir()
    return directory


def watch(directory, **options) -> WatchConfig:
    return WatchConfig(name=options.pop("name", "files"), path=directory, device_uid="pi-1", **options)


def test_watching_hands_on_added_and_changed_files_once_each(files, clock):
    settled(files / "temperature", "21.5")
    settled(files / "status", "ok")
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock)
    assert watching.poll() == 5.0
    first = sink.take()
    assert sorted(first) == ["status", "temperature"]
    reading = first["temperature"]
    assert (reading.sensor, reading.quantity, reading.value, reading.unit) == ("files", FILE_QUANTITY, "21.5", "")
    assert {r.timestamp_ms for r in first.values()} == {1_700_000_000_000}  # one look, one time

    clock.advance(5)
    watching.poll()
    assert sink.take() == {}  # unchanged: not handed on again
    settled(files / "temperature", "22.0")
    settled(files / "status", "ok")  # written again with the same content
    settled(files / "humidity", "48")
    clock.advance(5)
    watching.poll()
    again = sink.take()
    assert {k: r.value for k, r in again.items()} == {"temperature": "22.0", "humidity": "48"}
    assert {r.timestamp_ms for r in again.values()} == {1_700_000_010_000}


def test_watching_removed_and_renamed_files(files, clock):
    settled(files / "door", "open")
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock)
    watching.poll()
    sink.take()
    (files / "door").rename(files / "gate")  # renamed: a new field
    clock.advance(5)
    watching.poll()
    assert {k: r.value for k, r in sink.take().items()} == {"gate": "open"}
    (files / "gate").unlink()
    clock.advance(5)
    watching.poll()
    assert sink.take() == {}
    settled(files / "gate", "open")  # back after it was removed: added again
    clock.advance(5)
    watching.poll()
    assert list(sink.take()) == ["gate"]


def test_watching_text_is_text_anything_else_is_bytes_with_a_media_type(files, clock):
    settled(files / "note", "grüße\n")
    settled(files / "nul", b"a\x00b")
    settled(files / "latin1", "grüße".encode("latin-1"))
    settled(files / "empty", b"")
    sink = Sink()
    Watching([watch(files)], sink, clock=clock).poll()
    got = sink.take()
    assert got["note"].value == "grüße\n" and got["note"].media_type is None
    assert got["empty"].value == ""
    assert (got["nul"].value, got["nul"].media_type) == (b"a\x00b", "application/octet-stream")
    assert got["latin1"].value == "grüße".encode("latin-1")

    other = files.parent / "snaps"
    other.mkdir()
    settled(other / "snap", b"\x89PNG\r\n\x1a\n")
    Watching([watch(other, name="snaps", media_type="image/png")], sink, clock=clock).poll()
    assert sink.take()["snap"].media_type == "image/png"


def test_watching_a_name_byteport_cannot_take_is_reported_once_and_skipped(files, clock, caplog):
    settled(files / "status.txt", "ok")
    settled(files / "x", "1")
    settled(files / "fine", "1")
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            watching.poll()
            clock.advance(5)
    assert list(sink.take()) == ["fine"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any(f"{files / 'status.txt'}: its name is not a Byteport field name: it must be 2 to 32" in w
               for w in warnings)


def test_watching_a_file_over_the_bound_is_reported_once_per_change(files, clock, caplog):
    big = settled(files / "big", b"z" * (MAX_VALUE_BYTES + 1))
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock)
    with caplog.at_level(logging.WARNING):
        watching.poll()
        clock.advance(5)
        watching.poll()
        assert len(caplog.records) == 1 and "1,048,577 bytes, more than the 1,048,576" in caplog.text
        big.write_bytes(b"y" * (MAX_VALUE_BYTES + 2))  # changed, still too large: said again
        clock.advance(5)
        watching.poll()
        assert len(caplog.records) == 2
        settled(big, b"small now")
        clock.advance(5)
        watching.poll()
    assert sink.take()["big"].value == "small now"


def test_watching_an_unreadable_file_or_a_vanished_directory_is_a_warning_and_the_watch_goes_on(files, clock,
                                                                                               caplog):
    (files / "broken").symlink_to("/proc/self/mem")  # a regular file even root cannot read
    settled(files / "fine", "1")
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock)
    with caplog.at_level(logging.WARNING):
        watching.poll()
        assert list(sink.take()) == ["fine"]
        assert "broken: it cannot be read: Input/output error" in caplog.text
        shutil.rmtree(files)
        for _ in range(2):
            clock.advance(5)
            watching.poll()
        assert caplog.text.count("cannot list") == 1  # once while it lasts
        files.mkdir()
        settled(files / "fine", "1")  # the same content: it was stored already
        settled(files / "new", "2")
        clock.advance(5)
        watching.poll()
    assert list(sink.take()) == ["new"]
    assert "can be listed again" in caplog.text


def test_watching_each_watch_on_its_own_interval(tmp_path, clock):
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir()
    slow.mkdir()
    sink = Sink()
    watching = Watching([watch(fast, name="fast", interval_s=1.0), watch(slow, name="slow", interval_s=3.0)], sink,
                        clock=clock)
    assert watching.poll() == 1.0
    looked = []
    for second in range(1, 7):
        settled(fast / "nn", str(second))
        settled(slow / "nn", str(second))
        clock.advance(1)
        watching.poll()
        looked.append(sorted(r.sensor for batch in sink.batches for r in batch))
        sink.batches.clear()
    assert looked == [["fast"], ["fast"], ["fast", "slow"], ["fast"], ["fast"], ["fast", "slow"]]


def test_watching_pattern_and_hidden_files(files, clock):
    for name in ("snap1", "snap2", "notes", ".snap3"):
        settled(files / name, name)
    sink = Sink()
    Watching([watch(files, pattern="snap*")], sink, clock=clock).poll()
    assert sorted(sink.take()) == ["snap1", "snap2"]


def test_watching_a_disabled_watch_does_not_look(files, clock):
    settled(files / "nn", "1")
    sink = Sink()
    watching = Watching([watch(files, enabled=False)], sink, clock=clock)
    watching.poll()
    assert watching.watches == [] and sink.take() == {}


# ---------------------------------------------------------------------------------------- the record

def test_watching_record_is_written_after_the_commit_and_a_restart_sends_only_what_changed(files, state_dir, clock):
    settled(files / "aa", "1")
    settled(files / "bb", "2")
    commits = Commits()
    commits.record = state_path(state_dir, "files")
    sink = Sink()
    Watching([watch(files)], sink, clock=clock, commit=commits, state_dir=state_dir).poll()
    assert sorted(sink.take()) == ["aa", "bb"]
    assert commits.before == [False]  # the commit came first, the record after it
    record = json.loads(commits.record.read_text())
    assert (record["directory"], record["device_uid"]) == (str(files), "pi-1")
    assert sorted(record["files"]) == ["aa", "bb"]

    settled(files / "bb", "3")  # changed while the run was away
    restarted = Watching([watch(files)], sink, clock=clock, commit=commits, state_dir=state_dir)
    restarted.poll()
    assert {k: r.value for k, r in sink.take().items()} == {"bb": "3"}  # a: unchanged, not sent again


def test_watching_nothing_is_recorded_while_the_commit_fails_and_nothing_is_handed_on_twice(files, state_dir, clock,
                                                                                          caplog):
    settled(files / "aa", "1")
    commits = Commits()
    commits.failing = True
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock, commit=commits, state_dir=state_dir)
    with caplog.at_level(logging.WARNING):
        watching.poll()
        clock.advance(5)
        watching.poll()
    assert len(sink.take()) == 1  # queued in the outbox's memory once; not made again
    assert not state_path(state_dir, "files").exists()  # a restart now sends it again: never lost
    assert caplog.text.count("watched files wait in memory") == 1
    commits.failing = False
    clock.advance(5)
    watching.poll()
    assert "aa" in json.loads(state_path(state_dir, "files").read_text())["files"]


def test_watching_a_kill_before_the_record_sends_the_file_again(files, state_dir, clock):
    """A run killed after handing a file on but before its record: the restart sends it again (no loss)."""
    settled(files / "aa", "1")
    sink = Sink()

    def killed() -> None:
        raise OutboxError("killed before the commit")  # the record is never written

    Watching([watch(files)], sink, clock=clock, commit=killed, state_dir=state_dir).poll()
    assert list(sink.take()) == ["aa"]
    Watching([watch(files)], sink, clock=clock, commit=Commits(), state_dir=state_dir).poll()
    assert list(sink.take()) == ["aa"]


def test_watching_a_record_of_another_directory_or_device_or_a_broken_one_is_not_used(files, state_dir, clock,
                                                                                    caplog):
    settled(files / "aa", "1")
    sink = Sink()
    Watching([watch(files)], sink, clock=clock, commit=Commits(), state_dir=state_dir).poll()
    sink.take()
    Watching([replace(watch(files), device_uid="pi-2")], sink, clock=clock, commit=Commits(),
             state_dir=state_dir).poll()
    assert list(sink.take()) == ["aa"]  # another device has not got it
    state_path(state_dir, "files").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        Watching([watch(files)], sink, clock=clock, commit=Commits(), state_dir=state_dir).poll()
    assert list(sink.take()) == ["aa"] and "every file of the watch is sent again" in caplog.text


def test_watching_without_an_outbox_keeps_the_record_in_memory(files, tmp_path, clock):
    settled(files / "aa", "1")
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock, state_dir=tmp_path / "state")
    watching.poll()
    clock.advance(5)
    watching.poll()
    assert list(sink.take()) == ["aa"] and not (tmp_path / "state").exists()


def test_watching_run_ends_after_its_duration_on_the_fake_clock(files, clock):
    import threading

    settled(files / "aa", "1")
    sink = Sink()

    class Stepping(FakeClock):
        def wait(self, event, seconds):  # time passes at once, as a test clock's would
            self.advance(seconds)
            return event.is_set()

    stepping = Stepping(wall_ms=1_700_000_000_000)
    Watching([watch(files, interval_s=2.0)], sink, clock=stepping).run(threading.Event(), duration_s=7.0)
    assert stepping.monotonic() == 1007.0 and list(sink.take()) == ["aa"]


def test_watching_records_nothing_while_the_clock_is_not_trusted(files, state_dir, clock):
    """Held readings of a boot that ends before the sync are never sent: until the sync the record is not
    written, so after such a reboot the file goes again instead of counting as stored."""
    settled(files / "aa", "1")
    commits = Commits()
    trusted = [False]
    sink = Sink()
    watching = Watching([watch(files)], sink, clock=clock, commit=commits, state_dir=state_dir,
                        trusted=lambda: trusted[0])
    watching.poll()
    assert list(sink.take()) == ["aa"] and not state_path(state_dir, "files").exists()
    rebooted = Watching([watch(files)], sink, clock=clock, commit=commits, state_dir=state_dir,
                        trusted=lambda: trusted[0])
    rebooted.poll()
    assert list(sink.take()) == ["aa"]  # sent again: the first copy is held for good
    trusted[0] = True
    clock.advance(5)
    rebooted.poll()
    assert sink.take() == {} and "aa" in json.loads(state_path(state_dir, "files").read_text())["files"]
