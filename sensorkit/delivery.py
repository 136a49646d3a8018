"""Delivery: one worker per uploader, moving readings from the outbox to its uploader.

Each step takes up to `batch_size` readings after the uploader's cursor,
calls `send`, and moves the cursor in the transaction that records the
success. What the uploader says decides what happens next:

* `TransientUploadError`: the batch stays; the next try comes after an
  exponential back-off (`min_backoff_s` doubling up to `max_backoff_s`, less
  up to `jitter` of it at random so many devices do not retry in step), or
  after the server's `retry_after_s` when that is longer (up to
  `max_retry_after_s`).
* `PermanentUploadError`: the batch is cut in halves, each sent on its own,
  until the refused readings stand alone; those go to the dead letters with
  the server's reason, together with the cursor moving past them, and the
  rest goes through. A transient error during this keeps what was taken.

When the worker has caught up it waits until `send_delay_s` has passed since
readings started waiting (or a full batch waits), so a trickle of readings
makes one request and one cursor write every few seconds rather than every
commit. Nothing here sleeps for the sampler: the outbox queues regardless.
"""
from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

from sensorkit.clock import SystemClock, local_time
from sensorkit.errors import OutboxError, PermanentUploadError, TransientUploadError
from sensorkit.readings import Reading

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000  # iobeam takes at most 1000 data points per import request
DEFAULT_SEND_DELAY_S = 5.0
DEFAULT_MIN_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 300.0
DEFAULT_JITTER = 0.5  # a back-off is shortened by up to half, at random
DEFAULT_MAX_RETRY_AFTER_S = 3600.0  # a server's Retry-After is honoured up to an hour
IDLE_WAIT_S = 60.0  # when caught up, the worker sleeps until a commit wakes it, or this long
RATE_WINDOW_S = 10.0  # the delivery rate shown is over this many recent seconds

Items = Sequence[tuple[int, Reading]]


def backoff_s(failures: int, *, min_s: float, max_s: float, jitter: float, rng: random.Random) -> float:
    """The wait after `failures` failed tries in a row: min_s * 2**(failures-1), capped, less random jitter."""
    ceiling = min(max_s, min_s * 2 ** min(failures - 1, 64))
    return ceiling * (1.0 - jitter * rng.random())


@dataclass(frozen=True)
class DeliveryProgress:
    """How one uploader's delivery is going, for a progress line."""

    uploader: str
    waiting: int  # committed readings not yet delivered
    rate_per_s: float  # readings delivered per second, over the last RATE_WINDOW_S
    time_left_s: float | None  # waiting / rate, None when nothing moves
    failures: int  # failed tries in a row
    retry_in_s: float | None  # when backing off: seconds until the next try
    last_error: str | None


class _Target:
    """Where a bisection reports: the outbox's stream of readings, or flagged dead letters sent again."""

    def __init__(self, delivered: Callable[[Items], None], refused: Callable[[Items, str], None]) -> None:
        self.delivered = delivered
        self.refused = refused


