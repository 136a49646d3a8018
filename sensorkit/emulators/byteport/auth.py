"""The local Byteport server's logins: a csrftoken cookie, then a sessionid cookie for the read calls.

As the API documentation describes it (and as Django, which Byteport ran
on, does it): GET /api/v1/login/ sets ``csrftoken``; the login POST must
carry that cookie AND the same value as the form field
``csrfmiddlewaretoken``, else 403; a right user name and password gets a
new ``csrftoken`` and a ``sessionid``. Tokens and passwords are never logged
or echoed.
"""
from __future__ import annotations

import hmac
import secrets
import threading

from sensorkit.emulators._http import HttpError, Request
from sensorkit.emulators._http.cookies import clear_cookie, request_cookies, set_cookie

CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"
CSRF_FIELD = "csrfmiddlewaretoken"
SESSION_MAX_AGE_S = 14 * 86400  # Django's default session age: two weeks


class Sessions:
    """The one user's credentials, the csrf tokens handed out and the open sessions."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._password = password
        self._lock = threading.Lock()
        self._csrf: set[str] = set()
        self._sessions: dict[str, str] = {}  # sessionid -> user

    def csrf_cookie(self, request: Request) -> tuple[str, str]:
        """The Set-Cookie of a csrftoken: the request's own when this server issued it, else a new one."""
        known = request_cookies(request).get(CSRF_COOKIE)
        with self._lock:
            if known is None or known not in self._csrf:
                known = secrets.token_hex(32)
                self._csrf.add(known)
        return set_cookie(CSRF_COOKIE, known, max_age=365 * 86400)

    def login(self, request: Request, form: dict[str, str]) -> list[tuple[str, str]]:
        """The Set-Cookie headers of a successful login; 403 for a failed csrf check or wrong credentials."""
        cookie = request_cookies(request).get(CSRF_COOKIE)
        sent = form.get(CSRF_FIELD)
        if cookie is None:
            raise HttpError(403, f"CSRF verification failed: no {CSRF_COOKIE} cookie; GET /api/v1/login/ first and "
                                 "send the cookie it sets")
        if sent is None:
            raise HttpError(403, f"CSRF verification failed: the form has no {CSRF_FIELD}; send the value of the "
                                 f"{CSRF_COOKIE} cookie in it")
        with self._lock:
            issued = cookie in self._csrf
        if not issued or not hmac.compare_digest(cookie.encode(), sent.encode()):
            raise HttpError(403, f"CSRF verification failed: {CSRF_FIELD} does not match the {CSRF_COOKIE} cookie "
                                 "this server set")
        user, password = form.get("username", ""), form.get("password", "")
        right = hmac.compare_digest(user.encode(), self.user.encode()) & hmac.compare_digest(
            password.encode(), self._password.encode())
        if not right:
            raise HttpError(403, "wrong user name or password")
        session = secrets.token_hex(16)
        fresh = secrets.token_hex(32)  # Django rotates the csrf token at login
        with self._lock:
            self._csrf.discard(cookie)
            self._csrf.add(fresh)
            self._sessions[session] = user
        return [set_cookie(CSRF_COOKIE, fresh, max_age=365 * 86400),
                set_cookie(SESSION_COOKIE, session, http_only=True, max_age=SESSION_MAX_AGE_S)]

    def user_of(self, request: Request) -> str:
        """The logged-in user of the request; 403 when it has no live session."""
        session = request_cookies(request).get(SESSION_COOKIE)
        with self._lock:
            user = self._sessions.get(session) if session else None
        if user is None:
            why = "no sessionid cookie" if not session else "the sessionid is not a live session (logged out?)"
            raise HttpError(403, f"this call needs a logged-in session ({why}): GET, then POST /api/v1/login/")
        return user

    def logout(self, request: Request) -> list[tuple[str, str]]:
        session = request_cookies(request).get(SESSION_COOKIE)
        with self._lock:
            if session:
                self._sessions.pop(session, None)
        return [clear_cookie(SESSION_COOKIE)]
