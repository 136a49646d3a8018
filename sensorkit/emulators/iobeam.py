"""A local iobeam Cloud (HTTP API v1) that answers strictly, to prove sensorkit's iobeam client against.

The iobeam Cloud is offline; the facts of its wire protocol are collected in
the project's protocol page (shared/protocols/iobeam.md). Where the real
service's behaviour is unknown this server takes the strict reading, so a
client that passes here sends nothing the real service could have refused.
Those choices are listed below; a client must not depend on anything else.

Calls (JSON bodies must be sent as ``Content-Type: application/json``, else 415)::

    POST /v1/devices                     project token with write or admin
    GET  /v1/devices/timestamp           any valid project token
    POST /v1/tokens/project              no auth header: the body's refresh_token is the credential
    GET  /v1/tokens/project              a user token
    POST /v1/imports  [?fmt=table]       project token with write
    GET  /v1/exports/<project_id>/<device_id|all>/<series|all>   project token with read

One request gets one answer, checked in this order: path and method (404;
405 with Allow), credentials (403; 401 when only expired), query parameters
(400 when unknown, repeated or malformed), the body (415, then 400 saying
what and where, e.g. ``sources.data[3][2]: value must be a number or null,
not "abc"``), what the body refers to (403 another project or a device
outside the token's scope, 404 an unregistered device), and finally series
refused with `reject_series` (400). Errors are ``{"errors": [{"code": int,
"message": str}]}``, code being the HTTP status except 150/151 below.

Choices where the real service is unknown:

* Credentials: a missing header, a malformed or badly signed token, the wrong
  kind of token (user vs project), a missing permission and a token of
  another project answer 403; a validly signed but expired token answers 401
  saying it expired, so a client knows to refresh rather than give up.
* Timestamp: needs a project token (the iobeam library always sent one),
  with any permissions.
* Refresh: 400 unless the body is exactly ``{"refresh_token": "<string>"}``;
  401 when that token is malformed, badly signed, not a project token of this
  server, or not refreshable. An *expired* but validly signed refreshable
  token IS refreshed: after a long offline spell that is what refresh is for.
  The new token keeps the old one's permissions, device scope and lifetime
  (exp - iat); the old one stays valid until it expires, so a refresh whose
  answer was lost can be retried.
* New project token: project_id is required (another project: 403);
  duration is ``<n><w|d|h|m|s>`` (default: `token_ttl_s`); read, write,
  admin and refreshable take ``true``/``false`` and default to false, as the
  iobeam CLI's flags did; device_id scopes the token to one device;
  include_user (sent by the iobeam CLI) is accepted and ignored.
* Register: the body holds project_id and optionally device_id and
  device_name; when present they must be non-empty strings (null is
  refused) and the id must match ``^[a-zA-Z0-9_:-]+$``. A generated id is 16
  letters and digits; a generated name is the device id (with a suffix if
  that name is taken). Taken id: 422 code 150; taken name: 422 code 151 (the
  id is checked first). A device-scoped token may register only its own id.
  Answer: 201 ``{"device_id", "device_name", "project_id", "created"}``.
* Imports: the body's keys are exactly project_id, device_id, timefmt and
  sources; timefmt must be ``"usec"`` (msec and sec are refused); project_id
  must be the token's (403); an unregistered device answers 404, because
  the fix is to register, not to change the data, and a client can tell it
  from malformed data by status alone. At most 1000 points per request:
  rows x value columns in the table format (nulls count), all points of all
  sources in the series format. Times are non-negative integers of
  microseconds (bool and float refused); values are JSON numbers in the
  int64 range or finite floats (bool and strings refused); in the table
  format null means "no value". Series and column names are non-empty
  strings, not ``time``, ``time_offset`` or ``all`` in any case (apart from
  the table's leading ``time``), and not repeated. Empty data is accepted.
  A repeated (device, series, time) REPLACES the stored value, within one
  request too (last wins), so a retried batch never doubles data. Answer:
  200 ``{"points": <values stored>}``; clients should rely on the status.
* Exports: from/to are ms since the epoch, both inclusive (``to`` covers its
  whole millisecond); limit (default 1000, at most 100000) is per series and
  keeps the NEWEST points in range, still listed oldest first; timefmt is
  msec (default), usec or sec, truncated to whole units. Another project:
  404; an unregistered device: 404; a device-scoped token may read only its
  own device (``all``: 403). The answer, times ascending and values as
  stored (ints stay ints)::

      {"timefmt": "msec",
       "result": [{"project_id": 1, "device_id": "pi-1",
                   "sources": [{"name": "temperature",
                                "data": [{"time": 1700000000000, "value": 21.5}]}]}]}

  One entry per device, sorted by id (``all`` lists every registered device
  of the project, those without matching points with ``"sources": []``), one
  source per series with points in range, sorted by name.

Tokens are HS256 JWTs (`sensorkit.tokens`) with claims typ (project/user),
pid, read, write, admin, refreshable, device_id (when scoped), iat, exp (s)
and jti. Token answers are ``{"token", "project_id", "expires", "read",
"write", "admin", "refreshable"[, "device_id"]}`` with expires in the
iobeam CLI's format ``2006-01-02 15:04:05 +0000``.

Storage is SQLite: the file `db_path` (devices, points and the tokens'
signing secret, so a restarted server accepts the tokens it issued; an
explicit `secret` wins) or memory. Devices and points are kept per project.

For tests: ``keep_imports=True`` logs every accepted import in order
(`imports`, to see order and repeats), and `hold_imports` stops imports just
before or just after storing until `release_imports`, to end a client in the
middle of a send.
"""
from __future__ import annotations

