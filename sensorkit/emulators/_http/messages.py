"""A request as a route sees it, the answer it gives, and the error it raises to answer in the standard shape.

Every error body is ``{"errors": [{"code": int, "message": str}]}`` where
`code` is the HTTP status unless an emulator gives a more specific one.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json"


class HttpError(Exception):
    """Raised inside a route to answer with an error in the standard shape."""

    def __init__(self, status: int, message: str, *, code: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = status if code is None else code
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return error_response(self.status, self.message, code=self.code, headers=self.headers)


@dataclass(frozen=True)
class Response:
    """A status, a JSON-able body (None: no body) and extra headers.

    `headers` is a mapping, or a sequence of (name, value) pairs when a name
    repeats (two Set-Cookie headers).
    """

    status: int
    body: Any = None
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)

    def header_pairs(self) -> list[tuple[str, str]]:
        return list(self.headers.items()) if isinstance(self.headers, Mapping) else list(self.headers)


def error_response(status: int, message: str, *, code: int | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    body = {"errors": [{"code": status if code is None else code, "message": message}]}
    return Response(status, body, dict(headers or {}))


@dataclass(frozen=True)
class Request:
    """One request as a route sees it. `path` is still percent-encoded; `headers` keys are lower case.

    `query` is decoded leniently (bad UTF-8 becomes U+FFFD); a route that must
    refuse it reads `target` (see `forms.query_pairs`).
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    target: str = ""  # the request-target as it came (path and query, still percent-encoded)

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer <token>` header, or None."""
        scheme, _, token = self.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def params(self, allowed: Iterable[str]) -> dict[str, str]:
        """The query parameters, each once; 400 for an unknown or repeated one (a typo must not pass silently)."""
        allowed = set(allowed)
        params = {}
        for name, values in self.query.items():
            if name not in allowed:
                expected = ", ".join(sorted(allowed)) or "none"
                raise HttpError(400, f"unknown query parameter {name!r}; this call takes: {expected}")
            if len(values) != 1:
                raise HttpError(400, f"query parameter {name!r} is given {len(values)} times; give it once")
            params[name] = values[0]
        return params

    def json(self) -> Any:
        """The body as JSON (strict: no NaN or Infinity); 415/400 saying what is wrong."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            shown = content_type or "none"
            raise HttpError(415, f"the body must be sent as Content-Type: {JSON_TYPE}, not {shown}")
        if not self.body.strip():
            raise HttpError(400, "the body is empty; expected JSON")
        try:
            return json.loads(self.body.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError as exc:
            raise HttpError(400, f"the body is not UTF-8 (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise HttpError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except ValueError as exc:
            raise HttpError(400, f"malformed JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
