"""A real MQTT broker for the tests (Debian's `mosquitto`), and an independent subscriber.

`Broker` writes its own mosquitto.conf: a plain and a TLS listener on free
127.0.0.1 ports, persistence in a temp dir (sessions and retained messages
survive a restart), a password file made with `mosquitto_passwd`, no
anonymous access, and a CA and server certificate made with `openssl` (and a
second CA that signed nothing, for the wrong-CA proof). It can be stopped,
started again on the same ports, and frozen (SIGSTOP: it answers nothing).

`Subscriber` is a paho client of the tests' own, user `tester`, with a
persistent session, so it misses nothing while the broker restarts; `sync()`
is a barrier (a marker through the broker), so a test waits for what the
broker took to arrive instead of sleeping.

Where no `mosquitto` binary exists, `AmqttBroker` stands in: amqtt, a broker
in Python that the test extras install (Python >= 3.10), with the same
password and TLS set-up but MQTT 3.1.1 only and no persistence over a
restart. SENSORKIT_TEST_BROKER=mosquitto|amqtt chooses; without either the
fixtures skip, saying why. CI installs mosquitto.
"""
from __future__ import annotations

import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WAIT_S = 60.0  # how long anything may take to happen on a slow, loaded machine
USERS = {"sensorkit": "pw-of-the-device", "tester": "pw-of-the-tests"}
SYNC_TOPIC = "sensorkit-test/sync"
SBIN = "/usr/sbin:/usr/local/sbin:/sbin"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path=SBIN)


def amqtt_command() -> list[str] | None:
    try:
        import amqtt  # noqa: F401 - only whether it is there
    except ImportError:
        return None
    script = shutil.which("amqtt", path=os.path.dirname(sys.executable))
    return [script] if script else None


def broker_kind() -> tuple[str | None, str]:
    """Which broker the tests start ("mosquitto", "amqtt" or None) and, for None, why there is none."""
    wanted = os.environ.get("SENSORKIT_TEST_BROKER", "")
    if shutil.which("openssl") is None:
        return None, "no openssl command to make the test certificates"
    mosquitto = mosquitto_binary() is not None and (
        shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path=SBIN))
    if wanted in ("", "mosquitto") and mosquitto:
        return "mosquitto", ""
    if wanted in ("", "amqtt") and amqtt_command() is not None:
        return "amqtt", ""
    return None, ("no MQTT broker for the tests: install mosquitto (apt-get install mosquitto; .ci/run does) "
                  "or, on Python >= 3.10, the test extras (amqtt)")


