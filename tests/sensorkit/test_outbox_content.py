"""The outbox with text and bytes: stored beside the 14-byte records, removed with them, dead letters, the CLI."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorkit.clock import FakeClock
from sensorkit.outbox import PRUNE_INTERVAL_S, Outbox
from sensorkit.outbox.codec import KIND_BYTES, KIND_TEXT, RECORD, content_end, decode, encode
from sensorkit.outbox.outbox import BATCH_CONTENT_BYTES
from sensorkit.outbox.status import dead_letters, retry_dead
from sensorkit.readings import MAX_VALUE_BYTES, Reading
from tests.sensorkit.test_cli import sensorkit

TS = 1_700_000_000_000


def note(text: str, n: int = 0) -> Reading:
    return Reading("door_note", "door", "note", text, "", TS + n)


def photo(data: bytes, n: int = 0, media_type: str = "image/jpeg") -> Reading:
    return Reading("cam_photo", "cam", "photo", data, "", TS + n, media_type)


def number(value: float, n: int = 0) -> Reading:
    return Reading("air_temperature", "air", "temperature", value, "°C", TS + n)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def open_outbox(path: Path, fake_clock: FakeClock) -> Iterator:
    opened: list[Outbox] = []

    def make(uploaders: tuple[str, ...] = ("byteport",), **kwargs: object) -> Outbox:
        kwargs.setdefault("clock", fake_clock)
        outbox = Outbox(path, uploaders, **kwargs)  # type: ignore[arg-type]
        opened.append(outbox)
        return outbox

    yield make
    for outbox in opened:
        outbox.close()


def content_ids(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [rid for (rid,) in conn.execute("SELECT reading_id FROM content ORDER BY reading_id")]


# ---------------------------------------------------------------------- the codec
def test_codec_keeps_the_14_byte_record_for_text_and_bytes_with_their_size() -> None:
    readings = [number(21.5), note("über", 1), photo(b"\x00\x01\x02", 2), number(22.0, 3)]
    ids: dict[tuple, int] = {}
    [row], contents = encode(readings, lambda key: ids.setdefault(key, len(ids) + 1), first_id=7)
    assert len(row[3]) == 4 * RECORD.size == 56
    assert [number for _, _, number in RECORD.iter_unpack(row[3])] == [21.5, 5.0, 3.0, 22.0]  # ü is 2 bytes
    assert contents == [(8, None, "über"), (9, "image/jpeg", b"\x00\x01\x02")]
    assert sorted(key[4] for key in ids) == [0, KIND_TEXT, KIND_BYTES]
    series = {sid: key for key, sid in ids.items()}
    decoded = decode(row, series, 0, 100, {rid: (media, value) for rid, media, value in contents})
    assert [r for _, r in decoded] == readings
    assert [i for i, _ in decoded] == [7, 8, 9, 10]


def test_codec_content_end_cuts_a_batch_at_the_byte_budget() -> None:
    readings = [photo(bytes(100), n) if n % 2 else number(float(n), n) for n in range(10)]
    ids: dict[tuple, int] = {}
    rows, _ = encode(readings, lambda key: ids.setdefault(key, len(ids) + 1), first_id=1, max_readings=3)
    series = {sid: key for key, sid in ids.items()}
    assert content_end(rows, series, 1, 11, 1000) == 11
    assert content_end(rows, series, 1, 11, 250) == 6  # ids 2, 4 fit (200 bytes); 6 would make 300
    assert content_end(rows, series, 3, 11, 250) == 8  # from id 3: ids 4, 6 fit
    assert content_end(rows, series, 2, 11, 50) == 4  # id 2 alone is over: in all the same, with the number after


# ---------------------------------------------------------------------- the outbox
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**53, 2**53), st.booleans(),
    st.text(), st.binary(max_size=3000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(values, min_size=1, max_size=40), min_size=1, max_size=6))
def test_outbox_round_trip_keeps_text_bytes_and_numbers_in_order(tmp_path: Path, batches: list) -> None:
    target = tmp_path / f"{os.urandom(6).hex()}.sqlite"
    model: list[Reading] = []
    with Outbox(target, ["byteport"], clock=FakeClock()) as outbox:
        for batch in batches:
            readings = [Reading(f"s{type(v).__name__}", "s", "q", v, "", TS + len(model) + k,
                                "application/octet-stream" if isinstance(v, bytes) else None)
                        for k, v in enumerate(batch)]
            outbox.add(readings)
            outbox.commit()
            model += readings
    with Outbox(target, ["byteport"], clock=FakeClock()) as again:  # from the file, not from memory
        items = again.pending_batch("byteport", 10**6)
    assert [r for _, r in items] == model
    assert [type(r.value) for _, r in items] == [type(r.value) for r in model]
    assert [i for i, _ in items] == list(range(1, len(model) + 1))


def test_outbox_text_and_bytes_survive_the_hot_ring_and_the_cold_table(open_outbox) -> None:
    outbox = open_outbox(("byteport", "iobeam"))
    model = []
    for n in range(200):  # one commit each: the ring comes round three times, spilling to the cold table
        batch = [note(f"note {n} " + "é" * (n % 7), 2 * n), photo(bytes([n % 256]) * n, 2 * n + 1)]
        outbox.add(batch)
        outbox.commit()
        model += batch
    outbox.add([note(f"burst {k}", 1000 + k) for k in range(500)])  # a large commit: straight to the cold table
    outbox.commit()
    model += [note(f"burst {k}", 1000 + k) for k in range(500)]
    outbox.close()
    again = open_outbox(("byteport", "iobeam"))
    assert [r for _, r in again.pending_batch("iobeam", 10**6)] == model


def test_outbox_removes_text_and_bytes_with_their_readings(open_outbox, fake_clock: FakeClock, path: Path) -> None:
    outbox = open_outbox(("byteport", "iobeam"), max_readings=20, exclusive=False)  # the test reads the file too
    outbox.add([note(f"n{k}", k) if k % 2 else number(float(k), k) for k in range(10)])
    outbox.commit()
    outbox.ack("byteport", 6)
    outbox.ack("iobeam", 4)
    fake_clock.advance(PRUNE_INTERVAL_S)
    outbox.add([photo(b"\x00", 10)])
    outbox.commit()  # removes 1-4, delivered to both: text 2 and 4 go with them
    assert content_ids(path) == [6, 8, 10, 11]
    outbox.add([note("x", 11 + k) for k in range(19)])
    outbox.commit()  # 30 readings > max_readings=20: the oldest undelivered go, their text too
    assert content_ids(path) == list(range(11, 31))
    assert outbox.status().dropped == 6  # ids 5-10
    assert [r.value for _, r in outbox.pending_batch("byteport", 2)] == [b"\x00", "x"]


def test_outbox_a_number_commit_costs_the_same_pages_with_text_stored(open_outbox, path: Path) -> None:
    """Numbers keep their size: text in the file adds no page to a commit of numbers."""
    outbox = open_outbox()
    wal = Path(f"{path}-wal")

    def pages_of_commit(readings: list[Reading]) -> int:
        before = wal.stat().st_size
        outbox.add(readings)
        outbox.commit()
        return (wal.stat().st_size - before) // (512 + 24)  # a WAL frame: a page and its 24-byte header

    for n in range(3):  # warm up: the first commits create the slots
        pages_of_commit([number(float(n), n)])
    numbers_only = [pages_of_commit([number(float(n), n)]) for n in range(3, 8)]
    pages_of_commit([note("a note of a hundred bytes ".ljust(100, "."), 8)])
    with_text_stored = [pages_of_commit([number(float(n), n)]) for n in range(9, 14)]
    assert numbers_only == with_text_stored
    assert max(numbers_only) <= 3


def test_outbox_batches_of_big_values_stay_within_the_byte_budget(open_outbox) -> None:
    outbox = open_outbox()
    big = bytes(MAX_VALUE_BYTES)
    outbox.add([photo(big, n) for n in range(20)] + [number(1.0, 20)])
    outbox.commit()
    first = outbox.pending_batch("byteport", 1000)
    assert len(first) == BATCH_CONTENT_BYTES // MAX_VALUE_BYTES == 8
    outbox.ack("byteport", first[-1][0])
    outbox.settled("byteport")
    rest = outbox.pending_batch("byteport", 1000)
    assert [i for i, _ in rest] == list(range(9, 17))
    assert all(r.value == big for _, r in first + rest)


# ---------------------------------------------------------------------- dead letters
def test_outbox_dead_letters_keep_text_and_bytes(open_outbox, path: Path) -> None:
    outbox = open_outbox(("byteport", "iobeam"))
    batch = [note("opened\nby the cat", 0), photo(b"\x89PNG\r\n", 1, "image/png"), number(21.5, 2),
             note("x" * 100, 3)]
    outbox.add(batch)
    outbox.commit()
    items = outbox.pending_batch("byteport", 10)
    outbox.dead_letter("byteport", items[:2], "406: not a field name")
    outbox.dead_letter("byteport", items[3:], "too long")
    outbox.close()
    letters = dead_letters(path)
    assert [(d.value, d.media_type) for d in letters] == [
        ("opened\nby the cat", None), (b"\x89PNG\r\n", "image/png"), ("x" * 100, None)]
    assert retry_dead(path) == 3
    again = open_outbox(("byteport", "iobeam"))
    assert [r for _, r in again.retry_batch("byteport", 10)] == [batch[0], batch[1], batch[3]]


def test_cli_list_dead_shows_text_and_bytes(open_outbox, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outbox = Outbox(state / "outbox.sqlite", ["byteport"], clock=FakeClock())
    outbox.add([note("opened\nby the cat", 0), photo(b"\xff\xd8\xff", 1), number(21.5, 2),
                note("a long note " * 20, 3)])
    outbox.commit()
    outbox.dead_letter("byteport", outbox.pending_batch("byteport", 10), "refused")
    outbox.close()
    listed = sensorkit("outbox", "list-dead", "--state-dir", str(state), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 4
    assert 'door_note = "opened\\nby the cat": refused' in lines[0]
    assert "cam_photo = <3 bytes, image/jpeg>: refused" in lines[1]
    assert "air_temperature = 21.5: refused" in lines[2]
    assert 'door_note = "a long note a long note a long note a long note a long note …" (240 characters)' in lines[3]
    as_json = json.loads(sensorkit("outbox", "list-dead", "--json", "--state-dir", str(state), cwd=tmp_path).stdout)
    keys = ["uploader", "series", "timestamp_ms", "value", "reason", "dead_ms", "retry"]
    assert [list(d) for d in as_json] == [keys, keys[:4] + ["encoding", "media_type"] + keys[4:], keys, keys]
    assert as_json[0]["value"] == "opened\nby the cat" and as_json[2]["value"] == 21.5
    assert (as_json[1]["value"], as_json[1]["encoding"], as_json[1]["media_type"]) == ("/9j/", "base64",
                                                                                         "image/jpeg")