import math
import os
import secrets
import threading
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from sensorkit import tokens
from sensorkit.clock import SystemClock
from sensorkit.emulators._http import (
    EmulatorError,
    Faults,
    HttpError,
    JsonHttpServer,
    PortUnavailable,
    Request,
    RequestRecord,
    Response,
    Router,
)
from sensorkit.emulators._iobeam_store import Device, IobeamStore, StoredPoint
from sensorkit.emulators._iobeam_wire import (
    DEVICE_ID_PATTERN,
    DIGITS,
    INT64_MAX,
    Value,
    bool_param,
    check_device_id,
    check_keys,
    check_project_id,
    duration_s,
    import_envelope,
    int_param,
    is_int,
    json_type,
    object_body,
    series_points,
    show,
    table_points,
)

__all__ = ["Device", "EmulatorError", "ImportRecord", "IobeamEmulator", "PortUnavailable", "RequestRecord",
           "StoredPoint"]

SERVER_NAME = "sensorkit-iobeam-emulator"
DEFAULT_TOKEN_TTL_S = 5 * 7 * 86400  # five weeks, the iobeam CLI's usual duration
EXPORT_DEFAULT_LIMIT = 1000
EXPORT_MAX_LIMIT = 100_000
USER_ID = 1  # the one user, owner of the one project
EXPIRES_FORMAT = "%Y-%m-%d %H:%M:%S +0000"  # the iobeam CLI parsed "2006-01-02 15:04:05 -0700"
TIME_UNITS_US = {"usec": 1, "msec": 1000, "sec": 1_000_000}
_MAX_MS = INT64_MAX // 1000 - 1  # the largest from/to whose microseconds still fit in SQLite


def _format_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime(EXPIRES_FORMAT)


# -- tokens ----------------------------------------------------------------------------------------


