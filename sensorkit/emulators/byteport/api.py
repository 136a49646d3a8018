"""A local Byteport (HTTP API v1) that answers strictly, to prove sensorkit's Byteport client against.

Byteport's service is not reachable; the facts of its API are collected in
the project's protocol page (shared/protocols/byteport.md, from Byteport's
APIv1 documentation and its reference Python client). Where the real
service's behaviour is unknown this server takes the strict reading, so a
client that passes here sends nothing the real service could have refused.
Those choices are listed below; a client must not depend on anything else.

Calls::

    GET|POST /api/v1/timeseries/<ns>/<uid>/           store (API key: `_key`), no login
    GET      /api/v1/timeseries/<ns>/<uid>/<field>/   read one field (logged-in session)
    GET|POST /api/v1/login/                           csrftoken, then sessionid
    any      /api/v1/logout/                          ends the session
    GET      /api/v1/echo/                            the query parameters back as JSON

A store is checked in this order: the URL's length (414 past 2048 bytes of
request-target, whatever the method: a front server refuses it before the
application), path and method (404; 405 with Allow), the namespace (403: not
this server's), the namespace's write methods (403: `--write-methods`), the
parameters themselves (415 for a POST body that is not
``application/x-www-form-urlencoded``; 400 for malformed encoding, bytes that
are not UTF-8 once decoded, a parameter given twice, or a POST with a query
string), the key (403: missing or wrong `_key`), the uid (406: not a valid
name), registration (404, only with `--require-registration`), `_ts` and the
field names (400), and fields refused with `refuse_fields` (400). Success is
200 with an empty body (the documentation's "Response Body: N/A"). Errors
are ``{"errors": [{"code": <status>, "message": "..."}]}``; the real service's
error bodies are not documented, so clients should rely on the status.

Choices where the real service is unknown:

* Names: a field name that breaks the rules (2-32 of ``0-9a-zA-Z-_:``, no
  ``-`` or ``_`` at either end; the reference client's trailing rule
  included) refuses the whole store with 400 naming it; an invalid uid is
  406, as the reference client documents. Other parameters starting with
  ``_`` are meta fields: accepted and never stored.
* Values: a value that reads as a number (ASCII digits, an optional sign,
  fraction and exponent, spaces around allowed as Python's float() allows
  them) is stored as a number (an int stays an int), anything else as text,
  the empty string included. Log fields (debug, info, warn, error) are
  stored as text whatever they hold, and read back like any field.
* `_ts`: seconds since the epoch with an optional fraction of up to 9 digits
  (no sign, no exponent); the ms are kept, finer digits cut off (and shown
  as `m.hdts`, µs). Without `_ts`, the time of arrival on the server's clock.
* The same (uid, field, ms) stored again REPLACES the earlier point (a new
  value reference), so a store sent twice is the same points.
* Devices: without registration required, any valid uid may store and is
  listed from its first store or heartbeat; with it, only registered uids
  (`--register`), others 404.
* The read API: `from` and `to` are ISO 8601 (``%Y-%m-%dT%H:%M:%S``, an
  optional fraction of up to 6 digits, an optional ``Z`` or ``+HH:MM``; UTC
  when none), both included; `to` alone is 400; `from` alone reads up to now.
  `timedelta_minutes|hours|days` (a positive number) reads back from now and
  cannot be combined with `from`/`to` or with each other. One of them is
  required (400 otherwise). Unknown parameters are 400. Another namespace is
  403 (the user has no access), an unknown device 404, an invalid field name
  400. No login (or a logged-out session) is 403. Points come oldest first,
  with ``t`` in UTC as ``%Y-%m-%dT%H:%M:%S.%f`` (the documentation's example),
  ``r`` a UUID, ``m`` = {``trv``: "False", ``vlen``: the value's length as
  text, ``hdts``: µs since the epoch as text}; `ts_meta` has len, orig_len,
  from, to, seconds, data_type ("number" when every point is a number,
  "text" when any is text, "object" for an object field, null when empty),
  conversion_errors (0), path and reduced (false).
* Objects: a field declared with `object_fields` (the device type's
  ``data_type: object`` with ``encoding_type: base64``) must hold base64 text
  (else 400); it is stored as sent and decoded on reading: base64, then
  gzip, zlib or bzip2 decompressed when its first bytes say so (the store
  does not say how it was packed). The read API gives the content as text
  when it is UTF-8, else base64 again (``m.encoding`` says which), with
  ``m.object_type`` and ``m.compression``. The download call of single
  values is not served.
* Sessions: the one user, no expiry beyond the cookie's max-age, nothing
  kept across restarts. Echo answers a parameter given twice as a list.

For tests: ``keep_stores=True`` logs every accepted store in order (`stores`),
`hold_stores` stops stores just before or just after storing until
`release_stores`, `refuse_fields` makes stores holding those fields fail
with 400, and `accepted_points`/`wait_for_points` count the fields stored.
"""
from __future__ import annotations

