"""The MQTT proofs, end to end: `sensorkit run` in a subprocess against a real mosquitto.

As the outbox proofs do for iobeam (their machinery is reused: `Run`, the
kill point, the copy of a killed run's outbox), with the broker as the
server and an independent subscriber as the witness of what arrived. The
tests wait for things to happen (readings printed, messages arrived, a
barrier through the broker), never for time to pass, except where a random
moment to kill at is the point.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import time
from functools import partial
from pathlib import Path
from typing import Any

from sensorkit.outbox import Outbox
from sensorkit.outbox.status import read_status
from sensorkit.readings import Reading
from sensorkit.uploaders.homeassistant import EXPIRE_INTERVALS
from tests.sensorkit.mosquitto import (  # noqa: F401 - fixtures
    Broker,
    broker_fixture,
    cable_fixture,
    make_broker_fixture,
    mqtt_certs_fixture,
    retained,
    subscribe_fixture,
    wait_until,
)
from tests.sensorkit.test_cli import sensorkit, write
from tests.sensorkit.test_outbox_proofs import (
    FAST_SENSORS,
    KILLS_PER_KIND,
    Key,
    Run,
    committed_at_kill,
    missing,
    sensor,
    state_dir,
)

PREFIX = "sensorkit/pi"
class _NoCloud:
    """What `Run` asks of a cloud: a variable to set. MQTT's password comes from a file, so it sets an unused one."""

    secret_env, secret = "SENSORKIT_UNUSED_SECRET", "unused"


UNUSED = _NoCloud()


def mqtt_config(workdir: Path, broker: Broker, sensors: str, *, uploader: str = "", outbox: str = "",
                password: str | None = None, tls: bool = False, ca: Path | None = None, **keys: Any) -> Path:
    secret = write(workdir / "mqtt-password", (password or broker.users["sensorkit"]) + "\n")
    secret.chmod(0o600)
    table = broker.uploader_table(tls=tls, password_file=secret, device_id="pi", homeassistant=True,
                                  send_delay="50ms", min_backoff="50ms", max_backoff="1s", **keys)
    if ca is not None:
        table = table.replace(str(broker.certs.ca), str(ca))
    return write(workdir / "sensorkit.toml", f'[device]\nboard = "simulated"\n\n{sensors}{table}{uploader}\n'
                                             f"[outbox]\n{outbox}\n")


def printed(stdout: str) -> dict[Key, Any]:
    return {(r["series"], r["timestamp_ms"]): r["value"] for r in map(json.loads, stdout.splitlines())}


def waiting(workdir: Path) -> int:
    return read_status(state_dir(workdir) / "outbox.sqlite").uploader("mqtt").waiting


# ------------------------------------------------------------------------------------------------- done

