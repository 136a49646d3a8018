"""Writes `outbox_v1.sqlite`: an outbox as the release with schema 1 left it, for the migration test.

The file in this directory was made by running this script against commit
55fe818 (the last release writing schema 1: numbers and booleans only),
through that release's own `Outbox`, not by hand-written SQL:

    mkdir /tmp/v1 && git archive 55fe818 | tar -x -C /tmp/v1
    PYTHONPATH=/tmp/v1 python tests/sensorkit/data/make_outbox_v1.py tests/sensorkit/data/outbox_v1.sqlite

It holds readings in the cold table and in the hot ring (which has come round
once, spilling what the lagging uploader still needs), two uploaders at
different cursors, dead letters of both (one flagged for another try), a
floor above 1 and dropped readings. What it holds is stated below (`reading`
and the constants) and checked here when the file is made, so the test can
hold the upgraded file to it.
"""
from __future__ import annotations

import sys
from pathlib import Path

START_MS = 1_700_000_000_000  # the fake clock's wall time when the file was made
UPLOADERS = ("iobeam", "byteport")
TOTAL = 722  # readings ever committed: ids 1 .. 722
FLOOR = 133  # the lowest id still stored: 1-121 were given to both, 122-132 dropped (max_readings=590)
CURSORS = {"iobeam": 660, "byteport": 132}  # last id given for good to each uploader
# (uploader, reading id, reason, flagged for another try), in the order they were written
DEAD_LETTERS = (
    ("iobeam", 659, "400: refused a 'door_state' value", False),
    ("iobeam", 660, "400: refused a 'pir_count' value", False),
    ("byteport", 121, "406: invalid 'a_temperature'", True),
)
DROPPED = {"door_state": 4, "pir_count": 4, "a_temperature": 3}  # ids 122-132, which byteport never had


def reading(k: int):  # -> Reading; the reading with id k + 1
    """Reading k: a float, a bool and an int series, one after the other."""
    from sensorkit.readings import Reading

    ts = START_MS + 10 * k
    if k % 3 == 0:
        return Reading("a_temperature", "a", "temperature", 20.0 + k / 8, "°C", ts)
    if k % 3 == 1:
        return Reading("door_state", "door", "state", k % 2 == 0, "", ts)
    return Reading("pir_count", "pir", "count", k, "", ts)


def make(path: Path) -> None:
    from sensorkit.clock import FakeClock
    from sensorkit.outbox import PRUNE_INTERVAL_S, Outbox
    from sensorkit.outbox.store import SCHEMA_VERSION

    assert SCHEMA_VERSION == 1, f"run this against the release writing schema 1, not {SCHEMA_VERSION}"
    clock = FakeClock(wall_ms=START_MS)
    outbox = Outbox(path, UPLOADERS, clock=clock)
    outbox.add([reading(k) for k in range(300)])  # a large commit: straight to the cold table
    outbox.commit()
    for first in range(300, 720, 5):  # 84 small commits: the 64-slot hot ring comes round
        outbox.add([reading(k) for k in range(first, first + 5)])
        outbox.commit()
    outbox.ack("iobeam", 650)
    outbox.ack("byteport", 120)
    batch = dict(outbox.pending_batch("iobeam", 20))
    outbox.dead_letter("iobeam", [(659, batch[659])], DEAD_LETTERS[0][2])
    outbox.dead_letter("iobeam", [(660, batch[660])], DEAD_LETTERS[1][2])
    outbox.settled("iobeam")
    outbox.dead_letter("byteport", outbox.pending_batch("byteport", 1), DEAD_LETTERS[2][2])
    outbox.settled("byteport")
    clock.advance(PRUNE_INTERVAL_S)  # the next commit removes what both uploaders have had
    outbox.add([reading(720)])
    outbox.commit()
    assert outbox.retry_dead("byteport") == 1
    outbox.close()
    outbox = Outbox(path, UPLOADERS, clock=clock, max_readings=590)  # the next commit drops the oldest 11
    outbox.add([reading(721)])
    outbox.commit()
    status = outbox.status()
    assert status.stored == TOTAL - FLOOR + 1, status
    assert {u.name: u.waiting for u in status.uploaders} == {u: TOTAL - c for u, c in CURSORS.items()}
    assert dict(status.dropped_by_series) == DROPPED
    outbox.close()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    if target.exists():
        sys.exit(f"{target} exists: move it away first")
    make(target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
