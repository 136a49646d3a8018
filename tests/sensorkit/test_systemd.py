"""sd_notify over a real AF_UNIX datagram socket, the watchdog's variables, and journal priorities."""
from __future__ import annotations

import io
import logging
import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

from sensorkit.systemd import (
    JournalFormatter,
    Notifier,
    notify_address,
    priority,
    stream_is_journal,
    watchdog_timeout_s,
)
from tests.sensorkit.test_cli import sensorkit, write


@pytest.fixture
def notify_socket(tmp_path: Path):
    """A bound datagram socket standing in for systemd's notify socket; yields (path, socket)."""
    path = tmp_path / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5.0)
    yield str(path), receiver
    receiver.close()


def received(receiver: socket.socket) -> dict[str, str]:
    message = receiver.recv(4096).decode("utf-8")
    return dict(line.split("=", 1) for line in message.split("\n"))


def test_notify_address_takes_paths_and_the_abstract_namespace() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@sensorkit/notify"}) == "\0sensorkit/notify"
    assert notify_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None  # a VM's socket: not spoken here
    assert notify_address({"NOTIFY_SOCKET": "@"}) is None
    assert notify_address({}) is None


def test_notifier_sends_one_datagram_of_assignments(notify_socket) -> None:
    path, receiver = notify_socket
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.send(READY=1, STATUS="2 sensor(s)\nsecond line")
    assert received(receiver) == {"READY": "1", "STATUS": "2 sensor(s) second line"}  # STATUS= is one line
    assert notifier.send(WATCHDOG=1)
    assert received(receiver) == {"WATCHDOG": "1"}
    notifier.close()


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"sensorkit-test-{uuid.uuid4().hex}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.settimeout(5.0)
    try:
        assert Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).send(STOPPING=1)
        assert received(receiver) == {"STOPPING": "1"}
    finally:
        receiver.close()


def test_notifier_does_nothing_outside_systemd_and_never_raises(tmp_path: Path) -> None:
    assert not Notifier.from_environ({}).send(READY=1)
    assert not Notifier.from_environ({}).enabled
    gone = Notifier(str(tmp_path / "no-such-socket"))  # systemd went away: nothing to tell
    assert gone.enabled and not gone.send(WATCHDOG=1)


def test_watchdog_timeout_comes_from_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_timeout_s({"WATCHDOG_USEC": "60000000"}) == 60.0
    assert watchdog_timeout_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 60.0
    assert watchdog_timeout_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, pid=4321) is None
    for bad in ({}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "sixty"}):
        assert watchdog_timeout_s(bad) is None


def test_stream_is_journal_compares_device_and_inode(tmp_path: Path) -> None:
    with open(tmp_path / "stderr", "w") as stream, open(tmp_path / "other", "w") as other:
        st = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert stream_is_journal(stream, environ)
        assert not stream_is_journal(other, environ)  # stderr redirected elsewhere: plain text
        assert not stream_is_journal(stream, {})
        assert not stream_is_journal(stream, {"JOURNAL_STREAM": "garbage"})
        assert not stream_is_journal(io.StringIO(), environ)


def test_journal_formatter_prefixes_every_line_with_its_priority() -> None:
    assert [priority(level) for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO,
                                          logging.DEBUG, 25)] == [2, 3, 4, 6, 7, 6]
    formatter = JournalFormatter()
    record = logging.LogRecord("sensorkit", logging.WARNING, __file__, 1, "sensor '%s' failed", ("porch",), None)
    assert formatter.format(record) == "<4>sensor 'porch' failed"
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("sensorkit", logging.ERROR, __file__, 1, "unexpected", (), sys.exc_info())
    lines = formatter.format(failed).splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)  # the traceback keeps its level
    assert lines[-1] == "<3>ValueError: boom"


FAILING = """\
[device]
board = "simulated"
[[sensor]]
name = "unplugged"
driver = "sht3x"
simulate_fault = "absent"
interval = "1s"
"""


def test_cli_logs_with_journal_priorities_when_stderr_is_the_journal(tmp_path: Path) -> None:
    conf = write(tmp_path / "c.toml", FAILING)
    journal = tmp_path / "journal"
    code = (f"import os, sys; fd = os.open({str(journal)!r}, os.O_WRONLY | os.O_CREAT); os.dup2(fd, 2); "
            "st = os.fstat(2); os.environ['JOURNAL_STREAM'] = f'{st.st_dev}:{st.st_ino}'; "
            "from sensorkit.cli import main; "
            f"sys.exit(main(['run', '--simulate', '-c', {str(conf)!r}, '--duration', '1.5', '--output', 'jsonl']))")
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = journal.read_text().splitlines()
    assert any(line.startswith("<4>sensor 'unplugged' failed") for line in lines), lines
    assert not any("WARNING:" in line for line in lines)
    plain = sensorkit("run", "--simulate", "-c", str(conf), "--duration", "1.5", "--output", "jsonl", cwd=tmp_path)
    assert "sensorkit: WARNING: sensor 'unplugged' failed" in plain.stderr  # not the journal: as before
