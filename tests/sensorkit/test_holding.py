"""Held readings: none leaves with a wrong time; each gets its right time at the sync, in order — on a fake clock.

The fake clock starts three days behind the true time, unsynchronised, and
`sync()` sets it to the true time, as NTP does on a Pi that booted without
network. `true_ms(mono)` is the true time at a monotonic instant, what
every timestamp must be.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sensorkit.clock import FakeClock
from sensorkit.errors import OutboxError
from sensorkit.holding import Timestamps
from sensorkit.outbox import Outbox
from sensorkit.outbox.status import purge_held, read_status
from sensorkit.readings import Reading
from sensorkit.sampler import SampledSensor, Sampler
from tests.sensorkit.test_cli import sensorkit

TRUE_MS = 1_750_000_000_000  # the true time at monotonic 1000 s
BEHIND_MS = 3 * 86_400_000


def true_ms(mono_s: float) -> int:
    return TRUE_MS + round((mono_s - 1000.0) * 1000)


def wrong_clock(boot: str = "boot-a") -> FakeClock:
    return FakeClock(wall_ms=TRUE_MS - BEHIND_MS, mono=1000.0, synchronized=False, boot_id=boot)


def sync(clock: FakeClock) -> None:
    clock.sync(wall_ms=true_ms(clock.monotonic()))


def taken(clock: FakeClock, series: str = "air_temperature", value: float = 20.0) -> Reading:
    """A reading stamped as the sampler stamps (monotonic first, then the wall clock)."""
    mono = int(clock.monotonic() * 1000)
    return Reading(series, "air", "temperature", value, "°C", clock.time_ms(), mono_ms=mono)


class Collect:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def __call__(self, readings: list[Reading]) -> None:
        self.readings.extend(readings)


def sampled(name: str = "air", interval_s: float = 1.0) -> SampledSensor:
    return SampledSensor(name=name, read=lambda: {"temperature": 21.5}, interval_s=interval_s,
                         series={"temperature": (f"{name}_temperature", "°C")})


def run_inline(sampler: Sampler, clock: FakeClock, seconds: float, step_s: float = 0.25) -> None:
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        sampler.poll()
        clock.advance(step_s)


# ---------------------------------------------------------------------- without an outbox (memory)
def test_holding_prints_nothing_until_the_sync_then_every_reading_with_its_true_time() -> None:
    clock = wrong_clock()
    shown, live = Collect(), Collect()
    sink = Timestamps(clock, show=shown, live=live)
    sampler = Sampler([sampled()], sink.add, clock=clock, threaded=False)
    sampler.start()
    run_inline(sampler, clock, 10.0)
    assert shown.readings == [] and len(live.readings) == 10  # the console shows them live
    assert sink.held == 10 and "clock not synchronised: 10 reading(s) held" in (sink.note() or "")
    sync(clock)
    run_inline(sampler, clock, 2.0)
    assert [r.timestamp_ms for r in shown.readings] == [true_ms(1000.0 + n) for n in range(12)]
    assert sink.note() is None and sink.held == 0 and sink.released == 10
    assert all(r.timestamp_ms > TRUE_MS - 1000 for r in shown.readings)  # none carries the wrong clock's time


def test_holding_trusts_a_synchronised_clock_and_hands_readings_on_unchanged() -> None:
    clock = FakeClock()
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    readings = [taken(clock), taken(clock, "air_humidity", 50.0)]
    sink.add(readings)
    assert shown.readings == readings and [r.timestamp_ms for r in shown.readings] == [clock.time_ms()] * 2


def test_holding_a_reading_taken_before_the_sync_but_arriving_after_is_stamped_not_trusted() -> None:
    """The race a sync can lose: its wall time was read before the step; its monotonic time says so."""
    clock = wrong_clock()
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    early = taken(clock)  # stamped by the wrong clock...
    clock.advance(0.002)
    sync(clock)
    sink.add([taken(clock, "other")])  # ...the sync is seen first, by another series' reading
    clock.advance(0.5)
    sink.add([early])  # ...and only then does it arrive
    assert [r.timestamp_ms for r in shown.readings if r.series == "air_temperature"] == [true_ms(1000.0)]


def test_holding_a_reading_without_monotonic_time_is_placed_by_its_age() -> None:
    """A source that stamped with time_ms() alone: judged on arrival, placed by its age on the wall clock."""
    clock = wrong_clock()
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    bare = Reading("cam_note", "cam", "note", "hello", "", clock.time_ms() - 3_000)  # 3 s old
    sink.add([bare])
    sync(clock)
    sink.add([taken(clock)])
    assert shown.readings[0].series == "cam_note" and shown.readings[0].timestamp_ms == true_ms(1000.0) - 3_000


def test_holding_in_memory_is_bounded_and_says_so(caplog) -> None:
    clock = wrong_clock()
    shown = Collect()
    sink = Timestamps(clock, show=shown, max_held_in_memory=5)
    with caplog.at_level(logging.WARNING):
        for _ in range(8):
            sink.add([taken(clock)])
            clock.advance(1.0)
    assert caplog.text.count("1 reading(s) held in memory while the clock is not synchronised were dropped") == 3
    sync(clock)
    sink.add([taken(clock)])
    assert [r.timestamp_ms for r in shown.readings] == [true_ms(1000.0 + n) for n in range(3, 9)]


# ---------------------------------------------------------------------- steps of a synchronised clock
@pytest.mark.parametrize("step_ms", [3_600_000, -3_600_000])
def test_holding_a_clock_step_never_bursts_or_stalls_the_sampler(step_ms: int, caplog) -> None:
    clock = FakeClock(mono=1000.0)
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    sampler = Sampler([sampled("a", 1.0), sampled("b", 0.5)], sink.add, clock=clock, threaded=False)
    sampler.start()
    run_inline(sampler, clock, 10.0)
    before = {name: len([r for r in shown.readings if r.sensor == name]) for name in "ab"}
    with caplog.at_level(logging.WARNING):
        clock.step(step_ms)
        run_inline(sampler, clock, 10.0)
    after = {name: len([r for r in shown.readings if r.sensor == name]) - before[name] for name in "ab"}
    assert before == after == {"a": 10, "b": 20}  # the grid is monotonic: the same pace across the step
    for series in ("a_temperature", "b_temperature"):
        stamps = [r.timestamp_ms for r in shown.readings if r.series == series]
        assert all(later > earlier for earlier, later in zip(stamps, stamps[1:])), series  # never out of order
    if step_ms < 0:
        assert "went back 3599" in caplog.text or "went back 3600" in caplog.text
        last_before = [r.timestamp_ms for r in shown.readings if r.series == "a_temperature"][9]
        assert [r.timestamp_ms for r in shown.readings if r.series == "a_temperature"][10:] == [
            last_before + n for n in range(1, 11)]  # the last one + 1 ms, until the clock has caught up
    else:
        assert "went back" not in caplog.text


def test_holding_after_a_step_back_timestamps_follow_the_clock_again_once_it_caught_up() -> None:
    clock = FakeClock(mono=1000.0)
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    sink.add([taken(clock)])
    clock.step(-2_000)
    for _ in range(4):
        clock.advance(1.0)
        sink.add([taken(clock)])
    assert [r.timestamp_ms - shown.readings[0].timestamp_ms for r in shown.readings] == [0, 1, 2, 1000, 2000]


# ---------------------------------------------------------------------- with an outbox
def outbox_at(path: Path, clock: FakeClock, **options) -> Outbox:
    return Outbox(path, ["iobeam"], clock=clock, **options)


def everything(outbox: Outbox) -> list[Reading]:
    items = outbox.pending_batch("iobeam", 10**6)
    outbox.settled("iobeam")
    return [r for _, r in items]


def test_holding_keeps_held_readings_out_of_every_uploaders_reach(tmp_path: Path) -> None:
    clock = wrong_clock()
    with outbox_at(tmp_path / "outbox.sqlite", clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        for _ in range(5):
            sink.add([taken(clock)])
            clock.advance(1.0)
        outbox.commit()
        assert outbox.waiting("iobeam") == 0 and everything(outbox) == []
        [held] = outbox.status().held
        assert (held.boot_id, held.count, held.span_s) == ("boot-a", 5, 4.0)
        assert held.first_clock_ms == TRUE_MS - BEHIND_MS  # what the wrong clock said: shown, never sent


def test_holding_releases_across_a_restart_in_order_with_true_times(tmp_path: Path) -> None:
    """Held, the outbox closed and opened again (a new process, the same boot), then the sync."""
    clock = wrong_clock()
    path = tmp_path / "outbox.sqlite"
    with outbox_at(path, clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        for n in range(6):
            sink.add([taken(clock, value=float(n)), taken(clock, "air_humidity", 50.0 + n)])
            clock.advance(1.0)
    clock.advance(30.0)  # the restart takes a while; CLOCK_MONOTONIC goes on
    with outbox_at(path, clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        assert sink.held == 12
        for n in range(6, 9):
            sink.add([taken(clock, value=float(n))])
            clock.advance(1.0)
        sync(clock)
        sink.add([taken(clock, value=99.0)])  # the first reading after the sync releases the rest first
        outbox.commit()
        readings = everything(outbox)
        assert outbox.status().held == ()
    temperatures = [(r.value, r.timestamp_ms) for r in readings if r.series == "air_temperature"]
    expected = [(float(n), true_ms(1000.0 + n)) for n in range(6)]
    expected += [(float(n), true_ms(1030.0 + n)) for n in range(6, 9)] + [(99.0, true_ms(1039.0))]
    assert temperatures == expected
    humidities = [r.timestamp_ms for r in readings if r.series == "air_humidity"]
    assert humidities == [true_ms(1000.0 + n) for n in range(6)]
    assert [r.timestamp_ms for r in readings][:2] == [true_ms(1000.0)] * 2  # in the order they were taken


def test_holding_a_boot_that_never_synced_is_kept_flagged_and_shown(tmp_path: Path) -> None:
    clock = wrong_clock("boot-a")
    state = tmp_path / "state"
    state.mkdir()
    path = state / "outbox.sqlite"
    with outbox_at(path, clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        for _ in range(4):
            sink.add([taken(clock)])
            clock.advance(1.0)
    clock.reboot("boot-b", mono=5.0)  # power cut; the next boot's monotonic clock starts again
    with outbox_at(path, clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        assert sink.earlier_boots == 4
        sink.add([taken(clock)])
        clock.advance(1.0)
        clock.sync(wall_ms=TRUE_MS + 3_600_000)
        sink.add([taken(clock)])
        assert "4 reading(s) from an earlier boot that never synchronised are kept" in (sink.note() or "")
        outbox.commit()
        readings = everything(outbox)
        assert [r.timestamp_ms for r in readings] == [TRUE_MS + 3_600_000 - 1000, TRUE_MS + 3_600_000]
        assert [(h.boot_id, h.count) for h in outbox.status().held] == [("boot-a", 4)]
    shown = sensorkit("outbox", "status", "--state-dir", str(state), cwd=tmp_path)
    assert "held from an earlier boot boot-a: 4 reading(s)" in shown.stdout and "purge-held" in shown.stdout
    assert [(h.boot_id, h.count) for h in read_status(path).held] == [("boot-a", 4)]
    assert purge_held(path, "boot-b") == 4 and read_status(path).held == ()


def test_holding_outbox_status_shows_this_boots_held_readings(tmp_path: Path) -> None:
    from sensorkit.cli.outbox import held_lines

    clock = wrong_clock("this-boot")
    with outbox_at(tmp_path / "outbox.sqlite", clock) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        for _ in range(3):
            sink.add([taken(clock)])
            clock.advance(60.0)
        outbox.commit()
        [line] = held_lines(outbox.status().held, "this-boot")
    assert line.startswith("held: 3 reading(s) of this boot (taken over 2 min") and "synchronised" in line


def test_holding_max_age_never_drops_held_readings(tmp_path: Path) -> None:
    """Held for two days with max_age one day: kept while held, and delivered once released."""
    clock = wrong_clock()
    with outbox_at(tmp_path / "outbox.sqlite", clock, max_age_s=86_400.0) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        sink.add([taken(clock, value=1.0)])
        for _ in range(48):
            clock.advance(3600.0)
            sink.add([taken(clock, value=2.0)])
            outbox.commit()
        sync(clock)
        sink.add([taken(clock, value=3.0)])
        for _ in range(3):
            clock.advance(61.0)  # past PRUNE_INTERVAL_S: the bounds run at these commits
            outbox.add([taken(clock, "other")])
            outbox.commit()
        readings = [r for r in everything(outbox) if r.series == "air_temperature"]
        assert len(readings) == 50 and readings[0].timestamp_ms == true_ms(1000.0)
        assert outbox.status().dropped == 0


def test_holding_an_unsynchronised_clock_ahead_does_not_age_out_stored_readings(tmp_path: Path) -> None:
    """A clock a year ahead before its sync would make every stored reading look old."""
    path = tmp_path / "outbox.sqlite"
    good = FakeClock(wall_ms=TRUE_MS)
    with outbox_at(path, good, max_age_s=86_400.0) as outbox:
        outbox.add([taken(good)])
    ahead = FakeClock(wall_ms=TRUE_MS + 365 * 86_400_000, synchronized=False)
    with outbox_at(path, ahead, max_age_s=86_400.0) as outbox:
        for _ in range(3):
            ahead.advance(61.0)
            outbox.add_held([("boot", int(ahead.monotonic() * 1000), taken(ahead))])
            outbox.commit()
        assert len(everything(outbox)) == 1 and outbox.status().dropped == 0


def test_holding_held_readings_are_bounded_by_max_readings_and_counted(tmp_path: Path) -> None:
    clock = wrong_clock()
    with outbox_at(tmp_path / "outbox.sqlite", clock, max_readings=10) as outbox:
        sink = Timestamps(clock, outbox=outbox)
        for _ in range(15):
            sink.add([taken(clock)])
            clock.advance(1.0)
            outbox.commit()
        status = outbox.status()
        assert status.held[0].count == 10 and dict(status.dropped_by_series) == {"air_temperature": 5}


def test_holding_a_release_the_disk_refuses_keeps_everything_held_in_order(tmp_path: Path, monkeypatch) -> None:
    clock = wrong_clock()
    shown = Collect()
    with outbox_at(tmp_path / "outbox.sqlite", clock) as outbox:
        sink = Timestamps(clock, outbox=outbox, show=shown)
        sink.add([taken(clock, value=1.0)])
        clock.advance(1.0)
        sync(clock)
        real_release = outbox.release
        monkeypatch.setattr(outbox, "release", lambda *a: (_ for _ in ()).throw(OutboxError("disk full")))
        sink.add([taken(clock, value=2.0)])  # trusted, but may not pass the held one: held after it
        assert shown.readings == [] and outbox.waiting("iobeam") == 0
        monkeypatch.setattr(outbox, "release", real_release)
        clock.advance(1.0)
        sink.add([taken(clock, value=3.0)])
        outbox.commit()
        assert [(r.value, r.timestamp_ms) for r in everything(outbox)] == [
            (v, true_ms(1000.0 + n)) for n, v in enumerate((1.0, 2.0, 3.0))]
        assert [r.value for r in shown.readings] == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------------- the console
def test_holding_console_shows_live_values_with_the_clock_marker() -> None:
    import io

    from sensorkit.output import ConsoleOutput

    clock = wrong_clock()
    console = ConsoleOutput(io.StringIO(), title="t", wall_ms=clock.time_ms, size=lambda: (200, 40))
    sink = Timestamps(clock, live=console.write)
    console.clock_note = sink.note
    sink.add([taken(clock, value=21.25)])
    lines = console.render()
    assert lines[1] == "  ! clock not synchronised: 1 reading(s) held until it is (values shown live; their times " \
                       "are set at the sync)"
    assert any("air_temperature" in line and "21.25" in line for line in lines)
    sync(clock)
    sink.add([taken(clock)])
    assert not any("clock not synchronised" in line for line in console.render())


def test_holding_releases_at_the_sync_without_waiting_for_a_new_reading() -> None:
    """A run of only [[watch]] tables may take no reading for hours after the sync: tick() releases."""
    clock = wrong_clock()
    shown = Collect()
    sink = Timestamps(clock, show=shown)
    first = taken(clock)
    sink.add([first])
    sink.tick()
    assert shown.readings == []  # not synchronised: held, and a tick changes nothing
    clock.advance(30.0)
    sync(clock)
    sink.tick()
    assert [r.timestamp_ms for r in shown.readings] == [true_ms(1000.0)]
    sink.tick()
    assert len(shown.readings) == 1  # released once


def test_holding_watched_files_are_held_and_stamped_like_sensor_readings(tmp_path: Path) -> None:
    """A watched file's reading carries its monotonic time (sensorkit.watching stamps with clock.stamp): one
    stamped just before the sync and handed on just after gets its true time, not the wrong clock's (judged
    on arrival, it would pass as taken after the sync) nor a guess."""
    from sensorkit.config import parse_config
    from sensorkit.watching import Watching

    directory = tmp_path / "files"
    directory.mkdir()
    (directory / "status").write_text("pump on\n")
    config = parse_config(f'[[watch]]\npath = "{directory}"\ndevice_uid = "pi-1"\n'
                          '[uploader.byteport]\nnamespace = "greenhouse"\nkey = "k"\ndevice_uid = "pi-1"\n',
                          str(tmp_path / "sensorkit.toml"))
    clock = wrong_clock()
    shown = Collect()
    sink = Timestamps(clock, show=shown)

    def late_sink(readings: list[Reading]) -> None:  # NTP sets the clock between the stamp and the hand-over
        clock.advance(1.0)
        sync(clock)
        sink.add(readings)

    watching = Watching(config.enabled_watches, late_sink, clock=clock,
                        wall_ns=lambda: (true_ms(clock.monotonic()) + 60_000) * 1_000_000)
    watching.poll()
    [reading] = shown.readings
    assert (reading.series, reading.value) == ("status", "pump on\n")
    assert reading.timestamp_ms == true_ms(1000.0)
