"""The embedded cluster's ingress controller (azora/cluster/ingress.py), without a cluster.

Real sockets on 127.0.0.1 only: a plain http.server stands in for a Service's ClusterIP, and
another for the API server (HTTP, so no CA is needed). Every server and thread is stopped.
"""

from __future__ import annotations

import base64
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from azora.cluster import ingress as ing
from azora.cluster.api import Api
from azora.cluster.ingress import ProxyServer, Route, Syncer, Table

REPO = Path(__file__).resolve().parents[2]


def route(
    host: str, path: str = "/", path_type: str = "Prefix", service: str = "web", backend: str | None = None
) -> Route:
    return Route(host, path, path_type, "azora-local", service, service, "http", backend=backend)


# ------------------------------------------------------------------ pure functions


def test_a_host_claimed_twice_goes_to_a_working_backend_then_to_the_oldest_ingress() -> None:
    from azora.cluster.ingress import select_route

    gone = route("azora.localtest.me", service="old-web")  # its Service was deleted
    older = route("azora.localtest.me", service="web-a", backend="10.96.0.10:3000")
    newer = route("azora.localtest.me", service="web-b", backend="10.96.0.11:3000")
    assert select_route([gone, older, newer], "azora.localtest.me", "/")[0] == older
    assert select_route([gone, newer], "127.0.0.1", "/")[0] == newer  # the apex fallback too


def test_host_is_matched_exactly_case_insensitively_without_port() -> None:
    routes = [route("azora.localtest.me", service="web"), route("api.azora.localtest.me", service="api")]
    host = ing.request_host("API.Azora.LocalTest.Me:8080")
    assert host == "api.azora.localtest.me"
    assert ing.select_route(routes, host, "/x")[0] == routes[1]
    assert ing.request_host("[::1]:8080") == "[::1]"
    assert ing.request_host(None) == ""


def test_unknown_host_falls_back_to_the_apex_host_the_shortest() -> None:
    routes = [route("api.azora.localtest.me", service="api"), route("azora.localtest.me", service="web")]
    assert ing.apex_host(routes) == "azora.localtest.me"
    for host in ("127.0.0.1", "localhost", ""):
        assert ing.select_route(routes, host, "/")[0] == routes[1]


def test_no_rules_at_all_is_503_naming_what_was_looked_for() -> None:
    found, status, looked_for = ing.select_route([], "127.0.0.1", "/a")
    assert found is None and status == 503
    assert "'127.0.0.1'" in looked_for and "'/a'" in looked_for and "apex" in looked_for


def test_known_host_without_a_matching_path_is_404() -> None:
    routes = [route("a.example", "/api"), route("b", "/")]
    found, status, _ = ing.select_route(routes, "a.example", "/other")
    assert found is None and status == 404


def test_exact_beats_prefix_and_the_longest_path_wins() -> None:
    root, api, exact = route("h", "/"), route("h", "/api", service="api"), route("h", "/api", "Exact", service="x")
    routes = [root, api, exact]
    assert ing.select_route(routes, "h", "/api")[0] == exact
    assert ing.select_route(routes, "h", "/api/v1")[0] == api
    assert ing.select_route(routes, "h", "/apix")[0] == root
    assert ing.select_route(routes, "h", "/")[0] == root


def test_prefix_matches_whole_segments_and_ignores_a_trailing_slash() -> None:
    api = route("h", "/api")
    assert ing.path_matches(api, "/api")
    assert ing.path_matches(api, "/api/")
    assert ing.path_matches(api, "/api/x")
    assert not ing.path_matches(api, "/apix")
    assert ing.path_matches(route("h", "/api/"), "/api")
    assert ing.path_matches(route("h", "/"), "/anything/at/all")
    exact = route("h", "/api", "Exact")
    assert ing.path_matches(exact, "/api") and not ing.path_matches(exact, "/api/x")


def test_wildcard_and_hostless_rules() -> None:
    wild, hostless = route("*.example.com", service="wild"), route("", "/static", service="static")
    routes = [wild, hostless, route("example.com")]
    assert ing.select_route(routes, "a.example.com", "/")[0] == wild
    assert ing.select_route(routes, "a.b.example.com", "/")[0] == routes[2]  # one label only: apex fallback
    assert ing.select_route(routes, "unknown", "/static/app.js")[0] == hostless


