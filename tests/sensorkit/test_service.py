"""`sensorkit service`: the unit (one template for the example and install), install, uninstall, status.

A directory stands for / (hidden --root) and a script for systemctl (hidden
--systemctl), so the machine's systemd is never touched. Where
`systemd-analyze` exists the printed unit is verified and its exposure scored.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sensorkit.cli import build_parser
from sensorkit.service import access_problem
from sensorkit.service_unit import (
    DIRECTIVE_SINCE,
    MARKER,
    OLDEST_SYSTEMD,
    TEMPLATE,
    UnitSettings,
    example_unit,
    parse_unit,
    quote_exec_arg,
    render_unit,
    unquote_exec,
)
from tests.sensorkit.test_cli import sensorkit, write

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sensorkit.service"
UNIT = "etc/systemd/system/sensorkit.service"

CONFIG = """\
[device]
board = "simulated"

[[sensor]]
name = "air"
driver = "sht3x"

[uploader.iobeam]
project_id = 1
token_env = "IOBEAM_TOKEN"
device_id = "greenhouse-1"
"""

FAKE_SYSTEMCTL = """\
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
fail = os.path.join(here, "fail-" + sys.argv[1])
if os.path.exists(fail):
    sys.stderr.write(open(fail).read())
    sys.exit(1)
if sys.argv[1] == "show":
    show = os.path.join(here, "show.txt")
    sys.stdout.write(open(show).read() if os.path.exists(show) else "LoadState=not-found\\nActiveState=inactive\\n")
"""


def service_user() -> str:
    """An unprivileged user that exists here: this one, or (when the tests run as root) another."""
    me = pwd.getpwuid(os.getuid())
    if me.pw_uid != 0:
        return me.pw_name
    for entry in pwd.getpwall():
        if entry.pw_uid != 0 and entry.pw_name != "nobody":
            return entry.pw_name
    pytest.skip("no unprivileged user on this machine")


class Machine:
    """A fake root (readable by the service user, as / is) with a fake systemctl beside it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.root.mkdir()
        self.bin = base / "bin"
        self.bin.mkdir()
        (self.bin / "systemctl.py").write_text(FAKE_SYSTEMCTL)
        self.user = service_user()
        self.config = write(base / "sensorkit.toml", CONFIG)
        self.env_file = self.root / "etc/sensorkit/env"
        self.env_file.parent.mkdir(parents=True)
        self.env_file.write_text("# the service's secrets\nIOBEAM_TOKEN=\"a.b.c\"\n")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        action, *rest = args
        return sensorkit("service", action, "--root", str(self.root), "--systemctl",
                         f"{sys.executable} {self.bin / 'systemctl.py'}", *rest, cwd=self.base)

    def calls(self) -> list[list[str]]:
        log = self.bin / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def unit(self) -> dict[str, list[str]]:
        return parse_unit((self.root / UNIT).read_text())


@pytest.fixture
def machine():
    base = Path(tempfile.mkdtemp(prefix="sensorkit-service-"))
    os.chmod(base, 0o755)  # pytest's tmp_path is private to this user; / is not
    try:
        yield Machine(base)
    finally:
        shutil.rmtree(base)


# ---------------------------------------------------------------------- the unit


def test_examples_sensorkit_service_is_the_template_with_placeholders() -> None:
    assert EXAMPLE.read_text() == example_unit(), "run scripts/write_example_unit.py after changing the template"


def test_the_template_uses_only_directives_that_bullseyes_systemd_knows() -> None:
    used = set(parse_unit(TEMPLATE.replace("#LoadCredential", "LoadCredential")))
    assert used <= set(DIRECTIVE_SINCE), used - set(DIRECTIVE_SINCE)
    assert all(DIRECTIVE_SINCE[name] <= OLDEST_SYSTEMD for name in used)


