"""One connection to an MQTT broker: connect, publish a batch pipelined, wait for every acknowledgement.

paho-mqtt (2.x, callback API 2) speaks the protocol and runs the network in
its own thread; this module adds what an uploader needs on top:

* ``connect()`` connects when not connected, bounded by the timeout, and says
  why it could not (``BrokerUnreachable``, ``BrokerRefused``). MQTT 5 first,
  with a session the broker keeps for ``session_expiry_s`` after a drop; a
  broker that answers "unsupported protocol version" gets MQTT 3.1.1 (a
  clean session each time) from then on. paho never reconnects by itself:
  the caller decides when (the uploader does on its next send, so delivery's
  back-off paces reconnects).
* ``publish(tag, message)`` pipelines: it does not wait for the broker,
  except to keep at most the broker's Receive Maximum (and at most
  ``MAX_IN_FLIGHT``) messages unacknowledged. A tagged message is tracked
  (``tracked()``) until ``discard()`` drops it once settled; a tag that is
  tracked, in flight or acknowledged, is not published again.
* ``wait()`` blocks on a condition variable until every tracked message is
  acknowledged (PUBACK at QoS 1, PUBCOMP at QoS 2), the connection breaks
  (``ConnectionLost``) or the broker is silent for the timeout (``AckTimeout``).

Re-sending. Within one client's session paho keeps the messages the broker
has not acknowledged and sends them again after a reconnect (MQTT requires it
at QoS 2, and it is how a QoS 1 message survives a dropped connection). Those
messages are always tracked ones, of the batch that was being sent; ``reset()``
throws the client and its memory away, so the next connection is a fresh
session (clean start) in which nothing is re-sent. The first connection of a
process is always a clean start: the broker may hold a session of an earlier
process whose QoS 2 packet ids would make it drop new messages as duplicates.
"""
from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MQTT5, MQTT311 = 5, 4  # protocol levels as paho numbers them
MAX_IN_FLIGHT = 1000  # unacknowledged messages at most, whatever the broker allows
CLOSE_TIMEOUT_S = 2.0  # a clean stop waits this long for the broker to take the last message

# Reason codes (MQTT 5, section 2.4; 3.1.1 CONNACK codes are mapped onto them by paho).
RC_UNSUPPORTED_PROTOCOL = (0x01, 0x84)  # 3.1.1's "unacceptable protocol version", MQTT 5's
# Bad user name or password, not authorised (mosquitto's answer to a wrong password), bad
# authentication method; 3.1.1's 4 and 5 mean the first two.
RC_CREDENTIALS = (0x04, 0x05, 0x86, 0x87, 0x8C)
RC_SESSION_TAKEN_OVER = 0x8E
RC_PACKET_ID_NOT_FOUND = 0x92  # PUBCOMP after a session loss: the broker had taken it (PUBREC)
RC_PERMANENT = {0x90: "topic name invalid", 0x95: "packet too large", 0x99: "payload format invalid"}

PENDING, DONE, REFUSED = "pending", "done", "refused"


class MqttError(Exception):
    """Root of this module's errors: the message says what happened and what to check."""


class BrokerUnreachable(MqttError):
    """No connection: refused, no such host, no answer, or TLS failed (certificate, protocol)."""


