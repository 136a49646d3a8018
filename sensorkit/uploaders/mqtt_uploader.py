"""The MQTT uploader: every reading to `<topic_prefix>/<series>`, the latest to its state topic, and
Home Assistant discovery and availability.

Topics (`<p>` is `topic_prefix`, by default `sensorkit/<device_id>`):

* `<p>/<series>`: every reading, old or new, as `{"value", "unit",
  "timestamp_ms"}` (or the bare value with `payload = "value"`), not retained.
  This is the topic for a consumer that wants every reading.
* `<p>/<series>/state`: the latest reading, retained, for dashboards and Home
  Assistant. It only moves forward: a batch publishes the newest reading of
  each configured series in it, and only when that is newer than the last one
  published and recent (within the entity's `expire_after`). So a backlog
  drained after an outage never rewrites Home Assistant's history with old
  readings stamped as now; the data topic still gets each one.
* `<p>/status`: `online` (retained) once connected; `offline` as the last
  will and on a clean stop (`close()`).

Delivery semantics follow the Uploader contract (DESIGN.md): `send(batch)`
publishes the whole batch pipelined at `qos` (1 or 2) and returns only when
the broker acknowledged every message; otherwise it raises
`TransientUploadError` and the outbox keeps the batch (at least once). A retry
of a batch skips the readings the broker already acknowledged in the try
before, and never sends what the outbox no longer offers (see `mqtt.Link`).

In the state dir it keeps `mqtt_retained.json`: the retained topics it
announced, so that those of a sensor removed from the config (or all
discovery topics, once `homeassistant` is off) are cleared with an empty
retained message, and no ghost entities remain in Home Assistant.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from sensorkit.clock import SystemClock
from sensorkit.errors import ConfigError, PermanentUploadError, TransientUploadError
from sensorkit.readings import Reading
from sensorkit.uploaders import homeassistant as ha
from sensorkit.uploaders.mqtt import MQTT5, PENDING, RC_PERMANENT, REFUSED, Link, LinkSettings, Message, MqttError
from sensorkit.uploaders.settings import UploaderConfig

log = logging.getLogger(__name__)

RETAINED_FILE = "mqtt_retained.json"
READING, STATE, RETAINED = "r", "s", "t"  # tag kinds: a reading, a state update, another retained message


def default_device_id() -> str:
    """This machine's host name, reduced to what topics and Home Assistant ids take."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname().split(".")[0]).strip("-")
    return name[:64] or "sensorkit"