class Delivery:
    """The worker of one uploader. `step()` is one try; `start()` runs steps in a thread."""

    def __init__(
        self,
        outbox: Any,
        name: str,
        uploader: Any,
        *,
        clock: Any = None,
        batch_size: int | None = None,
        send_delay_s: float = DEFAULT_SEND_DELAY_S,
        min_backoff_s: float = DEFAULT_MIN_BACKOFF_S,
        max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
        jitter: float = DEFAULT_JITTER,
        max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S,
        rng: random.Random | None = None,
    ) -> None:
        batch_size = batch_size or getattr(uploader, "batch_size", None) or DEFAULT_BATCH_SIZE
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError(f"back-off must satisfy 0 < min ({min_backoff_s}) <= max ({max_backoff_s})")
        if not 0 <= jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, not {jitter}")
        if send_delay_s < 0:
            raise ValueError(f"send_delay_s must be >= 0, not {send_delay_s}")
        self.name = name
        self.batch_size = int(batch_size)
        self._outbox = outbox
        self._uploader = uploader
        self._clock = clock or SystemClock()
        self._send_delay_s = send_delay_s
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._jitter = jitter
        self._max_retry_after_s = max_retry_after_s
        self._rng = rng or random.Random()
        self._lock = threading.Lock()  # the figures progress() reads
        self._failures = 0
        self._retry_at: float | None = None
        self._waiting_since: float | None = None
        self._last_error: str | None = None
        self._delivered: deque[tuple[float, int]] = deque()
        self._moved = 0  # readings delivered or dead-lettered: how a drain sees progress
        self._stream = _Target(lambda items: outbox.ack(name, items[-1][0]),
                               lambda items, reason: outbox.dead_letter(name, items, reason))
        self._retries = _Target(lambda items: outbox.retry_delivered(name, [i for i, _ in items]),
                                lambda items, reason: outbox.retry_refused(name, [i for i, _ in items], reason))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._drain_deadline: float | None = None
        self._caught_up = threading.Event()
        outbox.add_commit_listener(self._wake.set)

    # ------------------------------------------------------------------ one step
    def step(self, *, now: bool = False) -> float:
        """One try: send what is due, record the outcome; seconds until the next step is worth making.

        `now` sends a partial batch at once and tries even while backing off
        (the last delivery at shutdown).
        """
        mono = self._clock.monotonic()
        if self._retry_at is not None and mono < self._retry_at and not now:
            return self._retry_at - mono
        try:
            retries = self._outbox.retry_batch(self.name, self.batch_size)
            if retries:
                return self._send(retries, self._retries)
            batch = self._outbox.pending_batch(self.name, self.batch_size)
        except OutboxError as exc:
            return self._failed(str(exc), None)
        if not batch:
            self._waiting_since = None
            return IDLE_WAIT_S
        try:
            if len(batch) < self.batch_size and not now:
                if self._waiting_since is None:
                    self._waiting_since = mono
                wait_s = self._waiting_since + self._send_delay_s - mono
                if wait_s > 0:
                    return wait_s
            self._waiting_since = None
            return self._send(batch, self._stream)
        finally:
            self._outbox.settled(self.name)

    def _send(self, items: Items, target: _Target) -> float:
        """Send `items`, halving refused parts until each refused reading stands alone."""
        todo = [items]  # a stack: the next part to send is last, so parts go out in id order
        refused: list[tuple[Reading, str]] = []
        try:
            while todo:
                part = todo.pop()
                try:
                    self._uploader.send([reading for _, reading in part])
                except TransientUploadError as exc:
                    return self._failed(f"{type(exc).__name__}: {exc}", exc.retry_after_s)
                except PermanentUploadError as exc:
                    if len(part) > 1:
                        middle = len(part) // 2
                        todo += [part[middle:], part[:middle]]
                        continue
                    reason = str(exc) or type(exc).__name__
                    try:
                        target.refused(part, reason)
                    except OutboxError as error:
                        return self._failed(str(error), None)
                    refused.append((part[0][1], reason))
                    self._moved += 1
                    continue
                except Exception as exc:  # noqa: BLE001 - an uploader's bug must not end delivery; it is retried
                    log.debug("uploader '%s' failed unexpectedly", self.name, exc_info=True)
                    return self._failed(f"unexpected {type(exc).__name__}: {exc}", None)
                try:
                    target.delivered(part)
                except OutboxError as exc:
                    # Sent but not recorded: it goes again later (at least once, never lost).
                    return self._failed(str(exc), None)
                self._succeeded(len(part))
            return 0.0
        finally:
            if refused:
                first, reason = refused[0]
                log.warning("uploader '%s' refused %d reading(s), kept as dead letters (the first: %s taken %s: %s)",
                            self.name, len(refused), first.series, local_time(first.timestamp_ms, ms=True), reason)

    def _succeeded(self, count: int) -> None:
        mono = self._clock.monotonic()
        with self._lock:
            recovered = self._failures
            self._failures = 0
            self._retry_at = None
            self._delivered.append((mono, count))
            self._moved += count
            while self._delivered and self._delivered[0][0] < mono - RATE_WINDOW_S:
                self._delivered.popleft()
        if recovered:
            log.warning("uploader '%s' takes readings again after %d failed tries", self.name, recovered)

    def _failed(self, message: str, retry_after_s: float | None) -> float:
        with self._lock:
            self._failures += 1
            failures = self._failures
            wait_s = backoff_s(failures, min_s=self._min_backoff_s, max_s=self._max_backoff_s,
                               jitter=self._jitter, rng=self._rng)
            if retry_after_s is not None:
                wait_s = max(wait_s, min(retry_after_s, self._max_retry_after_s))
            self._retry_at = self._clock.monotonic() + wait_s
            self._last_error = message
        if failures & (failures - 1) == 0:  # the first failure, then every doubling: visible, not a flood
            log.warning("uploader '%s' failed (%d in a row): %s — next try in %.1f s",
                        self.name, failures, message, wait_s)
        try:
            self._outbox.note_error(self.name, message)
        except OutboxError as exc:
            log.debug("could not record the error: %s", exc)
        return wait_s

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"delivery-{self.name}", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the worker; True when it ended within `timeout_s` (a send in flight is not interrupted)."""
        thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def drain(self, timeout_s: float) -> bool:
        """The last delivery at shutdown: send what is committed, at once, within `timeout_s`, then stop.

        One try is made even while backing off; the first failure ends it.
        True when nothing was left waiting. A send still in flight at the
        deadline is abandoned unacknowledged: it goes again at the next run.
        """
        self.request_drain(timeout_s)
        return self.wait_drained(timeout_s)

    def request_drain(self, timeout_s: float) -> None:
        self._drain_deadline = self._clock.monotonic() + timeout_s
        self._caught_up.clear()
        self._wake.set()
        self.start()

    def wait_drained(self, timeout_s: float) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout_s))
        return self._caught_up.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            if self._drain_deadline is not None:
                self._run_drain(self._drain_deadline)
                return
            try:
                wait_s = self.step()
            except Exception:  # noqa: BLE001 - the worker must outlive any surprise; it is logged
                log.exception("delivery to '%s' failed unexpectedly", self.name)
                wait_s = self._max_backoff_s
            if wait_s > 0:
                self._clock.wait(self._wake, wait_s)

    def _run_drain(self, deadline: float) -> None:
        try:
            while self._clock.monotonic() < deadline and not self._stop.is_set():
                failures, moved = self._failures, self._moved
                self.step(now=True)
                if self._outbox.waiting(self.name) == 0:
                    self._caught_up.set()
                    return
                if self._failures > failures or self._moved == moved:
                    return  # failed, or nothing moved: the next run goes on from the cursor
        except Exception:  # noqa: BLE001 - shutdown goes on whatever happens here
            log.exception("the last delivery to '%s' failed", self.name)

    # ------------------------------------------------------------------ progress
    def progress(self) -> DeliveryProgress:
        mono = self._clock.monotonic()
        waiting = self._outbox.waiting(self.name)
        with self._lock:
            recent = [(t, n) for t, n in self._delivered if t >= mono - RATE_WINDOW_S]
            failures, retry_at, last_error = self._failures, self._retry_at, self._last_error
        # Over the window, or since sending began when that is shorter (a drain that just started).
        span_s = min(RATE_WINDOW_S, max(1.0, mono - recent[0][0])) if recent else RATE_WINDOW_S
        rate = sum(n for _, n in recent) / span_s
        return DeliveryProgress(
            uploader=self.name,
            waiting=waiting,
            rate_per_s=rate,
            time_left_s=waiting / rate if rate > 0 else None,
            failures=failures,
            retry_in_s=max(0.0, retry_at - mono) if retry_at is not None and failures else None,
            last_error=last_error,
        )

    # ------------------------------------------------------------------ health
    def health(self) -> list[str]:
        """What keeps this worker from delivering, for a watchdog; empty while its thread runs.

        Every request has a timeout (`uploaders.http`), so a worker cannot hang in the network
        unnoticed: the one failure left to see is a thread that ended. Empty before `start()`
        and once stopping.
        """
        thread = self._thread
        if thread is None or self._stop.is_set() or self._drain_deadline is not None or thread.is_alive():
            return []
        return [f"the delivery worker of '{self.name}' has ended"]


def drain_all(deliveries: Sequence[Delivery], timeout_s: float) -> dict[str, bool]:
    """Drain every delivery at once within one shared `timeout_s`; name -> caught up."""
    for delivery in deliveries:
        delivery.request_drain(timeout_s)
    clock = SystemClock()
    deadline = clock.monotonic() + timeout_s
    return {d.name: d.wait_drained(deadline - clock.monotonic()) for d in deliveries}
