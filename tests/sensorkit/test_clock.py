"""The clocks' trust: FakeClock's sync and steps, the simulated clock, the system clock's sources, the default."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sensorkit import clock as clock_module
from sensorkit.clock import FakeClock, SimulatedClock, SystemClock, choose_clock, read_boot_id, stamp
from sensorkit.config import parse_config
from sensorkit.errors import ConfigError

DAY_MS = 86_400_000


def test_fakeclock_starts_unsynchronised_and_syncs_to_the_true_time() -> None:
    clock = FakeClock(wall_ms=1_000_000, mono=50.0, synchronized=False)
    assert not clock.synchronized()
    clock.sync(wall_ms=9_000_000)
    assert clock.synchronized() and clock.time_ms() == 9_000_000 and clock.monotonic() == 50.0


def test_fakeclock_step_moves_the_wall_clock_alone() -> None:
    clock = FakeClock(wall_ms=1_000_000, mono=50.0)
    clock.step(-5_000)
    assert (clock.time_ms(), clock.monotonic()) == (995_000, 50.0)
    clock.advance(1.0)
    clock.step(+60_000)
    assert (clock.time_ms(), clock.monotonic()) == (1_056_000, 51.0)


def test_fakeclock_reboot_restarts_monotonic_time_unsynchronised() -> None:
    clock = FakeClock(wall_ms=1_000_000, mono=500.0, boot_id="a")
    clock.reboot("b", mono=3.0)
    assert (clock.boot_id(), clock.monotonic(), clock.synchronized(), clock.time_ms()) == ("b", 3.0, False, 1_000_000)


def test_stamp_reads_monotonic_time_before_the_wall_clock() -> None:
    """A wall time read after a sync the monotonic time says came later is the synchronised one."""
    order = []

    class Spy:
        def monotonic(self) -> float:
            order.append("mono")
            return 2.5

        def time_ms(self) -> int:
            order.append("wall")
            return 7

    assert stamp(Spy()) == (7, 2500) and order == ["mono", "wall"]


def test_systemclock_trusts_unless_asked_to_check() -> None:
    assert SystemClock().synchronized()


def test_systemclock_believes_timesyncd_under_a_fake_root_and_stays_synchronised(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(clock_module, "SYNC_CHECK_INTERVAL_S", 0.0)
    clock = SystemClock(check_sync=True, root=tmp_path)
    assert not clock.synchronized()  # a fake root: the kernel of this machine is not asked
    flag = tmp_path / "run/systemd/timesync/synchronized"
    flag.parent.mkdir(parents=True)
    flag.touch()
    assert clock.synchronized()
    flag.unlink()  # e.g. timesyncd restarted: a clock once set stays trusted
    assert clock.synchronized()


def test_systemclock_asks_at_most_once_a_second(tmp_path: Path, monkeypatch) -> None:
    asked = []
    monkeypatch.setattr(clock_module, "system_synchronized", lambda root: asked.append(root) or False)
    clock = SystemClock(check_sync=True, root=tmp_path)
    for _ in range(100):
        clock.synchronized()
    assert len(asked) == 1


def test_systemclock_asks_the_kernel_on_the_real_root(monkeypatch) -> None:
    monkeypatch.setattr(clock_module, "adjtimex_clock", lambda: clock_module.KernelClock(True, 1000))
    if not os.path.exists(clock_module.TIMESYNC_FLAG):
        assert clock_module.system_synchronized("/")
        monkeypatch.setattr(clock_module, "adjtimex_clock", lambda: clock_module.KernelClock(False, 16_000_000))
        assert not clock_module.system_synchronized("/")
        monkeypatch.setattr(clock_module, "adjtimex_clock", lambda: None)
        assert not clock_module.system_synchronized("/")


def test_boot_id_comes_from_the_kernel_or_is_made_up(tmp_path: Path) -> None:
    (tmp_path / "proc/sys/kernel/random").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/random/boot_id").write_text("0f0f-boot\n")
    assert read_boot_id(tmp_path) == "0f0f-boot"
    made_up = read_boot_id(tmp_path / "nowhere")
    assert made_up.startswith("unknown-") and made_up != read_boot_id(tmp_path / "nowhere")


def test_simulated_clock_is_wrong_until_its_flag_appears(tmp_path: Path) -> None:
    flag = tmp_path / "synced"
    clock = SimulatedClock.from_environ({"SENSORKIT_SIMULATED_CLOCK_SYNCED": str(flag),
                                         "SENSORKIT_SIMULATED_CLOCK_OFFSET_MS": str(-3 * DAY_MS),
                                         "SENSORKIT_SIMULATED_BOOT_ID": "sim-boot"})
    real = SystemClock()
    assert not clock.synchronized() and clock.boot_id() == "sim-boot"
    assert abs(clock.time_ms() - (real.time_ms() - 3 * DAY_MS)) < 5_000
    flag.touch()
    assert clock.synchronized() and abs(clock.time_ms() - real.time_ms()) < 5_000


def test_simulated_clock_without_the_environment_is_this_machines_synchronised() -> None:
    clock = SimulatedClock.from_environ({})
    assert clock.synchronized() and abs(clock.time_ms() - SystemClock().time_ms()) < 5_000


@pytest.mark.parametrize(("mode", "board", "simulated", "checks"), [
    ("auto", "raspberry-pi-4b", False, True),  # no battery-backed clock: wait for NTP
    ("auto", "generic-linux", False, False),  # a laptop, a PC: it has one
    ("ntp", "generic-linux", False, True),
    ("trusted", "raspberry-pi-5", False, False),
])
def test_choose_clock_defaults(mode: str, board: str, simulated: bool, checks: bool) -> None:
    clock = choose_clock(mode, board=board, simulated=simulated)
    assert type(clock) is SystemClock and clock._synced is not checks


def test_choose_clock_under_simulate_never_asks_the_host(monkeypatch) -> None:
    """CI and a laptop are never stuck holding, whatever their NTP says."""
    monkeypatch.delenv("SENSORKIT_SIMULATED_CLOCK_SYNCED", raising=False)
    monkeypatch.setattr(clock_module, "adjtimex_clock", lambda: clock_module.KernelClock(False, 16_000_000))
    for mode in ("auto", "ntp", "trusted"):
        clock = choose_clock(mode, board="simulated", simulated=True)
        assert isinstance(clock, SimulatedClock) and clock.synchronized()


def test_config_device_clock_key() -> None:
    assert parse_config('[device]\nclock = "trusted"\n', "t.toml").device.clock == "trusted"
    assert parse_config("[device]\n", "t.toml").device.clock == "auto"
    with pytest.raises(ConfigError, match=r"\[device\] key 'clock'.*\"trusted\"") as info:
        parse_config('[device]\nclock = "rtc"\n', "t.toml")
    assert "t.toml:2" in str(info.value)


def test_clock_a_bad_simulated_offset_is_bad_input(tmp_path) -> None:
    from tests.sensorkit.test_cli import assert_bad_input, sensorkit

    result = sensorkit("run", "--simulate", "--duration", "1", "--output", "jsonl", cwd=tmp_path,
                       env_extra={"SENSORKIT_SIMULATED_CLOCK_OFFSET_MS": "three days"})
    assert_bad_input(result, "SENSORKIT_SIMULATED_CLOCK_OFFSET_MS='three days' is not a whole number")