def test_service_port_by_name_and_by_number() -> None:
    service = {
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}, {"name": "m", "port": 9090}]}
    }
    assert ing.resolve_port(service, "http") == 80
    assert ing.resolve_port(service, 9090) == 9090
    assert ing.resolve_port(service, "grpc") is None
    assert ing.resolve_port(service, 8080) is None
    assert ing.resolve(route("h"), service).backend == "10.96.0.10:80"
    assert ing.resolve(route("h"), None).problem == "service azora-local/web not found"
    headless = {"spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}
    assert "no ClusterIP" in str(ing.resolve(route("h"), headless).problem)


def test_status_patch_body() -> None:
    assert ing.status_patch(8080) == {
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": 8080, "protocol": "TCP"}]}]}}
    }
    assert ing.status_patch(None) == {"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}


def ingress_object(name: str, host: str, port: dict[str, Any], status: list[dict[str, Any]] | None = None) -> dict:
    """An Ingress as components/blue_green.py makes it (TLS section and class included)."""
    return {
        "metadata": {"name": name, "namespace": "azora-local", "uid": f"uid-{name}"},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": "azora-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": port}}}
                        ]
                    },
                }
            ],
        },
        "status": {"loadBalancer": {"ingress": status} if status else {}},
    }


def test_ingress_routes_of_a_blue_green_ingress() -> None:
    [only] = ing.ingress_routes(ingress_object("web", "Azora.localtest.me", {"name": "http"}))
    assert (only.host, only.path, only.path_type, only.namespace, only.service, only.port) == (
        "azora.localtest.me", "/", "Prefix", "azora-local", "web", "http",
    )  # fmt: skip
    [numbered] = ing.ingress_routes(ingress_object("api", "api.x", {"number": 8080}))
    assert numbered.port == 8080


# ------------------------------------------------------------------ servers in threads


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Backend(BaseHTTPRequestHandler):
    """Stands in for a Service's ClusterIP: records each request and answers 201."""

    seen: list[dict[str, Any]] = []

    def do_any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Backend.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        data = f"hello from the backend: {self.command} {self.path}".encode()
        self.send_response(201)
        self.send_header("X-Backend", "blue")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_any

    def log_message(self, *args: Any) -> None:
        pass


def fetch(port: int, method: str, path: str, host: str, body: bytes | None = None) -> tuple[int, Any, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Host": host, "X-Forwarded-For": "10.1.2.3"})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def backend() -> Iterator[int]:
    Backend.seen = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Backend)) as port:
        yield port