class _Tokens:
    """Issues and checks the server's JWTs against its clock; never logs or echoes a token."""

    def __init__(self, secret: bytes, clock: Any, project_id: int) -> None:
        self._secret = secret
        self._clock = clock
        self._project_id = project_id

    def _issue(self, claims: dict[str, Any], ttl_s: float) -> str:
        now_s = self._clock.time_ms() // 1000
        claims = {**claims, "iat": now_s, "exp": now_s + math.ceil(ttl_s), "jti": secrets.token_hex(8)}
        return tokens.encode(claims, self._secret)

    def issue_project(self, *, ttl_s: float, read: bool, write: bool, admin: bool, refreshable: bool,
                      device_id: str | None) -> str:
        claims = {"typ": "project", "pid": self._project_id, "read": read, "write": write, "admin": admin,
                  "refreshable": refreshable}
        if device_id is not None:
            claims["device_id"] = device_id
        return self._issue(claims, ttl_s)

    def issue_user(self, ttl_s: float) -> str:
        return self._issue({"typ": "user", "uid": USER_ID}, ttl_s)

    def check(self, request: Request, kind: str) -> dict[str, Any]:
        """The claims of the request's bearer token when it is a valid, unexpired `kind` token; else 403/401."""
        token = request.bearer_token()
        if token is None:
            raise HttpError(403, "missing credentials: send the header Authorization: Bearer <token>")
        try:
            claims = tokens.verify(token, self._secret)
        except tokens.TokenError as exc:
            raise HttpError(403, f"the token is not valid: {exc}") from None
        typ, exp = claims.get("typ"), claims.get("exp")
        if typ not in ("project", "user") or not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise HttpError(403, "the token is not an iobeam project or user token")
        if self._clock.time_ms() / 1000 >= exp:
            fix = "refresh it with POST /v1/tokens/project" if typ == "project" else "get a new user token"
            raise HttpError(401, f"the {typ} token expired at {_format_time(exp)}; {fix}")
        if typ != kind:
            raise HttpError(403, f"this call needs a {kind} token, not a {typ} token")
        if kind == "project" and claims.get("pid") != self._project_id:
            raise HttpError(403, f"the token is for project {claims.get('pid')}, not project {self._project_id}")
        return claims

    def refreshable(self, token: str) -> dict[str, Any]:
        """The claims of a refresh token, expired or not; 401 when it is not a refreshable project token of ours."""
        try:
            claims = tokens.verify(token, self._secret)
        except tokens.TokenError as exc:
            raise HttpError(401, f"refresh_token is not valid: {exc}") from None
        if claims.get("typ") != "project" or claims.get("pid") != self._project_id:
            raise HttpError(401, f"refresh_token is not a project token of project {self._project_id}")
        if claims.get("refreshable") is not True:
            raise HttpError(401, "refresh_token is not refreshable; get a new token with refreshable=true")
        return claims


def _token_answer(token: str) -> dict[str, Any]:
    claims = tokens.unverified_claims(token)
    answer = {"token": token, "project_id": claims["pid"], "expires": _format_time(claims["exp"])}
    answer.update({k: claims[k] for k in ("read", "write", "admin", "refreshable")})
    if "device_id" in claims:
        answer["device_id"] = claims["device_id"]
    return answer


# -- the API ---------------------------------------------------------------------------------------


class ImportRecord(NamedTuple):
    """One accepted import, as stored: the device and its points in request order."""

    device_id: str
    points: tuple[StoredPoint, ...]


HOLD_STAGES = ("before_store", "after_store")
HOLD_LIMIT_S = 60.0  # a held import goes on by itself after this long, so a forgotten hold cannot hang a test


def _record(device_id: str, points: list[tuple[str, int, Value]]) -> ImportRecord:
    return ImportRecord(device_id, tuple(StoredPoint(device_id, *point) for point in points))


class _ImportWatch:
    """What tests see of imports: a log of accepted ones (when kept) and a hold at a chosen stage.

    A hold makes the next imports wait at `stage` ("before_store": read and
    checked, nothing stored; "after_store": stored, not yet answered) until
    `release`, which is how a test kills a client in the middle of a send.
    """

    def __init__(self, keep: bool) -> None:
        self.held: ImportRecord | None = None  # the import that last reached the hold
        self._lock = threading.Lock()
        self._log: list[ImportRecord] | None = [] if keep else None
        self._stage: str | None = None
        self._reached = threading.Event()
        self._open = threading.Event()
        self._open.set()

    def hold(self, stage: str) -> threading.Event:
        if stage not in HOLD_STAGES:
            raise ValueError(f"stage must be one of {', '.join(HOLD_STAGES)}, not {stage!r}")
        with self._lock:
            self._stage = stage
            self.held = None
            self._reached.clear()
            self._open.clear()
            return self._reached

    def release(self) -> None:
        with self._lock:
            self._stage = None
            self._open.set()

    def at(self, stage: str, device_id: str, points: list[tuple[str, int, Value]]) -> None:
        with self._lock:
            held = self._stage == stage
            if held:
                self.held = _record(device_id, points)
                self._reached.set()
        if held:
            self._open.wait(HOLD_LIMIT_S)

    def stored(self, device_id: str, points: list[tuple[str, int, Value]]) -> None:
        if self._log is not None:
            record = _record(device_id, points)
            with self._lock:
                self._log.append(record)

    @property
    def log(self) -> list[ImportRecord]:
        if self._log is None:
            raise EmulatorError("imports are logged only by an emulator made with keep_imports=True")
        with self._lock:
            return list(self._log)


