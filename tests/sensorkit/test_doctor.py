"""`sensorkit doctor` against fake machine roots (one per problem), and on the simulated board where all passes.

The tests run as root in CI, where no file permission stops anything: a
device a user may not open is an injected opener raising PermissionError,
with the fake root's /etc/group saying who is in which group.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sensorkit import tokens
from sensorkit.cli import main
from sensorkit.doctor import Check, Host, KernelClock, Options, Status, diagnose
from sensorkit.doctor.bootconfig import read_boot_config
from sensorkit.doctor.host import adjtimex_clock
from sensorkit.doctor.machine import check_clock
from sensorkit.errors import ConfigError
from sensorkit.outbox import Outbox
from sensorkit.readings import Reading
from tests.sensorkit.fake_machine import PI4, PI5, UNIT, FakeRoot, host_for, importer

HOUR_MS = 3_600_000


def write_config(tmp_path: Path, body: str, *, board: str = "auto", name: str = "sensorkit.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'[device]\nboard = "{board}"\n\n{body}')
    path.chmod(0o600)
    return path


SHT3X = '[[sensor]]\nname = "air"\ndriver = "sht3x"\naddress = 0x44\n'
DOOR = '[[sensor]]\nname = "door"\ndriver = "gpio_input"\npin = "GPIO17"\n'
TANK = '[[sensor]]\nname = "tank"\ndriver = "ds18b20"\n'


def iobeam_table(url: str, token: str, project_id: int = 1) -> str:
    return f'[uploader.iobeam]\nproject_id = {project_id}\ntoken = "{token}"\nbase_url = "{url}/v1/"\n'


def run(tmp_path: Path, host: Host, config: Path | None, **options) -> dict[str, Check]:
    options.setdefault("state_dir", str(tmp_path / "state"))
    report = diagnose(Options(config=str(config) if config else None, **options), host)
    names = [c.name for c in report.checks]
    assert len(names) == len(set(names)), names  # one line per check
    return {c.name: c for c in report.checks}


def failing(checks: dict[str, Check]) -> dict[str, Check]:
    return {name: c for name, c in checks.items() if c.status is not Status.OK}


# --------------------------------------------------------------------------- the whole machine
def test_doctor_passes_everything_on_a_well_set_up_pi5(tmp_path):
    config = write_config(tmp_path, SHT3X + DOOR + TANK)
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).pi5()), config)
    assert failing(checks) == {}
    assert checks["board"].detail.endswith("profile raspberry-pi-5")
    assert checks["1-wire"].detail.startswith("w1-gpio on GPIO4")
    assert "not read" in checks["sensors"].detail  # a fake root's sensors would be this machine's


def test_doctor_cli_passes_on_the_simulated_board(tmp_path, capsys, iobeam_server):
    fake = FakeRoot(tmp_path).synced()
    config = write_config(tmp_path, SHT3X + DOOR + TANK + iobeam_table(iobeam_server.url, iobeam_server.project_token),
                          board="simulated")
    code = main(["doctor", "-c", str(config), "--state-dir", str(tmp_path / "state"), "--root", str(fake.root)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert all(line.startswith("OK") for line in lines[:-1]), out
    assert lines[-1].startswith("all ") and lines[-1].endswith("checks pass")
    for sensor in ("sensor:air", "sensor:door", "sensor:tank_"):
        assert sensor in out
    assert "accepts the token (project 1)" in out
    assert iobeam_server.project_token not in out


def test_doctor_json_is_the_checks_as_data(tmp_path, capsys):
    fake = FakeRoot(tmp_path).model(PI5).boot("").synced()
    config = write_config(tmp_path, SHT3X)
    code = main(["doctor", "-c", str(config), "--state-dir", str(tmp_path / "s"), "--root", str(fake.root), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["ok"] is False and data["board"] == "raspberry-pi-5"
    i2c = next(c for c in data["checks"] if c["name"] == "i2c-1")
    assert i2c["status"] == "FAIL" and "dtparam=i2c_arm=on" in i2c["fix"]
    assert data["counts"]["FAIL"] == sum(c["status"] == "FAIL" for c in data["checks"])
    assert all(c["fix"] is None for c in data["checks"] if c["status"] == "OK")


def test_doctor_a_broken_config_is_bad_input(tmp_path, capsys):
    config = write_config(tmp_path, '[[sensor]]\nname = "air"\ndriver = "sht3x"\nadress = 0x44\n')
    fake = FakeRoot(tmp_path).pi5()
    code = main(["doctor", "-c", str(config), "--root", str(fake.root)])
    assert code == 2 and "adress" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        run(tmp_path, host_for(fake), config)
    good = write_config(tmp_path, SHT3X, name="good.toml")
    assert main(["doctor", "-c", str(good), "--board", "raspberry-pi-6", "--root", str(fake.root)]) == 2
    assert "unknown board 'raspberry-pi-6'" in capsys.readouterr().err


def test_doctor_help_keeps_the_fake_root_hidden(capsys):
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    shown = capsys.readouterr().out
    assert "--state-dir" in shown and "--json" in shown and "--root" not in shown


def test_doctor_without_a_config_still_checks_the_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    fake = FakeRoot(tmp_path).model(PI5).boot("").gpiochips().synced()
    checks = run(tmp_path, host_for(fake), None)
    assert checks["config"].status is Status.FAIL and "-c FILE" in checks["config"].fix
    assert "/etc/sensorkit/sensorkit.toml" in checks["config"].detail
    assert checks["i2c-1"].status is Status.FAIL  # the board's default bus, for `sensorkit detect`
    assert checks["gpio"].status is Status.OK


# --------------------------------------------------------------------------- board
def test_doctor_an_undetected_board_fails_with_the_way_to_name_it(tmp_path):
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).synced()), write_config(tmp_path, SHT3X))
    assert checks["board"].status is Status.FAIL
    assert "/proc/device-tree/model" in checks["board"].detail and "--board NAME" in checks["board"].fix
    assert "i2c-1" not in checks and "sensors" not in checks  # nothing to check against


def test_doctor_a_board_that_is_not_this_machine_warns(tmp_path):
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).pi5()), write_config(tmp_path, SHT3X), board="raspberry-pi-4b")
    assert checks["board"].status is Status.WARN and "--board raspberry-pi-5" in checks["board"].fix


# --------------------------------------------------------------------------- I2C
def test_doctor_i2c_off_names_the_line_and_the_boot_config(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("#dtparam=i2c_arm=on\ndtparam=audio=on\n").synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, SHT3X))["i2c-1"]
    assert check.status is Status.FAIL
    assert "add the line `dtparam=i2c_arm=on` to /boot/firmware/config.txt, then reboot" in check.fix


def test_doctor_i2c_off_on_an_older_os_names_boot_config_txt(tmp_path):
    fake = FakeRoot(tmp_path).model(PI4).boot("dtparam=audio=on\n", where="/boot/config.txt").synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, SHT3X))["i2c-1"]
    assert "to /boot/config.txt, then reboot" in check.fix


def test_doctor_i2c_line_present_but_not_rebooted(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("dtparam=i2c_arm=on\n").synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, SHT3X))["i2c-1"]
    assert check.status is Status.FAIL and check.fix == "sudo reboot"


def test_doctor_i2c_bus_without_its_device_node_needs_i2c_dev(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("dtparam=i2c_arm=on\n").synced()
    (fake.root / "sys/bus/i2c/devices/i2c-1").mkdir(parents=True)
    check = run(tmp_path, host_for(fake), write_config(tmp_path, SHT3X))["i2c-1"]
    assert "i2c-dev module is not loaded" in check.detail and "sudo modprobe i2c-dev" in check.fix


def test_doctor_i2c_not_open_to_the_user_names_the_group_to_join(tmp_path):
    fake = FakeRoot(tmp_path).pi5()
    fake.file("/etc/group", "root:x:0:\ni2c:x:998:\ngpio:x:997:pi\n")

    def opener(path: Path) -> None:
        if path.name == "i2c-1":
            raise PermissionError(13, "Permission denied")

    checks = run(tmp_path, host_for(fake, opener=opener), write_config(tmp_path, SHT3X))
    assert checks["i2c-1"].status is Status.FAIL
    assert "pi is not in it" in checks["i2c-1"].detail
    assert checks["i2c-1"].fix == "sudo adduser pi i2c, then log out and back in"


def test_doctor_a_group_joined_after_login_needs_a_new_login(tmp_path):
    fake = FakeRoot(tmp_path).pi5()
    fake.file("/etc/group", "i2c:x:998:pi\n")

    def opener(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    check = run(tmp_path, host_for(fake, opener=opener), write_config(tmp_path, SHT3X))["i2c-1"]
    assert "log out and back in" in check.fix and "adduser" not in check.fix


# --------------------------------------------------------------------------- 1-wire
@pytest.mark.parametrize(("boot", "expected"), [
    ("dtparam=i2c_arm=on\n", "add the line `dtoverlay=w1-gpio` to /boot/firmware/config.txt"),
    ("dtparam=i2c_arm=on\ndtoverlay=w1-gpio,gpiopin=17\n", "change that line to `dtoverlay=w1-gpio`"),
    ("dtparam=i2c_arm=on\ndtoverlay=w1-gpio\ndtparam=gpiopin=22\n", "change that line to `dtoverlay=w1-gpio`"),
    ("dtparam=i2c_arm=on\n[pi4]\ndtoverlay=w1-gpio\n[all]\n", "add the line `dtoverlay=w1-gpio`"),
])
def test_doctor_1wire_overlay_missing_or_on_another_pin(tmp_path, boot, expected):
    fake = FakeRoot(tmp_path).model(PI5).boot(boot).i2c().synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, TANK))["1-wire"]
    assert check.status is Status.FAIL and expected in check.fix


def test_doctor_1wire_on_a_configured_pin(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("dtoverlay=w1-gpio,gpiopin=17\n").w1_master().synced()
    config = write_config(tmp_path, TANK).read_text().replace('board = "auto"', 'board = "auto"\nonewire_pin = 17')
    (tmp_path / "w1.toml").write_text(config)
    checks = run(tmp_path, host_for(fake), tmp_path / "w1.toml")
    assert checks["1-wire"].status is Status.OK and "GPIO17" in checks["1-wire"].detail
    checks = run(tmp_path, host_for(fake.boot("")), tmp_path / "w1.toml")
    assert checks["1-wire"].status is Status.WARN  # loaded now, gone after a reboot
    assert "`dtoverlay=w1-gpio,gpiopin=17`" in checks["1-wire"].fix


def test_doctor_1wire_overlay_set_but_not_rebooted(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("dtoverlay=w1-gpio\n").synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, TANK))["1-wire"]
    assert check.status is Status.FAIL and check.fix.startswith("sudo reboot")


# --------------------------------------------------------------------------- GPIO
def test_doctor_lgpio_missing_on_a_pi5(tmp_path):
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).pi5(), import_module=importer()), write_config(tmp_path, DOOR))
    check = checks["gpio-library"]
    assert check.status is Status.FAIL and "needs the Python module lgpio" in check.detail
    assert check.fix.startswith("sudo apt install python3-lgpio")
    assert checks["gpio"].status is Status.OK


def test_doctor_gpio_not_open_to_the_user(tmp_path):
    fake = FakeRoot(tmp_path).pi5()
    fake.file("/etc/group", "gpio:x:997:\n")

    def opener(path: Path) -> None:
        if path.name.startswith("gpiochip"):
            raise PermissionError(13, "Permission denied")

    check = run(tmp_path, host_for(fake, opener=opener), write_config(tmp_path, DOOR))["gpio"]
    assert check.status is Status.FAIL and check.fix == "sudo adduser pi gpio, then log out and back in"


def test_doctor_no_gpio_chip(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5).boot("").synced()
    check = run(tmp_path, host_for(fake), write_config(tmp_path, DOOR))["gpio"]
    assert check.status is Status.FAIL and "/dev/gpiochip" in check.detail


# --------------------------------------------------------------------------- state dir and outbox
def test_doctor_state_dir_not_writable(tmp_path):
    (tmp_path / "state").mkdir()

    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    check = run(tmp_path, host_for(FakeRoot(tmp_path).pi5(), probe_write=refuse), None)["state-dir"]
    assert check.status is Status.FAIL and check.fix.startswith(f"sudo chown -R pi {tmp_path / 'state'}")


def test_doctor_state_dir_that_is_a_file(tmp_path):
    (tmp_path / "state").write_text("")
    check = run(tmp_path, host_for(FakeRoot(tmp_path).pi5()), None)["state-dir"]
    assert check.status is Status.FAIL and "not a directory" in check.detail


@pytest.mark.parametrize(("free", "status"), [(5_000_000, Status.FAIL), (60_000_000, Status.WARN),
                                              (500_000_000, Status.OK)])
def test_doctor_free_space(tmp_path, free, status):
    check = run(tmp_path, host_for(FakeRoot(tmp_path).pi5(), free_bytes=lambda path: free), None)["disk-space"]
    assert check.status is status
    assert f"{free / 1_000_000:,.0f} MB free" in check.detail


def _outbox(state: Path, now_ms: int, *, dead: int = 0, age_ms: int = 0) -> None:
    state.mkdir(exist_ok=True)
    with Outbox(state / "outbox.sqlite", ["iobeam"]) as outbox:
        outbox.add([Reading("air_temperature", "air", "temperature", 20.0 + n, "°C", now_ms - age_ms + n)
                    for n in range(5)])
        outbox.commit()
        if dead:
            outbox.dead_letter("iobeam", outbox.pending_batch("iobeam", dead), "HTTP 400: series refused")


def test_doctor_outbox_dead_letters_and_backlog(tmp_path, iobeam_server):
    import time

    now_ms = time.time_ns() // 1_000_000
    _outbox(tmp_path / "state", now_ms, dead=2, age_ms=3 * HOUR_MS)
    config = write_config(tmp_path, SHT3X + iobeam_table(iobeam_server.url, iobeam_server.project_token))
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).pi5()), config)
    assert checks["outbox"].status is Status.OK and "5 reading(s) stored, 3 waiting" in checks["outbox"].detail
    dead = checks["outbox:iobeam:dead"]
    assert dead.status is Status.WARN and "2 reading(s) refused" in dead.detail and "series refused" in dead.detail
    assert f"sensorkit outbox list-dead --state-dir {tmp_path / 'state'}" in dead.fix
    backlog = checks["outbox:iobeam"]
    assert backlog.status is Status.WARN and "the oldest taken 3 h ago" in backlog.detail


def test_doctor_a_recent_backlog_is_fine(tmp_path, iobeam_server):
    import time

    _outbox(tmp_path / "state", time.time_ns() // 1_000_000)
    config = write_config(tmp_path, SHT3X + iobeam_table(iobeam_server.url, iobeam_server.project_token))
    assert failing(run(tmp_path, host_for(FakeRoot(tmp_path).pi5()), config)) == {}


# --------------------------------------------------------------------------- sensors
def test_doctor_a_sensor_that_does_not_answer(tmp_path, capsys):
    fake = FakeRoot(tmp_path).synced()
    config = write_config(tmp_path, SHT3X + 'simulate_fault = "absent"\n' + DOOR, board="simulated")
    code = main(["doctor", "-c", str(config), "--state-dir", str(tmp_path / "s"), "--root", str(fake.root)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  sensor:air" in out and "`sensorkit detect` lists what answers on I2C bus 1" in out
    assert "OK    sensor:door" in out


def test_doctor_a_config_with_nothing_to_read(tmp_path):
    checks = run(tmp_path, host_for(FakeRoot(tmp_path).synced()), write_config(tmp_path, "", board="simulated"))
    assert checks["sensors"].status is Status.FAIL and "[[sensor]]" in checks["sensors"].fix


# --------------------------------------------------------------------------- uploaders
def test_doctor_an_unreachable_uploader_only_warns(tmp_path, iobeam_server):
    config = write_config(tmp_path, SHT3X + iobeam_table(iobeam_server.url, iobeam_server.project_token),
                          board="simulated")
    iobeam_server.set_down(True)
    report = diagnose(Options(config=str(config), state_dir=str(tmp_path / "s")), host_for(FakeRoot(tmp_path).synced()))
    check = next(c for c in report.checks if c.name == "uploader:iobeam")
    assert check.status is Status.WARN and "not reachable" in check.detail and "outbox" in check.fix
    assert not report.failed


def test_doctor_gives_up_on_a_slow_server_after_its_timeout(tmp_path, make_iobeam_server):
    import time

    slow = make_iobeam_server(latency_ms=5000)
    config = write_config(tmp_path, SHT3X + iobeam_table(slow.url, slow.project_token), board="simulated")
    started = time.monotonic()
    report = diagnose(Options(config=str(config), state_dir=str(tmp_path / "s"), uploader_timeout_s=0.3),
                      host_for(FakeRoot(tmp_path).synced()))
    check = next(c for c in report.checks if c.name == "uploader:iobeam")
    assert check.status is Status.WARN and "no answer" in check.detail
    assert time.monotonic() - started < 4


def test_doctor_a_refused_token_fails_and_never_shows_it(tmp_path, capsys, iobeam_server):
    bad = tokens.encode({"typ": "project", "pid": 1, "write": True, "exp": 4_000_000_000}, b"not the server's secret")
    fake = FakeRoot(tmp_path).synced()
    config = write_config(tmp_path, SHT3X + iobeam_table(iobeam_server.url, bad), board="simulated")
    config.chmod(0o644)  # and the loader's warning about it
    for extra in ([], ["--json"]):
        code = main(["doctor", "-c", str(config), "--state-dir", str(tmp_path / "s"), "--root", str(fake.root), *extra])
        captured = capsys.readouterr()
        assert code == 1
        assert bad not in captured.out + captured.err
        for part in bad.split("."):
            assert part not in captured.out + captured.err
    data = json.loads(captured.out)
    check = next(c for c in data["checks"] if c["name"] == "uploader:iobeam")
    assert check["status"] == "FAIL" and "refused the project token" in check["detail"]
    assert any(c["name"] == "config" and "chmod 600" in (c["fix"] or "") for c in data["checks"])


# --------------------------------------------------------------------------- clock
def test_doctor_clock_unsynchronised_on_a_pi_warns_that_readings_are_held(tmp_path):
    """Not a FAIL: readings wait safely (held) until the clock is set; the fix names both ways out."""
    check = run(tmp_path, host_for(FakeRoot(tmp_path).model(PI5)), None)["clock"]
    assert check.status is Status.WARN and "held" in check.detail
    assert "timedatectl set-ntp true" in check.fix and 'clock = "trusted"' in check.fix


def test_doctor_clock_synchronised_by_timesyncd_under_a_fake_root(tmp_path):
    check = run(tmp_path, host_for(FakeRoot(tmp_path).model(PI5).synced()), None)["clock"]
    assert check.status is Status.OK and "synchronized exists" in check.detail


def test_doctor_clock_from_the_kernel(tmp_path):
    fake = FakeRoot(tmp_path)
    unsynced = check_clock(host_for(fake, kernel_clock=lambda: KernelClock(False, 16_000_000)), board="raspberry-pi-4b")
    synced = check_clock(host_for(fake, kernel_clock=lambda: KernelClock(True, 40_000)), board="raspberry-pi-4b")
    assert (unsynced.status, synced.status) == (Status.WARN, Status.OK)
    assert "40 ms" in synced.detail and "kernel's NTP status" in unsynced.detail


@pytest.mark.parametrize(("mode", "board"), [("trusted", "raspberry-pi-4b"), ("auto", "generic-linux")])
def test_doctor_clock_trusted_stays_ok_unsynchronised(tmp_path, mode, board):
    check = check_clock(host_for(FakeRoot(tmp_path), kernel_clock=lambda: KernelClock(False, 16_000_000)),
                        mode=mode, board=board)
    assert check.status is Status.OK and "trusted" in check.detail and "not synchronised" in check.detail


def test_doctor_clock_trusted_in_the_config_is_ok_on_a_pi(tmp_path):
    config = write_config(tmp_path, '[[sensor]]\nname = "air"\ndriver = "sht3x"\n', board="raspberry-pi-5")
    config.write_text(config.read_text().replace("[device]\n", '[device]\nclock = "trusted"\n'))
    check = run(tmp_path, host_for(FakeRoot(tmp_path).model(PI5)), config)["clock"]
    assert check.status is Status.OK and "trusted" in check.detail


@pytest.mark.skipif(not os.path.exists("/proc/self"), reason="adjtimex is Linux's")
def test_adjtimex_reads_the_kernel_clock():
    clock = adjtimex_clock()
    assert isinstance(clock, KernelClock) and clock.max_error_us >= 0


# --------------------------------------------------------------------------- service
SERVICE = """\
[Unit]
Description=sensorkit

