"""Outbox: grouped commits, cursors, bounds, damaged and foreign files, full and read-only disks, kill -9."""
from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock, SystemClock
from sensorkit.errors import OutboxError, OutboxFull
from sensorkit.outbox import PRUNE_INTERVAL_S, Outbox
from sensorkit.outbox.chunks import HOT_MAX_COMMIT, HOT_SLOTS
from sensorkit.outbox.codec import MAX_CHUNK_READINGS, decode, encode
from sensorkit.outbox.status import dead_letters, purge_dead, read_status, retry_dead
from sensorkit.readings import Reading

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0  # how long a test waits for a thread before calling it stuck


def reading(value: object = 21.5, *, series: str = "s0_temperature", ts: int = 1_700_000_000_000,
            quantity: str = "temperature", unit: str = "°C") -> Reading:
    return Reading(series, series.split("_")[0], quantity, value, unit, ts)  # type: ignore[arg-type]


def numbered(count: int, *, series: str = "s0_temperature", start_ms: int = 1_700_000_000_000) -> list[Reading]:
    return [reading(float(n), series=series, ts=start_ms + n) for n in range(count)]


def everything(outbox: Outbox, uploader: str = "iobeam") -> list[tuple[int, Reading]]:
    return outbox.pending_batch(uploader, 10**9)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def open_outbox(path: Path, fake_clock: FakeClock) -> Iterator:
    opened: list[Outbox] = []

    def make(uploaders: tuple[str, ...] = ("iobeam",), **kwargs: object) -> Outbox:
        kwargs.setdefault("clock", fake_clock)
        outbox = Outbox(kwargs.pop("at", path), uploaders, **kwargs)  # type: ignore[arg-type]
        opened.append(outbox)
        return outbox

    yield make
    for outbox in opened:
        outbox.close()


# ---------------------------------------------------------------------- the codec
def test_codec_keeps_types_ids_and_timestamps() -> None:
    readings = [reading(True, series="door_state"), reading(7, series="pir_count"), reading(21.0),
                reading(-3, series="x_count", ts=1), reading(2**60, series="big_count")]
    ids: dict[tuple, int] = {}
    rows, contents = encode(readings, lambda key: ids.setdefault(key, len(ids) + 1), first_id=10)
    assert contents == []  # numbers need no content rows
    series = {sid: key for key, sid in ids.items()}
    decoded = [item for row in rows for item in decode(row, series, 0, 10**9)]
    assert [i for i, _ in decoded] == [10, 11, 12, 13, 14]
    values = [r.value for _, r in decoded]
    assert values[:4] == [True, 7, 21.0, -3]
    assert [type(v) for v in values] == [bool, int, float, int, float]  # ints past 2**53 become floats
    assert [r.timestamp_ms for _, r in decoded] == [r.timestamp_ms for r in readings]
    assert len(rows) == 3  # a clock jump of decades starts a new chunk, and ends it


def test_codec_bounds_chunks_and_decodes_a_slice() -> None:
    readings = numbered(MAX_CHUNK_READINGS + 10)
    rows, _ = encode(readings, lambda key: 1, first_id=1)
    assert [row[1] for row in rows] == [MAX_CHUNK_READINGS, 10]
    series = {1: ("s0_temperature", "s0", "temperature", "°C", 0)}
    part = decode(rows[0], series, 5, 8)
    assert [(i, r.value) for i, r in part] == [(5, 4.0), (6, 5.0), (7, 6.0)]


# ---------------------------------------------------------------------- writing and reading
def test_outbox_round_trip_keeps_values_and_order(open_outbox, fake_clock: FakeClock) -> None:
    outbox = open_outbox()
    batch = [reading(True, series="door_state", quantity="state", unit=""), reading(3, series="pir_count"),
             reading(21.25), reading(0.0)]
    outbox.add(batch)
    assert outbox.commit() == 4
    items = everything(outbox)
    assert [i for i, _ in items] == [1, 2, 3, 4]
    assert [r for _, r in items] == batch
    assert [type(r.value) for _, r in items] == [bool, int, float, float]