class _Api:
    """The routes of iobeam API v1 over a store and a token issuer."""

    def __init__(self, *, project_id: int, store: IobeamStore, issuer: _Tokens, clock: Any, token_ttl_s: float,
                 rejected: Callable[[], frozenset[str]], watch: _ImportWatch) -> None:
        self.project_id = project_id
        self._watch = watch
        self._store = store
        self._tokens = issuer
        self._clock = clock
        self._token_ttl_s = token_ttl_s
        self._rejected = rejected
        self.router = Router()
        self.router.add("POST", r"/v1/devices", self.register)
        self.router.add("GET", r"/v1/devices/timestamp", self.timestamp)
        self.router.add("POST", r"/v1/tokens/project", self.refresh_token)
        self.router.add("GET", r"/v1/tokens/project", self.new_project_token)
        self.router.add("POST", r"/v1/imports", self.import_data)
        self.router.add("GET", r"/v1/exports/(?P<project>[^/]+)/(?P<device>[^/]+)/(?P<series>[^/]+)", self.export)

    def _check_project(self, project_id: int) -> None:
        if project_id != self.project_id:
            raise HttpError(403, f"project_id {project_id} is not the token's project ({self.project_id})")

    @staticmethod
    def _check_scope(claims: dict[str, Any], device_id: str | None) -> None:
        scope = claims.get("device_id")
        if scope is not None and device_id != scope:
            raise HttpError(403, f"the token is limited to device {scope!r}")

    def _registered(self, device_id: str) -> None:
        if self._store.device(self.project_id, device_id) is None:
            raise HttpError(404, f"device {device_id!r} is not registered in project {self.project_id}; "
                                 "register it with POST /v1/devices")

    def register(self, request: Request, _: dict[str, str]) -> Response:
        claims = self._tokens.check(request, "project")
        if not (claims.get("write") or claims.get("admin")):
            raise HttpError(403, "registering a device needs a token with write or admin permission")
        request.params(())
        body = object_body(request)
        check_keys(body, "body", ("project_id",), ("device_id", "device_name"))
        project_id = check_project_id(body["project_id"])
        device_id = check_device_id(body["device_id"], "device_id") if "device_id" in body else None
        name = body.get("device_name")
        if "device_name" in body and (not isinstance(name, str) or not name):
            raise HttpError(400, f"device_name: must be a non-empty string, not {show(name)}")
        self._check_project(project_id)
        self._check_scope(claims, device_id)
        device = self._store.register(project_id, device_id, name, self._clock.time_ms())
        return Response(201, {"device_id": device.device_id, "device_name": device.device_name,
                              "project_id": project_id, "created": _format_time(device.created_ms / 1000)})

    def timestamp(self, request: Request, _: dict[str, str]) -> Response:
        self._tokens.check(request, "project")
        request.params(())
        return Response(200, {"server_timestamp": self._clock.time_ms()})

    def refresh_token(self, request: Request, _: dict[str, str]) -> Response:
        request.params(())
        body = object_body(request)
        check_keys(body, "body", ("refresh_token",))
        old = body["refresh_token"]
        if not isinstance(old, str):
            raise HttpError(400, f"refresh_token: must be a token string, not {json_type(old)}")
        if not old:
            raise HttpError(400, "refresh_token: is empty; send the token to refresh")
        claims = self._tokens.refreshable(old)
        lifetime_s = claims.get("exp", 0) - claims.get("iat", 0)
        if not isinstance(lifetime_s, (int, float)) or lifetime_s <= 0:
            lifetime_s = self._token_ttl_s
        token = self._tokens.issue_project(
            ttl_s=lifetime_s, read=claims.get("read") is True, write=claims.get("write") is True,
            admin=claims.get("admin") is True, refreshable=True, device_id=claims.get("device_id"))
        return Response(200, _token_answer(token))

    def new_project_token(self, request: Request, _: dict[str, str]) -> Response:
        self._tokens.check(request, "user")
        params = request.params(("project_id", "duration", "read", "write", "admin", "refreshable", "device_id",
                                 "include_user"))
        if "project_id" not in params:
            raise HttpError(400, "project_id: missing; say which project the token is for")
        project_id = int_param(params, "project_id", None, 1, INT64_MAX)
        if project_id != self.project_id:
            raise HttpError(403, f"user {USER_ID} has no project {project_id}")
        ttl_s = duration_s(params["duration"]) if "duration" in params else self._token_ttl_s
        flags = {name: bool_param(params, name) for name in ("read", "write", "admin", "refreshable")}
        bool_param(params, "include_user")  # checked, then ignored: the CLI sent it
        device_id = check_device_id(params["device_id"], "device_id") if "device_id" in params else None
        token = self._tokens.issue_project(ttl_s=ttl_s, device_id=device_id, **flags)
        return Response(200, _token_answer(token))

    def import_data(self, request: Request, _: dict[str, str]) -> Response:
        claims = self._tokens.check(request, "project")
        if not claims.get("write"):
            raise HttpError(403, "sending data needs a token with write permission")
        fmt = request.params(("fmt",)).get("fmt")
        if fmt not in (None, "table"):
            raise HttpError(400, f"fmt: unknown format {fmt!r}; use fmt=table, or no fmt for the series format")
        body = object_body(request)
        project_id, device_id = import_envelope(body)
        names, points = table_points(body["sources"]) if fmt == "table" else series_points(body["sources"])
        self._check_project(project_id)
        self._check_scope(claims, device_id)
        self._registered(device_id)
        refused = sorted(set(names) & self._rejected())
        if refused:
            raise HttpError(400, f"this server refuses the series {', '.join(map(repr, refused))}; "
                                 "nothing of this request was stored")
        self._watch.at("before_store", device_id, points)
        self._store.put_points(project_id, device_id, points)
        self._watch.stored(device_id, points)
        self._watch.at("after_store", device_id, points)
        return Response(200, {"points": len(points)})

    def export(self, request: Request, args: dict[str, str]) -> Response:
        claims = self._tokens.check(request, "project")
        if not claims.get("read"):
            raise HttpError(403, "reading data needs a token with read permission")
        params = request.params(("limit", "from", "to", "timefmt"))
        if not DIGITS.fullmatch(args["project"]) or int(args["project"]) == 0:
            raise HttpError(400, f"the project id in the path must be a positive integer, not {args['project']!r}")
        if int(args["project"]) != self.project_id:
            raise HttpError(404, f"project {int(args['project'])} not found")
        device_id = None if args["device"] == "all" else check_device_id(args["device"], "the device in the path")
        self._check_scope(claims, device_id)
        if device_id is not None:
            self._registered(device_id)
        series = None if args["series"] == "all" else args["series"]
        limit = int_param(params, "limit", EXPORT_DEFAULT_LIMIT, 1, EXPORT_MAX_LIMIT)
        from_ms = int_param(params, "from", 0, 0, _MAX_MS)
        to_ms = int_param(params, "to", _MAX_MS, 0, _MAX_MS)
        if from_ms > to_ms:
            raise HttpError(400, f"from ({from_ms}) is after to ({to_ms})")
        timefmt = params.get("timefmt", "msec")
        if timefmt not in TIME_UNITS_US:
            raise HttpError(400, f"timefmt: must be msec, usec or sec, not {timefmt!r}")
        unit = TIME_UNITS_US[timefmt]
        found = self._store.points(self.project_id, device_id, series,
                                   from_us=from_ms * 1000, to_us=to_ms * 1000 + 999, newest=limit)
        devices = [device_id] if device_id is not None else [d.device_id for d in self._store.devices(self.project_id)]
        sources: dict[str, dict[str, list[dict[str, Value]]]] = {d: {} for d in devices}
        for point in found:
            sources[point.device_id].setdefault(point.series, []).append(
                {"time": point.time_us // unit, "value": point.value})
        result = [{"project_id": self.project_id, "device_id": d,
                   "sources": [{"name": name, "data": data} for name, data in by_series.items()]}
                  for d, by_series in sources.items()]
        return Response(200, {"timefmt": timefmt, "result": result})


# -- the emulator ----------------------------------------------------------------------------------


class IobeamEmulator:
    """A local iobeam server: one project, one user, devices and points in SQLite.

    `start()` binds and begins serving (after `down_for_s`); `stop()` is
    idempotent and closes the storage; as a context manager it starts (when
    not started yet) and stops. Tokens expire by `clock` (a `FakeClock` in
    tests), so expiry is tested without sleeping. Faults: see `_http.Faults`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, db_path: str | os.PathLike[str] | None = None,
                 project_id: int = 1, token_ttl_s: float = DEFAULT_TOKEN_TTL_S, secret: bytes | None = None,
                 fail_rate: float = 0.0, throttle_rate: float = 0.0, retry_after_s: float = 1.0,
                 latency_ms: float = 0, down_for_s: float = 0.0, seed: int | None = None, clock: Any = None,
                 keep_imports: bool = False) -> None:
        if not is_int(project_id) or project_id <= 0:
            raise ValueError(f"project_id must be a positive integer, got {project_id!r}")
        if not token_ttl_s >= 1:
            raise ValueError(f"token_ttl_s must be at least 1 second, got {token_ttl_s!r}")
        if secret is not None and (not isinstance(secret, bytes) or not secret):
            raise ValueError("secret must be non-empty bytes")
        if not down_for_s >= 0:
            raise ValueError(f"down_for_s must be 0 or more, got {down_for_s!r}")
        self.project_id = project_id
        self.db_path = None if db_path is None else os.fspath(db_path)
        self._token_ttl_s = token_ttl_s
        self._secret = secret
        self._down_for_s = down_for_s
        self.clock = clock if clock is not None else SystemClock()
        self._faults = Faults(fail_rate=fail_rate, throttle_rate=throttle_rate, retry_after_s=retry_after_s,
                              latency_ms=latency_ms, seed=seed)
        self._http = JsonHttpServer(self._answer, host=host, port=port, faults=self._faults, api_prefix="/v1/",
                                    name=SERVER_NAME)
        self._rejected: frozenset[str] = frozenset()
        self._watch = _ImportWatch(keep_imports)
        self._store: IobeamStore | None = None
        self._tokens: _Tokens | None = None
        self._api: _Api | None = None
        self._project_token = ""
        self._user_token = ""

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> IobeamEmulator:
        if self._store is not None:
            raise EmulatorError("this emulator was already started; make a new one")
        store = IobeamStore(self.db_path)
        try:
            secret = self._secret or store.secret()
            if secret is None:
                secret = secrets.token_bytes(32)
                store.save_secret(secret)
            self._tokens = _Tokens(secret, self.clock, self.project_id)
            self._api = _Api(project_id=self.project_id, store=store, issuer=self._tokens, clock=self.clock,
                             token_ttl_s=self._token_ttl_s, rejected=lambda: self._rejected, watch=self._watch)
            self._store = store
            self._project_token = self.issue_token()
            self._user_token = self._tokens.issue_user(self._token_ttl_s)
            self._http.start(down_for_s=self._down_for_s)
        except BaseException:
            self._store = None
            store.close()
            raise
        return self

    def stop(self) -> None:
        self._watch.release()
        self._http.stop()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> IobeamEmulator:
        return self if self._store is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        if self._api is None:  # cannot happen: the socket listens only after start() built the API
            raise HttpError(503, "the emulator is starting")
        return self._api.router(request)

    # -- what a user of the emulator reads ---------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, no trailing slash; the API lives under ``url + "/v1/"``."""
        return self._http.url

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def project_token(self) -> str:
        """A read+write+refreshable project token issued at start."""
        self._require_started()
        return self._project_token

    @property
    def user_token(self) -> str:
        """A user token, good for GET /v1/tokens/project."""
        self._require_started()
        return self._user_token

    def banner(self) -> list[str]:
        """What to print at start: first exactly ``listening on http://HOST:PORT``, then how to connect."""
        lines = [f"listening on {self.url}", f"project id: {self.project_id}",
                 f"project token: {self.project_token}", f"user token: {self.user_token}",
                 f"storage: {self.db_path or 'memory (lost when the server stops)'}"]
        if self._down_for_s > 0:
            lines.append(f"down for {self._down_for_s:g} s: connections are refused until then")
        faults = self._faults
        if faults.fail_rate or faults.throttle_rate or faults.latency_s:
            lines.append(f"faults: {faults.fail_rate:.0%} answered 503, {faults.throttle_rate:.0%} answered 429 "
                         f"(Retry-After {faults.retry_after_s:g} s), {faults.latency_s * 1000:g} ms latency")
        return lines

    def issue_token(self, *, ttl_s: float | None = None, read: bool = True, write: bool = True,
                    refreshable: bool = True, device_id: str | None = None, admin: bool = False) -> str:
        """A new project token of this server's project, as GET /v1/tokens/project would give."""
        self._require_started()
        assert self._tokens is not None
        ttl_s = self._token_ttl_s if ttl_s is None else ttl_s
        if not ttl_s >= 1:
            raise ValueError(f"ttl_s must be at least 1 second, got {ttl_s!r}")
        if device_id is not None and (not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id)):
            raise ValueError(f"device_id must match {DEVICE_ID_PATTERN.pattern}, got {device_id!r}")
        return self._tokens.issue_project(ttl_s=ttl_s, read=read, write=write, admin=admin,
                                          refreshable=refreshable, device_id=device_id)

    def points(self, device_id: str | None = None, series: str | None = None) -> list[StoredPoint]:
        """Stored points of this project, by device, series and time."""
        return self._started_store().points(self.project_id, device_id, series)

    def devices(self) -> list[Device]:
        """Registered devices of this project, by id."""
        return self._started_store().devices(self.project_id)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request as (method, path, status), oldest first."""
        return self._http.requests

    def request_count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        return self._http.request_count(method, path, status)

    # -- runtime controls --------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        return self._http.down

    def set_down(self, down: bool) -> None:
        """Refuse connections (ECONNREFUSED, open ones closed) or accept them again, on the same port."""
        self._http.set_down(down)

    def inject(self, status: int, count: int = 1, retry_after_s: float | None = None) -> None:
        """Answer the next `count` API requests with `status` (429 always carries Retry-After).

        Injections queue up; a 2xx means "answer normally", so ``inject(200); inject(503)``
        lets one request through and fails the next.
        """
        self._faults.inject(status, count, retry_after_s)

    @property
    def imports(self) -> list[ImportRecord]:
        """Every accepted import in the order stored (needs ``keep_imports=True``): shows order and repeats."""
        return self._watch.log

    def hold_imports(self, stage: str = "before_store") -> threading.Event:
        """Make imports wait at `stage` until `release_imports()`; the event is set once one waits there.

        "before_store": the request was read and checked, nothing is stored;
        "after_store": its points are stored, the answer has not left. A held
        import goes on by itself after a minute.
        """
        return self._watch.hold(stage)

    @property
    def held_import(self) -> ImportRecord | None:
        """The import that reached the hold last (None before one has)."""
        return self._watch.held

    def release_imports(self) -> None:
        """Let held imports (and later ones) go on."""
        self._watch.release()

    def reject_series(self, *names: str) -> None:
        """Refuse imports holding any of these series with 400; replaces the earlier set, none = accept all."""
        self._rejected = frozenset(names)

    def _require_started(self) -> None:
        if self._store is None:
            raise EmulatorError("the emulator is not started; call start() first")

    def _started_store(self) -> IobeamStore:
        self._require_started()
        assert self._store is not None
        return self._store