def test_run_delivers_every_printed_reading_with_discovery_and_availability(broker, subscribe, tmp_path):
    """The issue's "done": the demo's kind of sensors seen by a subscriber, announced and available."""
    subscriber = subscribe(broker, "sensorkit/#", "homeassistant/#")
    sensors = (sensor("air", "sht3x", "200ms")
               + sensor("door", "gpio_input", "100ms", pin='"GPIO17"', series='{ state = "door" }'))
    config = mqtt_config(tmp_path, broker, sensors)
    result = sensorkit("run", "--simulate", "-c", str(config), "--duration", "2", "--output", "jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    subscriber.sync()
    taken = printed(result.stdout)
    assert {series for series, _ in taken} == {"air_temperature", "air_humidity", "door"}
    assert subscriber.readings(PREFIX) == taken, "every printed reading arrived, with its value and timestamp"
    units = {m.topic.rsplit("/", 1)[1]: m.json()["unit"] for m in subscriber.under(PREFIX + "/") if
             m.topic.count("/") == 2 and not m.topic.endswith("/status")}
    assert units == {"air_temperature": "°C", "air_humidity": "%RH", "door": ""}
    assert [m.payload for m in subscriber.received(PREFIX + "/status")][-2:] == [b"online", b"offline"]
    kept = retained(broker, "#")
    assert kept[PREFIX + "/status"] == b"offline", "a clean stop says so"
    configs = {t: json.loads(p) for t, p in kept.items() if t.startswith("homeassistant/")}
    assert set(configs) == {"homeassistant/sensor/pi/air_temperature/config",
                            "homeassistant/sensor/pi/air_humidity/config",
                            "homeassistant/binary_sensor/pi/door/config"}
    for doc in configs.values():
        assert doc["state_topic"] in kept and doc["availability"][0]["topic"] == PREFIX + "/status"
        assert doc["device"]["model"] == "simulated"
    newest = max(ms for series, ms in taken if series == "door")
    assert json.loads(kept[PREFIX + "/door/state"])["timestamp_ms"] == newest

    # The door sensor leaves the config: its entity leaves Home Assistant.
    config = mqtt_config(tmp_path, broker, sensor("air", "sht3x", "200ms"))
    again = sensorkit("run", "--simulate", "-c", str(config), "--duration", "1", "--output", "none", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    kept = retained(broker, "#")
    assert "homeassistant/binary_sensor/pi/door/config" not in kept and PREFIX + "/door/state" not in kept
    assert "homeassistant/sensor/pi/air_temperature/config" in kept


# ----------------------------------------------------------------------------------------------- outage

OUTAGE_READINGS = 1500  # taken while the broker is down: ~10 s of these sensors, 10 minutes of the demo's


def test_outage_the_broker_stops_and_comes_back_nothing_is_lost(broker, cable, subscribe, tmp_path):
    """The broker is stopped and started again while `run` samples; every reading arrives, in order."""
    subscriber = subscribe(broker, "sensorkit/#")
    # A broker that forgets sessions in a restart (amqtt) would not queue for the test's subscriber
    # until it is back: there the run reaches it through a cable that is plugged in after that.
    port = broker.port if broker.persistent else cable.port
    config = mqtt_config(tmp_path, broker, FAST_SENSORS, uploader="batch_size = 100", port=port)
    run = Run(tmp_path, config, UNUSED)
    wait_until(lambda: len(subscriber.readings(PREFIX)) >= 100, "the first readings at the subscriber")

    if not broker.persistent:
        cable.unplug()
    broker.stop()
    down_from = len(run.readings)
    wait_until(lambda: run.printed(down_from + OUTAGE_READINGS), "readings taken while the broker is down")
    broker.start()
    if not broker.persistent:
        subscriber.wait_connected()
        cable.plug()
    up_at = run.readings[-1]["timestamp_ms"]
    wait_until(lambda: any(ms > up_at for _, ms in subscriber.readings(PREFIX)), "delivery after the outage")
    assert run.stop() == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot reach the broker" in run.stderr and "connection refused" in run.stderr, "the outage is told"

    subscriber.sync()
    taken = run.keys()
    assert subscriber.readings(PREFIX) == taken, "every reading taken arrived, with its value, and nothing else"
    arrivals = [m.json()["timestamp_ms"] for m in subscriber.received(PREFIX + "/door", firsts=True)]
    repeats = len(arrivals) - len(set(arrivals))
    assert repeats <= 100, f"{repeats} readings arrived twice: more than the one batch in flight"
    firsts = list(dict.fromkeys(arrivals))
    assert firsts == sorted(firsts), "a series arrived out of order"


# ------------------------------------------------------------------------------------------------ crash

def test_crash_kill_9_at_random_moments_loses_nothing_committed(broker, cable, subscribe, tmp_path):
    """kill -9 at random moments, while a send waits for the broker, inside commits; each restart delivers.

    The run reaches the broker through a cable the test unplugs for the kills in a send: what the run
    sends then is lost on the way, so a run that counted a batch as delivered before the broker said
    so would lose it.
    """
    seed = int(os.environ.get("SENSORKIT_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    why = f"(reproduce with SENSORKIT_CRASH_SEED={seed})"
    subscriber = subscribe(broker, "sensorkit/#")
    config = mqtt_config(tmp_path, broker, FAST_SENSORS, uploader="batch_size = 50",
                         outbox='commit_interval = "100ms"', port=cable.port)
    window_ms = 100 + 1500  # commit_interval, plus a loaded machine's lateness
    kinds = ["random"] * KILLS_PER_KIND + ["mid-send"] * KILLS_PER_KIND + ["mid-commit"] * KILLS_PER_KIND
    rng.shuffle(kinds)
    kinds[0] = "mid-commit"  # the first run creates the file: die while it does
    committed: dict[Key, Any] = {}
    taken: dict[Key, Any] = {}
    for number, kind in enumerate(kinds):
        kill_at = (2 if number == 0 else rng.randint(3, 150)) if kind == "mid-commit" else None
        run = Run(tmp_path, config, UNUSED, kill_at=kill_at)
        if kind == "random":
            wait_until(partial(run.printed, 1), f"run {number} to start {why}")
            time.sleep(rng.uniform(0.05, 2.0))  # the random moment is the point here
            run.kill()
        elif kind == "mid-send":
            wait_until(partial(run.printed, rng.randint(1, 200)), f"run {number} to sample {why}")
            cable.drop()  # sends now go nowhere, and wait for acknowledgements that do not come
            try:
                # Killed once what was sent into the void is older than the window, so it counts as
                # committed below: it must still be in the outbox.
                until_ms = time.time_ns() // 1_000_000 + window_ms + rng.randint(200, 1000)
                wait_until(lambda: run.printed(1) and run.readings[-1]["timestamp_ms"] > until_ms,  # noqa: B023
                           f"run {number} to go on sampling {why}")
                run.kill()
                run.wait()
            finally:
                cable.cut()
        code = run.wait()
        assert code == -signal.SIGKILL, f"run {number} ({kind}) ended {code} {why}:\n{run.stderr}"
        if kind == "mid-commit":
            said = re.search(r"kill point: SIGKILL at (\d+) ms inside a transaction", run.stderr)
            assert said, f"run {number} {why}: {run.stderr}"
            run.ended_ms = int(said.group(1))
        subscriber.sync()  # what the broker took before the kill has arrived
        now = committed_at_kill(tmp_path, tmp_path / "copy", "mqtt")
        now.update(subscriber.readings(PREFIX))
        old_enough = {k: v for k, v in run.keys().items() if k[1] < run.ended_ms - window_ms}
        assert not missing(old_enough, now), f"run {number} ({kind}) lost committed readings {why}"
        committed.update(now)
        taken.update(run.keys())
    if broker.kind == "mosquitto":  # amqtt 0.12 did not always end with the will as the retained status
        wait_until(lambda: retained(broker, PREFIX + "/status") == {PREFIX + "/status": b"offline"},
                   "the broker to publish the last will of the killed run")

    last = Run(tmp_path, config, UNUSED)
    wait_until(lambda: not missing(committed, subscriber.readings(PREFIX)), f"the backlog to arrive {why}")
    more = len(last.readings) + 10
    wait_until(lambda: last.printed(more), "a few more readings")
    assert last.stop() == 0, last.stderr
    subscriber.sync()
    taken.update(last.keys())
    arrived = subscriber.readings(PREFIX)
    assert not missing(committed, arrived), f"committed before a kill, never delivered {why}"
    assert not missing(last.keys(), arrived), "a graceful stop delivers what it took"
    assert not missing(arrived, taken), "the subscriber has readings nobody took"
    assert all(arrived[key] == taken[key] for key in arrived)


# -------------------------------------------------------------------------------------- refused access

def test_wrong_credentials_are_reported_and_nothing_is_dropped(broker, subscribe, tmp_path):
    subscriber = subscribe(broker, "sensorkit/#")
    config = mqtt_config(tmp_path, broker, FAST_SENSORS, password="a-wrong-password")
    wrong = sensorkit("run", "--simulate", "-c", str(config), "--duration", "1.5", "--output", "jsonl",
                      cwd=tmp_path)
    assert wrong.returncode == 0, wrong.stderr
    assert re.search(r"refused the connection: (Not authorized|Bad user name or password) — check username and "
                     "password", wrong.stderr), wrong.stderr
    assert "a-wrong-password" not in wrong.stderr and "Traceback" not in wrong.stderr
    assert "still waiting in the outbox" in wrong.stderr
    held = printed(wrong.stdout)
    assert waiting(tmp_path) == len(held) > 0, "every reading waits"

    config = mqtt_config(tmp_path, broker, FAST_SENSORS)  # the password fixed
    fixed = sensorkit("run", "--simulate", "-c", str(config), "--duration", "1.5", "--output", "jsonl",
                      cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    subscriber.sync()
    assert subscriber.readings(PREFIX) == {**held, **printed(fixed.stdout)}
    assert waiting(tmp_path) == 0


def test_tls_with_a_wrong_ca_is_refused_and_the_readings_wait(broker, tmp_path):
    config = mqtt_config(tmp_path, broker, FAST_SENSORS, tls=True, ca=broker.certs.other_ca)
    result = sensorkit("run", "--simulate", "-c", str(config), "--duration", "1.5", "--output", "jsonl",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"its TLS certificate could not be verified \((self-signed certificate in certificate chain|"
                     r"unable to get local issuer certificate)\)", result.stderr), result.stderr
    assert "check ca_file" in result.stderr
    assert waiting(tmp_path) == len(printed(result.stdout)) > 0
    assert retained(broker, "sensorkit/#") == {}, "nothing got through"


# ---------------------------------------------------------------------------------------------- backlog

def test_backlog_drain_never_moves_the_state_topic_back_in_time(broker, subscribe, tmp_path):
    """An hour of readings waits in the outbox; the run drains it: every one goes to the data topic, while
    the state topic only ever moves forward, and never shows a reading older than a few intervals."""
    subscriber = subscribe(broker, "sensorkit/#")
    interval_s = 1.0
    sensors = (sensor("air", "sht3x", "1s")
               + sensor("door", "gpio_input", "1s", pin='"GPIO17"', series='{ state = "door" }'))
    config = mqtt_config(tmp_path, broker, sensors)
    now_ms = time.time_ns() // 1_000_000
    backlog = []
    for i in range(3600):  # an hour at 1 s, the last reading a moment ago
        t = now_ms - (3600 - i) * 1000
        backlog += [Reading("air_temperature", "air", "temperature", 20 + i % 50 / 10, "°C", t),
                    Reading("air_humidity", "air", "humidity", 50 + i % 30 / 10, "%RH", t),
                    Reading("door", "door", "state", i % 2, "", t)]
    state_dir(tmp_path).mkdir(parents=True)
    with Outbox(state_dir(tmp_path) / "outbox.sqlite", ["mqtt"]) as outbox:
        outbox.add(backlog)
        outbox.commit(sync=True)
    run = Run(tmp_path, config, UNUSED)
    wanted = {(r.series, r.timestamp_ms): r.value for r in backlog}
    wait_until(lambda: not missing(wanted, subscriber.readings(PREFIX)), "the backlog to arrive")
    more = len(run.readings) + 6
    wait_until(lambda: run.printed(more), "a few live readings")
    assert run.stop() == 0, run.stderr
    subscriber.sync()
    assert not missing(run.keys(), subscriber.readings(PREFIX))
    expire_ms = 1000 * (EXPIRE_INTERVALS * interval_s + 0.05 + 10)
    for series in ("air_temperature", "air_humidity", "door"):
        states = subscriber.received(f"{PREFIX}/{series}/state", firsts=True)
        stamps = [m.json()["timestamp_ms"] for m in states]
        assert stamps and stamps == sorted(set(stamps)), f"{series}: the state went back in time: {stamps}"
        assert all(m.at_ms - m.json()["timestamp_ms"] <= expire_ms for m in states), \
            f"{series}: an old reading was shown as the current state"
