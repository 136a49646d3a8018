"""What goes wrong on purpose: injected statuses, a seeded share of 503s and 429s, and latency."""
from __future__ import annotations

import math
import random
import threading
from collections import deque
from http import HTTPStatus

from sensorkit.emulators._http.messages import Response, error_response


class Faults:
    """What goes wrong on purpose: injected statuses first, then seeded random 503s and 429s, and latency.

    `fail_rate` and `throttle_rate` are shares of requests (each in [0, 1],
    together at most 1); one draw of `random.Random(seed)` per request
    decides, so a seed gives the same sequence of faults every run.
    """

    def __init__(self, *, fail_rate: float = 0.0, throttle_rate: float = 0.0, retry_after_s: float = 1.0,
                 latency_ms: float = 0, seed: int | None = None) -> None:
        for name, rate in (("fail_rate", fail_rate), ("throttle_rate", throttle_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {rate!r}")
        if fail_rate + throttle_rate > 1.0:
            raise ValueError(f"fail_rate + throttle_rate must be at most 1, got {fail_rate + throttle_rate:g}")
        if not retry_after_s >= 0:
            raise ValueError(f"retry_after_s must be 0 or more, got {retry_after_s!r}")
        if not latency_ms >= 0:
            raise ValueError(f"latency_ms must be 0 or more, got {latency_ms!r}")
        self.fail_rate = fail_rate
        self.throttle_rate = throttle_rate
        self.retry_after_s = retry_after_s
        self.latency_s = latency_ms / 1000.0
        self._random = random.Random(seed)
        self._injected: deque[tuple[int, float | None]] = deque()
        self._lock = threading.Lock()

    def inject(self, status: int, count: int = 1, retry_after_s: float | None = None) -> None:
        """Answer the next `count` requests with `status` (a 429 always carries Retry-After).

        Injections queue up in order. A 2xx status means "answer this one
        normally", so a test can script ok-then-fail: ``inject(200); inject(503)``.
        """
        if not (200 <= status <= 299 or 400 <= status <= 599):
            raise ValueError(f"an injected status must be 2xx (answer normally) or an error (400-599), got {status}")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if retry_after_s is not None and not retry_after_s >= 0:
            raise ValueError(f"retry_after_s must be 0 or more, got {retry_after_s!r}")
        with self._lock:
            self._injected.extend([(status, retry_after_s)] * count)

    def draw(self) -> Response | None:
        """The fault for the next request, or None to answer it normally."""
        with self._lock:
            if self._injected:
                status, retry_after_s = self._injected.popleft()
                if status < 400:
                    return None
                if retry_after_s is None and status == HTTPStatus.TOO_MANY_REQUESTS:
                    retry_after_s = self.retry_after_s
                return _fault(status, retry_after_s, "injected")
            if self.fail_rate == 0.0 and self.throttle_rate == 0.0:
                return None
            roll = self._random.random()
        if roll < self.fail_rate:
            return _fault(HTTPStatus.SERVICE_UNAVAILABLE, None, "fail_rate")
        if roll < self.fail_rate + self.throttle_rate:
            return _fault(HTTPStatus.TOO_MANY_REQUESTS, self.retry_after_s, "throttle_rate")
        return None


def _fault(status: int, retry_after_s: float | None, why: str) -> Response:
    headers = {}
    message = f"{HTTPStatus(status).phrase} ({why} fault of the emulator)"
    if retry_after_s is not None:
        # RFC 9110 allows whole seconds only; rounding up never invites a client back too early.
        headers["Retry-After"] = str(math.ceil(retry_after_s))
        message += f"; retry after {headers['Retry-After']} s"
    return error_response(int(status), message, headers=headers)
