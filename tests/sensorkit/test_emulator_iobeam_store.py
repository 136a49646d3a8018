"""The local iobeam server's SQLite store: exports that search the primary key, and files it must not touch."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sensorkit.emulators import DatabaseUnusable, EmulatorError
from sensorkit.emulators.iobeam.store import APPLICATION_ID, SCHEMA_VERSION, IobeamStore, StoredPoint

PROJECT = 1
T0_US = 1_700_000_000_000_000


def filled_store(path: Path, statements: list[str]) -> IobeamStore:
    """Two devices with two series each, 50 points a series; `statements` collects the SQL run from now on."""
    store = IobeamStore(str(path), trace=statements.append)
    for device in ("pi-1", "pi-2"):
        store.register(PROJECT, device, None, 0)
        store.put_points(PROJECT, device, [(series, T0_US + n, float(n)) for series in ("humidity", "temperature")
                                           for n in range(50)])
    statements.clear()
    return store


def plans_of_points(path: Path, statements: list[str]) -> list[str]:
    """The query plan steps that read the points table, of every traced statement."""
    with sqlite3.connect(path) as db:
        steps = [row[3] for sql in statements for row in db.execute("EXPLAIN QUERY PLAN " + sql)]
    return [step for step in steps if " points " in f"{step} "]


def assert_searched_by_device(plans: list[str]) -> None:
    assert plans, "the export must have read the points table"
    for step in plans:
        # "SCAN points" or a search by project alone walks every point of every device.
        assert step.startswith("SEARCH points USING PRIMARY KEY (project_id=? AND device_id=?"), plans


@pytest.mark.parametrize("series", [None, "temperature"])
def test_store_export_of_one_device_searches_the_primary_key_by_device(tmp_path: Path, series: str | None) -> None:
    statements: list[str] = []
    store = filled_store(tmp_path / "e.sqlite", statements)
    found = store.points(PROJECT, "pi-2", series, from_us=T0_US + 10, to_us=T0_US + 40, newest=5)
    assert found[-1] == StoredPoint("pi-2", "temperature", T0_US + 40, 40.0)
    assert_searched_by_device(plans_of_points(tmp_path / "e.sqlite", statements))
    store.close()


def test_store_export_of_every_device_with_a_series_searches_the_primary_key(tmp_path: Path) -> None:
    statements: list[str] = []
    store = filled_store(tmp_path / "e.sqlite", statements)
    found = store.points(PROJECT, None, "humidity", newest=1)
    assert found == [StoredPoint(device, "humidity", T0_US + 49, 49.0) for device in ("pi-1", "pi-2")]
    assert_searched_by_device(plans_of_points(tmp_path / "e.sqlite", statements))
    store.close()


def test_store_export_keeps_the_newest_points_in_range_oldest_first(tmp_path: Path) -> None:
    store = filled_store(tmp_path / "e.sqlite", [])
    found = store.points(PROJECT, None, None, from_us=T0_US + 10, to_us=T0_US + 20, newest=3)
    assert [(p.device_id, p.series, p.time_us - T0_US) for p in found] == [
        (device, series, n) for device in ("pi-1", "pi-2") for series in ("humidity", "temperature")
        for n in (18, 19, 20)]
    assert len(store.points(PROJECT)) == 200
    assert store.points(PROJECT, "pi-1", "nothing") == []
    store.close()


# -- the database file: refused untouched when it is not the emulator's -------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` and its bytes: a refusal must change none and add none (no -wal, no -shm)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_store_refuses_an_outbox_and_leaves_it_untouched(tmp_path: Path) -> None:
    from sensorkit.outbox import Outbox
    from sensorkit.readings import Reading

    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, ["iobeam"])
    outbox.add([Reading("air_temperature", "air", "temperature", 21.5, "°C", 1_700_000_000_000)])
    outbox.commit()
    outbox.close()
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseUnusable, match="sensorkit outbox") as caught:
        IobeamStore(str(path))
    assert caught.value.path == str(path) and str(path) in str(caught.value) and "new file" in str(caught.value)
    assert snapshot(tmp_path) == before
    assert isinstance(caught.value, EmulatorError)


@pytest.mark.parametrize("content", [b"some notes, not a database\n" * 10, b"SQLite format 3\x00" + b"\0" * 10])
def test_store_refuses_a_file_that_is_not_sqlite_untouched(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "notes.db").write_bytes(content)
    with pytest.raises(DatabaseUnusable, match="not an SQLite database"):
        IobeamStore(str(tmp_path / "notes.db"))
    assert snapshot(tmp_path) == {"notes.db": content}


def test_store_refuses_another_programs_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")  # a meta table, not ours
        db.execute("CREATE TABLE readings (x)")
    db.close()
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseUnusable, match=r"other tables .*\(meta, readings"):
        IobeamStore(str(path))
    assert snapshot(tmp_path) == before
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 42")
    db.close()
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseUnusable, match="application_id 0x0000002A"):
        IobeamStore(str(path))
    assert snapshot(tmp_path) == before


def test_store_initialises_an_empty_file_and_reopens_its_own(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    path.touch()
    store = IobeamStore(str(path))
    store.register(PROJECT, "pi-1", None, 0)
    store.close()
    store = IobeamStore(str(path))
    assert [d.device_id for d in store.devices(PROJECT)] == ["pi-1"]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


def test_store_adopts_a_database_made_before_the_application_id(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    store = IobeamStore(str(path))
    store.register(PROJECT, "pi-1", None, 0)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")  # as the first release wrote it
        db.execute("PRAGMA user_version = 0")
    db.close()
    store = IobeamStore(str(path))
    assert [d.device_id for d in store.devices(PROJECT)] == ["pi-1"]
    store.close()


def test_store_refuses_a_newer_format_untouched(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    IobeamStore(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseUnusable, match="newer"):
        IobeamStore(str(path))
    assert snapshot(tmp_path) == before


def test_store_says_why_a_path_cannot_be_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnusable, match="cannot create it: No such file or directory"):
        IobeamStore(str(tmp_path / "missing" / "e.sqlite"))
    with pytest.raises(DatabaseUnusable, match="is a directory"):
        IobeamStore(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_store_finishes_setting_up_a_file_that_has_its_id_but_not_all_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite"
    with sqlite3.connect(path) as db:  # as a set-up cut short after the header was written
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    db.close()
    store = IobeamStore(str(path))
    store.register(PROJECT, "pi-1", None, 0)
    assert [d.device_id for d in store.devices(PROJECT)] == ["pi-1"]
    store.close()