class MqttUploader:
    name = "mqtt"

    def __init__(self, config: UploaderConfig, state_dir: str | os.PathLike[str] | None, *,
                 session: Any = None, clock: Any = None, sensors: Sequence[Any] = (),
                 board: str | None = None) -> None:
        problems = config.spec.table_rule(config.values)
        if problems:  # the config loader checks these too; here for configs built in code
            raise ConfigError("; ".join(f"[uploader.mqtt] key '{k}': {p}" for k, p in problems))
        from sensorkit import __version__

        self.device_id: str = config.get("device_id") or default_device_id()
        self.topic_prefix: str = config.get("topic_prefix") or f"sensorkit/{self.device_id}"
        self.status_topic = f"{self.topic_prefix}/status"
        self.batch_size: int = config["batch_size"]
        self._qos: int = config["qos"]
        self._payload: str = config["payload"]
        self._send_delay_s: float = config["send_delay"]
        self._homeassistant: bool = config["homeassistant"]
        self._discovery_prefix: str = config["discovery_prefix"]
        self._board = board or "unknown"
        self._version = __version__
        self._clock = clock or SystemClock()
        self._series = {info.series: info for info in ha.series_of(sensors)}
        self._last_state_ms: dict[str, int] = {}
        self._retained_file = Path(state_dir) / RETAINED_FILE if state_dir is not None else None
        self._announcing: set[str] | None = None  # the retained topics of an announcement not yet confirmed
        tls = config["tls"]
        secret = config.get("password_file")
        self.settings = LinkSettings(
            host=config["host"], port=config.get("port") or (8883 if tls else 1883),
            client_id=config.get("client_id") or f"sensorkit-{self.device_id}",
            keepalive_s=round(config["keepalive"]), timeout_s=config["timeout"],
            session_expiry_s=round(config["session_expiry"]),
            username=config.get("username"), password=config.get("password") or (secret.secret if secret else None),
            tls=tls, ca_file=config.get("ca_file"), client_cert=config.get("client_cert"),
            client_key=config.get("client_key"), will=(self.status_topic, ha.OFFLINE), protocol=config["protocol"],
        )
        self.link = Link(self.settings, on_message=self._on_message)

    # ------------------------------------------------------------------ topics and payloads
    def data_topic(self, series: str) -> str:
        return f"{self.topic_prefix}/{series}"

    def state_topic(self, series: str) -> str:
        return f"{self.topic_prefix}/{series}/state"

    def _message(self, reading: Reading, *, retain: bool = False) -> Message:
        value = reading.value
        properties = None
        if self._payload == "json":
            payload: bytes = json.dumps({"value": value, "unit": reading.unit, "timestamp_ms": reading.timestamp_ms},
                                        ensure_ascii=False).encode()
        else:
            payload = (str(int(value)) if isinstance(value, bool) else repr(value)).encode()
            if self.link.protocol == MQTT5:  # the timestamp travels beside the bare value
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                properties = Properties(PacketTypes.PUBLISH)
                properties.UserProperty = ("timestamp_ms", str(reading.timestamp_ms))
        topic = self.state_topic(reading.series) if retain else self.data_topic(reading.series)
        return Message(topic, payload, self._qos, retain, properties)

    def discovery(self) -> dict[str, dict[str, Any]]:
        """Home Assistant's config topic -> payload, for every configured series."""
        return {
            ha.config_topic(self._discovery_prefix, self.device_id, info): ha.discovery_payload(
                info, device_id=self.device_id, state_topic=self.state_topic(series), status_topic=self.status_topic,
                payload=self._payload, send_delay_s=self._send_delay_s, board=self._board, version=self._version)
            for series, info in self._series.items()
        }

    def retained_topics(self) -> set[str]:
        """Every retained topic this config publishes, besides the status."""
        topics = {self.state_topic(series) for series in self._series}
        if self._homeassistant:
            topics |= set(self.discovery())
        return topics

    # ------------------------------------------------------------------ sending
    def send(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        link = self.link
        tags = [(READING, r.series, r.timestamp_ms, r.value) for r in batch]
        wanted = set(tags)
        try:
            self._settle_leftovers(wanted)
            if link.connect():
                self._announce()
            for tag, reading in zip(tags, batch):
                link.publish(tag, self._message(reading))
            states = self._state_updates(batch)
            for reading in states:
                link.publish((STATE, reading.series, reading.timestamp_ms), self._message(reading, retain=True))
            refused = link.wait()
        except MqttError as exc:
            raise TransientUploadError(str(exc)) from None  # what was taken stays tracked: not sent again
        if refused:  # those go again when delivery sends them again; the rest of the batch is not resent
            link.discard(lambda tag, state: state == REFUSED or tag[0] != READING)
            self._refused(refused)
        link.discard(lambda tag, state: tag in wanted or tag[0] != READING)
        for reading in states:
            self._last_state_ms[reading.series] = reading.timestamp_ms
        if self._announcing is not None:
            self._remember(self._announcing)
            self._announcing = None

    def _settle_leftovers(self, wanted: set[Hashable]) -> None:
        """Readings left from the last try: adopt them when this batch has them, else forget them.

        Forgetting one still unacknowledged means forgetting paho's session,
        which would send it again on the next reconnect.
        """
        left = {tag: state for tag, state in self.link.tracked().items() if tag[0] == READING}
        if not left:
            return
        if any(state == PENDING and tag not in wanted for tag, state in left.items()):
            log.debug("delivery moved on from the last try: starting a new MQTT session")
            self.link.reset()
        elif not wanted.intersection(left):
            self.link.discard(lambda tag, state: tag[0] == READING)

    def _state_updates(self, batch: Sequence[Reading]) -> list[Reading]:
        """The newest reading of each configured series in `batch`, when newer than the last and recent."""
        newest: dict[str, Reading] = {}
        for reading in batch:
            best = newest.get(reading.series)
            if best is None or reading.timestamp_ms > best.timestamp_ms:
                newest[reading.series] = reading
        now_ms = self._clock.time_ms()
        out = []
        for series, reading in newest.items():
            info = self._series.get(series)
            if info is None or reading.timestamp_ms <= self._last_state_ms.get(series, -1):
                continue
            if reading.timestamp_ms >= now_ms - 1000 * ha.expire_after_s(info, self._send_delay_s):
                out.append(reading)
        return out

    def _refused(self, refused: list[tuple[Hashable, int]]) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.reasoncodes import ReasonCode

        tag, code = refused[0]
        why = ReasonCode(PacketTypes.PUBACK, identifier=code).getName() if code else "refused"
        what = f"{tag[1]} taken at {tag[2]} ms" if tag[0] == READING else "a message"
        if all(c in RC_PERMANENT for _, c in refused):
            raise PermanentUploadError(f"the broker refused {len(refused)} message(s) ({what}): {why}")
        raise TransientUploadError(f"the broker refused {len(refused)} message(s) ({what}): {why} — check that "
                                   f"the broker lets user {self.settings.username or '(anonymous)'} publish to "
                                   f"{self.topic_prefix}/#")

    # ------------------------------------------------------------------ announcing
    def _announce(self) -> None:
        """After each connect: online, the subscription to Home Assistant's status, discovery, stale clears."""
        link = self.link
        link.publish(None, Message(self.status_topic, ha.ONLINE, 1, True))
        current = self.retained_topics()
        for topic in sorted(self._remembered() - current):  # sensors removed from the config
            link.publish((RETAINED, topic), Message(topic, b"", 1, True))
        if self._homeassistant:
            link.subscribe(f"{self._discovery_prefix}/status", 1)
            self._publish_discovery()
        self._announcing = current

    def _publish_discovery(self, *, from_callback: bool = False) -> None:
        for topic, payload in self.discovery().items():
            message = Message(topic, json.dumps(payload, ensure_ascii=False).encode(), 1, True)
            if from_callback:
                self.link.publish(None, message, window=False)
            else:
                self.link.publish((RETAINED, topic), message)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        # Home Assistant says `online` when it (re)starts: announce again. A retained copy is old news.
        if topic == f"{self._discovery_prefix}/status" and payload.strip() == b"online" and not retained:
            log.info("Home Assistant restarted: announcing %d series again", len(self._series))
            try:
                self._publish_discovery(from_callback=True)
            except MqttError as exc:
                log.info("could not announce again: %s", exc)

    def _remembered(self) -> set[str]:
        if self._retained_file is None:
            return set()
        try:
            data = json.loads(self._retained_file.read_text(encoding="utf-8"))
            return {t for t in data["retained"] if isinstance(t, str)}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring %s: it is not what this uploader wrote", self._retained_file)
            return set()

    def _remember(self, topics: set[str]) -> None:
        if self._retained_file is None or topics == self._remembered():
            return
        partial = self._retained_file.with_name(self._retained_file.name + ".partial")
        try:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"retained": sorted(topics)}, indent=1) + "\n", encoding="utf-8")
            os.replace(partial, self._retained_file)
        except OSError as exc:
            log.warning("could not keep the announced topics in %s: %s", self._retained_file, exc.strerror)

    # ------------------------------------------------------------------ stopping
    def close(self) -> None:
        """A clean stop: `offline` on the status topic, then disconnect."""
        self.link.close(Message(self.status_topic, ha.OFFLINE, 1, True))