def test_the_unit_keeps_what_the_service_needs() -> None:
    unit = parse_unit(example_unit())
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main" and one["WatchdogSec"] == "60s"
    assert one["Restart"] == "on-failure" and one["RestartPreventExitStatus"] == "2" and one["RestartSec"] == "10"
    assert one["StateDirectory"] == "sensorkit" and one["EnvironmentFile"] == "-/etc/sensorkit/env"
    assert one["SupplementaryGroups"] == "i2c gpio" and one["User"] == "pi" and one["TimeoutStopSec"] == "30"
    assert "network-online.target" in one["Wants"] and "network-online.target" in one["After"]
    assert "Requires" not in unit  # readings wait in the outbox: no network is no reason to fail
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "read-only"),
                       ("PrivateTmp", "yes"), ("LockPersonality", "yes"), ("ProtectKernelTunables", "yes"),
                       ("DevicePolicy", "closed"), ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")):
        assert one[key] == value, key
    assert unit["DeviceAllow"] == ["char-i2c rw", "char-gpiochip rw", "char-*gpiomem* rw"]
    assert one["ReadWritePaths"] == "-/sys/devices/w1_bus_master1"  # therm_bulk_read, resolution
    args = build_parser().parse_args(unquote_exec(one["ExecStart"])[1:])
    assert (args.command, args.config, args.state_dir, args.output) == (
        "run", "/etc/sensorkit/sensorkit.toml", "/var/lib/sensorkit", "none")


# Paths as people make them, with what systemd treats specially: specifiers, variables, quotes, spaces.
PATH_CHARACTERS = st.one_of(st.sampled_from(list("%$\"'\\; \tab")), st.characters(blacklist_categories=("Cs", "Cc")))


@example("/home/pi/my venv/100% $HOME \"x\"")
@given(st.text(PATH_CHARACTERS, min_size=1).map(lambda s: "/" + s))
def test_exec_arguments_come_back_as_they_were(path: str) -> None:
    quoted = quote_exec_arg(path)
    assert "$" not in quoted.replace("$$", "") and "%" not in quoted.replace("%%", "")
    assert unquote_exec(f"/venv/bin/sensorkit run --config {quoted}") == ["/venv/bin/sensorkit", "run", "--config",
                                                                           path]


def test_render_unit_refuses_what_a_unit_cannot_say() -> None:
    good = UnitSettings(command=("/venv/bin/sensorkit",), config="/etc/sensorkit/sensorkit.toml", user="pi")
    for bad in (UnitSettings(command=("venv/bin/sensorkit",), config=good.config, user="pi"),
                UnitSettings(command=good.command, config="sensorkit.toml", user="pi"),
                UnitSettings(command=good.command, config=good.config, user="pi\nUser=root"),
                UnitSettings(command=good.command, config=good.config, user="pi", groups=("i2c gpio",)),
                UnitSettings(command=good.command, config=good.config, user="pi", w1_masters=("../../etc",))):
        with pytest.raises(ValueError):
            render_unit(bad)
    assert render_unit(good).startswith(MARKER)


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    return tool


def _this_installation_unit(machine: Machine) -> Path:
    printed = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--print")
    assert printed.returncode == 0, printed.stderr
    path = machine.base / "sensorkit.service"
    path.write_text(printed.stdout)
    return path


