"""Cookies for the emulators' sessions, with the standard library's `http.cookies`.

A request's cookies are read from its `Cookie` header; an answer sets one
with a `Set-Cookie` header per cookie (a `Response` takes a list of header
pairs, so two can go in one answer).
"""
from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from sensorkit.emulators._http.messages import Request


def request_cookies(request: Request) -> dict[str, str]:
    """The cookies the request sent, by name; a header that cannot be parsed counts as none (as browsers do)."""
    header = request.headers.get("cookie", "")
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def set_cookie(name: str, value: str, *, http_only: bool = False, max_age: int | None = None,
               path: str = "/", same_site: str = "Lax") -> tuple[str, str]:
    """A ``Set-Cookie`` header pair for `name=value`."""
    jar: SimpleCookie = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = path
    morsel["samesite"] = same_site
    if http_only:
        morsel["httponly"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    return "Set-Cookie", morsel.OutputString()


def clear_cookie(name: str, *, path: str = "/") -> tuple[str, str]:
    """A ``Set-Cookie`` header pair that makes the client drop `name`."""
    return set_cookie(name, "", max_age=0, path=path)
