"""PromQL templates, and PrometheusClient against a real local HTTP server playing Prometheus."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from azora.errors import ExitCode
from azora.gates import MetricCheck, check_queries
from azora.gates.errors import GateConfigError, PrometheusUnavailable
from azora.gates.query import PrometheusClient, QueryResult, promql_string, render_query

VALUES = {"service": "web", "color": "green", "version": "1.4.0", "namespace": "azora"}
T = 1_700_000_000.123


def vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"series": str(i)}, "value": [T, value]} for i, value in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


# query → (HTTP status, body: a dict sent as JSON, or raw text)
CANNED: dict[str, tuple[int, Any]] = {
    "good": (200, vector("0.0042")),
    "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [T, "0.25"]}}),
    "empty": (200, vector()),
    "nan": (200, vector("NaN")),
    "inf": (200, vector("+Inf")),
    "two": (200, vector("1", "2")),
    "matrix": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "word": (200, vector("lots")),
    "bad(": (
        400,
        {"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:5: parse error: unclosed'},
    ),
    "exec": (422, {"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"}),
    "overloaded": (
        503,
        {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"},
    ),
    "down": (503, "upstream connect error"),
    "html": (200, "<html>a login page</html>"),
}
SEEN: list[tuple[str, str, dict[str, list[str]]]] = []


class FakePrometheus(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        params = parse_qs(parts.query)
        SEEN.append((self.command, parts.path, params))
        query = params.get("query", [""])[0]
        if query == "slow":
            time.sleep(0.6)
        status, body = CANNED.get(query, (404, "no such canned query"))
        if parts.path != "/api/v1/query":
            status, body = 404, "404 page not found"
        data = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(prometheus: str) -> PrometheusClient:
    return PrometheusClient(prometheus + "/", timeout=2)


# ------------------------------------------------------------------ templates


def test_placeholders_are_filled_and_escaped() -> None:
    template = 'x{service="{{service}}",color="{{ color }}",version="{{version}}",namespace="{{namespace}}"}'
    assert render_query(template, VALUES) == 'x{service="web",color="green",version="1.4.0",namespace="azora"}'
    tricky = {**VALUES, "version": 'a"b\\c\nd'}
    assert render_query('x{version="{{version}}"}', tricky) == 'x{version="a\\"b\\\\c\\nd"}'
    assert promql_string('say "hi"') == 'say \\"hi\\"'


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('x{pod="{{pod}}"}', "query: unknown placeholder {{pod}} (known: {{service}}, {{color}}, {{version}}"),
        ('x{a="{{ }}"}', "unknown placeholder {{ }}"),
        ('x{a="{{service"}', "a `{{` or `}}` that is not a placeholder"),
        ("", "query is empty"),
    ],
)
def test_template_errors(template: str, message: str) -> None:
    with pytest.raises(GateConfigError) as caught:
        render_query(template, VALUES)
    assert message in str(caught.value)
    assert caught.value.exit_code is ExitCode.BAD_INPUT


def test_a_placeholder_without_a_value_is_a_config_error() -> None:
    with pytest.raises(GateConfigError, match=r"gate\.query: no value for \{\{namespace\}\}"):
        render_query('x{namespace="{{namespace}}"}', {"service": "web"}, key="gate.query")


# ------------------------------------------------------------------ answers


def test_one_sample_is_its_value_and_the_request_is_an_instant_query(client: PrometheusClient) -> None:
    SEEN.clear()
    assert client.query("good") == QueryResult(value=0.0042)
    assert SEEN == [("GET", "/api/v1/query", {"query": ["good"]})]


def test_scalar_empty_nan_inf(client: PrometheusClient) -> None:
    assert client.query("scalar").value == 0.25
    empty = client.query("empty")
    assert empty.empty and empty.value is None and empty.error is None
    nan = client.query("nan")
    assert nan.value is not None and math.isnan(nan.value) and not nan.empty
    assert client.query("inf").value == math.inf


@pytest.mark.parametrize(
    ("query", "error_type", "error"),
    [
        ("two", "shape", "2 series; the query must return one (aggregate it)"),
        ("matrix", "shape", "a matrix result; the query must return one number (an instant query)"),
        ("bad(", "bad_data", 'bad_data: invalid parameter "query": 1:5: parse error: unclosed'),
        ("exec", "execution", "execution: many-to-many matching not allowed"),
    ],
)
def test_errors_carry_prometheus_text(client: PrometheusClient, query: str, error_type: str, error: str) -> None:
    result = client.query(query)
    assert (result.value, result.error_type, result.error) == (None, error_type, error)


def test_http_errors_name_the_url(client: PrometheusClient, prometheus: str) -> None:
    url = f"{prometheus}/api/v1/query"
    assert client.query("down").error == f"{url}: HTTP 503 Service Unavailable"
    timeout = client.query("overloaded")
    assert timeout.error == f"timeout: query timed out in expression evaluation (HTTP 503 from {url})"
    assert client.query("html") == QueryResult(error=f"{url}: not Prometheus's JSON", error_type="response")
    assert client.query("word").error == f"{url}: a sample value that is not a number: 'lots'"
    assert (
        PrometheusClient(prometheus + "/prom").query("good").error
        == f"{prometheus}/prom/api/v1/query: HTTP 404 Not Found"
    )


def test_connection_refused_and_timeout_name_the_url(prometheus: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed on leaving: nothing listens there
    refused = PrometheusClient(f"http://user:secret@127.0.0.1:{port}", timeout=1).query("good")
    assert refused == QueryResult(
        error=f"http://127.0.0.1:{port}/api/v1/query: connection refused", error_type="unreachable"
    )
    slow = PrometheusClient(prometheus, timeout=0.2).query("slow")
    assert slow == QueryResult(error=f"{prometheus}/api/v1/query: no answer within 0.2s", error_type="unreachable")


def test_a_url_without_a_scheme_is_a_config_error() -> None:
    with pytest.raises(GateConfigError, match="must start with http"):
        PrometheusClient("prometheus:9090")


# ------------------------------------------------------------------ the check before anything switches


def test_check_turns_bad_data_and_shapes_into_config_errors(client: PrometheusClient) -> None:
    with pytest.raises(GateConfigError) as caught:
        client.check("bad(", "services.web.analysis.prePromotion[0].query")
    assert str(caught.value) == (
        "services.web.analysis.prePromotion[0].query: Prometheus cannot use the query: "
        'bad_data: invalid parameter "query": 1:5: parse error: unclosed'
    )
    assert caught.value.details == ["bad("]
    with pytest.raises(GateConfigError, match="2 series; the query must return one"):
        client.check("two")


def test_check_fails_without_prometheus_and_passes_an_empty_result(client: PrometheusClient, prometheus: str) -> None:
    with pytest.raises(PrometheusUnavailable) as caught:
        client.check("down")
    assert (
        str(caught.value)
        == f"query: the query could not be run: {prometheus}/api/v1/query: HTTP 503 Service Unavailable"
    )
    assert caught.value.exit_code is ExitCode.FAILED
    assert client.check("empty").empty  # no traffic yet is no reason to refuse the gate


def test_check_queries_renders_and_checks_every_query(client: PrometheusClient) -> None:
    SEEN.clear()
    ok = MetricCheck("ok", "good", "result < 1", requests_query="scalar", min_requests=1)
    check_queries([ok], client, VALUES)
    assert [params["query"][0] for _, _, params in SEEN] == ["good", "scalar"]
    broken = MetricCheck("broken", "bad(", "result < 1", key="gates[1]")
    with pytest.raises(GateConfigError, match=r"^gates\[1\]\.query: Prometheus cannot use the query: bad_data"):
        check_queries([ok, broken], client, VALUES)
    templated = MetricCheck("t", 'x{pod="{{pod}}"}', "result < 1")
    with pytest.raises(GateConfigError, match=r'check "t"\.query: unknown placeholder \{\{pod\}\}'):
        check_queries([templated], client, VALUES)
