"""HTTP front of the stand-in: stdlib `ThreadingHTTPServer`, in a daemon thread.

Two ways to run it, both serving the pages and APIs of routes.py and /metrics (metrics.py):

  run_standin(services)   every Azora service in one process on 127.0.0.1, for the smoke and
                          browser suites: health JSON at /<service>[-preview]<healthPath> and
                          /<service>[-preview]/health, reporting the versions and colours of
                          `services` (the idle colour behind -preview)
  run_service(identity)   one service, as its pod runs it (`python -m azora.standin serve`):
                          health JSON at identity.health_path, and the failure modes its
                          version asks for (faults.py); with `upstreams`, the path-prefix
                          routes to the services it talks to (upstreams.py)
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from azora.standin import pages
from azora.standin.faults import ErrorSchedule, Faults
from azora.standin.identity import METRICS_PATH, ServiceIdentity
from azora.standin.metrics import UNMATCHED, Metrics
from azora.standin.routes import CONTROL_PREFIX, MAX_BODY_BYTES, AppRoutes, Reply, match_route
from azora.standin.state import ServiceInfo, State, Switches, default_services
from azora.standin.upstreams import Forward, Local, NoRoute, Upstreams

DEFAULT_LIFETIME_SECONDS = 900.0
LOCALHOST = "127.0.0.1"
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class StandIn:
    """A running stand-in: `base_url`, `set(**switches)`, `switches`, `health_hits(service)`,
    `metrics` (its registry: `metrics.render()`), and `identity` when it is one service."""

    def __init__(
        self, server: ThreadingHTTPServer, state: State, metrics: Metrics, identity: ServiceIdentity | None = None
    ) -> None:
        self._server = server
        self.state = state
        self.metrics = metrics
        self.identity = identity
        host, port = server.server_address[:2]
        self.base_url = f"http://{_url_host(str(host))}:{port}"

    def set(self, **switches: Any) -> Switches:
        """Change switches at run time, e.g. `set(unhealthy={"payment"})` or `set(login_broken=False)`."""
        return self.state.set_switches(**switches)

    @property
    def switches(self) -> Switches:
        return self.state.switches

    def health_hits(self, service: str) -> int:
        """Health requests seen for `service` (`auth-preview` for its preview)."""
        return self.state.health_hits(service)


@contextmanager
def run_standin(
    services: dict[str, ServiceInfo] | None = None,
    lifetime: float = DEFAULT_LIFETIME_SECONDS,
    **switches: Any,
) -> Iterator[StandIn]:
    """Serve every service on a free port of 127.0.0.1 until the block exits.

    `lifetime` bounds the server's life even if the block never exits (a hung test), so no
    server outlives a test run for long.
    """
    state = State(services or default_services(), Switches().with_changes(**switches))
    metrics = Metrics({"service": "standin"})
    with _serving(_handler_for(state, metrics), LOCALHOST, 0, lifetime) as server:
        yield StandIn(server, state, metrics)


@contextmanager
def run_service(
    identity: ServiceIdentity,
    host: str = LOCALHOST,
    lifetime: float | None = DEFAULT_LIFETIME_SECONDS,
    on_crash: Callable[[], None] | None = None,
    upstreams: Upstreams | None = None,
    **switches: Any,
) -> Iterator[StandIn]:
    """Serve one service on `host`:`identity.port` (0: a free port) until the block exits, or
    `lifetime` seconds (None: no bound, as in a container). `upstreams`: the peers it forwards
    `/<service>/...` to (None: only its own routes; `serve` reads them from the environment).

    A crash-after-<N>s version calls `on_crash` N seconds after the server started (`serve`
    passes one that exits the process) and then stops serving, as a dead process would.
    """
    faults = identity.faults
    info = ServiceInfo(
        versions={identity.color: identity.version}, active_colour=identity.color, health_path=identity.health_path
    )
    state = State({identity.service: info}, Switches().with_changes(**switches))
    metrics = Metrics(identity.labels())
    handler = _handler_for(state, metrics, identity, faults, upstreams)
    with _serving(handler, host, identity.port, lifetime) as server:
        crash = None
        if faults.crash_after is not None:
            crash = threading.Timer(faults.crash_after, _crash, args=(server, on_crash))
            crash.daemon = True
            crash.start()
        try:
            yield StandIn(server, state, metrics, identity)
        finally:
            if crash is not None:
                crash.cancel()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow request never holds up a shutdown

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up before its answer is written (a timed-out probe or check) is
        no error of the server's: say nothing, where socketserver would print a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def _serving(handler: type[_Handler], host: str, port: int, lifetime: float | None) -> Iterator[_Server]:
    # Port 0: the kernel picks a free port at bind time, so parallel runs cannot collide.
    server = (_Server6 if ":" in host else _Server)((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    watchdog = None
    if lifetime is not None:
        watchdog = threading.Timer(lifetime, _stop, args=(server,))
        watchdog.daemon = True
        watchdog.start()
    thread.start()
    try:
        yield server
    finally:
        if watchdog is not None:
            watchdog.cancel()
        _stop(server)
        thread.join(timeout=5)


def _stop(server: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket, so clients get "refused", not a hang."""
    server.shutdown()  # returns at once when already stopped (the watchdog fired first)
    server.server_close()


def _crash(server: ThreadingHTTPServer, on_crash: Callable[[], None] | None) -> None:
    if on_crash is not None:
        on_crash()
    _stop(server)


