"""[uploader.mqtt]: its keys as the config loader checks them, and the rules across keys."""
from __future__ import annotations

import socket
import textwrap

import pytest

from sensorkit.config import parse_config
from sensorkit.errors import ConfigError
from sensorkit.uploaders import build_uploader
from sensorkit.uploaders.mqtt_uploader import default_device_id
from sensorkit.uploaders.settings import MQTT, FileSecret, UploaderConfig

SENSOR = '[[sensor]]\nname = "air"\ndriver = "sht3x"\n\n'


def parse(table: str, environ=None):
    return parse_config(SENSOR + "[uploader.mqtt]\n" + textwrap.dedent(table), "conf.toml", environ or {})


def problems_of(table: str, environ=None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(table, environ)
    return "\n".join(info.value.problems)


def test_mqtt_table_defaults():
    mqtt = parse('host = "broker.local"\n').uploader("mqtt")
    assert mqtt["host"] == "broker.local" and mqtt.get("port") is None
    assert (mqtt["qos"], mqtt["payload"], mqtt["tls"], mqtt["homeassistant"]) == (1, "json", False, False)
    assert (mqtt["keepalive"], mqtt["timeout"], mqtt["session_expiry"]) == (60.0, 30.0, 3600.0)
    assert mqtt["discovery_prefix"] == "homeassistant" and mqtt["batch_size"] == 1000
    uploader = build_uploader(mqtt, None)
    assert uploader.settings.port == 1883 and uploader.settings.client_id == f"sensorkit-{default_device_id()}"
    assert uploader.topic_prefix == f"sensorkit/{default_device_id()}"
    assert uploader.status_topic == uploader.topic_prefix + "/status"


def test_mqtt_tls_defaults_to_port_8883_and_ids_follow_the_device_id(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    mqtt = parse(f'host = "h"\ntls = true\nca_file = "{ca}"\ndevice_id = "shed-2"\n').uploader("mqtt")
    uploader = build_uploader(mqtt, None)
    assert uploader.settings.port == 8883 and uploader.settings.ca_file == str(ca)
    assert (uploader.settings.client_id, uploader.topic_prefix) == ("sensorkit-shed-2", "sensorkit/shed-2")


def test_mqtt_qos_0_is_refused_with_the_reason():
    assert "key 'qos': must be at least 1, got an integer (0) (1 or 2: QoS 0 is refused, because a message " \
           "it loses is lost for good)" in problems_of('host = "h"\nqos = 0\n')
    assert "must be at most 2" in problems_of('host = "h"\nqos = 3\n')
    assert parse('host = "h"\nqos = 2\n').uploader("mqtt")["qos"] == 2


@pytest.mark.parametrize(("line", "fragment"), [
    ('topic_prefix = "home/+/pi"', "may not hold the wildcards"),
    ('topic_prefix = "home/pi/"', "may not start or end with '/'"),
    ('topic_prefix = "$SYS/pi"', "may not start with '$'"),
    ('discovery_prefix = "ha//x"', "empty level"),
    ('payload = "csv"', "must be one of 'json', 'value'"),
    ('device_id = "pi 4"', "only letters, digits"),
    ('ca_file = "/nonexistent/ca.crt"\ntls = true', "there is no file '/nonexistent/ca.crt'"),
    ('keepalive = "1s"', "must be at least 5s"),
])
def test_mqtt_bad_values_say_what_is_wrong(line, fragment):
    assert fragment in problems_of(f'host = "h"\n{line}\n')


def test_mqtt_host_is_a_host_alone():
    assert "a host name or address alone" in problems_of('host = "mqtt://broker:1883"\n')
    assert parse('host = " 10.0.0.2 "\n').uploader("mqtt")["host"] == "10.0.0.2"


def test_mqtt_host_is_required():
    assert "[uploader.mqtt] key 'host': missing" in problems_of('port = 1883\n')


def test_mqtt_password_from_a_file_shows_only_the_path(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter2  \nsecond line ignored\n")
    mqtt = parse(f'host = "h"\nusername = "u"\npassword_file = "{secret}"\n').uploader("mqtt")
    assert mqtt["password_file"] == FileSecret(str(secret), "hunter2")
    assert "hunter2" not in repr(mqtt) and str(secret) in repr(mqtt)
    assert build_uploader(mqtt, None).settings.password == "hunter2"
    assert "hunter2" not in repr(build_uploader(mqtt, None).settings)


def test_mqtt_password_file_problems(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "is empty: write the secret on its first line" in problems_of(
        f'host = "h"\nusername = "u"\npassword_file = "{empty}"\n')
    assert "is not a file" in problems_of(f'host = "h"\nusername = "u"\npassword_file = "{tmp_path}"\n')


def test_mqtt_password_from_the_environment():
    mqtt = parse('host = "h"\nusername = "u"\npassword_env = "MQTT_PW"\n', {"MQTT_PW": "s3cret"}).uploader("mqtt")
    assert mqtt["password"] == "s3cret" and "s3cret" not in repr(mqtt)


def test_mqtt_series_named_status_is_refused():
    text = SENSOR.replace('driver = "sht3x"', 'driver = "sht3x"\nseries = { temperature = "status" }')
    with pytest.raises(ConfigError, match="'status' is reserved by the MQTT uploader"):
        parse_config(text + '[uploader.mqtt]\nhost = "h"\n', "conf.toml", {})


# The rules across keys: the loader calls `table_rule` on the table as written; the uploader checks
# them again, for tables built in code.
@pytest.mark.parametrize(("table", "key", "fragment"), [
    ({"password": "a", "password_file": "b", "username": "u"}, "password_file", "give at most one of"),
    ({"password": "a"}, "password", "a password needs a username"),
    ({"client_key": "k", "client_cert": "c", "tls": True}, None, None),
    ({"client_key": "k", "tls": True}, "client_key", "needs its certificate"),
    ({"ca_file": "ca.crt"}, "ca_file", "is used only with tls = true"),
    ({"ca_file": "ca.crt", "tls": False}, "ca_file", "is used only with tls = true"),
])
def test_mqtt_rules_across_keys(table, key, fragment):
    problems = MQTT.table_rule({"host": "h", **table})
    if key is None:
        assert problems == []
    else:
        [(where, message)] = problems
        assert where == key and fragment in message


def test_mqtt_uploader_built_in_code_checks_the_rules_too():
    values = {k.name: k.default for k in MQTT.keys if k.default is not None}
    values.update(host="h", password="pw")
    with pytest.raises(ConfigError, match="a password needs a username"):
        build_uploader(UploaderConfig("mqtt", values), None)


def test_mqtt_default_device_id_is_the_host_name_made_safe(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "green.house.local")
    assert default_device_id() == "green"
    monkeypatch.setattr(socket, "gethostname", lambda: "Pi 4 (attic)")
    assert default_device_id() == "Pi-4-attic"
    monkeypatch.setattr(socket, "gethostname", lambda: "...")
    assert default_device_id() == "sensorkit"


def test_the_mqtt_example_config_loads():
    from pathlib import Path

    from sensorkit.config import load_config

    example = Path(__file__).resolve().parents[3] / "examples" / "mqtt.toml"
    config = load_config(str(example), environ={})
    [mqtt] = config.enabled_uploaders
    assert (mqtt.name, mqtt["host"], mqtt["homeassistant"], mqtt["device_id"]) == ("mqtt", "localhost", True,
                                                                                  "greenhouse-pi")
