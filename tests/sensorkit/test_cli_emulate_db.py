"""`sensorkit emulate iobeam --db FILE` with a file that is not the emulator's, or a path that cannot be made."""
from __future__ import annotations

from pathlib import Path

from sensorkit.outbox import Outbox
from sensorkit.readings import Reading
from tests.sensorkit.test_cli import assert_bad_input, sensorkit

QUICK_S = 30  # the old emulator took the file and served forever: a refusal comes back at once


def test_emulate_refuses_an_outbox_as_its_db_and_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, ["iobeam"])
    outbox.add([Reading("air_temperature", "air", "temperature", 21.5, "°C", 1_700_000_000_000)])
    outbox.commit()
    outbox.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = sensorkit("emulate", "iobeam", "--db", str(path), cwd=tmp_path, timeout=QUICK_S)
    assert_bad_input(result, str(path), "sensorkit outbox", "--db")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_emulate_says_why_its_db_cannot_be_created(tmp_path: Path) -> None:
    result = sensorkit("emulate", "iobeam", "--db", "no/such/folder/e.sqlite", cwd=tmp_path, timeout=QUICK_S)
    assert_bad_input(result, "no/such/folder/e.sqlite", "cannot create it: No such file or directory")
    assert "unexpected error" not in result.stderr
