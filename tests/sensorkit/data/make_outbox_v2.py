"""Writes `outbox_v2.sqlite`: an outbox as the release with schema 2 left it, for the migration test.

The file in this directory was made by running this script against commit
5755247 (the last release writing schema 2: text and bytes beside the
numbers, no held readings), through that release's own `Outbox`:

    mkdir /tmp/v2 && git archive 5755247 | tar -x -C /tmp/v2
    PYTHONPATH=/tmp/v2 python tests/sensorkit/data/make_outbox_v2.py tests/sensorkit/data/outbox_v2.sqlite

It holds what the schema-1 file holds (`make_outbox_v1`: the cold table,
the hot ring come round, two cursors, dead letters, a floor above 1,
drops), made the same way, and then a text and a bytes reading (`EXTRA`),
one of them dead-lettered with its media type.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_outbox_v1 as v1  # noqa: E402 - the same readings, from the script beside this one

START_MS, UPLOADERS = v1.START_MS, v1.UPLOADERS
TOTAL = v1.TOTAL + 2  # ids 1 .. 724: v1's, then EXTRA
CURSORS = {"iobeam": v1.TOTAL + 2, "byteport": v1.CURSORS["byteport"]}
DEAD_LETTERS = (*v1.DEAD_LETTERS, ("iobeam", v1.TOTAL + 2, "413: too large", False))


def extra():  # -> list[Reading]; ids 723 and 724
    from sensorkit.readings import Reading

    after = START_MS + 10 * v1.TOTAL
    return [Reading("door_note", "door", "note", "opened ✓", "", after),
            Reading("cam_photo", "cam", "photo", b"\xff\xd8\xff\xe0", "", after + 10, "image/jpeg")]


def make(path: Path) -> None:
    from sensorkit.clock import FakeClock
    from sensorkit.outbox import PRUNE_INTERVAL_S, Outbox
    from sensorkit.outbox.store import SCHEMA_VERSION

    assert SCHEMA_VERSION == 2, f"run this against the release writing schema 2, not {SCHEMA_VERSION}"
    clock = FakeClock(wall_ms=START_MS)
    outbox = Outbox(path, UPLOADERS, clock=clock)
    outbox.add([v1.reading(k) for k in range(300)])
    outbox.commit()
    for first in range(300, 720, 5):
        outbox.add([v1.reading(k) for k in range(first, first + 5)])
        outbox.commit()
    outbox.ack("iobeam", 650)
    outbox.ack("byteport", 120)
    batch = dict(outbox.pending_batch("iobeam", 20))
    outbox.dead_letter("iobeam", [(659, batch[659])], v1.DEAD_LETTERS[0][2])
    outbox.dead_letter("iobeam", [(660, batch[660])], v1.DEAD_LETTERS[1][2])
    outbox.settled("iobeam")
    outbox.dead_letter("byteport", outbox.pending_batch("byteport", 1), v1.DEAD_LETTERS[2][2])
    outbox.settled("byteport")
    clock.advance(PRUNE_INTERVAL_S)
    outbox.add([v1.reading(720)])
    outbox.commit()
    assert outbox.retry_dead("byteport") == 1
    outbox.close()
    outbox = Outbox(path, UPLOADERS, clock=clock, max_readings=592)  # the next commit drops the oldest 11
    outbox.add([v1.reading(721)])
    outbox.add(extra())
    outbox.commit()
    items = outbox.pending_batch("iobeam", 100)
    outbox.ack("iobeam", v1.TOTAL + 1)
    outbox.dead_letter("iobeam", [items[-1]], DEAD_LETTERS[-1][2])
    outbox.settled("iobeam")
    status = outbox.status()
    assert status.stored == TOTAL - v1.FLOOR + 1, status
    assert {u.name: u.waiting for u in status.uploaders} == {u: TOTAL - c for u, c in CURSORS.items()}
    assert dict(status.dropped_by_series) == v1.DROPPED, status.dropped_by_series
    outbox.close()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    if target.exists():
        sys.exit(f"{target} exists: move it away first")
    make(target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
