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
A file that is not the emulator's (not SQLite, a sensorkit outbox, another
program's database, a newer format) is refused untouched with
`DatabaseUnusable`; a missing one is created, an empty one initialised.

For tests: ``keep_imports=True`` logs every accepted import in order
(`imports`, to see order and repeats), and `hold_imports` stops imports just
before or just after storing until `release_imports`, to end a client in the
middle of a send. `accepted_points` and `wait_for_points` count the points
of accepted imports without a query, for a benchmark to wait on.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

from sensorkit.emulators._http import HttpError, Request, Response, Router
from sensorkit.emulators._watch import WriteWatch
from sensorkit.emulators.iobeam.auth import USER_ID, Tokens, format_time, token_answer
from sensorkit.emulators.iobeam.store import IobeamStore
from sensorkit.emulators.iobeam.watch import ImportRecord, import_record
from sensorkit.emulators.iobeam.wire import (
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
    json_type,
    object_body,
    series_points,
    show,
    table_points,
)

EXPORT_DEFAULT_LIMIT = 1000
EXPORT_MAX_LIMIT = 100_000
TIME_UNITS_US = {"usec": 1, "msec": 1000, "sec": 1_000_000}
_MAX_MS = INT64_MAX // 1000 - 1  # the largest from/to whose microseconds still fit in SQLite


class Api:
    """The routes of iobeam API v1 over a store and a token issuer."""

    def __init__(self, *, project_id: int, store: IobeamStore, issuer: Tokens, clock: Any, token_ttl_s: float,
                 rejected: Callable[[], frozenset[str]], watch: WriteWatch[ImportRecord]) -> None:
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
                              "project_id": project_id, "created": format_time(device.created_ms / 1000)})

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
        return Response(200, token_answer(token))

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
        return Response(200, token_answer(token))

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
        record = partial(import_record, device_id, points)  # made only when a test looks (a hold, a kept log)
        self._watch.at("before_store", record)
        self._store.put_points(project_id, device_id, points)
        self._watch.stored(record, len(points))
        self._watch.at("after_store", record)
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