@pytest.fixture
def proxy() -> Iterator[tuple[ProxyServer, int]]:
    server = ProxyServer(("127.0.0.1", 0), Table())
    with serving(server) as port:
        yield server, port


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_round_trip_through_the_proxy(backend: int, proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    server.table.replace([route("azora.localtest.me", backend=f"127.0.0.1:{backend}")])
    status, headers, body = fetch(port, "POST", "/api/items?q=1&r=two", "azora.localtest.me:8080", b'{"x": 1}')
    assert (status, body) == (201, "hello from the backend: POST /api/items?q=1&r=two")
    assert headers["X-Backend"] == "blue"
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    [seen] = Backend.seen
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/api/items?q=1&r=two", b'{"x": 1}')
    assert seen["headers"]["X-Forwarded-Host"] == "azora.localtest.me:8080"
    assert seen["headers"]["X-Forwarded-Proto"] == "http"
    assert seen["headers"]["X-Forwarded-For"] == "10.1.2.3, 127.0.0.1"
    assert seen["headers"]["Host"] == "azora.localtest.me:8080"


def test_the_bare_address_reaches_the_apex_host(backend: int, proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    server.table.replace(
        [route("api.azora.localtest.me", service="api", backend=f"127.0.0.1:{closed_port()}"),
         route("azora.localtest.me", backend=f"127.0.0.1:{backend}")]
    )  # fmt: skip
    status, _, body = fetch(port, "GET", "/", f"127.0.0.1:{port}")
    assert (status, body) == (201, "hello from the backend: GET /")


def test_a_closed_backend_is_502_naming_the_service(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    server.table.replace([route("azora.localtest.me", backend=f"127.0.0.1:{closed_port()}")])
    status, _, body = fetch(port, "GET", "/", "azora.localtest.me")
    assert status == 502
    assert "azora-local/web" in body


def test_no_rules_is_503_and_an_unresolved_service_too(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    server.table.replace([])
    status, _, body = fetch(port, "GET", "/", "azora.localtest.me")
    assert status == 503 and "no Ingress rule for host 'azora.localtest.me'" in body
    server.table.replace([ing.resolve(route("azora.localtest.me"), None)])
    status, _, body = fetch(port, "GET", "/", "azora.localtest.me")
    assert status == 503 and "service azora-local/web not found" in body


def test_healthz_before_and_after_the_first_sync_and_the_routes(proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    assert fetch(port, "GET", "/.azora/ingress/healthz", "x")[0] == 503
    server.table.replace([route("azora.localtest.me", backend="10.96.0.10:80")])
    assert fetch(port, "GET", "/.azora/ingress/healthz", "x")[:3:2] == (200, "ok\n")
    status, _, body = fetch(port, "GET", "/.azora/ingress/routes", "x")
    table = json.loads(body)
    assert status == 200 and table["synced"] and table["apex"] == "azora.localtest.me"
    assert table["routes"][0]["backend"] == "10.96.0.10:80"
    assert table["routes"][0]["namespace"] == "azora-local" and table["routes"][0]["service"] == "web"


def test_one_log_line_per_request(proxy: tuple[ProxyServer, int], capsys: pytest.CaptureFixture[str]) -> None:
    server, port = proxy
    server.table.replace([route("azora.localtest.me", backend=f"127.0.0.1:{closed_port()}")])
    fetch(port, "GET", "/page?x=1", "azora.localtest.me")
    out, deadline = "", time.monotonic() + 2
    while "/page" not in out and time.monotonic() < deadline:  # written just after the answer is sent
        time.sleep(0.01)
        out += capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "/page" in line]
    assert line.startswith("GET azora.localtest.me /page?x=1 502 azora-local/web ") and line.endswith("ms")


# ------------------------------------------------------------------ the sync loop against a fake API server


class FakeApi(BaseHTTPRequestHandler):
    """Lists Ingresses, returns Services, applies status merge patches; records the patches."""

    ingresses: list[dict[str, Any]] = []
    services: dict[str, dict[str, Any]] = {}
    patches: list[tuple[str, str, dict[str, Any]]] = []
    fail = False
    requests = 0

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        FakeApi.requests += 1
        assert self.headers["Authorization"] == "Bearer t0ken"
        if FakeApi.fail:
            self.send_json(500, {"message": "etcd is down"})
        elif self.path == "/apis/networking.k8s.io/v1/ingresses":
            self.send_json(200, {"kind": "IngressList", "items": FakeApi.ingresses})
        elif (
            self.path.startswith("/api/v1/namespaces/azora-local/services/")
            and self.path.split("/")[-1] in FakeApi.services
        ):
            self.send_json(200, FakeApi.services[self.path.split("/")[-1]])
        else:
            self.send_json(404, {"message": "not found"})

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeApi.patches.append((self.path, self.headers["Content-Type"], body))
        name = self.path.split("/")[-2]
        [target] = [i for i in FakeApi.ingresses if i["metadata"]["name"] == name]
        target["status"] = body["status"]
        self.send_json(200, target)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api(backend: int) -> Iterator[str]:
    claimed = [{"ip": "127.0.0.1", "ports": [{"port": 8080, "protocol": "TCP"}]}]
    FakeApi.ingresses = [
        ingress_object("web", "azora.localtest.me", {"name": "http"}),
        ingress_object("api", "api.azora.localtest.me", {"number": 8080}),
        ingress_object("docs", "docs.azora.localtest.me", {"name": "http"}, status=claimed),
    ]
    FakeApi.services = {
        "web": {"spec": {"clusterIP": "127.0.0.1", "ports": [{"name": "http", "port": backend}]}},
        "docs": {"spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}},
    }  # no `api` Service yet
    FakeApi.patches, FakeApi.fail, FakeApi.requests = [], False, 0
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)) as port:
        yield f"http://127.0.0.1:{port}"


def test_sync_builds_the_table_and_claims_the_ingresses(fake_api: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = Table()
    syncer = Syncer(Api(fake_api, "t0ken", ""), table, 8080)
    syncer.sync_once()
    assert table.synced
    by_service = {r.service: r for r in table.routes}
    assert by_service["web"].backend == f"127.0.0.1:{FakeApi.services['web']['spec']['ports'][0]['port']}"
    assert by_service["docs"].backend == "10.96.0.20:80"
    assert by_service["api"].backend is None and by_service["api"].problem == "service azora-local/api not found"
    expected = {
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": [{"port": 8080, "protocol": "TCP"}]}]}}
    }
    assert FakeApi.patches == [
        (
            "/apis/networking.k8s.io/v1/namespaces/azora-local/ingresses/web/status",
            "application/merge-patch+json",
            expected,
        ),
        (
            "/apis/networking.k8s.io/v1/namespaces/azora-local/ingresses/api/status",
            "application/merge-patch+json",
            expected,
        ),
    ]  # docs was already claimed

    FakeApi.services["api"] = {"spec": {"clusterIP": "10.96.0.30", "ports": [{"name": "http", "port": 8080}]}}
    syncer.sync_once()  # a Service created after its Ingress is picked up; nothing is patched twice
    assert {r.service: r.backend for r in table.routes}["api"] == "10.96.0.30:8080"
    assert len(FakeApi.patches) == 2


def test_an_api_server_that_drops_the_ports_is_patched_once(fake_api: str) -> None:
    FakeApi.ingresses = FakeApi.ingresses[:1]
    syncer = Syncer(Api(fake_api, "t0ken", ""), Table(), 8080)
    syncer.sync_once()
    FakeApi.ingresses[0]["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    syncer.sync_once()
    assert len(FakeApi.patches) == 1


def test_the_loop_keeps_the_last_table_when_a_sync_fails(fake_api: str, capsys: pytest.CaptureFixture[str]) -> None:
    table, stop = Table(), threading.Event()
    syncer = Syncer(Api(fake_api, "t0ken", ""), table, None)
    thread = threading.Thread(target=syncer.run, args=(stop, 0.01))
    thread.start()

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 2
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)

    try:
        wait_for(lambda: table.synced)
        assert len(table.routes) == 3
        FakeApi.fail = True
        wait_for(lambda: syncer.last_error is not None)
        requests_before = FakeApi.requests
        wait_for(lambda: FakeApi.requests >= requests_before + 3)  # a few more failed attempts
        assert "HTTP 500: etcd is down" in str(syncer.last_error)
        assert len(table.routes) == 3
        FakeApi.fail = False
        wait_for(lambda: syncer.last_error is None)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert capsys.readouterr().out.count("sync failed") == 1  # once, not once per attempt


def test_end_to_end_synced_proxy_reaches_the_backend(fake_api: str, proxy: tuple[ProxyServer, int]) -> None:
    server, port = proxy
    Syncer(Api(fake_api, "t0ken", ""), server.table, port).sync_once()
    status, _, body = fetch(port, "GET", "/hello", "localhost")  # apex fallback: azora.localtest.me -> web
    assert (status, body) == (201, "hello from the backend: GET /hello")


# ------------------------------------------------------------------ the command line


def test_command_line_serves_and_stops_on_sigterm(fake_api: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot used over http\n-----END CERTIFICATE-----\n").decode()
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "azora", "cluster": {"server": fake_api, "certificate-authority-data": ca}}],
                "users": [{"name": "admin", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "azora", "context": {"cluster": "azora", "user": "admin"}}],
                "current-context": "azora",
            }
        )
    )
    command = [sys.executable, "-m", "azora.cluster.ingress", "--kubeconfig", str(kubeconfig)]
    process = subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", "--interval", "0.05", "--seconds", "20"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("azora ingress: serving http://127.0.0.1:"), first
        port = int(first.split("http://127.0.0.1:")[1].split("/")[0])
        deadline = time.monotonic() + 5
        while fetch(port, "GET", "/.azora/ingress/healthz", "x")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fetch(port, "GET", "/", f"127.0.0.1:{port}")[:3:2] == (201, "hello from the backend: GET /")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert "azora ingress: stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # docs too: it was claimed for another port (8080), and the status names the listen port
    assert sorted(p[0].split("/")[-2] for p in FakeApi.patches) == ["api", "docs", "web"]
    assert all(p[2] == ing.status_patch(port) for p in FakeApi.patches)
