"""The heartbeat of `sensorkit run` under systemd: READY=1, STATUS=, WATCHDOG=1 while alive, STOPPING=1.

Under ``Type=notify`` systemd waits for READY=1, sent once the board, the
drivers and the outbox are open and the threads run. With ``WatchdogSec=``
it expects WATCHDOG=1 at least once per timeout; a heartbeat thread sends it
every half timeout, but only after checking that the run makes progress:

* the sampler: its schedule keeps up, every sensor's worker thread runs, and
  no measurement has been pending for a whole watchdog timeout (no driver's
  read takes that long: the slowest, a DHT at 10 attempts, takes about 21 s);
* delivery: every uploader's worker thread runs (each request has a timeout).

When a check fails the heartbeat stays silent, so systemd kills the process
(SIGABRT; faulthandler then writes every thread's stack to the journal) and
``Restart=on-failure`` starts it again. A disk that is slow to commit is not
a hang: readings wait in memory meanwhile, and a restart would lose them.
STATUS= (what ``systemctl status`` shows) says how many sensors answer and
what waits in the outbox. Outside systemd every method does nothing.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sensorkit.systemd import Notifier, watchdog_timeout_s

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 30.0  # STATUS= refreshes this often when there is no watchdog to set the pace
MAX_NAMED = 3  # failing sensors named on the status line


def status_line(sensors: Sequence[Any], deliveries: Sequence[Any] = (), problems: Sequence[str] = ()) -> str:
    """One line for ``systemctl status``: the sensors, the outbox's backlog per uploader, a hang."""
    failing = [s.name for s in sensors if s.consecutive_failures]
    text = f"{len(sensors)} sensor(s), {len(sensors) - len(failing)} answering"
    if failing:
        named = ", ".join(failing[:MAX_NAMED]) + (", ..." if len(failing) > MAX_NAMED else "")
        text += f", {len(failing)} failing ({named})"
    for progress in deliveries:
        text += f"; {progress.uploader}: {progress.waiting} waiting"
        if progress.retry_in_s is not None:
            text += f", retry in {progress.retry_in_s:.0f} s"
    if problems:
        text = f"not responding: {problems[0]}; {text}"
    return text


class Heartbeat:
    """Tells systemd how a run is going. `start()` after start-up, `stop()` when the run ends."""

    def __init__(
        self,
        notifier: Notifier,
        sampler: Any,
        delivering: Any = None,
        *,
        watchdog_s: float | None = None,
        stale_after_s: float | None = None,
    ) -> None:
        """`watchdog_s`: systemd's timeout (None: no watchdog, STATUS= only). `stale_after_s`:
        how long a pending read or a late schedule may last before the run counts as hung
        (default: the watchdog timeout)."""
        self.notifier = notifier
        self.watchdog_s = watchdog_s
        self.stale_after_s = stale_after_s or watchdog_s or STATUS_INTERVAL_S
        self._sampler = sampler
        self._deliveries = list(delivering.deliveries) if delivering is not None else []
        self._delivering = delivering
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status: str | None = None
        self._hung = False

    @classmethod
    def from_environ(cls, sampler: Any, delivering: Any = None, environ: Mapping[str, str] | None = None,
                     **kwargs: Any) -> Heartbeat:
        import os

        environ = os.environ if environ is None else environ
        return cls(Notifier.from_environ(environ), sampler, delivering, watchdog_s=watchdog_timeout_s(environ),
                   **kwargs)

    @property
    def interval_s(self) -> float:
        """How often the heartbeat checks: half the watchdog timeout, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_s / 2 if self.watchdog_s else STATUS_INTERVAL_S

    # ------------------------------------------------------------------ checks
    def problems(self) -> list[str]:
        """Why the run is not making progress; empty while it is."""
        problems = list(self._sampler.health(self.stale_after_s))
        for delivery in self._deliveries:
            problems += delivery.health()
        return problems

    def status(self, problems: Sequence[str] = ()) -> str:
        progress = self._delivering.progress() if self._delivering is not None else []
        return status_line(self._sampler.status(), progress, problems)

    def beat(self) -> bool:
        """One check: WATCHDOG=1 when alive (and STATUS= when it changed); True when alive."""
        problems = self.problems()
        status = self.status(problems)
        fields: dict[str, object] = {}
        if not problems and self.watchdog_s:
            fields["WATCHDOG"] = 1
        if status != self._status:
            fields["STATUS"] = status
            self._status = status
        self.notifier.send(**fields)
        if problems and not self._hung:
            log.error("%s: not telling systemd that sensorkit is alive, so its watchdog restarts it unless "
                      "this clears", "; ".join(problems))
        elif self._hung and not problems:
            log.warning("sensorkit makes progress again: telling systemd it is alive")
        self._hung = bool(problems)
        return not problems

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """READY=1 with the first STATUS=, then the heartbeat thread (outside systemd: nothing)."""
        if not self.notifier.enabled:
            return
        if self.watchdog_s:
            import faulthandler
            import sys

            # The watchdog kills with SIGABRT: then every thread's stack goes to stderr, the journal.
            faulthandler.enable(file=sys.stderr, all_threads=True)
        self._status = self.status()
        self.notifier.send(READY=1, STATUS=self._status)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="systemd-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a failed check is no heartbeat; the run goes on
                log.exception("the watchdog check failed")

    def stop(self) -> None:
        """STOPPING=1 (systemctl shows "deactivating" during the last delivery), then end the thread."""
        if not self.notifier.enabled:
            return
        self.notifier.send(STOPPING=1, STATUS="stopping: committing and a last delivery")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 1.0)
            self._thread = None
        self.notifier.close()
