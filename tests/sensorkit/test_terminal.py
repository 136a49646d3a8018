"""`sensorkit run` in a real terminal: tmux at 80 x 24, read back with capture-pane.

A fake stream cannot show what a terminal does with a line longer than it is
wide (it wraps, and a redraw that counts printed lines then leaves copies of
the table behind in the scrollback). These tests run the program in tmux and
read the whole pane history. They need the `tmux` binary (.ci/run installs it);
without it they are skipped, saying so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.sensorkit.test_cli import write

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")

TITLE_START = "sensorkit — board simulated"
WAIT_S = 30.0  # bound on every poll of the screen; the program itself runs a few seconds


class Tmux:
    """A private tmux server with one session running a command."""

    def __init__(self, command: list[str], *, cwd: Path, columns: int = 80, rows: int = 24,
                 env_extra: dict[str, str] | None = None) -> None:
        self.socket = f"sensorkit-test-{uuid.uuid4().hex[:8]}"
        env = dict(os.environ, XDG_CONFIG_HOME=str(cwd / "xdg-config"), XDG_STATE_HOME=str(cwd / "xdg-state"),
                   TERM="xterm-256color", **(env_extra or {}))
        shell_command = " ".join(_quote(part) for part in command)
        self._tmux("new-session", "-d", "-x", str(columns), "-y", str(rows), "-s", "t", shell_command,
                   cwd=cwd, env=env)
        self._tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def _tmux(self, *args: str, **kwargs: object) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                                timeout=WAIT_S, check=True, **kwargs)  # type: ignore[call-overload]
        return result.stdout

    def history(self) -> list[str]:
        """Every row the pane has shown: scrollback and screen, wrapped rows as the terminal wrapped them."""
        return self._tmux("capture-pane", "-p", "-t", "t", "-S", "-").splitlines()

    def screen(self) -> list[str]:
        return self._tmux("capture-pane", "-p", "-t", "t").splitlines()

    def resize(self, columns: int, rows: int) -> None:
        self._tmux("resize-window", "-t", "t", "-x", str(columns), "-y", str(rows))

    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)  # polling a real terminal for what the program drew
        raise AssertionError(f"timed out waiting for {what}; screen:\n" + "\n".join(self.screen()))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=WAIT_S)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def failing_config(tmp_path: Path) -> Path:
    """The demo's sensors plus one that fails every read: its error line is about 250 characters."""
    return write(tmp_path / "sensorkit.toml", """\
[device]
board = "simulated"

[[sensor]]
name = "greenhouse"
driver = "sht3x"
address = 0x44
interval = "500ms"

[[sensor]]
name = "cellar-with-a-long-name"
driver = "sht3x"
address = 0x45
interval = "500ms"
simulate_fault = "absent"

[[sensor]]
name = "door"
driver = "gpio_input"
pin = "GPIO17"
interval = "500ms"
""")


def _run_in_tmux(tmp_path: Path, *args: str, columns: int = 80, env_extra: dict[str, str] | None = None) -> Tmux:
    command = [sys.executable, "-m", "sensorkit", "run", "--simulate", "--output", "console", *args]
    return Tmux(command, cwd=tmp_path, columns=columns, env_extra=env_extra)


def test_terminal_live_table_leaves_no_copies_at_80_columns(tmp_path: Path, failing_config: Path) -> None:
    tmux = _run_in_tmux(tmp_path, "-c", str(failing_config), "--duration", "4")
    try:
        tmux.wait_until(lambda: any("! cellar-with-a-long-name" in row for row in tmux.screen()),
                        "the failing sensor's line")
        tmux.wait_until(tmux.dead, "the run to end")
        rows = tmux.history()
    finally:
        tmux.close()
    titles = [row for row in rows if row.startswith(TITLE_START)]
    assert len(titles) == 1, "\n".join(rows)
    assert sum("SERIES" in row for row in rows) == 1, "\n".join(rows)
    assert all(len(row) <= 80 for row in rows)
    # The long lines were cut, not wrapped: each ends in "…" within the width.
    [error_row] = [row for row in rows if "! cellar-with-a-long-name" in row]
    assert error_row.endswith("…") and len(error_row) == 79
    assert titles[0].endswith("…")


def test_terminal_resize_redraws_to_the_new_width(tmp_path: Path, failing_config: Path) -> None:
    tmux = _run_in_tmux(tmp_path, "-c", str(failing_config), "--duration", "6")
    try:
        tmux.wait_until(lambda: any("! cellar-with-a-long-name" in row for row in tmux.screen()),
                        "the failing sensor's line")
        tmux.resize(50, 20)
        tmux.wait_until(lambda: any(row.startswith("sensorkit — board") and len(row) == 49
                                    for row in tmux.screen()), "a redraw at 50 columns")
        screen = tmux.screen()
        tmux.wait_until(tmux.dead, "the run to end")
    finally:
        tmux.close()
    assert sum(row.startswith("sensorkit — board") for row in screen) == 1, "\n".join(screen)
    assert all(len(row) <= 50 for row in screen), "\n".join(screen)


def test_terminal_table_taller_than_the_screen_stays_in_place(tmp_path: Path) -> None:
    sensors = "".join(f'\n[[sensor]]\nname = "input{i}"\ndriver = "gpio_input"\npin = {i}\ninterval = "500ms"\n'
                      for i in (5, 6, 12, 13, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27))
    config = write(tmp_path / "tall.toml", '[device]\nboard = "simulated"\n' + sensors)
    tmux = _run_in_tmux(tmp_path, "-c", str(config), "--duration", "4")
    try:
        tmux._tmux("resize-window", "-t", "t", "-x", "80", "-y", "10")
        tmux.wait_until(tmux.dead, "the run to end")
        rows = tmux.history()
    finally:
        tmux.close()
    assert sum(row.startswith("sensorkit — board") for row in rows) == 1, "\n".join(rows)
    assert any("more line(s): make the terminal taller" in row for row in rows)


def test_terminal_marks_an_unsynchronised_clock_and_drops_the_mark_at_the_sync(tmp_path: Path) -> None:
    """Values live with "clock not synchronised" (cut to 80 columns) while readings are held; gone once set."""
    synced = tmp_path / "synced"
    clock = {"SENSORKIT_SIMULATED_CLOCK_SYNCED": str(synced), "SENSORKIT_SIMULATED_CLOCK_OFFSET_MS": "-259200000"}
    tmux = _run_in_tmux(tmp_path, "--duration", "20", env_extra=clock)
    try:
        tmux.wait_until(lambda: any("clock not synchronised" in row for row in tmux.screen())
                        and any(row.strip().startswith("greenhouse_temperature") for row in tmux.screen()),
                        "the mark with live values")
        marked = tmux.screen()
        synced.touch()
        tmux.wait_until(lambda: not any("clock not synchronised" in row for row in tmux.screen()),
                        "the mark to go at the sync")
    finally:
        tmux.close()
    assert all(len(row) <= 80 for row in marked), "\n".join(marked)
    [mark] = [row for row in marked if "clock not synchronised" in row]
    assert "reading(s) held until it is" in mark
