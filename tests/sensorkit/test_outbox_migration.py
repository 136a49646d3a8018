"""Outboxes written by the schema-1 and schema-2 releases open, upgrade and drain; a newer one is refused, untouched.

`data/outbox_v1.sqlite` and `data/outbox_v2.sqlite` were written by those
releases' own `Outbox` (see `data/make_outbox_v1.py` and `make_outbox_v2.py`,
which also state what the files hold).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock
from sensorkit.errors import OutboxError
from sensorkit.outbox import Outbox
from sensorkit.outbox.status import dead_letters, read_status
from sensorkit.outbox.store import SCHEMA_VERSION
from sensorkit.readings import Reading
from tests.sensorkit.data import make_outbox_v1 as v1
from tests.sensorkit.data import make_outbox_v2 as v2
from tests.sensorkit.test_cli import sensorkit

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("data") / "outbox_v1.sqlite"
FIXTURE_V2 = Path(__file__).with_name("data") / "outbox_v2.sqlite"
AFTER_MS = v1.START_MS + 10 * v1.TOTAL  # a clock just after the old file's last reading


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A copy of the old file, in a state dir of its own (the committed file itself is never opened)."""
    state = tmp_path / "state"
    state.mkdir()
    target = state / "outbox.sqlite"
    shutil.copyfile(FIXTURE, target)
    return target


def sql(path: Path, query: str) -> list[tuple]:
    # The committed file is read as immutable: read-only WAL mode would leave -wal and -shm files beside it.
    mode = "immutable=1" if path in (FIXTURE, FIXTURE_V2) else "mode=ro"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def layout(path: Path) -> dict[str, list[tuple]]:
    """Every table's and index's columns: what a migrated file must share with a new one."""
    names = [name for (name,) in sql(path, "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: sql(path, f"SELECT name, type, \"notnull\", pk FROM pragma_table_info('{name}')")
            or sql(path, f"SELECT name FROM pragma_index_info('{name}')") for name in names}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_outbox_fixture_is_a_schema_1_file() -> None:
    """Were the fixture ever written again by the new code, this says so (and the tests below mean nothing)."""
    assert sql(FIXTURE, "PRAGMA user_version") == [(1,)]
    assert not sql(FIXTURE, "SELECT 1 FROM sqlite_master WHERE name = 'content'")
    assert "media_type" not in [c[1] for c in sql(FIXTURE, "PRAGMA table_info(dead_letter)")]
    assert SCHEMA_VERSION == 3


def test_outbox_old_file_is_read_as_it_is_before_the_upgrade(old_file: Path) -> None:
    """`sensorkit outbox status` and `list-dead` after upgrading sensorkit, before the next `run`: no write."""
    before = digest(old_file)
    status = read_status(old_file)
    assert {u.name: u.waiting for u in status.uploaders} == {u: v1.TOTAL - c for u, c in v1.CURSORS.items()}
    assert [(d.uploader, d.reason, d.retry, d.media_type) for d in dead_letters(old_file)] == [
        (u, reason, retry, None) for u, _, reason, retry in v1.DEAD_LETTERS]
    listed = sensorkit("outbox", "list-dead", "--state-dir", str(old_file.parent), cwd=old_file.parent.parent)
    assert listed.returncode == 0 and listed.stdout.count("refused a") == 2, listed.stderr
    assert digest(old_file) == before and sql(old_file, "PRAGMA user_version") == [(1,)]