def test_systemd_analyze_verify_passes_on_the_printed_unit(machine: Machine) -> None:
    tool = _analyze()
    result = subprocess.run([tool, "verify", str(_this_installation_unit(machine))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sensorkit.service:" not in result.stderr  # no complaint about any line of ours


def test_systemd_analyze_security_scores_the_unit_ok(machine: Machine) -> None:
    tool = _analyze()
    result = subprocess.run([tool, "security", "--offline=yes", "--no-pager", str(_this_installation_unit(machine))],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and "offline" in result.stderr:
        pytest.skip("this systemd-analyze scores loaded units only (--offline came with systemd 250)")
    assert result.returncode == 0, result.stderr
    [overall] = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    score = float(overall.split(":")[1].split()[0])
    assert score <= 2.0, overall  # 2.0 "OK" with systemd 252; a loosened unit shows here


# ---------------------------------------------------------------------- install


def test_install_writes_enables_and_starts_this_installations_unit(machine: Machine) -> None:
    (machine.root / "sys/devices/w1_bus_master2").mkdir(parents=True)  # a second 1-wire bus
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user)
    assert result.returncode == 0, result.stderr
    unit = machine.unit()
    program, *argv = unquote_exec(unit["ExecStart"][0])
    assert program == str(Path(sys.executable).parent / "sensorkit")  # this venv's sensorkit
    assert argv == ["run", "--config", str(machine.config), "--state-dir", "/var/lib/sensorkit", "--output", "none"]
    assert unit["User"] == [machine.user]
    assert unit["ReadWritePaths"] == ["-/sys/devices/w1_bus_master1 -/sys/devices/w1_bus_master2"]
    assert stat.S_IMODE((machine.root / UNIT).stat().st_mode) == 0o644
    assert machine.calls() == [["daemon-reload"], ["enable", "sensorkit.service"], ["restart", "sensorkit.service"]]
    assert f"installed {machine.root / UNIT}" in result.stdout


def test_install_print_installs_nothing(machine: Machine) -> None:
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--print")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(MARKER) and f"User={machine.user}\n" in result.stdout
    assert not (machine.root / UNIT).exists() and machine.calls() == []


def test_install_copy_config_puts_a_private_copy_in_etc_sensorkit(machine: Machine) -> None:
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--copy-config")
    assert result.returncode == 0, result.stderr
    copy = machine.root / "etc/sensorkit/sensorkit.toml"
    assert copy.read_text() == CONFIG and stat.S_IMODE(copy.stat().st_mode) == 0o600
    if os.geteuid() == 0:
        assert copy.stat().st_uid == pwd.getpwnam(machine.user).pw_uid  # the service's own, /etc is read-only to it
    assert unquote_exec(machine.unit()["ExecStart"][0])[3] == "/etc/sensorkit/sensorkit.toml"
    copy.write_text(CONFIG + "# changed by hand\n")
    again = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--copy-config")
    assert again.returncode == 2 and "--force" in again.stderr  # a changed copy is not overwritten silently
    assert copy.read_text().endswith("# changed by hand\n")


def test_install_reads_the_services_environment_file_for_token_env(machine: Machine) -> None:
    assert machine.run("install", "-c", str(machine.config), "--user", machine.user, "--print").returncode == 0
    machine.env_file.unlink()
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--print")
    assert result.returncode == 2 and "IOBEAM_TOKEN" in result.stderr and "/etc/sensorkit/env" in result.stderr


def test_install_refuses_a_config_the_service_could_not_use(machine: Machine) -> None:
    no_uploader = write(machine.base / "local.toml", CONFIG.split("[uploader.iobeam]")[0])
    result = machine.run("install", "-c", str(no_uploader), "--user", machine.user)
    assert result.returncode == 2 and "--output none" in result.stderr
    assert not (machine.root / UNIT).exists() and machine.calls() == []


TOKEN = "k7Hq.credential.9xZ"  # a made-up project token: it must show nowhere but in the credential


def _credential_config(machine: Machine) -> Path:
    return write(machine.base / "credential.toml", CONFIG.replace('token_env = "IOBEAM_TOKEN"',
                                                                  'token_file = "iobeam-token"'))


def test_install_keeps_a_credential_root_only_and_loads_it_in_the_unit(machine: Machine) -> None:
    config = _credential_config(machine)
    source = write(machine.base / "token.txt", TOKEN + "\n")
    result = machine.run("install", "-c", str(config), "--user", machine.user,
                         "--credential", f"iobeam-token={source}")
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert machine.unit()["LoadCredential"] == ["iobeam-token:/etc/sensorkit/credentials/iobeam-token"]
    kept = machine.root / "etc/sensorkit/credentials/iobeam-token"
    assert kept.read_text() == TOKEN + "\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    # What the service does with it: systemd hands it over in $CREDENTIALS_DIRECTORY, the bare name finds it.
    validated = sensorkit("validate", "-c", str(config), cwd=machine.base,
                          env_extra={"CREDENTIALS_DIRECTORY": str(kept.parent)})
    assert validated.returncode == 0, validated.stderr
    assert TOKEN not in validated.stdout + validated.stderr
    # Installed again without --credential: the kept one is still loaded.
    again = machine.run("install", "-c", str(config), "--user", machine.user, "--print")
    assert again.returncode == 0, again.stderr
    assert "LoadCredential=iobeam-token:/etc/sensorkit/credentials/iobeam-token\n" in again.stdout


def test_install_print_takes_a_credential_from_standard_input_and_keeps_nothing(machine: Machine) -> None:
    config = _credential_config(machine)
    result = subprocess.run(
        [sys.executable, "-m", "sensorkit", "service", "install", "--root", str(machine.root), "--systemctl",
         f"{sys.executable} {machine.bin / 'systemctl.py'}", "-c", str(config), "--user", machine.user,
         "--credential", "iobeam-token=-", "--print"],
        input=TOKEN + "\n", capture_output=True, text=True, cwd=machine.base, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LoadCredential=iobeam-token:/etc/sensorkit/credentials/iobeam-token\n" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert not (machine.root / "etc/sensorkit/credentials").exists() and machine.calls() == []


def test_install_says_how_to_give_a_credential_the_config_names(machine: Machine) -> None:
    result = machine.run("install", "-c", str(_credential_config(machine)), "--user", machine.user)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "/etc/sensorkit/credentials/iobeam-token" in result.stderr and "--credential" in result.stderr
    assert "sensorkit-credentials-" not in result.stderr  # the staging directory is no path to show
    assert not (machine.root / UNIT).exists() and machine.calls() == []


@pytest.mark.parametrize("given", ["other-token={source}", "iobeam-token", "bad:name={source}",
                                   "iobeam-token={missing}"])
def test_install_refuses_a_credential_it_cannot_use(machine: Machine, given: str) -> None:
    source = write(machine.base / "token.txt", TOKEN)
    result = machine.run("install", "-c", str(_credential_config(machine)), "--user", machine.user, "--credential",
                         given.format(source=source, missing=machine.base / "no-such-file"))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--credential" in result.stderr
    assert TOKEN not in result.stderr
    assert not (machine.root / "etc/sensorkit/credentials").exists() and not (machine.root / UNIT).exists()


def test_systemd_analyze_verify_passes_on_a_unit_with_credentials(machine: Machine) -> None:
    tool = _analyze()
    source = write(machine.base / "token.txt", TOKEN)
    printed = machine.run("install", "-c", str(_credential_config(machine)), "--user", machine.user,
                          "--credential", f"iobeam-token={source}", "--print")
    assert printed.returncode == 0, printed.stderr
    unit = machine.base / "sensorkit.service"
    unit.write_text(printed.stdout)
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sensorkit.service:" not in result.stderr


@pytest.mark.parametrize("user", ["root", "nobody", "no-such-user-here"])
def test_install_runs_as_an_unprivileged_user_only(machine: Machine, user: str) -> None:
    result = machine.run("install", "-c", str(machine.config), "--user", user)
    assert result.returncode == 2 and "--user" in result.stderr and "Traceback" not in result.stderr
    assert not (machine.root / UNIT).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="files another user cannot reach are made as root")
def test_access_problem_sees_what_the_service_user_cannot_reach(machine: Machine) -> None:
    import grp

    user = pwd.getpwnam(machine.user)
    assert access_problem(machine.config, user) is None
    os.chmod(machine.config, 0o640)  # root's, and a group the user is not in
    other = next(g for g in grp.getgrall() if g.gr_gid != user.pw_gid and user.pw_name not in g.gr_mem)
    os.chown(machine.config, 0, other.gr_gid)
    assert access_problem(machine.config, user) == f"{machine.user} cannot read {machine.config}"
    assert access_problem(machine.config, user, (other.gr_name,)) is None  # SupplementaryGroups= lets it in
    private = machine.base / "private"
    private.mkdir(mode=0o700)
    (private / "sensorkit").write_text("#!/bin/sh\n")
    assert access_problem(private / "sensorkit", user, execute=True) == f"{machine.user} cannot enter {private}"
    os.chmod(private, 0o755)
    assert access_problem(private / "sensorkit", user, execute=True) == (
        f"{machine.user} cannot run {private / 'sensorkit'}")
    printed = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--print")
    assert printed.returncode == 0 and f"warning: {machine.user} cannot read {machine.config}" in printed.stderr


def test_install_leaves_a_hand_made_unit_alone_without_force(machine: Machine) -> None:
    hand_made = machine.root / UNIT
    hand_made.parent.mkdir(parents=True)
    hand_made.write_text("[Service]\nExecStart=/usr/local/bin/sensorkit run\n")
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user)
    assert result.returncode == 2 and "--force" in result.stderr
    assert hand_made.read_text().startswith("[Service]")
    forced = machine.run("install", "-c", str(machine.config), "--user", machine.user, "--force")
    assert forced.returncode == 0 and forced.stdout.startswith("replaced")
    assert hand_made.read_text().startswith(MARKER)


def test_install_says_which_systemctl_step_failed(machine: Machine) -> None:
    (machine.bin / "fail-enable").write_text("Failed to enable unit: Access denied\n")
    result = machine.run("install", "-c", str(machine.config), "--user", machine.user)
    assert result.returncode == 1
    assert "`systemctl enable sensorkit.service` failed (exit 1): Failed to enable unit: Access denied" in result.stderr
    assert ["restart", "sensorkit.service"] not in machine.calls()


# ---------------------------------------------------------------------- uninstall, status


def test_uninstall_stops_and_removes_the_unit_and_keeps_the_outbox(machine: Machine) -> None:
    assert machine.run("install", "-c", str(machine.config), "--user", machine.user, "--copy-config").returncode == 0
    outbox = machine.root / "var/lib/sensorkit/outbox.sqlite"
    outbox.parent.mkdir(parents=True)
    outbox.write_bytes(b"readings still waiting")
    result = machine.run("uninstall")
    assert result.returncode == 0, result.stderr
    assert not (machine.root / UNIT).exists()
    assert outbox.read_bytes() == b"readings still waiting"
    assert (machine.root / "etc/sensorkit/sensorkit.toml").exists() and machine.env_file.exists()
    assert machine.calls()[3:] == [["disable", "--now", "sensorkit.service"], ["daemon-reload"],
                                   ["reset-failed", "sensorkit.service"]]
    assert "kept /var/lib/sensorkit" in result.stdout
    again = machine.run("uninstall")
    assert again.returncode == 0 and again.stdout.startswith("not installed")


def test_status_says_what_systemd_says_and_which_config_the_unit_runs(machine: Machine) -> None:
    assert machine.run("install", "-c", str(machine.config), "--user", machine.user).returncode == 0
    (machine.bin / "show.txt").write_text(
        "LoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=4242\n"
        "NRestarts=2\nStatusText=3 sensor(s), 3 answering; iobeam: 0 waiting\n"
        "ActiveEnterTimestamp=Mon 2024-05-06 10:00:00 CEST\nResult=success\n")
    result = machine.run("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"unit:    {machine.root / UNIT} (enabled)"
    assert lines[1] == ("state:   active (running), pid 4242, since Mon 2024-05-06 10:00:00 CEST, "
                        "restarted 2 time(s)")
    assert lines[2] == "says:    3 sensor(s), 3 answering; iobeam: 0 waiting"
    assert lines[3] == f"runs:    {Path(sys.executable).parent / 'sensorkit'} as {machine.user}"
    assert lines[4] == f"config:  {machine.config}"
    (machine.bin / "show.txt").write_text("LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=watchdog\n")
    failed = machine.run("status")
    assert failed.returncode == 1 and "failed (failed), last result: watchdog" in failed.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write /etc/systemd/system")
def test_install_without_root_says_the_sudo_command(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.toml", CONFIG)
    result = sensorkit("service", "install", "-c", str(conf), cwd=tmp_path, env_extra={"IOBEAM_TOKEN": "a.b.c"})
    assert result.returncode == 2
    assert f"needs root: sudo {Path(sys.executable).parent / 'sensorkit'} service install -c {conf}" in result.stderr


def test_status_of_nothing_installed_says_how_to_install(machine: Machine) -> None:
    result = machine.run("status")
    assert result.returncode == 1 and "not installed" in result.stdout and "service install" in result.stdout