def test_outbox_groups_writes_into_one_commit_per_interval(open_outbox, fake_clock: FakeClock) -> None:
    outbox = open_outbox(commit_interval_s=1.0)
    outbox.add([reading(1.0)])
    fake_clock.advance(0.5)
    outbox.add([reading(2.0)])
    assert outbox.waiting("iobeam") == 0 and outbox.due_in_s() == pytest.approx(0.5)
    fake_clock.advance(0.5)
    outbox.add([reading(3.0)])  # the interval is up: this add commits all three
    assert outbox.waiting("iobeam") == 3
    assert outbox.due_in_s() == float("inf")


def test_outbox_commits_early_when_many_wait(open_outbox) -> None:
    outbox = open_outbox(commit_batch=100)
    outbox.add(numbered(99))
    assert outbox.waiting("iobeam") == 0
    outbox.add(numbered(1))
    assert outbox.waiting("iobeam") == 100


def test_outbox_committer_commits_a_lone_reading(open_outbox) -> None:
    outbox = open_outbox(clock=SystemClock(), commit_interval_s=0.05)
    committed = threading.Event()
    outbox.add_commit_listener(committed.set)
    outbox.start()
    outbox.add([reading(ts=SystemClock().time_ms())])
    assert committed.wait(WAIT_S)
    assert outbox.waiting("iobeam") == 1
    outbox.stop()


def test_outbox_add_never_waits_for_a_commit_in_progress(open_outbox) -> None:
    outbox = open_outbox(clock=SystemClock(), commit_interval_s=0.01)
    outbox.start()
    in_commit, release = threading.Event(), threading.Event()

    def slow_listener() -> None:  # runs in the committer while it holds nothing but its own thread
        in_commit.set()
        release.wait(WAIT_S)

    outbox.add_commit_listener(slow_listener)
    now_ms = SystemClock().time_ms()
    outbox.add([reading(ts=now_ms)])
    assert in_commit.wait(WAIT_S)
    outbox.add(numbered(10, start_ms=now_ms))  # the committer is busy: add() returns at once regardless
    release.set()
    outbox.stop()
    assert outbox.waiting("iobeam") == 11