def test_outbox_old_file_upgrades_and_drains_in_order_with_cursors_and_dead_letters(
        old_file: Path, tmp_path: Path) -> None:
    clock = FakeClock(wall_ms=AFTER_MS)
    Outbox(old_file, v1.UPLOADERS, clock=clock).close()  # opening upgrades it
    assert sql(old_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    with Outbox(old_file, v1.UPLOADERS, clock=clock) as outbox:
        for uploader, cursor in v1.CURSORS.items():  # every reading after each cursor, in order, as it was
            items = outbox.pending_batch(uploader, 10**6)
            assert [i for i, _ in items] == list(range(cursor + 1, v1.TOTAL + 1))
            assert [r for _, r in items] == [v1.reading(i - 1) for i in range(cursor + 1, v1.TOTAL + 1)]
            assert {type(r.value) for _, r in items} == {float, bool, int}
            outbox.settled(uploader)
        status = outbox.status()
        assert status.stored == v1.TOTAL - v1.FLOOR + 1
        assert dict(status.dropped_by_series) == v1.DROPPED
        dead = {u.name: (u.dead_letters, u.dead_letters_to_retry) for u in status.uploaders}
        assert dead == {"iobeam": (2, 0), "byteport": (1, 1)}
        [(_, retried)] = outbox.retry_batch("byteport", 10)  # flagged before the upgrade: still to be sent
        assert retried == v1.reading(120) and type(retried.value) is float
        # The upgraded file takes text and bytes, after the old readings.
        new = [Reading("door_note", "door", "note", "opened", "", AFTER_MS + 1),
               Reading("cam_photo", "cam", "photo", b"\xff\xd8", "", AFTER_MS + 2, "image/jpeg")]
        outbox.add(new)
        outbox.commit()
        items = outbox.pending_batch("iobeam", 10**6)
        assert [r for _, r in items[-2:]] == new and items[-1][0] == v1.TOTAL + 2
        outbox.ack("iobeam", items[-1][0])
        outbox.dead_letter("byteport", [(v1.TOTAL + 2, new[1])], "too big")
    letters = dead_letters(old_file)
    assert [(d.uploader, d.reason, d.retry) for d in letters[:3]] == [(u, r, f) for u, _, r, f in v1.DEAD_LETTERS]
    assert [d.value for d in letters[:3]] == [v1.reading(658).value, v1.reading(659).value, v1.reading(120).value]
    assert (letters[3].value, letters[3].media_type) == (b"\xff\xd8", "image/jpeg")
    fresh = tmp_path / "fresh.sqlite"
    Outbox(fresh, ["iobeam"]).close()
    assert layout(old_file) == layout(fresh)  # the same tables and columns as a file made new
    assert sql(old_file, "PRAGMA integrity_check") == [("ok",)]


MIGRATE_CHILD = """
import sys
from tests.sensorkit.kill_point import arm
arm(int(sys.argv[2]))
from sensorkit.outbox import Outbox
Outbox(sys.argv[1], ["iobeam", "byteport"]).close()
"""


def test_outbox_upgrade_killed_midway_leaves_the_old_file_to_upgrade_again(old_file: Path) -> None:
    """kill -9 at each statement of the upgrade's transaction: schema 1 as it was, then upgraded, never between."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_before = []
    for statement in range(1, 8):
        shutil.copyfile(FIXTURE, old_file)
        for leftover in (Path(f"{old_file}-wal"), Path(f"{old_file}-shm")):
            leftover.unlink(missing_ok=True)
        child = subprocess.run([sys.executable, "-c", MIGRATE_CHILD, str(old_file), str(statement)], env=env,
                               capture_output=True, text=True, timeout=60)
        said = re.search(r"kill point: SIGKILL at \d+ ms inside a transaction, before: (.*)", child.stderr)
        assert child.returncode == -9 and said, child.stderr
        killed_before.append(said.group(1))
        version = sql(old_file, "PRAGMA user_version")[0][0]
        has_content = bool(sql(old_file, "SELECT 1 FROM sqlite_master WHERE name = 'content'"))
        assert (version, has_content) in ((1, False), (3, True)), f"half upgraded, killed before {said.group(1)}"
        assert version == 3 or not killed_before[-1].startswith("UPDATE"), killed_before
        with Outbox(old_file, v1.UPLOADERS, clock=FakeClock(wall_ms=AFTER_MS)) as outbox:  # upgrades, if still 1
            items = outbox.pending_batch("byteport", 10**6)
            assert [r for _, r in items] == [v1.reading(i - 1) for i in range(v1.CURSORS["byteport"] + 1,
                                                                              v1.TOTAL + 1)]
        assert sql(old_file, "PRAGMA user_version") == [(3,)]
        assert len(dead_letters(old_file)) == len(v1.DEAD_LETTERS)
    assert any(s.startswith("CREATE TABLE content") for s in killed_before), killed_before
    assert any(s.startswith("ALTER TABLE dead_letter") for s in killed_before), killed_before
    assert "COMMIT" in killed_before, killed_before


def test_outbox_newer_file_is_refused_untouched_with_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "outbox.sqlite"
    with Outbox(path, ["iobeam"], clock=FakeClock()) as outbox:
        outbox.add([Reading("door_note", "door", "note", "kept", "", 1_700_000_000_000)])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(path)
    message = f"newer sensorkit (schema {SCHEMA_VERSION + 1}, this one knows {SCHEMA_VERSION}): upgrade sensorkit"
    with pytest.raises(OutboxError, match=re.escape(message)):
        Outbox(path, ["iobeam"])
    with pytest.raises(OutboxError, match=re.escape(message)):
        read_status(path)
    shown = sensorkit("outbox", "status", "--state-dir", str(state), cwd=tmp_path)
    assert shown.returncode == 2 and message in shown.stderr and "Traceback" not in shown.stderr
    assert digest(path) == before


# ---------------------------------------------------------------------- schema 2 (no held readings) to 3
@pytest.fixture
def v2_file(tmp_path: Path) -> Path:
    state = tmp_path / "state-v2"
    state.mkdir()
    target = state / "outbox.sqlite"
    shutil.copyfile(FIXTURE_V2, target)
    return target


def test_outbox_v2_fixture_is_a_schema_2_file() -> None:
    assert sql(FIXTURE_V2, "PRAGMA user_version") == [(2,)]
    assert sql(FIXTURE_V2, "SELECT 1 FROM sqlite_master WHERE name = 'content'")
    assert not sql(FIXTURE_V2, "SELECT 1 FROM sqlite_master WHERE name IN ('held', 'boot')")


def test_outbox_v2_file_is_read_as_it_is_before_the_upgrade(v2_file: Path) -> None:
    before = digest(v2_file)
    status = read_status(v2_file)
    assert {u.name: u.waiting for u in status.uploaders} == {u: v2.TOTAL - c for u, c in v2.CURSORS.items()}
    assert status.held == ()
    shown = sensorkit("outbox", "status", "--state-dir", str(v2_file.parent), cwd=v2_file.parent.parent)
    assert shown.returncode == 0 and "held" not in shown.stdout, shown.stderr
    assert digest(v2_file) == before and sql(v2_file, "PRAGMA user_version") == [(2,)]


def test_outbox_v2_file_upgrades_and_drains_in_order_then_holds(v2_file: Path, tmp_path: Path) -> None:
    clock = FakeClock(wall_ms=v2.START_MS + 10 * v2.TOTAL)
    Outbox(v2_file, v2.UPLOADERS, clock=clock).close()  # opening upgrades it
    assert sql(v2_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    expected = [v1.reading(k) for k in range(v1.TOTAL)] + v2.extra()
    with Outbox(v2_file, v2.UPLOADERS, clock=clock) as outbox:
        items = outbox.pending_batch("byteport", 10**6)
        assert [i for i, _ in items] == list(range(v2.CURSORS["byteport"] + 1, v2.TOTAL + 1))
        assert [r for _, r in items] == expected[v2.CURSORS["byteport"]:]
        assert (items[-1][1].value, items[-1][1].media_type) == (b"\xff\xd8\xff\xe0", "image/jpeg")
        outbox.settled("byteport")
        assert outbox.status().held == ()
        # The upgraded file holds readings (its held tables come with the first), and releases them after the
        # old ones.
        late = Reading("door_note", "door", "note", "held", "", 5)
        outbox.add_held([("boot-a", 7_000, late)])
        outbox.commit()
        assert [(h.boot_id, h.count) for h in outbox.status().held] == [("boot-a", 1)]
        released = outbox.release("boot-a", lambda rows: [Reading(r.series, r.sensor, r.quantity, r.value, r.unit,
                                                                  v2.START_MS + 10 * v2.TOTAL) for _, r in rows])
        assert outbox.pending_batch("iobeam", 10)[-1] == (v2.TOTAL + 1, released[0])
    assert sql(v2_file, "SELECT name FROM sqlite_master WHERE name IN ('held', 'boot') ORDER BY name") == [
        ("boot",), ("held",)]
    letters = dead_letters(v2_file)
    assert [(d.uploader, d.reason, d.retry) for d in letters] == [(u, r, f) for u, _, r, f in v2.DEAD_LETTERS]
    assert letters[-1].media_type == "image/jpeg"
    fresh = tmp_path / "fresh.sqlite"
    with Outbox(fresh, ["iobeam"], clock=clock) as new_outbox:
        new_outbox.add_held([("boot-a", 7_000, late)])
    assert layout(v2_file) == layout(fresh)
    assert sql(v2_file, "PRAGMA integrity_check") == [("ok",)]


def test_outbox_v2_upgrade_killed_midway_leaves_the_old_file_to_upgrade_again(v2_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_before = []
    for statement in range(1, 4):
        shutil.copyfile(FIXTURE_V2, v2_file)
        for leftover in (Path(f"{v2_file}-wal"), Path(f"{v2_file}-shm")):
            leftover.unlink(missing_ok=True)
        child = subprocess.run([sys.executable, "-c", MIGRATE_CHILD, str(v2_file), str(statement)], env=env,
                               capture_output=True, text=True, timeout=60)
        said = re.search(r"kill point: SIGKILL at \d+ ms inside a transaction, before: (.*)", child.stderr)
        assert child.returncode == -9 and said, child.stderr
        killed_before.append(said.group(1))
        assert sql(v2_file, "PRAGMA user_version")[0][0] in (2, 3)
        with Outbox(v2_file, v2.UPLOADERS, clock=FakeClock(wall_ms=v2.START_MS)) as outbox:
            assert outbox.waiting("byteport") == v2.TOTAL - v2.CURSORS["byteport"]
        assert sql(v2_file, "PRAGMA user_version") == [(3,)]
    assert killed_before[-2:] == ["PRAGMA user_version = 3", "COMMIT"], killed_before