class BrokerRefused(MqttError):
    """The broker answered the CONNECT with an error (bad credentials, not authorised, busy...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ConnectionLost(MqttError):
    """The connection broke before every message was acknowledged."""


class AckTimeout(MqttError):
    """The broker did not acknowledge (or answer the CONNECT) within the timeout."""


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    keepalive_s: int = 60
    timeout_s: float = 30.0
    session_expiry_s: int = 3600
    username: str | None = None
    password: str | None = None  # never logged: see __repr__
    tls: bool = False
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    will: tuple[str, str] | None = None  # (topic, payload), sent retained at QoS 1
    protocol: str = "auto"  # "auto" (5, else 3.1.1 when the broker says so), "5" or "3.1.1"

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"LinkSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r})"

    @property
    def where(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes | str
    qos: int = 1
    retain: bool = False
    properties: Any = None  # paho Properties (MQTT 5 only)


class _Track:
    __slots__ = ("code", "state")

    def __init__(self) -> None:
        self.state = PENDING
        self.code = 0


class Link:
    """A broker connection and its session. Thread-safe; callbacks come from paho's network thread."""

    def __init__(self, settings: LinkSettings, *,
                 on_message: Callable[[str, bytes, bool], None] | None = None) -> None:
        self.settings = settings
        self._on_message = on_message
        self.protocol = MQTT311 if settings.protocol == "3.1.1" else MQTT5
        self._client: Any = None
        self._resumable = False  # the client had a successful CONNACK: reconnect() resumes its session
        self._cond = threading.Condition()
        self._connected = False
        self._connack: tuple[Any, bool, Any] | None = None
        self._lost: str | None = None
        self._receive_maximum = MAX_IN_FLIGHT
        self._tags: dict[Hashable, _Track] = {}
        self._pending = 0  # tracked tags still waiting for their acknowledgement
        self._mids: dict[int, Hashable | None] = {}  # published, unacknowledged: mid -> tag (None: untracked)
        self._early: dict[int, Any] = {}  # acknowledgements that came before their mid was recorded
        self._progress_at = 0.0
        self.session_present = False

    # ------------------------------------------------------------------ connecting
    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    def connect(self) -> bool:
        """Connect unless connected; True when a connection was made now. Raises MqttError."""
        with self._cond:
            if self._connected:
                return False
        if self._client is not None and not self._resumable:
            self._drop_client()
        try:
            self._connect(self.protocol)
        except BrokerRefused as exc:
            if exc.code not in RC_UNSUPPORTED_PROTOCOL or self.protocol != MQTT5 or self.settings.protocol != "auto":
                raise
            log.info("the broker at %s does not speak MQTT 5; using MQTT 3.1.1 (a clean session each time)",
                     self.settings.where)
            self.protocol = MQTT311
            self._drop_client()
            self._connect(MQTT311)
        return True

    def _connect(self, protocol: int) -> None:
        s = self.settings
        fresh = self._client is None
        client = self._new_client(protocol) if fresh else self._client
        if not fresh:
            _stop_network(client)  # the last connection's thread, when it has not quite ended yet
        with self._cond:
            self._connack, self._lost = None, None
        try:
            if fresh:
                properties = None
                if protocol == MQTT5:
                    from paho.mqtt.packettypes import PacketTypes
                    from paho.mqtt.properties import Properties

                    properties = Properties(PacketTypes.CONNECT)
                    properties.SessionExpiryInterval = s.session_expiry_s
                client.connect(s.host, s.port, s.keepalive_s, properties=properties)
            else:
                client.reconnect()
        except (OSError, ssl.CertificateError) as exc:
            raise BrokerUnreachable(f"cannot reach the broker at {s.where}: {describe_os_error(exc, s)}") from None
        self._client = client
        client.loop_start()
        with self._cond:
            done = self._cond.wait_for(lambda: self._connack is not None or self._lost is not None, s.timeout_s)
            connack, lost = self._connack, self._lost
        if connack is not None and not connack[0].is_failure:
            with self._cond:
                self._connected = True
                self._progress_at = time.monotonic()
            self._resumable = True
            self.session_present = connack[1]
            maximum = getattr(connack[2], "ReceiveMaximum", None) if connack[2] is not None else None
            self._receive_maximum = min(MAX_IN_FLIGHT, maximum or MAX_IN_FLIGHT)
            log.info("connected to %s as %s (MQTT %s%s)", s.where, s.client_id, "5" if protocol == MQTT5 else "3.1.1",
                     ", session resumed" if connack[1] else "")
            return
        self._drop_client()
        if connack is not None:
            code = connack[0].value
            raise BrokerRefused(f"the broker at {s.where} refused the connection: {connack[0]}"
                                f"{refusal_hint(code)}", code)
        if not done:
            raise AckTimeout(f"the broker at {s.where} did not answer the connection within {s.timeout_s:g} s")
        raise ConnectionLost(f"the broker at {s.where} closed the connection before accepting it ({lost})")

    def _new_client(self, protocol: int) -> Any:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        s = self.settings
        if protocol == MQTT5:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=paho.MQTTv5,
                                 reconnect_on_failure=False)
        else:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, clean_session=True,
                                 protocol=paho.MQTTv311, reconnect_on_failure=False)
        client.max_inflight_messages_set(0)  # this module keeps the window (paho's is O(n) per ack)
        client.connect_timeout = s.timeout_s
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.client_cert, keyfile=s.client_key,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if s.will is not None:
            client.will_set(s.will[0], s.will[1], qos=1, retain=True)
        client.on_socket_open = _no_delay
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    def reset(self) -> None:
        """Forget the client and its session: nothing it held is sent again; the next connect starts clean."""
        self._drop_client()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._resumable = False
        with self._cond:
            self._connected = False
            self._tags.clear()
            self._mids.clear()
            self._early.clear()
            self._pending = 0
            self._cond.notify_all()
        if client is not None:
            client.on_connect = client.on_disconnect = client.on_publish = client.on_message = None
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - it is being thrown away
                log.debug("disconnecting a dropped client failed", exc_info=True)
            _stop_network(client)

    def close(self, last: Message | None = None) -> None:
        """A clean stop: publish `last` (waiting a moment for the broker to take it), then disconnect."""
        client = self._client
        if client is None:
            return
        if last is not None and self.connected:
            try:
                info = client.publish(last.topic, last.payload, qos=last.qos, retain=last.retain)
                info.wait_for_publish(CLOSE_TIMEOUT_S)
            except (RuntimeError, ValueError):
                log.debug("the last message before disconnecting was not sent", exc_info=True)
        self._drop_client()

    # ------------------------------------------------------------------ paho's callbacks (network thread)
    def _handle_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            if client is self._client:
                self._connack = (reason, bool(flags.session_present), properties)
                self._cond.notify_all()

    def _handle_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            if client is not self._client:
                return
            if getattr(reason, "value", None) == RC_SESSION_TAKEN_OVER:
                why = (f"another client connected with the same client id ({self.settings.client_id}) — give "
                       "each device its own device_id (or client_id) in [uploader.mqtt]")
            elif flags.is_disconnect_packet_from_server:
                why = f"the broker disconnected: {reason}"
            else:
                why = f"the connection broke ({reason})"
            self._connected = False
            self._lost = why
            self._cond.notify_all()
        taken_over = getattr(reason, "value", None) == RC_SESSION_TAKEN_OVER
        log.log(logging.WARNING if taken_over else logging.INFO, "disconnected from %s: %s", self.settings.where, why)

    def _handle_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            if client is not self._client:
                return
            if mid in self._mids:
                self._acknowledged(self._mids.pop(mid), reason)
            else:
                self._early[mid] = reason
            self._progress_at = time.monotonic()
            # Wake a waiter only when what it waits for may have come: the window opened, or all is in.
            if self._pending == 0 or len(self._mids) == self._receive_maximum - 1:
                self._cond.notify_all()

    def _handle_message(self, client: Any, userdata: Any, message: Any) -> None:
        if client is self._client and self._on_message is not None:
            self._on_message(message.topic, message.payload, bool(message.retain))

    def _acknowledged(self, tag: Hashable | None, reason: Any) -> None:
        code = getattr(reason, "value", 0)
        failed = code >= 0x80 and code != RC_PACKET_ID_NOT_FOUND
        track = self._tags.get(tag) if tag is not None else None
        if track is None:
            if failed:
                log.warning("the broker at %s refused a message: %s", self.settings.where, reason)
            return
        if track.state == PENDING:
            self._pending -= 1
        track.state, track.code = (REFUSED if failed else DONE), code

    # ------------------------------------------------------------------ publishing
    def subscribe(self, topic: str, qos: int = 1) -> None:
        if self._client is not None:
            self._client.subscribe(topic, qos)

    def publish(self, tag: Hashable | None, message: Message, *, window: bool = True) -> bool:
        """Publish `message`; False when `tag` is already tracked (in flight, or taken), so not again.

        With `window` it first waits, on the timeout, while the broker holds
        as many unacknowledged messages as it allows (never from a callback).
        """
        client = self._client
        if client is None:
            raise ConnectionLost("not connected")
        with self._cond:
            if tag is not None and tag in self._tags:
                return False
            if window:
                self._await(lambda: len(self._mids) < self._receive_maximum, "take more messages")
        info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain,
                              properties=message.properties)
        with self._cond:
            if tag is not None:
                self._tags[tag] = _Track()
                self._pending += 1
            early = self._early.pop(info.mid, None)
            if early is not None:
                self._acknowledged(tag, early)
            else:
                self._mids[info.mid] = tag
        return True

    def wait(self) -> list[tuple[Hashable, int]]:
        """Wait until every tracked message is acknowledged; the tags the broker refused, with its codes."""
        with self._cond:
            self._await(lambda: self._pending == 0, "acknowledge every message")
            return [(tag, t.code) for tag, t in self._tags.items() if t.state == REFUSED]

    def tracked(self) -> dict[Hashable, str]:
        """Every tracked tag and its state: PENDING, DONE or REFUSED."""
        with self._cond:
            return {tag: track.state for tag, track in self._tags.items()}

    def discard(self, which: Callable[[Hashable, str], bool]) -> None:
        """Stop tracking the settled tags `which(tag, state)` picks (pending ones stay: paho holds them)."""
        with self._cond:
            for tag in [t for t, track in self._tags.items() if track.state != PENDING and which(t, track.state)]:
                del self._tags[tag]

    def _await(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (holding the condition) until `condition`; raise when the connection breaks or goes silent."""
        started = time.monotonic()
        timeout_s = self.settings.timeout_s
        while not condition():
            if not self._connected:
                raise ConnectionLost(f"lost the connection to {self.settings.where}: {self._lost or 'not connected'}")
            silent_since = max(started, self._progress_at)
            left = silent_since + timeout_s - time.monotonic()
            if left <= 0:
                raise AckTimeout(f"the broker at {self.settings.where} did not {what} within {timeout_s:g} s")
            self._cond.wait(left)


def _no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """TCP_NODELAY: with Nagle's algorithm, a small PUBLISH waits for the TCP acknowledgement of the one
    before it, which the broker delays (up to 40 ms on Linux): a window of 20 messages per 40 ms."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket
        pass


def _stop_network(client: Any, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """End paho's network thread without hanging on a broker that stopped answering.

    `loop_stop()` waits until the thread ends, which after a `disconnect()` is
    at once, unless the DISCONNECT cannot be written (a frozen broker); then
    the socket is shut down under it.
    """
    stopper = threading.Thread(target=client.loop_stop, name="mqtt-stop", daemon=True)
    stopper.start()
    stopper.join(timeout_s)
    if stopper.is_alive():
        sock = client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        stopper.join(timeout_s)


def refusal_hint(code: int) -> str:
    if code in RC_CREDENTIALS:
        return (" — check username and password (or password_env / password_file) in [uploader.mqtt], and "
                "that the broker knows this user")
    if code in (0x02, 0x85):
        return " — the broker does not accept this client id: set client_id in [uploader.mqtt]"
    return ""


def describe_os_error(exc: BaseException, settings: LinkSettings) -> str:
    """What a failed connect means, in words that say what to check."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = exc.verify_message or str(exc)
        check = ("ca_file" if settings.ca_file
                 else "that a CA this system trusts signed the broker's certificate (or set ca_file)")
        return (f"its TLS certificate could not be verified ({what}) — check {check}, and that host matches "
                "the name in the broker's certificate")
    if isinstance(exc, ssl.CertificateError):
        return f"its TLS certificate does not match {settings.host} ({exc}) — use the name in the certificate"
    if isinstance(exc, ssl.SSLError):
        hint = " — is port the broker's TLS port (usually 8883)?" if "WRONG_VERSION" in str(exc).upper() else ""
        return f"TLS failed ({exc.reason or exc}){hint}"
    if isinstance(exc, socket.gaierror):
        return f"no such host ({exc.strerror}) — check host"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused — is the broker running, and is port right?"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        hint = " — with tls = true, is port the broker's TLS port (usually 8883)?" if settings.tls else ""
        return f"no answer within {settings.timeout_s:g} s{hint}"
    if isinstance(exc, ConnectionResetError) and settings.tls:
        return "the connection was reset during the TLS handshake — is port the broker's TLS port?"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