def wait_until(condition: Any, what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `condition` until truthy; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------------------ certificates

@dataclass(frozen=True)
class Certs:
    ca: Path  # signed the server's certificate
    server_cert: Path  # CN=localhost, SAN localhost and 127.0.0.1
    server_key: Path
    other_ca: Path  # a CA that signed nothing here


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_certs(directory: Path) -> Certs:
    """Two CAs and a server certificate from the first, as strict clients want them (EC P-256 keys)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "3",
                 "-subj", f"/CN=sensorkit test {name}", *ca_ext, cwd=directory)
    _openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "3", "-extfile", "server.ext", cwd=directory)
    return Certs(directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "other-ca.crt")


# ------------------------------------------------------------------------------------------------ broker

class Broker:
    """A mosquitto process with its own config; `stop()`/`start()` keep the ports and the persisted state."""

    kind = "mosquitto"
    host = "127.0.0.1"
    mqtt5 = True  # speaks MQTT 5
    persistent = True  # sessions and retained messages survive a restart

    def __init__(self, directory: Path, certs: Certs) -> None:
        self.directory = directory
        self.certs = certs
        self.port = free_port()
        self.tls_port = free_port()
        self.users = dict(USERS)
        directory.mkdir(parents=True, exist_ok=True)
        self.log_file = directory / f"{self.kind}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._frozen = False
        self.command = self.configure()

    def configure(self) -> list[str]:
        """Write the broker's files; the command that starts it."""
        directory, certs = self.directory, self.certs
        (directory / "data").mkdir(exist_ok=True)
        passwd = directory / "passwd"
        tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path=SBIN)
        for number, (user, password) in enumerate(self.users.items()):
            create = ["-c"] if number == 0 else []
            subprocess.run([tool, "-b", *create, str(passwd), user, password], check=True, timeout=WAIT_S,
                           capture_output=True)
        self.config_file = directory / "mosquitto.conf"
        self.config_file.write_text(f"""\
# written by tests/sensorkit/mosquitto.py
per_listener_settings false
allow_anonymous false
password_file {passwd}
persistence true
persistence_location {directory / 'data'}/
# saved when the broker stops; that is when the tests restart it
autosave_interval 0
# a subscriber away during a restart gets everything queued for it (not 0, "no limit": with it,
# mosquitto 2.0.11 drops a client's connection when the ACL denies one of its messages)
max_queued_messages 10000000
user {pwd.getpwuid(os.getuid()).pw_name}
log_dest file {self.log_file}
log_type error
log_type warning
log_type notice
log_type information
connection_messages true

listener {self.port} 127.0.0.1

listener {self.tls_port} 127.0.0.1
cafile {certs.ca}
certfile {certs.server_cert}
keyfile {certs.server_key}
""")
        return [mosquitto_binary(), "-c", str(self.config_file)]

    def start(self) -> Broker:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._accepts, f"mosquitto to accept connections on {self.port}:\n{self.log()}")
        return self

    def _accepts(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"mosquitto ended ({self.process.returncode}):\n{self.process.stderr.read().decode()}"
                        f"\n{self.log()}")
        for port in (self.port, self.tls_port):
            try:
                socket.create_connection((self.host, port), timeout=1.0).close()
            except OSError:
                return False
        return True

    def stop(self) -> None:
        """SIGTERM, as `systemctl stop mosquitto` does: it saves its state and ends."""
        if self.process is None:
            return
        if self._frozen:
            self.thaw()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(WAIT_S)
        finally:
            self.process.stderr.close()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def limit(self, acl: str) -> None:
        """Restart with an ACL file (mosquitto's format): what each user may read and write."""
        acl_file = self.directory / "acl"
        acl_file.write_text(acl)
        self.config_file.write_text(self.config_file.read_text().replace(
            "per_listener_settings false\n", f"per_listener_settings false\nacl_file {acl_file}\n"))
        self.restart()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered (a hung broker, a dead link)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self._frozen = False

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"

    def uploader_table(self, *, tls: bool = False, password_file: Path | None = None, **more: Any) -> str:
        """An `[uploader.mqtt]` table for this broker (user sensorkit); `more` adds keys as TOML values."""
        more.setdefault("port", self.tls_port if tls else self.port)
        if not self.mqtt5:  # amqtt does not answer an MQTT 5 CONNECT with a will: it needs to be told
            more.setdefault("protocol", "3.1.1")
        lines = ["[uploader.mqtt]", f'host = "{"localhost" if tls else self.host}"', 'username = "sensorkit"']
        if password_file is not None:
            lines.append(f'password_file = "{password_file}"')
        if tls:
            lines += ["tls = true", f'ca_file = "{self.certs.ca}"']
        lines += [f"{key} = {json.dumps(value) if isinstance(value, str) else _toml(value)}"
                  for key, value in more.items()]
        return "\n".join(lines) + "\n"


class AmqttBroker(Broker):
    """amqtt in a subprocess, where there is no mosquitto: MQTT 3.1.1 only, state kept in memory only."""

    kind = "amqtt"
    mqtt5 = False
    persistent = False

    def configure(self) -> list[str]:
        from pwdlib.hashers.argon2 import Argon2Hasher

        hasher = Argon2Hasher()
        passwd = self.directory / "passwd"
        passwd.write_text("".join(f"{user}:{hasher.hash(pw)}\n" for user, pw in self.users.items()))
        self.config_file = self.directory / "amqtt.yaml"
        self.config_file.write_text(f"""\
# written by tests/sensorkit/mosquitto.py
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:{self.port}
  tls:
    type: tcp
    bind: 127.0.0.1:{self.tls_port}
    ssl: true
    certfile: {self.certs.server_cert}
    keyfile: {self.certs.server_key}
plugins:
  amqtt.plugins.authentication.FileAuthPlugin:
    password_file: {passwd}
""")
        command = amqtt_command()
        assert command is not None
        return [*command, "-c", str(self.config_file)]

    def start(self) -> Broker:
        with self.log_file.open("ab") as log:  # amqtt logs to stderr
            assert self.process is None, "already running"
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log)
        wait_until(self._accepts, f"amqtt to accept connections on {self.port}:\n{self.log()}")
        return self

    def _accepts(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"amqtt ended ({self.process.returncode}):\n{self.log()}")
        for port in (self.port, self.tls_port):
            try:
                socket.create_connection((self.host, port), timeout=1.0).close()
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.process is None:
            return
        if self._frozen:
            self.thaw()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WAIT_S)
        self.process = None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -------------------------------------------------------------------------------------------- subscriber

