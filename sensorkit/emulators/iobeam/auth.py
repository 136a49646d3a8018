"""The local iobeam server's tokens: HS256 JWTs (`sensorkit.tokens`) issued and checked against its clock.

Claims: typ (project/user), pid, read, write, admin, refreshable, device_id
(when scoped), iat, exp (s) and jti. A token is never logged or echoed.
"""
from __future__ import annotations

import math
import secrets
from datetime import datetime, timezone
from typing import Any

from sensorkit import tokens
from sensorkit.emulators._http import HttpError, Request

USER_ID = 1  # the one user, owner of the one project
EXPIRES_FORMAT = "%Y-%m-%d %H:%M:%S +0000"  # the iobeam CLI parsed "2006-01-02 15:04:05 -0700"


def format_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime(EXPIRES_FORMAT)



class Tokens:
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
            raise HttpError(401, f"the {typ} token expired at {format_time(exp)}; {fix}")
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


def token_answer(token: str) -> dict[str, Any]:
    claims = tokens.unverified_claims(token)
    answer = {"token": token, "project_id": claims["pid"], "expires": format_time(claims["exp"])}
    answer.update({k: claims[k] for k in ("read", "write", "admin", "refreshable")})
    if "device_id" in claims:
        answer["device_id"] = claims["device_id"]
    return answer

