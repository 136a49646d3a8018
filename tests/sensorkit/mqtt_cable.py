"""A TCP relay in front of a test broker that a test can unplug, drop packets in, or make old.

With it the MQTT tests make the network fail the ways a Pi's does: a link
that goes quiet (`drop()`: what is sent is lost), one that goes away
(`cut()`, `unplug()`), and a broker that only speaks MQTT 3.1.1
(`refuse_mqtt5`: it answers an MQTT 5 CONNECT as such brokers do).
"""
from __future__ import annotations

import socket
import threading
from typing import Any

WAIT_S = 60.0


class Cable:
    """A TCP relay in front of the broker that a test can unplug, like a Wi-Fi link that goes away.

    `drop()`: from now on nothing gets through either way (what the client
    sends is lost, as on a dead link); `cut()`: every connection through it
    is closed, and new ones get through again.
    """

    def __init__(self, broker: Any, *, refuse_mqtt5: bool = False) -> None:
        self.broker = broker
        self.refuse_mqtt5 = refuse_mqtt5  # answer an MQTT 5 CONNECT as a 3.1.1-only broker does
        self.port = 0
        self._dropping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.plug()

    def plug(self) -> None:
        """Listen (again, on the same port)."""
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.server,), name="cable", daemon=True).start()

    def unplug(self) -> None:
        """Cut every connection and stop listening: connecting is refused, as with no broker at all."""
        self.server.close()
        self.cut()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                first = _read_packet(client)
                if self.refuse_mqtt5 and _protocol_level(first) == 5:
                    # MQTT 3.1.1, 3.1: "unacceptable protocol version" (0x01), then disconnect
                    client.sendall(b"\x20\x02\x00\x01")
                    client.close()
                    continue
                upstream = socket.create_connection((self.broker.host, self.broker.port), timeout=WAIT_S)
                upstream.sendall(first)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self._dropping.is_set():
                    target.sendall(data)
        except OSError:
            pass
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self) -> None:
        self._dropping.set()

    def cut(self) -> None:
        with self._lock:
            ends, self._sockets = self._sockets, []
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()
        self._dropping.clear()

    def close(self) -> None:
        self.server.close()
        self.cut()


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_packet(sock: socket.socket) -> bytes:
    """One whole MQTT control packet: fixed header, variable-length remaining length, the rest."""
    header = _read_exactly(sock, 1)
    length, shift = 0, 0
    while True:
        byte = _read_exactly(sock, 1)
        header += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return header + _read_exactly(sock, length)


def _protocol_level(connect: bytes) -> int | None:
    """The protocol level of a CONNECT packet (4: 3.1.1, 5: MQTT 5), None for another packet."""
    if connect[0] >> 4 != 1:
        return None
    start = 1
    while connect[start] & 0x80:
        start += 1
    start += 1  # past the remaining length
    name_length = int.from_bytes(connect[start:start + 2], "big")
    return connect[start + 2 + name_length]
