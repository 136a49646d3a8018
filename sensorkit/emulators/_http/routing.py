"""Maps (method, path pattern) to the function that answers it."""
from __future__ import annotations

import re
from typing import Callable
from urllib.parse import unquote

from sensorkit.emulators._http.messages import HttpError, Request, Response

Route = Callable[[Request, dict[str, str]], Response]


class Router:
    """Maps (method, path pattern) to routes; 404 for an unknown path, 405 (with Allow) for a wrong method."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], str, Route]] = []

    def add(self, method: str, pattern: str, route: Route) -> None:
        """`pattern` must match the whole path; its named groups reach the route percent-decoded."""
        self._routes.append((re.compile(pattern), method.upper(), route))

    def __call__(self, request: Request) -> Response:
        allowed = set()
        for pattern, method, route in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return route(request, {k: unquote(v) for k, v in match.groupdict().items()})
            allowed.add(method)
        if allowed:
            allow = ", ".join(sorted(allowed))
            raise HttpError(405, f"{request.method} is not allowed on {request.path}; use {allow}",
                            headers={"Allow": allow})
        raise HttpError(404, f"no such endpoint: {request.path}")
