"""What every HTTP uploader shares: one keep-alive session per base URL,
timeouts on every request, and turning an answer into the right error.

"Could not reach the server" (`ServerUnreachable`) is kept apart from "the
server said no" (an `HTTPError` with the status, the server's error code and
its message), so callers branch on types and the user sees the server's words.

The environment is read once per session, not on every request (requests'
`trust_env` looks up the proxy variables, NO_PROXY and ~/.netrc each call,
which was a measurable share of a request's CPU): a session's proxies are
those HTTP_PROXY / HTTPS_PROXY / ALL_PROXY (either case) give for its base
URL, none when NO_PROXY names its host, by requests' own rules; and
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, when set, is the CA bundle it verifies
TLS with, as requests would. ~/.netrc is not read: its credentials would
replace the bearer token the uploaders send.

`encode_json` writes request bodies compactly, with orjson when it is
installed (about ten times faster on a 1000-point import) and the standard
library otherwise; both give the same JSON for the same body.
"""
from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

try:  # optional: a faster encoder where it installs; the standard library's is the fallback
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on what is installed
    _orjson = None

# (connect, read) seconds: a Pi on patchy Wi-Fi must not hang on a dead link.
DEFAULT_TIMEOUT_S = (5.0, 30.0)
USER_AGENT = "sensorkit"

_ERRNO = re.compile(r"(\[Errno -?\d+\] [^'\")]+)")

_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(base_url: str) -> requests.Session:
    """The keep-alive session shared by every client of `base_url` in this process."""
    with _sessions_lock:
        session = _sessions.get(base_url)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            _read_environment(session, base_url)
            _sessions[base_url] = session
        return session


def _read_environment(session: requests.Session, base_url: str) -> None:
    """Take from the environment, once, what requests would look up on every call (see the module docstring)."""
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


def encode_json(body: Any) -> bytes:
    """`body` as compact UTF-8 JSON: orjson when installed, else the standard library.

    For finite numbers only (NaN and infinities are refused by the data types
    before they get here: the standard library raises on them, orjson would
    write null). An int orjson cannot hold (beyond 64 bits) takes the
    standard library's path.
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(body)
        except TypeError:  # orjson.JSONEncodeError is one: a huge int, or a type orjson does not know
            pass
    return _stdlib_json(body)


def _stdlib_json(body: Any) -> bytes:
    # ASCII with \u escapes, as requests sent it: any str encodes, even one orjson refused (a lone surrogate).
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("ascii")


def close_sessions() -> None:
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()


class ServerUnreachable(Exception):
    """No answer: connection refused, DNS, TLS, or a timeout."""


class HTTPError(Exception):
    """The server answered with a status that is not a success."""

    def __init__(self, status: int, code: int | None, message: str, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    token: str | None = None,
    params: dict[str, Any] | None = None,
    timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S,
) -> Any:
    """Make one request and return the decoded JSON answer (None when empty).

    `json_body` is sent as JSON (encoded by requests); `body` is JSON already
    encoded (`encode_json`). Raises ServerUnreachable or HTTPError; a success
    whose body is not JSON is an HTTPError too (status kept), since the
    client cannot use it.
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = request(session, method, url, json=json_body, data=body, params=params, headers=headers,
                       timeout_s=timeout_s)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise HTTPError(response.status_code, None, f"the answer from {_origin(url)} is not JSON: "
                        f"{response.text[:120]!r}", None) from None


def error_details(response: requests.Response) -> tuple[int | None, str]:
    """The error code and message from `{"errors": [{"code", "message"}]}` or `{"message"}`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()[:200]
        return None, text or response.reason or "no message"
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            messages = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
            code = errors[0].get("code")
            return (code if isinstance(code, int) else None), messages or response.reason
        if "message" in body:
            return None, str(body["message"])
    return None, str(body)[:200]


def retry_after(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: requests.RequestException) -> str:
    """The useful end of requests' long messages: "[Errno 111] Connection refused"."""
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).rstrip("'\")")
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server closed the connection without answering"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its TLS certificate could not be verified"
    return type(exc).__name__


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
    timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S,
    **more: Any,
) -> requests.Response:
    """Make one request whose successful answer the caller reads itself (a form POST, a text answer).

    `data` is sent as requests sends it (a dict or list of pairs: a form);
    `more` goes to `Session.request` as it is (`json`, `params`). Raises
    ServerUnreachable or HTTPError (what `call` raises too); their messages
    name the server's origin only, never the path or query string, which may
    carry a key.
    """
    try:
        response = session.request(method, url, data=data, headers=headers, timeout=timeout_s, **more)
    except requests.Timeout:
        raise ServerUnreachable(f"no answer from {_origin(url)} within {timeout_s[1]:g} s") from None
    except requests.RequestException as exc:
        raise ServerUnreachable(f"cannot reach {_origin(url)}: {_reason(exc)}") from None
    if response.status_code >= 400:
        code, message = error_details(response)
        raise HTTPError(response.status_code, code, message, retry_after(response.headers.get("Retry-After")))
    return response


_hidden_params: set[str] = set()
_hidden_lock = threading.Lock()
# urllib3 logs each request line, query string included, at debug level: the logger filtered.
URLLIB3_LOGGER = "urllib3.connectionpool"


def scrub(text: str, params: set[str] | frozenset[str] | None = None) -> str:
    """`text` with the value of every query parameter in `params` (default: those hidden so far) as ***."""
    names = _hidden_params if params is None else params
    for name in names:
        text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(name)}=[^&#\s\"']*", f"{name}=***", text)
    return text


class _ScrubFilter(logging.Filter):
    """Rewrites a log record so that no hidden query parameter's value is in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _hidden_params:
            message = record.getMessage()
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_scrub_filter = _ScrubFilter()


def hide_query_param(name: str) -> None:
    """Never let the value of query parameter `name` reach a log (urllib3's request lines included)."""
    with _hidden_lock:
        _hidden_params.add(name)
        logger = logging.getLogger(URLLIB3_LOGGER)
        if _scrub_filter not in logger.filters:
            logger.addFilter(_scrub_filter)
