"""kill -9 inside the outbox's transactions with text and bytes mixed in: nothing committed is lost or orphaned.

A writer loop in a subprocess (commits, a delivery's acks and dead letters,
pruning) is armed with `kill_point.arm`, which sends it SIGKILL at its Nth
statement inside a transaction. The loop is deterministic (a fake clock, no
threads), so a seed fixes where each round dies. It prints each transaction
once it has committed; after each kill the file must hold exactly that: every
reading committed, each text and bytes value intact, the cursors and dead
letters as last printed, and a content row for each stored text or bytes
reading and for nothing else.
"""
from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from sensorkit.clock import FakeClock
from sensorkit.outbox import Outbox
from sensorkit.outbox.status import dead_letters, read_status
from sensorkit.readings import Reading

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_700_000_000_000
UPLOADERS = ("byteport", "iobeam")
ROUNDS = 10
SEED = 12  # fixes every round's kill point (the loop is deterministic); see the coverage check at the end


def make_reading(k: int) -> Reading:
    """Reading k (id k + 1): text, odd text, bytes, a float and a bool in turn."""
    ts = START_MS + k
    kind = k % 5
    if kind == 0:
        text = "" if k % 10 == 0 else f"note {k}: ".ljust(100, "x")
        return Reading("door_note", "door", "note", text, "", ts)
    if kind == 1:
        return Reading("door_log", "door", "log", f"zweite Zeile\n°C ✓ 😀 {k}", "", ts)
    if kind == 2:
        return Reading("cam_photo", "cam", "photo", bytes(range(256)) * (k % 7) + bytes([k % 256]), "", ts,
                       "image/png")
    if kind == 3:
        return Reading("air_temperature", "air", "temperature", 20.0 + k / 100, "°C", ts)
    return Reading("door_state", "door", "state", k % 2 == 0, "", ts)


CHILD = """
import sys
from tests.sensorkit.kill_point import arm
arm(int(sys.argv[3]))
from sensorkit.clock import FakeClock
from sensorkit.outbox import PRUNE_INTERVAL_S, Outbox
from tests.sensorkit.test_outbox_text_crash import START_MS, UPLOADERS, make_reading
path, k = sys.argv[1], int(sys.argv[2])
clock = FakeClock(wall_ms=START_MS + k)
outbox = Outbox(path, UPLOADERS, clock=clock)
step = 0
while True:
    outbox.add([make_reading(k + j) for j in range(7)])
    outbox.commit()
    k += 7
    print("committed", k, flush=True)
    items = outbox.pending_batch("byteport", 5)
    if step % 3 == 2:
        outbox.dead_letter("byteport", items[:1], "refused")
        print("dead", items[0][0], flush=True)
    outbox.ack("byteport", items[-1][0])
    print("cursor byteport", items[-1][0], flush=True)
    outbox.settled("byteport")
    if step % 4 == 3:
        last = outbox.pending_batch("iobeam", 10**6)[-1][0]
        outbox.ack("iobeam", last)
        print("cursor iobeam", last, flush=True)
        outbox.settled("iobeam")
    clock.advance(PRUNE_INTERVAL_S / 2)  # every other commit removes what both have had
    step += 1
"""


def is_content(k: int) -> bool:
    return isinstance(make_reading(k).value, (str, bytes))


def test_outbox_kill_9_inside_transactions_with_text_loses_and_orphans_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(SEED)
    committed = 0  # readings committed so far: ids 1 .. committed
    cursors = dict.fromkeys(UPLOADERS, 0)
    dead: list[int] = []
    killed_before: list[str] = []
    for round_ in range(ROUNDS):
        kill_at = rng.randint(1, 80)
        child = subprocess.run([sys.executable, "-c", CHILD, str(path), str(committed), str(kill_at)], env=env,
                               capture_output=True, text=True, timeout=120)
        said = re.search(r"kill point: SIGKILL at \d+ ms inside a transaction, before: (\w+(?: \w+){0,2})",
                         child.stderr)
        assert child.returncode == -9 and said, f"round {round_}: {child.returncode} {child.stderr}"
        killed_before.append(said.group(1))
        for line in child.stdout.splitlines():
            what, _, number = line.rpartition(" ")
            if what == "committed":
                committed = int(number)
            elif what == "dead":
                dead.append(int(number))
                cursors["byteport"] = max(cursors["byteport"], int(number))
            elif what.startswith("cursor "):
                cursors[what.split()[1]] = int(number)
        why = f"round {round_}, killed before {said.group(1)}"

        stored = read_status(path).stored if committed else 0
        floor = committed - stored + 1
        with Outbox(path, UPLOADERS, clock=FakeClock(wall_ms=START_MS + committed)) as outbox:  # it opens
            for name, cursor in cursors.items():
                items = outbox.pending_batch(name, 10**6)
                assert items == [(i, make_reading(i - 1)) for i in range(cursor + 1, committed + 1)], why
                assert floor <= cursor + 1, why
        letters = dead_letters(path, "byteport")
        assert [(d.timestamp_ms, d.value, d.media_type) for d in letters] == [
            (make_reading(i - 1).timestamp_ms, make_reading(i - 1).value, make_reading(i - 1).media_type)
            for i in dead], why
        with closing(sqlite3.connect(path)) as conn:
            content = [rid for (rid,) in conn.execute("SELECT reading_id FROM content ORDER BY reading_id")]
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], why
        assert content == [i for i in range(floor, committed + 1) if is_content(i - 1)], why
    assert committed > 0 and dead and floor > 1, "the loop committed, dead-lettered and pruned"
    seen = " | ".join(killed_before)
    for statement in ("INSERT INTO content", "DELETE FROM content", "COMMIT", "INSERT INTO dead_letter",
                      "UPDATE cursor"):
        assert statement in seen, f"no round died before {statement}: {seen} (change SEED)"
