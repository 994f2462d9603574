"""The one-service stand-in's routes to the services it talks to (azora/standin/upstreams.py):
the web pod sends `/<service>/...` to the API gateway, which sends it to that Service, so the
browser suites reach every service through the ingress's apex host, as `talksTo` allows."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from azora.config.load import load_stack_file
from azora.standin import ServiceIdentity, StandIn, run_service
from azora.standin.__main__ import main
from azora.standin.upstreams import (
    GATEWAY,
    Forward,
    Local,
    NoRoute,
    Upstreams,
    preview_url,
    url_variable,
)
from tests.conftest import mocked_stack

ROOT = Path(__file__).resolve().parents[2]


def _identity(service: str, health_path: str = "/health") -> ServiceIdentity:
    return ServiceIdentity(service, "blue", "1.0.0", "local", 0, health_path)


def _get(standin: StandIn, path: str, **kwargs: object) -> requests.Response:
    return requests.get(standin.base_url + path, timeout=20, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- where the peers are


def test_peers_from_their_url_variables() -> None:
    assert url_variable("api-gateway") == "API_GATEWAY_URL" and url_variable("auth") == "AUTH_URL"
    env = {"API_GATEWAY_URL": "http://gw.example:8080/", "WEB_URL": "http://me:3000"}
    # the service's own variable is ignored; no variables, no peers (so no prefix routes)
    assert Upstreams.from_env("web", env).peers == {"api-gateway": "http://gw.example:8080"}
    assert Upstreams.from_env("web", {}).peers == {}
    for bad in ("gw:8080", "ftp://gw", "http://gw:http", "http://gw:8080/?x=1"):
        with pytest.raises(ValueError, match="API_GATEWAY_URL must be an http"):
            Upstreams.from_env("web", {"API_GATEWAY_URL": bad})


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_the_platform_gives_each_pod_its_peers_by_service_dns_name(stack: str) -> None:
    """What the stand-in reads is what components/platform.py sets from talksTo."""
    config = load_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    domain = f"{config.namespace}.svc.cluster.local"
    web = Upstreams.from_env("web", _platform_env(stack, "web"))
    assert web.peers == {"api-gateway": f"http://api-gateway.{domain}:8080"}
    gateway = Upstreams.from_env(GATEWAY, _platform_env(stack, GATEWAY))
    assert gateway.peers == {
        name: f"http://{name}.{domain}:{config.services[name].port}"
        for name in ("auth", "education", "payment", "marketplace")
    }
    assert Upstreams.from_env("payment", _platform_env(stack, "payment")).peers == {}


def _platform_env(stack: str, service: str) -> dict[str, str]:
    """The env the real program gives the service's blue Deployment (Pulumi mocks, run once)."""
    deployment = mocked_stack(stack).named("kubernetes:apps/v1:Deployment", f"{service}-blue")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


# --------------------------------------------------------------------------- routing decisions


def test_the_web_front_door_sends_other_services_to_the_gateway() -> None:
    web = Upstreams("web", {"api-gateway": "http://gw:8080"})
    assert web.route("/web/api/health") == Local("/api/health")
    assert web.route("/web") == Local("/")
    assert web.route("/api-gateway/health") == Forward("api-gateway", "http://gw:8080/health")
    via = web.route("/auth/health", "verbose=1")
    assert isinstance(via, Forward) and via.url == "http://gw:8080/auth/health?verbose=1" and via.peer == GATEWAY
    assert via.timeout > web.route("/api-gateway/health").timeout  # type: ignore[union-attr]
    assert web.route("/payment-preview/health") == Forward(
        GATEWAY, "http://gw:8080/payment-preview/health", via.timeout
    )
    for own_page in ("/", "/courses", "/api/courses", "/api/health", "/login", "/nope/x"):
        assert web.route(own_page) is None, own_page
    assert Upstreams("web").route("/web/api/health") is None  # no peers: no prefix routes at all


def test_the_gateway_routes_a_prefix_per_service() -> None:
    gateway = Upstreams(GATEWAY, {"auth": "http://auth.ns.svc.cluster.local:8081", "payment": "http://10.0.0.9:8083"})
    assert gateway.route("/api-gateway/health") == Local("/health")
    assert gateway.route("/auth/health") == Forward("auth", "http://auth.ns.svc.cluster.local:8081/health")
    assert gateway.route("/auth-preview/health") == Forward(
        "auth-preview", "http://auth-preview.ns.svc.cluster.local:8081/health"
    )
    assert gateway.route("/payment/health") == Forward("payment", "http://10.0.0.9:8083/health")
    no_preview = gateway.route("/payment-preview/health")
    assert isinstance(no_preview, NoRoute) and "names no Service" in no_preview.reason
    assert gateway.route("/education/health") == NoRoute("education", "api-gateway talks to auth, payment only")
    assert preview_url("http://auth:8081", "auth", "auth-preview") == "http://auth-preview:8081"
    assert preview_url("http://10.0.0.9:8083", "payment", "payment-preview") is None


