"""The clock proof, end to end as a user meets it: a Pi that booted without network, killed before NTP came.

`sensorkit emulate iobeam` runs in a subprocess (port 0); `sensorkit run
--simulate` runs in another with the simulated clock three days behind and
unsynchronised until a file appears (`SimulatedClock`). It is killed with
SIGKILL before the sync, started again (the same boot: CLOCK_MONOTONIC goes
on), and then the clock is "synchronised" by creating the file. Every
reading at the server must carry the true time of its sampling, none the
wrong clock's, and none may be lost: every reading held in the file when the
first run was killed arrives, and so does every one the second run took.

The true time of a sampling is bounded by what this test's own clock says
around it: a reading of run 1 was taken after run 1 was started and before
it was killed. The correction is exact up to the truncation of monotonic
time to whole ms (2 ms at most), so the only tolerance is `MARGIN_MS` for the
two processes reading the clocks a moment apart. The wrong clock is three
days off, so a reading stamped with it could not pass. The tests wait for
things to happen (readings held, points stored), never for time to pass.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sensorkit.outbox.status import read_status
from tests.sensorkit.test_cli import sensorkit, write
from tests.sensorkit.test_cli_iobeam import EmulatorProcess
from tests.sensorkit.test_outbox_proofs import Run, wait_until

BEHIND_MS = 3 * 86_400_000
MARGIN_MS = 50


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Secret:
    """What `Run` needs of a cloud: the variable holding the token."""

    secret_env = "IOBEAM_TOKEN"

    def __init__(self, token: str) -> None:
        self.secret = token


@pytest.fixture
def emulator(tmp_path: Path):
    process = EmulatorProcess(cwd=tmp_path)
    yield process
    process.stop()


def config(workdir: Path, emulator: EmulatorProcess) -> Path:
    return write(workdir / "sensorkit.toml", f"""\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"
interval = "200ms"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
interval = "100ms"
series = {{ state = "door" }}

