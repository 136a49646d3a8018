"""Fixtures for the application's tests: local cloud emulators on free ports.

`iobeam_server` runs on the system clock, so its tokens are valid for any
client, whatever clock that client keeps. To test expiry without sleeping,
start one with ``make_iobeam_server(clock=fake_clock)``, give the client the
same clock, and ``fake_clock.advance(...)``. `byteport_server` is the same
for Byteport: its namespace, key and login are made up (read them from it).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from sensorkit.emulators.byteport import ByteportEmulator
from sensorkit.emulators.iobeam import IobeamEmulator

MakeIobeamServer = Callable[..., IobeamEmulator]
MakeByteportServer = Callable[..., ByteportEmulator]


@pytest.fixture
def make_iobeam_server() -> Iterator[MakeIobeamServer]:
    """Starts iobeam servers (127.0.0.1, any free port, memory, system clock unless told otherwise); stops them all."""
    started: list[IobeamEmulator] = []

    def make(**options: Any) -> IobeamEmulator:
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", 0)
        server = IobeamEmulator(**options).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def iobeam_server(make_iobeam_server: MakeIobeamServer) -> IobeamEmulator:
    """A started iobeam server: 127.0.0.1, any free port, memory storage, project 1, system clock."""
    return make_iobeam_server()


@pytest.fixture
def make_byteport_server() -> Iterator[MakeByteportServer]:
    """Starts Byteport servers (127.0.0.1, any free port, memory, system clock unless told otherwise); stops them."""
    started: list[ByteportEmulator] = []

    def make(**options: Any) -> ByteportEmulator:
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", 0)
        server = ByteportEmulator(**options).start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def byteport_server(make_byteport_server: MakeByteportServer) -> ByteportEmulator:
    """A started Byteport server: any free port, memory, a made-up namespace, key and login, GET and POST."""
    return make_byteport_server()