# --------------------------------------------------------------------------- the chain, for real


@dataclass
class Chain:
    web: StandIn
    gateway: StandIn
    auth: StandIn
    payment_url: str  # a peer of the gateway that nothing listens on


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    """web -> api-gateway -> auth, three one-service stand-ins on free ports, wired as in a pod."""
    with ExitStack() as stack:
        auth = stack.enter_context(run_service(_identity("auth"), lifetime=120))
        payment_url = f"http://127.0.0.1:{_closed_port()}"
        gateway_peers = Upstreams(GATEWAY, {"auth": auth.base_url, "payment": payment_url})
        gateway = stack.enter_context(run_service(_identity(GATEWAY), lifetime=120, upstreams=gateway_peers))
        web_peers = Upstreams("web", {GATEWAY: gateway.base_url})
        web = stack.enter_context(run_service(_identity("web", "/api/health"), lifetime=120, upstreams=web_peers))
        yield Chain(web, gateway, auth, payment_url)


def test_every_service_answers_through_the_web_front_door(chain: Chain) -> None:
    for path, service in (("/web/api/health", "web"), ("/api-gateway/health", GATEWAY), ("/auth/health", "auth")):
        response = _get(chain.web, path)
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/json", path
        assert response.json()["service"] == service and response.json()["version"] == "1.0.0"
    assert _get(chain.web, "/api/health").json()["service"] == "web"  # its own routes stay
    assert 'data-testid="course-list"' in _get(chain.web, "/courses").text


def test_forms_cookies_and_redirects_pass_both_ways(chain: Chain) -> None:
    form = {"name": "Ada", "email": "ada@azora.test", "password": "long-enough"}
    registered = requests.post(chain.web.base_url + "/auth/register", data=form, timeout=20, allow_redirects=False)
    assert registered.status_code == 303 and registered.headers["Location"] == "/?welcome=1"
    cookie = registered.cookies.get("azora_session")
    assert cookie  # Set-Cookie came back through the gateway and the web pod
    home = _get(chain.web, "/auth/", cookies={"azora_session": cookie})
    assert "Welcome back, Ada." in home.text  # the cookie went on to the auth pod


def test_unreachable_and_unknown_peers_are_named(chain: Chain) -> None:
    down = _get(chain.web, "/payment/health")
    assert down.status_code == 502
    assert down.json()["error"].startswith(f"api-gateway cannot reach payment at {chain.payment_url}/health:")
    unknown = _get(chain.web, "/education/health")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "api-gateway has no route to education: api-gateway talks to auth, payment only"}


def test_a_peer_that_does_not_answer_is_a_504(chain: Chain) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/health"
        status, body, _ = Upstreams("web").forward(Forward("auth", url, timeout=0.3), "GET", [], b"")
        assert status == 504 and f"web cannot reach auth at {url}: no answer within 0.3 s" in body
    finally:
        listener.close()


def test_a_routing_loop_is_refused() -> None:
    port = _closed_port()
    itself = Upstreams("web", {GATEWAY: f"http://127.0.0.1:{port}"})  # a front door whose gateway is itself
    identity = ServiceIdentity("web", "blue", "1.0.0", "local", port, "/api/health")
    with run_service(identity, lifetime=60, upstreams=itself) as web:
        looped = _get(web, "/auth/health")
    assert looped.status_code == 508  # the second pass saw its own Via and stopped
    assert "web cannot reach api-gateway" in looped.json()["error"]
    assert "already passed this service (a routing loop)" in looped.json()["error"]


def test_forwarded_requests_are_counted_by_service_prefix(chain: Chain) -> None:
    _get(chain.web, "/auth/health")
    families = chain.web.metrics.render()
    assert 'route="/auth/{path}"' in families and 'route="/auth/health"' not in families


def test_serve_reads_its_peers_and_rejects_a_bad_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZORA_SERVICE", "web")
    monkeypatch.setenv("API_GATEWAY_URL", "api-gateway:8080")
    assert main(["serve", "--seconds", "0"]) == 2
    assert "API_GATEWAY_URL must be an http(s) URL" in capsys.readouterr().err
    monkeypatch.setenv("API_GATEWAY_URL", "http://api-gateway.azora-local.svc.cluster.local:8080")
    monkeypatch.setenv("PORT", "0")
    assert main(["serve", "--seconds", "0"]) == 0
    assert "peers: api-gateway http://api-gateway.azora-local.svc.cluster.local:8080" in capsys.readouterr().out
