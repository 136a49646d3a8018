"""The shared HTTP layer: what a session takes from the environment, once, and how bodies are encoded."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorkit.uploaders import http, iobeam

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                   "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")
PROXY_TIMESTAMP = 42  # what the fake proxy answers, so a test can tell it from the real server


@pytest.fixture
def clean_environment(monkeypatch):
    """No proxy, CA bundle or netrc variables, and no session made before the test changed them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    http.close_sessions()
    yield monkeypatch
    http.close_sessions()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        payload = json.dumps({"server_timestamp": PROXY_TIMESTAMP}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    """A forward proxy that answers every request itself and keeps the request target it was asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(server):
    return iobeam.Iobeam(None, server.project_id, server.project_token, backend=server.url, deviceId="d")


# --------------------------------------------------------------------------- the environment


def test_session_without_proxy_variables_does_not_look_at_the_environment_per_request(clean_environment,
                                                                                       iobeam_server):
    session = http.session_for(iobeam_server.url + "/v1/")
    assert session.trust_env is False
    assert session.proxies == {}
    assert session.verify is True
    assert client(iobeam_server).get_timestamp() != PROXY_TIMESTAMP  # the real server answered


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_session_goes_through_the_proxy_the_environment_names(clean_environment, iobeam_server, proxy, variable):
    clean_environment.setenv(variable, f"http://127.0.0.1:{proxy.server_port}")
    assert client(iobeam_server).get_timestamp() == PROXY_TIMESTAMP
    target, authorization = proxy.seen[0]
    assert target == f"{iobeam_server.url}/v1/devices/timestamp"  # an absolute URI: a proxy request
    assert authorization == f"Bearer {iobeam_server.project_token}"
    assert iobeam_server.requests == []


def test_session_ignores_the_proxy_of_another_scheme(clean_environment, iobeam_server, proxy):
    clean_environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    assert client(iobeam_server).get_timestamp() != PROXY_TIMESTAMP
    assert proxy.seen == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_session_goes_direct_to_a_host_no_proxy_names(clean_environment, iobeam_server, proxy, no_proxy):
    clean_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    clean_environment.setenv("NO_PROXY", no_proxy)
    assert client(iobeam_server).get_timestamp() != PROXY_TIMESTAMP
    assert proxy.seen == []
    assert http.session_for(iobeam_server.url + "/v1/").trust_env is False


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_session_verifies_tls_with_the_ca_bundle_the_environment_names(clean_environment, tmp_path, variable):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    clean_environment.setenv(variable, str(bundle))
    assert http.session_for("https://iobeam.example.org/v1/").verify == str(bundle)


def test_session_does_not_let_a_netrc_replace_the_bearer_token(clean_environment, iobeam_server, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    c = client(iobeam_server)
    assert c.get_timestamp() > 0  # requests' trust_env would have sent Basic auth from the netrc: a 403


# --------------------------------------------------------------------------- JSON bodies

finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(st.integers(-2**63, 2**63 - 1), finite)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "hum idity", "température", "😀"]),
                       st.dictionaries(st.integers(0, 2**50), numbers, max_size=30), max_size=5))
def test_encode_json_gives_the_same_json_with_or_without_orjson(series):
    for body in [each.body(7, "pi-1") for each in iobeam.imports(series)] + [{"empty": [], "n": None}]:
        stdlib = http._stdlib_json(body)
        encoded = http.encode_json(body)
        assert json.loads(stdlib) == json.loads(encoded) == body
        assert json.loads(stdlib.decode("utf-8")) == body


def test_encode_json_of_typical_bodies_is_byte_for_byte_the_standard_library_s():
    series = {"t": {1_700_000_000_000 + i: 20.0 + i / 100 for i in range(200)}, "n": {1: 3, 2: -7}}
    for each in iobeam.series_imports(series) + iobeam.tables_from_series(series):
        body = each.body(1, "pi")
        assert http.encode_json(body) == http._stdlib_json(body)


def test_encode_json_takes_ints_beyond_64_bits_and_any_str_and_refuses_nan():
    assert json.loads(http.encode_json({"big": 2**70})) == {"big": 2**70}
    assert json.loads(http.encode_json({"odd": "\ud800"})) == {"odd": "\ud800"}  # orjson refuses a lone surrogate
    with pytest.raises(ValueError):
        http._stdlib_json({"v": math.nan})


def test_encode_json_falls_back_to_the_standard_library_without_orjson():
    script = ("import sys; sys.modules['orjson'] = None\n"  # `import orjson` now raises ImportError
              "from sensorkit.uploaders import http\n"
              "assert http._orjson is None\n"
              "print(http.encode_json({'time': 5000, 'value': 21.5, 'name': 'température'}).decode())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == r'{"time":5000,"value":21.5,"name":"temp\u00e9rature"}'


def test_orjson_is_used_where_it_is_installed():
    orjson = pytest.importorskip("orjson")
    assert http._orjson is orjson


def test_client_bodies_from_the_standard_library_are_accepted_by_the_server(iobeam_server, monkeypatch):
    monkeypatch.setattr(http, "_orjson", None)  # as on a machine without orjson
    c = client(iobeam_server)
    iobeam_server_register = iobeam.Iobeam(None, iobeam_server.project_id, iobeam_server.project_token,
                                           backend=iobeam_server.url)
    iobeam_server_register.register_device("d")
    for s in range(10):
        c.add_data_point(f"s{s}", iobeam.DataPoint(s + 0.25, timestamp=1_000 + s))
    assert c.send()
    assert sorted(p.value for p in iobeam_server.points(device_id="d")) == [s + 0.25 for s in range(10)]