@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    properties: Any
    dup: bool  # the broker sent it to this subscriber again (its ack was lost in a restart)
    at_ms: int  # when it arrived here (wall clock)

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """The tests' own client, every message kept in arrival order.

    MQTT 3.1.1 with a persistent session by default: mosquitto 2.0.11 keeps
    an MQTT 5 session over a restart but queues nothing for it until the
    client is back, while a 3.1.1 one gets what came meanwhile. `mqtt5`
    sees the properties of messages (no restart then).
    """

    _numbers = itertools.count()

    def __init__(self, broker: Broker, *filters: str, persistent: bool = True, mqtt5: bool = False) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.filters = [*filters, f"{SYNC_TOPIC}/#"]
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._subscribed = threading.Event()
        client_id = f"tester-{uuid.uuid4().hex[:8]}"
        if mqtt5:
            self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        else:
            self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      clean_session=not persistent, protocol=paho.MQTTv311)
        self.client.username_pw_set("tester", broker.users["tester"])
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_disconnect = lambda *args: self._subscribed.clear()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, 60)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT_S), f"the test subscriber could not subscribe:\n{broker.log()}"

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            return
        if flags.session_present:  # the broker kept the subscriptions
            self._subscribed.set()
        else:  # a broker without persistence, after a restart: subscribe again
            client.subscribe([(f, 1) for f in self.filters])

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self._received.append(Received(message.topic, bytes(message.payload), bool(message.retain),
                                           message.properties, bool(message.dup), time.time_ns() // 1_000_000))

    def received(self, topic: str | None = None, *, firsts: bool = False) -> list[Received]:
        """Messages on `topic` (all without); `firsts` leaves out the broker's own re-sends to this client."""
        with self._lock:
            return [m for m in self._received if (topic is None or m.topic == topic) and not (firsts and m.dup)]

    def under(self, prefix: str) -> list[Received]:
        with self._lock:
            return [m for m in self._received if m.topic.startswith(prefix)]

    def wait_connected(self) -> None:
        """Wait until connected and subscribed (again, after a restart)."""
        wait_until(self._subscribed.is_set, "the test subscriber to be connected and subscribed")

    def sync(self) -> None:
        """Wait until everything the broker took before now has arrived here (a marker after it)."""
        marker = f"{SYNC_TOPIC}/{next(self._numbers)}-{uuid.uuid4().hex[:6]}"
        self.wait_connected()
        self.client.publish(marker, b"", qos=1)
        wait_until(lambda: self.received(marker), f"the marker {marker} to come back")

    def readings(self, prefix: str) -> dict[tuple[str, int], Any]:
        """(series, timestamp_ms) -> value of every JSON reading on `<prefix>/<series>`."""
        out = {}
        for message in self.under(prefix + "/"):
            series = message.topic[len(prefix) + 1:]
            if "/" in series or series == "status":
                continue
            doc = message.json()
            out[(series, doc["timestamp_ms"])] = doc["value"]
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Broker, topic_filter: str) -> dict[str, bytes]:
    """What the broker keeps retained under `topic_filter` now, as a client subscribing afresh sees it."""
    viewer = Subscriber(broker, topic_filter, persistent=False)
    try:
        viewer.sync()  # retained messages come at once after the subscription, before the marker
        return {m.topic: m.payload for m in viewer.received() if m.retain and not m.topic.startswith(SYNC_TOPIC)}
    finally:
        viewer.close()


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(name="mqtt_certs", scope="session")
def mqtt_certs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    kind, reason = broker_kind()
    if kind is None:
        pytest.skip(reason)
    return make_certs(tmp_path_factory.mktemp("mqtt-certs"))


@pytest.fixture(name="make_broker")
def make_broker_fixture(tmp_path: Path, mqtt_certs: Certs) -> Iterator[Any]:
    """Starts brokers (stopped again after the test): mosquitto, or amqtt where there is none."""
    brokers: list[Broker] = []
    kind, _ = broker_kind()

    def make() -> Broker:
        cls = AmqttBroker if kind == "amqtt" else Broker
        broker = cls(tmp_path / f"broker{len(brokers)}", mqtt_certs).start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture(name="broker")
def broker_fixture(make_broker: Any) -> Broker:
    return make_broker()


@pytest.fixture(name="cable")
def cable_fixture(broker: Broker) -> Iterator[Any]:
    """A relay in front of `broker` that the test can unplug."""
    from tests.sensorkit.mqtt_cable import Cable

    cable = Cable(broker)
    yield cable
    cable.close()


@pytest.fixture(name="subscribe")
def subscribe_fixture() -> Iterator[Any]:
    """`subscribe(broker, *filters)`: a test subscriber, closed after the test."""
    made: list[Subscriber] = []

    def subscribe(broker: Broker, *filters: str, **options: Any) -> Subscriber:
        subscriber = Subscriber(broker, *filters, **options)
        made.append(subscriber)
        return subscriber

    yield subscribe
    for subscriber in made:
        subscriber.close()