import base64
import hmac
import math
from typing import Any, Callable, NamedTuple
from urllib.parse import urlsplit

from sensorkit.emulators._http import HttpError, Request, Response, Router
from sensorkit.emulators._http.forms import body_pairs, query_pairs, single
from sensorkit.emulators._watch import WriteWatch
from sensorkit.emulators.byteport.auth import Sessions
from sensorkit.emulators.byteport.store import ByteportStore, StoredPoint
from sensorkit.emulators.byteport.wire import (
    KEY_PARAM,
    META_PREFIX,
    TS_PARAM,
    Value,
    check_field_name,
    format_time_us,
    is_log_field,
    is_valid_uid,
    parse_delta_s,
    parse_time,
    parse_ts,
    parse_value,
    show,
    unpack_object,
)

READ_PARAMS = ("from", "to", "timedelta_minutes", "timedelta_hours", "timedelta_days")
_DELTA_S = {"timedelta_minutes": 60, "timedelta_hours": 3600, "timedelta_days": 86400}
_SEGMENT = r"[^/]+"


class StoreRecord(NamedTuple):
    """One accepted store as stored: the uid, its time in ms and its fields in request order."""

    uid: str
    ms: int
    fields: tuple[tuple[str, Value], ...]


class Api:
    """The routes of Byteport API v1 over a store, a login and a namespace's settings."""

    def __init__(self, *, namespace: str, key: str, write_methods: frozenset[str], require_registration: bool,
                 store: ByteportStore, sessions: Sessions, clock: Any, watch: WriteWatch[StoreRecord],
                 refused: Callable[[], frozenset[str]], object_fields: Callable[[], dict[str, str]]) -> None:
        self.namespace = namespace
        self._key = key
        self._write_methods = write_methods
        self._require_registration = require_registration
        self._store = store
        self._sessions = sessions
        self._clock = clock
        self._watch = watch
        self._refused = refused
        self._object_fields = object_fields
        self.router = Router()
        store_path = rf"/api/v1/timeseries/(?P<ns>{_SEGMENT})/(?P<uid>{_SEGMENT})/"
        self.router.add("GET", store_path, self.store)
        self.router.add("POST", store_path, self.store)
        self.router.add("GET", rf"{store_path}(?P<field>{_SEGMENT})/", self.read)
        self.router.add("GET", r"/api/v1/login/", self.login_form)
        self.router.add("POST", r"/api/v1/login/", self.login)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            self.router.add(method, r"/api/v1/logout/", self.logout)
        self.router.add("GET", r"/api/v1/echo/", self.echo)

    # ------------------------------------------------------------------ storing
    def store(self, request: Request, groups: dict[str, str]) -> Response:
        namespace, uid = groups["ns"], groups["uid"]
        if namespace != self.namespace:
            raise HttpError(403, f"namespace {show(namespace)} does not take writes with this key (there is no such "
                                 "namespace here)")
        method = request.method.lower()
        if method not in self._write_methods:
            allowed = " and ".join(sorted(m.upper() for m in self._write_methods))
            raise HttpError(403, f"namespace {self.namespace!r} does not allow writes by HTTP {method.upper()}; it "
                                 f"takes {allowed} (its HTTP write method setting)")
        if method == "post":
            if urlsplit(request.target).query:
                raise HttpError(400, "a POST store takes its parameters in the body, not in the query string")
            params = single(body_pairs(request), "body")
        else:
            if request.body:
                raise HttpError(400, "a GET store takes its parameters in the query string; it has no body")
            params = single(query_pairs(request), "query string")
        key = params.get(KEY_PARAM)
        if not key:
            raise HttpError(403, f"missing {KEY_PARAM}: send the namespace's API write key")
        if not hmac.compare_digest(key.encode(), self._key.encode()):
            raise HttpError(403, f"wrong {KEY_PARAM} for namespace {self.namespace!r}")
        if not is_valid_uid(uid):
            raise HttpError(406, f"device uid {show(uid)} is not allowed (2 to 32 of 0-9, a-z, A-Z, '-', '_' and "
                                 "':', no '-' or '_' at either end)")
        if self._require_registration:
            device = self._store.device(self.namespace, uid)
            if device is None or not device.registered:
                raise HttpError(404, f"device {uid!r} is not registered in namespace {self.namespace!r}, which "
                                     "requires registration")
        now_ms = self._clock.time_ms()
        ms, micros = parse_ts(params[TS_PARAM]) if TS_PARAM in params else (now_ms, now_ms * 1000)
        objects = self._object_fields()
        values: list[tuple[str, Value]] = []
        for name, text in params.items():
            if name.startswith(META_PREFIX):
                continue  # _key, _ts and meta fields not in use: never stored
            check_field_name(name)
            if name in objects:
                unpack_object(text)  # must be base64: 400 otherwise
                values.append((name, text))
            else:
                values.append((name, text if is_log_field(name) else parse_value(text)))
        refused = sorted({name for name, _ in values} & self._refused())
        if refused:
            raise HttpError(400, f"this server refuses the field(s) {', '.join(map(repr, refused))}; nothing of "
                                 "this store was stored")
        record = StoreRecord(uid, ms, tuple(values))
        self._watch.at("before_store", lambda: record)
        self._store.put(self.namespace, uid, now_ms, [(name, ms, micros, value) for name, value in values])
        self._watch.at("after_store", lambda: record)
        self._watch.stored(lambda: record, len(values))
        return Response(200)

    # ------------------------------------------------------------------ reading
    def read(self, request: Request, groups: dict[str, str]) -> Response:
        self._sessions.user_of(request)
        params = single(query_pairs(request), "query string")
        unknown = sorted(set(params) - set(READ_PARAMS))
        if unknown:
            raise HttpError(400, f"unknown query parameter {unknown[0]!r}; this call takes {', '.join(READ_PARAMS)}")
        namespace, uid, field = groups["ns"], groups["uid"], groups["field"]
        if namespace != self.namespace:
            raise HttpError(403, f"user {self._sessions.user!r} has no access to namespace {show(namespace)}")
        if not is_valid_uid(uid) or self._store.device(namespace, uid) is None:
            raise HttpError(404, f"no device {show(uid)} in namespace {namespace!r}")
        check_field_name(field)
        from_us, to_us = self._range(params)
        points = self._store.points(namespace, uid, field, from_ms=math.ceil(from_us / 1000), to_ms=to_us // 1000)
        object_type = self._object_fields().get(field)
        data = [self._ts_item(p, object_type) for p in points]
        if object_type is not None:
            data_type = "object"
        elif not points:
            data_type = None
        else:
            data_type = "text" if any(isinstance(p.value, str) for p in points) else "number"
        path = f"{namespace}.{uid}.{field}"
        meta = {"orig_len": len(data), "len": len(data), "from": format_time_us(from_us),
                "to": format_time_us(to_us), "seconds": round((to_us - from_us) / 1e6, 6), "data_type": data_type,
                "conversion_errors": 0, "path": path, "reduced": False}
        return Response(200, {"meta": {"path": path}, "data": {"ts_data": data, "ts_meta": meta}})

    def _range(self, params: dict[str, str]) -> tuple[int, int]:
        now_us = self._clock.time_ms() * 1000
        deltas = [name for name in _DELTA_S if name in params]
        if len(deltas) > 1:
            raise HttpError(400, f"give one of {', '.join(_DELTA_S)}, not {len(deltas)}")
        if deltas:
            if "from" in params or "to" in params:
                raise HttpError(400, f"{deltas[0]} reads back from now: it cannot be combined with from/to")
            span_s = parse_delta_s(params[deltas[0]], deltas[0]) * _DELTA_S[deltas[0]]
            return max(0, now_us - round(span_s * 1e6)), now_us
        if "from" not in params:
            what = "to alone says no start" if "to" in params else "none was given"
            raise HttpError(400, f"say which points: from (and to), or timedelta_minutes, timedelta_hours or "
                                 f"timedelta_days ({what})")
        from_us = parse_time(params["from"], "from")
        to_us = parse_time(params["to"], "to") if "to" in params else now_us
        if from_us > to_us:
            raise HttpError(400, f"from ({params['from']}) is after to ({params.get('to', 'now')})")
        return from_us, to_us

    @staticmethod
    def _ts_item(point: StoredPoint, object_type: str | None) -> dict[str, Any]:
        value: Value = point.value
        meta: dict[str, str] = {"trv": "False", "vlen": str(len(str(point.value))), "hdts": str(point.micros)}
        if object_type is not None:
            content, compression = unpack_object(str(point.value))
            try:
                value, meta["encoding"] = content.decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                value, meta["encoding"] = base64.b64encode(content).decode("ascii"), "base64"
            meta.update(object_type=object_type, compression=compression)
        return {"t": format_time_us(point.ms * 1000), "v": value, "r": point.ref, "m": meta}

    # ------------------------------------------------------------------ login, echo
    def login_form(self, request: Request, _: dict[str, str]) -> Response:
        return Response(200, None, [self._sessions.csrf_cookie(request)])

    def login(self, request: Request, _: dict[str, str]) -> Response:
        return Response(200, None, self._sessions.login(request, single(body_pairs(request), "body")))

    def logout(self, request: Request, _: dict[str, str]) -> Response:
        return Response(200, None, self._sessions.logout(request))

    @staticmethod
    def echo(request: Request, _: dict[str, str]) -> Response:
        answer: dict[str, Any] = {}
        for name, value in query_pairs(request):
            if name in answer:
                answer[name] = [*answer[name], value] if isinstance(answer[name], list) else [answer[name], value]
            else:
                answer[name] = value
        return Response(200, answer)
