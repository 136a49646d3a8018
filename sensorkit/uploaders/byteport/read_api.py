"""Reading back from Byteport: log in (csrftoken, then sessionid), load time series, echo, log out.

A mixin of `ByteportHttpClient`, with the reference client's names. The
logged-in session (its cookies) is this client's own, never the keep-alive
session the stores share, so one client's login is not another's.
"""
from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import quote

import requests

from sensorkit.uploaders import http
from sensorkit.uploaders.byteport.errors import ByteportError, ByteportLoginFailed, ByteportUnavailable, error_for

ISO8601 = "%Y-%m-%dT%H:%M:%S.%f"  # what the read API takes for from/to, in UTC
CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"


class ReadApi:
    """Login, logout, time series and echo; needs `base_url`, `_timeout_s` and `_injected_session`."""

    base_url: str
    _timeout_s: tuple[float, float]
    _injected_session: Any
    _reader: requests.Session | None = None

    def _read_session(self) -> Any:
        if self._injected_session is not None:
            return self._injected_session
        if self._reader is None:
            self._reader = requests.Session()
            self._reader.headers["User-Agent"] = http.USER_AGENT
        return self._reader

    def _read(self, method: str, path: str, data: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = self.base_url.rstrip("/") + path
        if params:
            url += "?" + "&".join(f"{quote(str(k))}={quote(str(v))}" for k, v in params.items())
        try:
            return http.request(self._read_session(), method, url, data=data, timeout_s=self._timeout_s)
        except http.ServerUnreachable as exc:
            raise ByteportUnavailable(f"Byteport: {exc}") from None
        except http.HTTPError as exc:
            raise error_for(exc, method, path) from None

    def login(self, username: str, password: str) -> None:
        """Log in (GET the csrftoken cookie, POST the credentials with it) for the read calls."""
        path = "/api/v1/login/"
        self._read("GET", path)
        session = self._read_session()
        csrf = session.cookies.get(CSRF_COOKIE)
        if not csrf:
            raise ByteportLoginFailed(f"Byteport GET {path} set no {CSRF_COOKIE} cookie; is this a Byteport server?")
        try:
            self._read("POST", path, {"username": username, "password": password, "csrfmiddlewaretoken": csrf})
        except ByteportError as exc:
            raise ByteportLoginFailed(f"Byteport login of user {username!r} failed: {exc.server_message or exc}",
                                      status=exc.status, server_message=exc.server_message) from None
        if not session.cookies.get(SESSION_COOKIE):
            raise ByteportLoginFailed(f"Byteport login of user {username!r} set no {SESSION_COOKIE} cookie")

    def logout(self) -> None:
        self._read("GET", "/api/v1/logout/")

    def load_timeseries_data(self, namespace: str, uid: str, field_name: str, **params: Any) -> Any:
        """The answer of GET /api/v1/timeseries/<ns>/<uid>/<field>/ with `params` (from, to, timedelta_*)."""
        return self._json(self._read("GET", f"/api/v1/timeseries/{quote(namespace)}/{quote(uid)}/"
                                            f"{quote(field_name)}/", params=params))

    def load_timeseries_data_range(self, namespace: str, uid: str, field_name: str, from_time: datetime.datetime,
                                   to_time: datetime.datetime) -> Any:
        """The points of one field between two aware datetimes, both included."""
        return self.load_timeseries_data(namespace, uid, field_name, **{"from": _iso(from_time), "to": _iso(to_time)})

    def echo(self, **params: Any) -> Any:
        return self._json(self._read("GET", "/api/v1/echo/", params=params))

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ByteportUnavailable(f"Byteport answered {response.status_code} with no JSON: "
                                      f"{response.text[:120]!r}", status=response.status_code) from None


def _iso(moment: datetime.datetime) -> str:
    if not isinstance(moment, datetime.datetime) or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is not a datetime with a time zone (such as datetime.now(timezone.utc))")
    return moment.astimezone(datetime.timezone.utc).strftime(ISO8601)