def test_outbox_from_many_threads_keeps_every_series_in_order(open_outbox) -> None:
    outbox = open_outbox(clock=SystemClock(), commit_interval_s=0.005, commit_batch=50)
    outbox.start()
    now_ms = SystemClock().time_ms()

    def sensor(name: str) -> None:
        for n in range(500):
            outbox.add([reading(n, series=f"{name}_count", ts=now_ms + n)])

    threads = [threading.Thread(target=sensor, args=(f"s{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    outbox.stop()
    items = everything(outbox)
    assert [i for i, _ in items] == list(range(1, 4001))
    for i in range(8):
        assert [r.value for _, r in items if r.series == f"s{i}_count"] == list(range(500))


def test_outbox_rejects_what_is_not_a_reading(open_outbox) -> None:
    outbox = open_outbox()
    with pytest.raises(TypeError):
        outbox.add([{"value": 1}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="a number, a bool, text"):
        outbox.add([reading(None)])
    with pytest.raises(TypeError, match="a number, a bool, text"):
        outbox.add([reading([1, 2])])
    outbox.add([reading(1.0)])
    assert outbox.commit() == 1


# ---------------------------------------------------------------------- cursors
def test_outbox_cursor_moves_with_acks_and_survives_a_restart(open_outbox, path: Path) -> None:
    outbox = open_outbox(("iobeam", "byteport"))
    outbox.add(numbered(10))
    outbox.commit()
    batch = outbox.pending_batch("iobeam", 4)
    assert [i for i, _ in batch] == [1, 2, 3, 4]
    outbox.ack("iobeam", 4)
    outbox.ack("iobeam", 2)  # late or repeated acks never move a cursor back
    assert outbox.waiting("iobeam") == 6 and outbox.waiting("byteport") == 10
    outbox.close()
    again = open_outbox(("iobeam", "byteport", "console"))
    assert [i for i, _ in again.pending_batch("iobeam", 100)] == list(range(5, 11))
    assert again.waiting("byteport") == 10
    assert again.waiting("console") == 10  # a new uploader starts from the oldest stored reading
    again.add(numbered(1))
    again.commit()
    assert [i for i, _ in again.pending_batch("iobeam", 100)][-1] == 11  # ids go on, never reused


def test_outbox_removes_delivered_readings_in_bulk(open_outbox, fake_clock: FakeClock) -> None:
    outbox = open_outbox(("iobeam", "byteport"))
    outbox.add(numbered(100))
    outbox.commit()
    outbox.ack("iobeam", 100)
    outbox.ack("byteport", 60)
    fake_clock.advance(PRUNE_INTERVAL_S)
    outbox.add(numbered(1))
    outbox.commit()
    status = outbox.status()
    assert status.stored == 41  # 61..101: byteport still needs 61..100
    assert status.uploader("iobeam").waiting == 1 and status.uploader("byteport").waiting == 41
    assert status.dropped == 0


def test_outbox_ring_keeps_what_a_lagging_uploader_still_needs(open_outbox, path: Path) -> None:
    outbox = open_outbox(("iobeam", "byteport"))
    for n in range(3 * HOT_SLOTS + 5):  # one commit each: the ring of hot slots comes round three times
        outbox.add([reading(float(n), ts=1_700_000_000_000 + n)])
        outbox.commit()
        for reading_id, _ in outbox.pending_batch("iobeam", 10):
            outbox.ack("iobeam", reading_id)  # iobeam keeps up; byteport is down
    assert outbox.waiting("iobeam") == 0
    outbox.close()
    again = open_outbox(("iobeam", "byteport"))
    again.add([reading(-1.0)])
    again.commit()
    items = everything(again, "byteport")
    assert [i for i, _ in items] == list(range(1, 3 * HOT_SLOTS + 7))
    assert [r.value for _, r in items] == [float(n) for n in range(3 * HOT_SLOTS + 5)] + [-1.0]
    assert [i for i, _ in everything(again, "iobeam")] == [3 * HOT_SLOTS + 6]


def test_outbox_large_commits_go_behind_the_ring_in_order(open_outbox) -> None:
    outbox = open_outbox(("iobeam",))
    outbox.add(numbered(10, series="a_count"))
    outbox.commit()
    outbox.add(numbered(HOT_MAX_COMMIT + 1, series="b_count"))
    outbox.commit()
    outbox.add(numbered(10, series="c_count"))
    outbox.commit()
    items = everything(outbox)
    assert [i for i, _ in items] == list(range(1, HOT_MAX_COMMIT + 22))
    assert [r.series for _, r in items] == ["a_count"] * 10 + ["b_count"] * (HOT_MAX_COMMIT + 1) + ["c_count"] * 10


@pytest.mark.parametrize("seed", range(3))
def test_outbox_agrees_with_a_plain_list_under_random_use(open_outbox, fake_clock: FakeClock, seed: int) -> None:
    """Commits small and large, acks, restarts, pruning: each uploader always sees what a list would show."""
    rng = random.Random(seed)
    names = ("iobeam", "byteport")
    outbox = open_outbox(names)
    model: list[Reading] = []  # every reading ever committed, in order: id n is model[n - 1]
    cursors = dict.fromkeys(names, 0)
    for step in range(400):
        action = rng.random()
        if action < 0.5:
            size = rng.choice([1, 3, 10, 20, 31, 100, HOT_MAX_COMMIT + rng.randint(1, 300)])
            batch = [reading(float(len(model) + k), ts=1_700_000_000_000 + len(model) + k) for k in range(size)]
            outbox.add(batch)
            outbox.commit()
            model += batch
        elif action < 0.9:
            name = rng.choice(names)
            items = outbox.pending_batch(name, rng.randint(1, 150))
            expected = list(enumerate(model[cursors[name]:cursors[name] + len(items)], start=cursors[name] + 1))
            assert items == expected, f"step {step}"
            if items and rng.random() < 0.8:
                outbox.ack(name, items[-1][0])
                cursors[name] = items[-1][0]
        elif action < 0.95:
            fake_clock.advance(PRUNE_INTERVAL_S)
        else:
            outbox.close()
            outbox = open_outbox(names)
        for name in names:
            assert outbox.waiting(name) == len(model) - cursors[name]
    assert outbox.status().dropped == 0


def test_outbox_unknown_uploader_is_a_value_error(open_outbox) -> None:
    outbox = open_outbox()
    with pytest.raises(ValueError, match="not one of the outbox's uploaders"):
        outbox.pending_batch("nobody", 10)


# ---------------------------------------------------------------------- bounds
def test_outbox_full_drops_oldest_with_counter_and_warning(open_outbox, caplog) -> None:
    outbox = open_outbox(("iobeam", "byteport"), max_readings=100)
    outbox.add(numbered(60, series="a_temperature") + numbered(60, series="b_humidity"))
    with caplog.at_level(logging.WARNING, logger="sensorkit.outbox"):
        outbox.commit()
    assert outbox.waiting("iobeam") == 100  # new readings are never refused
    first = everything(outbox)[0][1]
    assert (first.series, first.value) == ("a_temperature", 20.0)
    status = outbox.status()
    assert status.stored == 100 and status.dropped == 20
    assert status.dropped_by_series == (("a_temperature", 20),)
    assert "dropped the 20 oldest undelivered reading(s) (a_temperature 20)" in caplog.text
    assert "max_readings=100" in caplog.text


def test_outbox_drops_what_is_older_than_max_age(open_outbox, fake_clock: FakeClock) -> None:
    outbox = open_outbox(max_age_s=3600)
    now = fake_clock.time_ms()
    outbox.add([reading(1.0, ts=now - 7200_000), reading(2.0, ts=now - 3000_000)])
    outbox.commit()
    fake_clock.advance(1000)  # the second reading is now 4000 s old as well
    outbox.add([reading(3.0, ts=fake_clock.time_ms())])
    outbox.commit()
    assert [r.value for _, r in everything(outbox)] == [3.0]
    assert outbox.status().dropped == 2


def test_outbox_does_not_count_delivered_readings_as_dropped(open_outbox) -> None:
    outbox = open_outbox(max_readings=10)
    outbox.add(numbered(10))
    outbox.commit()
    outbox.ack("iobeam", 10)
    outbox.add(numbered(5))
    outbox.commit()
    assert outbox.status().dropped == 0 and outbox.waiting("iobeam") == 5


def test_outbox_bounds_leave_a_batch_being_sent_until_it_is_settled(open_outbox) -> None:
    """A batch in flight may still arrive: dropping it would count as lost what the server then has."""
    outbox = open_outbox(max_readings=10)
    outbox.add(numbered(10))
    outbox.commit()
    sending = outbox.pending_batch("iobeam", 4)  # ids 1-4 go out...
    outbox.add(numbered(6, start_ms=1_700_000_100_000))
    outbox.commit()  # ...while 6 more make 16 > 10
    assert outbox.status().dropped == 0 and outbox.waiting("iobeam") == 16
    outbox.ack("iobeam", sending[-1][0])  # they arrived
    outbox.settled("iobeam")
    outbox.add(numbered(1, start_ms=1_700_000_200_000))
    outbox.commit()
    status = outbox.status()
    assert outbox.waiting("iobeam") == 10 and status.dropped == 3  # ids 5-7: never delivered, now dropped
    assert status.uploader("iobeam").delivered == 4


# ---------------------------------------------------------------------- status and dead letters
def test_outbox_status_per_uploader(open_outbox, fake_clock: FakeClock, path: Path) -> None:
    outbox = open_outbox(("iobeam", "byteport"))
    outbox.add(numbered(5))
    outbox.commit()
    items = outbox.pending_batch("iobeam", 5)
    outbox.ack("iobeam", 2)
    outbox.dead_letter("iobeam", items[2:3], "422: series name refused")
    outbox.note_error("byteport", "TransientUploadError: 503")
    outbox.add([reading()])  # not committed yet
    status = outbox.status()
    iobeam, byteport = status.uploader("iobeam"), status.uploader("byteport")
    assert (iobeam.waiting, iobeam.delivered, iobeam.dead_letters) == (2, 2, 1)
    assert iobeam.oldest_waiting_ms == items[3][1].timestamp_ms
    assert iobeam.last_success_ms == fake_clock.time_ms()
    assert (byteport.waiting, byteport.last_error) == (5, "TransientUploadError: 503")
    assert byteport.oldest_waiting_age_s(items[0][1].timestamp_ms + 1500) == 1.5
    assert status.unsaved == 1 and status.file_bytes > 0
    outbox.close()
    # The same, as `sensorkit outbox status` reads it from the file:
    other = read_status(path)
    assert [u.name for u in other.uploaders] == ["byteport", "iobeam"]
    assert other.uploader("iobeam").waiting == 3 and other.unsaved == 0 and other.writer_pid is None


def test_outbox_publishes_its_status_while_it_holds_the_file(open_outbox, path: Path) -> None:
    outbox = open_outbox(("iobeam",))
    with pytest.raises(OutboxError, match=rf"in use by sensorkit run \(pid {os.getpid()}\).*stop it first"):
        read_status(path)  # held exclusively, and nothing published yet
    outbox.add(numbered(6))
    outbox.commit()
    outbox.dead_letter("iobeam", outbox.pending_batch("iobeam", 1), "refused: too warm")
    outbox.settled("iobeam")
    outbox.start()
    status = read_status(path)  # from the snapshot the running outbox publishes in RAM
    assert status.writer_pid == os.getpid() and status.as_of_ms is not None
    assert status.uploader("iobeam").waiting == 5 and status.stored == 6
    assert status.uploader("iobeam").dead_letter_reasons == (("refused: too warm", 1),)
    with pytest.raises(OutboxError, match="stop it first"):
        retry_dead(path)
    with pytest.raises(OutboxError, match="stop it first"):
        purge_dead(path)
    with pytest.raises(OutboxError, match="stop it first"):
        dead_letters(path)


def test_outbox_shared_lets_other_processes_read_the_file(open_outbox, path: Path) -> None:
    outbox = open_outbox(("iobeam",), exclusive=False)
    outbox.add(numbered(2))
    outbox.commit()
    assert read_status(path).uploader("iobeam").waiting == 2


def test_outbox_dead_letters_can_be_retried_or_purged(open_outbox, path: Path) -> None:
    outbox = open_outbox(("iobeam", "byteport"))
    outbox.add(numbered(4) + [reading(True, series="door_state")])
    outbox.commit()
    items = outbox.pending_batch("iobeam", 5)
    outbox.dead_letter("iobeam", items[1:2], "refused")
    outbox.dead_letter("iobeam", items[4:5], "refused too")
    outbox.dead_letter("byteport", items[0:1], "no")
    assert outbox.waiting("iobeam") == 0  # the cursor moved past them with the dead letters
    assert outbox.retry_batch("iobeam", 10) == []
    assert outbox.status().uploader("iobeam").dead_letter_reasons == (("refused", 1), ("refused too", 1))
    outbox.close()
    listed = dead_letters(path, "iobeam")
    assert [(d.series, d.timestamp_ms, d.value, d.reason) for d in listed] == [
        (items[1][1].series, items[1][1].timestamp_ms, items[1][1].value, "refused"),
        ("door_state", items[4][1].timestamp_ms, True, "refused too")]
    assert type(listed[1].value) is bool and not listed[0].retry
    assert [d.uploader for d in dead_letters(path)] == ["iobeam", "iobeam", "byteport"]
    assert retry_dead(path, "iobeam") == 2  # the CLI, while sensorkit run is stopped
    outbox = open_outbox(("iobeam", "byteport"))
    retries = outbox.retry_batch("iobeam", 10)
    assert [r for _, r in retries] == [items[1][1], items[4][1]]
    assert type(retries[1][1].value) is bool
    outbox.retry_delivered("iobeam", [retries[0][0]])
    outbox.retry_refused("iobeam", [retries[1][0]], "still refused")
    status = outbox.status()
    assert status.uploader("iobeam").dead_letters == 1 and status.uploader("iobeam").dead_letters_to_retry == 0
    assert outbox.retry_dead() == 2 and outbox.purge_dead("iobeam") == 1
    outbox.close()
    assert purge_dead(path) == 1
    assert read_status(path).uploader("byteport").dead_letters == 0


# ---------------------------------------------------------------------- files that are not ours, or damaged
def test_outbox_refuses_a_file_that_is_not_sqlite(path: Path) -> None:
    path.write_bytes(b"temperature,humidity\n21.5,40\n")
    with pytest.raises(OutboxError, match="is not an SQLite database.*will not touch it"):
        Outbox(path, ["iobeam"])
    assert path.read_bytes() == b"temperature,humidity\n21.5,40\n"


def test_outbox_refuses_another_programs_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(OutboxError, match="another program.*tables: notes"):
        Outbox(path, ["iobeam"])
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_outbox_refuses_a_newer_schema(open_outbox, path: Path) -> None:
    open_outbox().close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(OutboxError, match="newer sensorkit"):
        Outbox(path, ["iobeam"])


def test_outbox_reports_a_damaged_file_and_leaves_it_alone(open_outbox, path: Path) -> None:
    outbox = open_outbox()
    for n in range(200):
        outbox.add(numbered(10, start_ms=1_700_000_000_000 + 10 * n))
        outbox.commit()
    outbox.close()
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 2048] = random.Random(1).randbytes(2048)
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxError, match="damaged.*recover"):
        Outbox(path, ["iobeam"])
    assert path.read_bytes() == bytes(data)


def test_outbox_second_writer_is_refused(open_outbox, path: Path) -> None:
    open_outbox()
    with pytest.raises(OutboxError, match=rf"in use by another sensorkit process \(pid {os.getpid()}\)"):
        Outbox(path, ["iobeam"])


def test_read_status_of_a_missing_outbox(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="no outbox at .* yet"):
        read_status(tmp_path / "none.sqlite")
    assert not (tmp_path / "none.sqlite").exists()


# ---------------------------------------------------------------------- read-only and full disks
@contextlib.contextmanager
def read_only(target: Path) -> Iterator[None]:
    """Make `target` unwritable for this process, root included (chattr +i), then restore it."""
    if os.geteuid() != 0:
        mode = target.stat().st_mode
        target.chmod(0o555 if target.is_dir() else 0o444)
        try:
            yield
        finally:
            target.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)


def test_outbox_in_a_read_only_dir_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with read_only(state), pytest.raises(OutboxError, match="read-only.*another state dir"):
        Outbox(state / "outbox.sqlite", ["iobeam"])


def test_outbox_read_only_file_is_a_clear_error_and_keeps_its_readings(open_outbox, path: Path) -> None:
    outbox = open_outbox()
    outbox.add(numbered(3))
    outbox.close()
    with read_only(path), pytest.raises(OutboxError, match="read-only"):
        Outbox(path, ["iobeam"])
    assert len(everything(open_outbox())) == 3


def test_outbox_full_file_keeps_stored_readings_and_queues_in_memory(open_outbox, path: Path, caplog) -> None:
    outbox = open_outbox(max_file_bytes=48 * 1024, max_pending=500)
    stored = 0
    with caplog.at_level(logging.ERROR, logger="sensorkit.outbox"), pytest.raises(OutboxFull, match="disk is full"):
        for n in range(10_000):
            outbox.add(numbered(100, start_ms=1_700_000_000_000 + 100 * n))
            stored += outbox.commit()
    status = outbox.status()
    assert status.stored == stored and status.unsaved == 100
    assert "wait in memory" in caplog.text
    outbox.add(numbered(450))  # past max_pending: the oldest in memory go, counted
    status = outbox.status()
    assert status.unsaved == 500 and status.dropped == 50
    assert [r.value for _, r in everything(outbox)[:3]] == [0.0, 1.0, 2.0]
    outbox.ack("iobeam", stored)  # delivered readings are removed at once when the disk is full
    assert outbox.commit() == 500
    assert outbox.waiting("iobeam") == 500 and outbox.status().dropped == 50


def test_outbox_on_a_really_full_disk(tmp_path: Path) -> None:
    """A small tmpfs fills up for real (ENOSPC); needs root, skipped elsewhere."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("needs root and permission to mount a small tmpfs")
    outbox = None
    try:
        outbox = Outbox(mount / "outbox.sqlite", ["iobeam"], clock=FakeClock())
        filler = mount / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: the disk is full
        finally:
            os.close(fd)
        committed = 0
        with pytest.raises(OutboxFull):
            for n in range(1000):
                outbox.add(numbered(100, start_ms=1_700_000_000_000 + 100 * n))
                committed += outbox.commit()
        assert outbox.status().unsaved == 100
        filler.unlink()
        committed += outbox.commit()
        assert outbox.waiting("iobeam") == committed
        assert [r.value for _, r in everything(outbox)[:2]] == [0.0, 1.0]
    finally:
        if outbox is not None:
            outbox.close()
        subprocess.run(["umount", str(mount)], check=True)


# ---------------------------------------------------------------------- kill -9
CHILD = """
import sys
import time
from sensorkit.outbox import Outbox
from sensorkit.readings import Reading
path, series = sys.argv[1], sys.argv[2]
outbox = Outbox(path, ["iobeam"], commit_interval_s=0.002, commit_batch=200)
counted = outbox.waiting("iobeam")
outbox.add_commit_listener(lambda: print(outbox.waiting("iobeam") - counted, flush=True))
outbox.start()
n, now_ms = 0, time.time_ns() // 1_000_000
while True:
    outbox.add([Reading(series, "child", "count", n + k, "", now_ms + n + k) for k in range(20)])
    n += 20
    time.sleep(0.001)  # a sampler's pace: a flood would (rightly) be trimmed to max_pending
"""


def test_outbox_survives_kill_9_without_losing_a_committed_reading(path: Path) -> None:
    rng = random.Random(7)
    reported: dict[str, int] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_ in range(5):
        series = f"round{round_}_count"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), series], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.strip(), child.stderr.read() if child.stderr else ""
        lines = [first] + [child.stdout.readline() for _ in range(rng.randint(5, 60))]  # some commits later
        child.kill()
        rest = lines + child.stdout.read().split()
        child.wait()
        reported[series] = max(int(line) for line in rest if line.strip())
    assert read_status(path).stored >= sum(reported.values())  # `sensorkit outbox status` after a crash
    outbox = Outbox(path, ["iobeam"])
    items = everything(outbox)
    outbox.close()
    assert [i for i, _ in items] == list(range(1, len(items) + 1))
    for series, count in reported.items():
        values = [r.value for _, r in items if r.series == series]
        assert len(values) >= count > 0
        assert values == list(range(len(values)))
