"""What one check found: a name, OK / WARN / FAIL, what was seen, and the fix for anything not OK."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "OK"
    WARN = "WARN"  # works, but something needs looking at (readings wait, or may be wrong later)
    FAIL = "FAIL"  # sensorkit cannot do its job until this is fixed


@dataclass(frozen=True)
class Check:
    """One line of `sensorkit doctor`. Every WARN and FAIL carries the exact fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status is not Status.OK and not self.fix:
            raise ValueError(f"check {self.name!r} is {self.status.value} without a fix")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "fix": self.fix or None}

    def redacted(self, secrets: Iterable[str]) -> Check:
        """This check with every secret's text replaced by ***, wherever a message quoted it."""
        detail, fix = self.detail, self.fix
        for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
            detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
        return replace(self, detail=detail, fix=fix)


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def split_fix(message: str) -> tuple[str, str]:
    """"what is wrong — how to fix it" (sensorkit's message form) as (what, fix); no dash: (message, message)."""
    what, dash, fix = message.partition(" — ")
    return (what, fix) if dash and fix.strip() else (message, message)