def _url_host(host: str) -> str:
    """A host to reach a server bound to `host` at: the loopback for a wildcard address."""
    if host in ("", "0.0.0.0"):
        return LOCALHOST
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _handler_for(
    state: State,
    metrics: Metrics,
    identity: ServiceIdentity | None = None,
    faults: Faults | None = None,
    upstreams: Upstreams | None = None,
) -> type[_Handler]:
    faults = faults or Faults()

    class Handler(_Handler):
        pass

    Handler.state = state
    Handler.metrics = metrics
    Handler.identity = identity
    Handler.faults = faults
    Handler.upstreams = upstreams
    Handler.errors = ErrorSchedule(faults.error_percent)
    return Handler


Answer = tuple[str, Reply, "Mapping[str, str] | None"]  # route template, reply, metric labels if not the default


class _Handler(AppRoutes):
    metrics: Metrics
    identity: ServiceIdentity | None  # None: every service in one process
    faults: Faults
    upstreams: Upstreams | None  # one service's peers, for /<service>/... (None: no prefix routes)
    errors: ErrorSchedule
    server_version = "AzoraStandIn/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: pytest output is for test results

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        route: str = UNMATCHED
        labels: Mapping[str, str] | None = None
        try:
            route, reply, labels = self._answer(method, path)
        except Exception as exc:  # a stand-in bug must show as a 500 page, not a dropped connection
            reply = 500, f"stand-in error: {type(exc).__name__}: {exc}", TEXT
        # Counted before the reply goes out, so a client that scrapes right after sees its request.
        self.metrics.observe(route, method, reply[0], time.perf_counter() - started, labels)
        self._send(*reply)

    def _answer(self, method: str, path: str) -> Answer:
        if method == "GET" and path == METRICS_PATH:
            return METRICS_PATH, (200, self.metrics.render(), {"Content-Type": self.metrics.content_type}), None
        routed = self._prefix_route(method, path)
        if routed is not None:
            return routed
        health = self._service_health(method, path) if self.identity else self._health_route(method, path)
        if health is not None:
            return health
        found = match_route(method, path)
        if found is None:
            not_found = self._page(HTTPStatus.NOT_FOUND, "Not found", pages.message_page("Not found", path))
            return UNMATCHED, self._injected_fault(UNMATCHED) or not_found, None
        template, handler, parameters = found
        return template, self._injected_fault(template) or handler(self, *parameters), None

    def _send(self, status: int, text: str, headers: dict[str, str]) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers}
        for key, value in headers.items():
            if key == "Set-Cookie":
                for cookie in value.split("\n"):
                    self.send_header("Set-Cookie", cookie)
            else:
                self.send_header(key, value)
        if self.identity is not None:
            # Who answered, on every reply: a load test records which release served each request.
            self.send_header("X-Azora-Version", self.identity.version)
            self.send_header("X-Azora-Color", self.identity.color)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    # ------------------------------------------------------------------ routes to peers

    def _prefix_route(self, method: str, path: str) -> Answer | None:
        """`/<service>[-preview]/...` of one service with peers: itself, or forwarded (upstreams.py)."""
        upstreams = self.upstreams
        decision = upstreams.route(path, urlsplit(self.path).query) if upstreams is not None else None
        if upstreams is None or decision is None:
            return None
        if isinstance(decision, Local):
            return self._answer(method, decision.path)  # the prefix is gone: this ends
        template = "/" + path.lstrip("/").partition("/")[0] + "/{path}"  # a known service's name: bounded
        if isinstance(decision, NoRoute):
            return template, upstreams.no_route(decision), None
        assert isinstance(decision, Forward)
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        body = self.rfile.read(length) if length else b""
        fault = self._injected_fault(template)
        if fault is not None:
            return template, fault, None
        client = str(self.client_address[0]) if self.client_address else ""
        return template, upstreams.forward(decision, method, self.headers.items(), body, client), None

    # ------------------------------------------------------------------ health

    def _health_route(self, method: str, path: str) -> Answer | None:
        """Every service in one process: `/<service>[-preview]<healthPath>` and `/<service>[-preview]/health`."""
        if method != "GET":
            return None
        first, _, rest = path.lstrip("/").partition("/")
        service, preview = (first[: -len("-preview")], True) if first.endswith("-preview") else (first, False)
        info = self.state.services.get(service)
        if info is None or f"/{rest}" not in (info.health_path, "/health"):
            return None
        colour = info.idle_colour if preview else info.active_colour
        labels = {"service": service, "color": colour, "version": info.versions.get(colour, "")}
        status, body, delay = self.state.health(service, preview)
        if delay:
            time.sleep(delay)
        return path, (status, json.dumps(body), JSON), labels

    def _service_health(self, method: str, path: str) -> Answer | None:
        """One service: its HEALTH_PATH; the switches apply, and never-ready answers 503 forever."""
        identity = self.identity
        if identity is None or method != "GET" or path != identity.health_path:
            return None
        status, state_body, delay = self.state.health(identity.service, preview=False)
        body = identity.health_body(state_body["status"], state_body.get("error"))
        if status == 200 and self.faults.never_ready:
            status, body = 503, identity.health_body("fail", f"never ready: version {identity.version}")
        if delay:
            time.sleep(delay)
        return path, (status, json.dumps(body), JSON), None

    # ------------------------------------------------------------------ faults

    def _injected_fault(self, route: str) -> Reply | None:
        """The version's slow-<M>ms and errors-<P>pct, for application requests (not the controls)."""
        if route.startswith(CONTROL_PREFIX):
            return None
        if self.faults.slow_ms:
            time.sleep(self.faults.slow_ms / 1000)
        if self.errors.next_fails():
            version = self.identity.version if self.identity else "?"
            return 500, f"injected fault: errors-{self.faults.error_percent}pct (version {version})\n", TEXT
        return None