[uploader.iobeam]
project_id = {emulator.project_id}
token_env = "IOBEAM_TOKEN"
base_url = "{emulator.url}/v1/"
send_delay = "50ms"
min_backoff = "50ms"
max_backoff = "1s"
""")


def held_now(path: Path) -> int:
    """Readings held in the outbox, as the running writer last published it (or the file, with none)."""
    try:
        return sum(h.count for h in read_status(path).held)
    except Exception:  # noqa: BLE001 - not there yet
        return 0


def arrived(emulator: EmulatorProcess) -> dict[tuple[str, int], Any]:
    devices = emulator.export(limit="100000")["result"]
    return {(s["name"], p["time"]): p["value"] for device in devices for s in device["sources"] for p in s["data"]}


def test_clock_readings_before_sync_arrive_with_true_times_across_a_kill(tmp_path: Path, emulator, monkeypatch):
    flag = tmp_path / "ntp-synced"
    monkeypatch.setenv("SENSORKIT_SIMULATED_CLOCK_SYNCED", str(flag))
    monkeypatch.setenv("SENSORKIT_SIMULATED_CLOCK_OFFSET_MS", str(-BEHIND_MS))
    path = tmp_path / "xdg-state" / "sensorkit" / "outbox.sqlite"
    cfg = config(tmp_path, emulator)
    secret = Secret(emulator.token)

    # Run 1: unsynchronised; nothing is printed or sent, everything is held; then kill -9.
    start1 = now_ms()
    first = Run(tmp_path, cfg, secret)
    wait_until(lambda: held_now(path) >= 20, "the first run to hold readings")
    first.kill()
    first.wait()
    kill1 = first.ended_ms
    assert first.readings == [] and arrived(emulator) == {}  # nothing left with the wrong time
    held1 = sum(h.count for h in read_status(path).held)  # what the file kept (the last second may be lost)
    [boot] = {h.boot_id for h in read_status(path).held}

    # Run 2, the same boot: still unsynchronised, it holds on, behind run 1's readings.
    start2 = now_ms()
    second = Run(tmp_path, cfg, secret)
    wait_until(lambda: held_now(path) >= held1 + 20, "the second run to hold readings too")
    assert second.readings == [] and arrived(emulator) == {}
    sync_ms = now_ms()
    flag.touch()  # NTP sets the clock
    wait_until(lambda: second.printed(held1 + 30), "the held readings to be printed with their time")
    wait_until(lambda: len(arrived(emulator)) >= len(second.readings), "the server to have them")
    assert second.stop() == 0
    end2 = now_ms()

    printed = second.keys()
    at_server = arrived(emulator)
    assert at_server == printed  # every one printed arrived, and nothing else
    assert all(abs(ts - now_ms()) < 3_600_000 for _, ts in at_server)  # none with the wrong clock's time
    windows = [(start1 - MARGIN_MS, kill1 + MARGIN_MS), (start2 - MARGIN_MS, end2 + MARGIN_MS)]
    stray = [(s, ts) for s, ts in at_server if not any(lo <= ts <= hi for lo, hi in windows)]
    assert stray == [], f"{len(stray)} reading(s) outside the times they can have been taken: {stray[:5]}"
    of_run1 = [key for key in at_server if windows[0][0] <= key[1] <= windows[0][1]]
    assert len(of_run1) == held1  # every reading the killed run had kept: none lost
    before_sync = [key for key in at_server if windows[1][0] <= key[1] <= sync_ms]
    assert before_sync, "the second run's held readings"
    for series in ("air_temperature", "air_humidity", "door"):  # in order, on the sensors' grid
        stamps = sorted(ts for s, ts in at_server if s == series)
        assert stamps and [r["timestamp_ms"] for r in second.readings if r["series"] == series] == stamps
    assert read_status(path).held == ()
    shown = json.loads(sensorkit("outbox", "status", "--json", cwd=tmp_path).stdout)
    assert shown["held"] == [] and shown["uploaders"][0]["waiting"] == 0
    assert boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip() or not os.path.exists("/proc")


def test_clock_a_boot_that_never_synced_is_kept_shown_and_never_sent(tmp_path: Path, emulator, monkeypatch):
    """Run 1 in boot A never sees a sync; run 2 is in boot B (a reboot) and syncs: A's readings stay held."""
    flag = tmp_path / "ntp-synced"
    monkeypatch.setenv("SENSORKIT_SIMULATED_CLOCK_SYNCED", str(flag))
    monkeypatch.setenv("SENSORKIT_SIMULATED_CLOCK_OFFSET_MS", str(-BEHIND_MS))
    monkeypatch.setenv("SENSORKIT_SIMULATED_BOOT_ID", "boot-a")
    path = tmp_path / "xdg-state" / "sensorkit" / "outbox.sqlite"
    cfg = config(tmp_path, emulator)
    first = Run(tmp_path, cfg, Secret(emulator.token))
    wait_until(lambda: held_now(path) >= 10, "the first boot's run to hold readings")
    assert first.stop() == 0
    [held_a] = read_status(path).held
    monkeypatch.setenv("SENSORKIT_SIMULATED_BOOT_ID", "boot-b")
    flag.touch()  # boot B gets NTP
    start2 = now_ms()
    second = Run(tmp_path, cfg, Secret(emulator.token))
    wait_until(lambda: second.printed(10), "the second boot's readings")
    wait_until(lambda: len(arrived(emulator)) >= 10, "the server to have some")
    assert second.stop() == 0
    assert "earlier boot (boot-a)" in second.stderr and "purge-held" in second.stderr
    assert all(ts >= start2 - MARGIN_MS for _, ts in arrived(emulator))  # only boot B's, with true times
    [still] = read_status(path).held
    assert (still.boot_id, still.count) == ("boot-a", held_a.count)
    text = sensorkit("outbox", "status", cwd=tmp_path).stdout
    assert f"held from an earlier boot boot-a: {held_a.count:,} reading(s)" in text
    purged = sensorkit("outbox", "purge-held", cwd=tmp_path)
    assert purged.returncode == 0 and f"{held_a.count} held reading(s) of earlier boots deleted" in purged.stdout
    assert read_status(path).held == ()
