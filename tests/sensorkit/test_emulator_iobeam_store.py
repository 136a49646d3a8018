"""The local iobeam server's SQLite store: exports that search the primary key, and files it must not touch."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sensorkit.emulators.iobeam.store import IobeamStore, StoredPoint

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