[Service]
User=pi
EnvironmentFile=-/etc/sensorkit/env
ExecStart=/home/pi/venv/bin/sensorkit run --config /etc/sensorkit/sensorkit.toml --state-dir /var/lib/sensorkit \\
    --output none
"""


def test_doctor_service_runs_with_which_config(tmp_path):
    fake = FakeRoot(tmp_path).pi5()
    fake.file(UNIT, SERVICE)
    mine = write_config(tmp_path, SHT3X)
    checks = run(tmp_path, host_for(fake), mine)
    assert checks["service"].status is Status.OK and "--state-dir /var/lib/sensorkit --output none" in \
        checks["service"].detail
    assert checks["service-config"].status is Status.FAIL and "sensorkit service install" in \
        checks["service-config"].fix
    fake.file("/etc/sensorkit/sensorkit.toml", mine.read_text())
    checks = run(tmp_path, host_for(fake), mine)
    assert checks["service-config"].status is Status.WARN
    assert checks["service-config"].fix == "sensorkit doctor -c /etc/sensorkit/sensorkit.toml"
    service_config = fake.root / "etc/sensorkit/sensorkit.toml"
    report = diagnose(Options(config=str(service_config)), host_for(fake))  # no --state-dir: the service's
    assert {c.name: c for c in report.checks}["service-config"].status is Status.OK
    assert report.state_dir == "/var/lib/sensorkit"


def test_doctor_service_that_is_not_running(tmp_path):
    fake = FakeRoot(tmp_path).pi5()
    fake.file(UNIT, SERVICE)
    fake.file(UNIT + ".d/override.conf", "[Service]\nExecStart=\nExecStart=/opt/sk/bin/sensorkit run -c /etc/sk.toml\n")
    fake.file("/etc/sk.toml", "")
    answers = {"is-active": "failed", "is-enabled": "disabled"}
    host = host_for(fake, systemctl=lambda args: answers[args[0]])
    checks = run(tmp_path, host, write_config(tmp_path, SHT3X))
    assert checks["service"].status is Status.FAIL and "/opt/sk/bin/sensorkit run -c /etc/sk.toml" in \
        checks["service"].detail
    assert checks["service"].fix.startswith("sudo systemctl enable --now sensorkit")
    assert checks["service-boot"].fix == "sudo systemctl enable sensorkit"
    answers.update({"is-active": "active", "is-enabled": "enabled"})
    checks = run(tmp_path, host, write_config(tmp_path, SHT3X))
    assert checks["service"].status is Status.OK and "service-boot" not in checks


def test_doctor_reads_token_env_from_the_service_environment_file(tmp_path, iobeam_server):
    fake = FakeRoot(tmp_path).synced()
    fake.file(UNIT, SERVICE)
    fake.file("/etc/sensorkit/env", f"# the token\nSK_DOCTOR_TOKEN='{iobeam_server.project_token}'\n")
    table = f'[uploader.iobeam]\nproject_id = 1\ntoken_env = "SK_DOCTOR_TOKEN"\nbase_url = "{iobeam_server.url}/v1/"\n'
    checks = run(tmp_path, host_for(fake), write_config(tmp_path, SHT3X + table, board="simulated"))
    assert checks["uploader:iobeam"].status is Status.OK


# --------------------------------------------------------------------------- pieces
def test_boot_config_filters_includes_and_overlay_scope(tmp_path):
    fake = FakeRoot(tmp_path).model(PI5)
    fake.boot("[pi4]\ndtparam=i2c_arm=on\n[pi5]\ninclude extra.txt\n[none]\ndtoverlay=w1-gpio,gpiopin=5\n[all]\n"
              "dtoverlay=w1-gpio-pullup\ndtparam=gpiopin=6,i2c_arm_baudrate=400000\ndtoverlay=\ndtparam=gpiopin=9\n")
    fake.file("/boot/firmware/extra.txt", "dtparam=spi=on,i2c=on  # both\n")
    boot = read_boot_config(host_for(fake), "raspberry-pi-5")
    assert boot.i2c_arm and boot.params["spi"] == "on" and boot.params["i2c_arm_baudrate"] == "400000"
    assert [(pin, o.name) for pin, o in boot.w1_pins()] == [(6, "w1-gpio-pullup")]
    assert boot.params["gpiopin"] == "9"  # after `dtoverlay=`, a dtparam is the base tree's again
    assert not read_boot_config(host_for(fake), "raspberry-pi-4b").param_on("spi")
    assert read_boot_config(host_for(fake), "raspberry-pi-4b").i2c_arm  # [pi4] applies there


def test_check_needs_a_fix_unless_ok():
    with pytest.raises(ValueError, match="without a fix"):
        Check("x", Status.WARN, "something")
    assert Check("x", Status.FAIL, "token abc123 refused", "replace abc123").redacted(["abc123"]).fix == "replace ***"


def test_doctor_simulated_board_passes_on_an_unsynchronised_machine(tmp_path) -> None:
    """`doctor` on the simulated board exits 0 whatever this machine's clock says (a WARN at most)."""
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-m", "sensorkit", "doctor", "--board", "simulated", "-c",
                             "examples/every-sensor.toml", "--state-dir", str(tmp_path / "state")],
                            capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
