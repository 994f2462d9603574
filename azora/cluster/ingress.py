"""A small ingress controller for the embedded cluster, run as a host process.

    python -m azora.cluster.ingress --kubeconfig PATH --listen 127.0.0.1:PORT [--seconds N]

The Pulumi Kubernetes provider waits for every Ingress until `status.loadBalancer.ingress` has an
address, and a person running `make up` needs a URL showing the web frontend. This process:

- every `--interval` (1 s) lists the Ingresses of all namespaces, resolves each backend Service to
  `spec.clusterIP` and its port (by number, or by name from the Service's ports; kube-proxy makes
  ClusterIPs reachable from the host) and replaces its routing table. A list of a handful of
  objects per second is cheap and, unlike a watch, needs no resume/relist logic: a failed sync
  keeps the last table until the next one succeeds;
- claims every Ingress (it is the only controller here; `ingressClassName` is not checked): it
  merge-patches `status.loadBalancer.ingress = [{ip: 127.0.0.1, ports: [listen port]}]` through
  the `/status` subresource when not already set;
- serves HTTP on the listen address, forwarding each request to the rule for its Host (port
  stripped, case-insensitive; `*.` wildcards match one label; hostless rules match any host) with
  the longest matching path (Exact before Prefix of the same length; Prefix matches whole path
  segments: `/api` matches `/api/x`, not `/apix`; ImplementationSpecific counts as Prefix).
  APEX FALLBACK: a request whose Host matches no rule (e.g. http://127.0.0.1:PORT/) is routed by
  the rules of the apex host, the shortest host among all rules (ties: alphabetical), so the bare
  address shows the apex site (`azora.localtest.me`, the web frontend).

Answers: 503 when there is no rule at all or the rule's Service is unresolved, 404 when no path
matches, 502 when the backend cannot be reached, 504 when it does not answer within 30 s. On the
same listener, for any Host: `GET /.azora/ingress/healthz` (200 "ok" once the first sync
succeeded, 503 before) and `GET /.azora/ingress/routes` (the routing table as JSON).

Why hand-written: ingress-nginx needs nginx with its Lua modules and Traefik is a very large Go
build; this only has to route a handful of hosts on one machine, with the standard library.
Limits: plain HTTP only (TLS sections are ignored), no annotations (rewrites, auth, ...), no
`defaultBackend`, no WebSocket/Upgrade, responses are read fully before being sent on, one backend
connection per request, and Ingress changes are seen within one sync interval.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from azora.cluster.api import Api
from azora.cluster.layout import ClusterError

OWN_PREFIX = "/.azora/ingress/"
LB_IP = "127.0.0.1"
CONNECT_TIMEOUT, READ_TIMEOUT = 2.0, 30.0
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect",
}  # fmt: skip
OWN_HEADERS = {"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "content-length"}  # set by the proxy


@dataclass(frozen=True)
class Route:
    host: str  # lower case; "" for a hostless rule; may start with "*."
    path: str
    path_type: str  # Exact | Prefix | ImplementationSpecific
    namespace: str
    ingress: str
    service: str
    port: int | str  # the Ingress backend's port: a number or a Service port name
    backend: str | None = None  # "clusterIP:port", None when unresolved
    problem: str | None = None  # why `backend` is None


def path_matches(route: Route, path: str) -> bool:
    if route.path_type == "Exact":
        return path == route.path
    prefix = route.path.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def best_path(routes: list[Route], path: str) -> Route | None:
    """The longest matching path (Exact before Prefix); among rules for the same host and path,
    one whose Service resolves, then the oldest Ingress (routes come oldest first), as
    ingress-nginx settles such conflicts."""
    matching = [r for r in routes if path_matches(r, path)]
    return max(
        matching, key=lambda r: (len(r.path.rstrip("/")), r.path_type == "Exact", r.backend is not None), default=None
    )


def apex_host(routes: list[Route]) -> str | None:
    hosts = {r.host for r in routes if r.host and not r.host.startswith("*.")}
    return min(hosts, key=lambda h: (len(h), h), default=None)


def request_host(header: str | None) -> str:
    host = (header or "").strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def select_route(routes: list[Route], host: str, path: str) -> tuple[Route | None, int, str]:
    """The route for a request; or None, the status to answer and what was looked for."""
    known = [r for r in routes if r.host == host]
    if not known and "." in host:
        known = [r for r in routes if r.host == "*." + host.split(".", 1)[1]]
    hostless = [r for r in routes if r.host == ""]
    if known:
        route = best_path(known, path) or best_path(hostless, path)
        return route, 404, f"no path of host {host!r} (nor of a hostless rule) matches {path!r}"
    apex = apex_host(routes)
    route = best_path(hostless, path) or best_path([r for r in routes if r.host == apex], path)
    if apex is None:
        return route, 503, f"no Ingress rule for host {host!r} path {path!r}, and no apex host to fall back to"
    return route, 404, f"no rule for host {host!r}, and no path of the apex host {apex!r} matches {path!r}"


def resolve_port(service: dict[str, Any], port: int | str) -> int | None:
    """The Service port an Ingress backend names (by number or name); None when it has none."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("name" if isinstance(port, str) else "port") == port:
            return int(entry["port"])
    return None


def status_patch(port: int | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"ip": LB_IP}
    if port:
        entry["ports"] = [{"port": port, "protocol": "TCP"}]
    return {"status": {"loadBalancer": {"ingress": [entry]}}}


def ingress_routes(ingress: dict[str, Any]) -> list[Route]:
    """The unresolved routes of one Ingress (TLS sections ignored)."""
    meta = ingress.get("metadata") or {}
    routes = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for item in (rule.get("http") or {}).get("paths") or []:
            service = (item.get("backend") or {}).get("service")
            if not service:
                continue  # a `resource` backend: not supported
            port_spec = service.get("port") or {}
            port: int | str = port_spec["number"] if port_spec.get("number") else port_spec.get("name", "")
            routes.append(
                Route((rule.get("host") or "").lower(), item.get("path") or "/", item.get("pathType") or "Prefix",
                      meta.get("namespace", "default"), meta.get("name", ""), service.get("name", ""), port)
            )  # fmt: skip
    return routes


@dataclass
class Table:
    """The routing table the HTTP handler reads; replaced as a whole by each sync."""

    routes: list[Route] = field(default_factory=list)
    synced: bool = False  # the first sync succeeded (or a test set the routes)

    def replace(self, routes: list[Route]) -> None:
        self.routes, self.synced = list(routes), True

    def as_json(self) -> dict[str, Any]:
        return {"synced": self.synced, "apex": apex_host(self.routes), "routes": [asdict(r) for r in self.routes]}


def log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Syncer:
    """Lists Ingresses, resolves their Services, claims them; every `interval` seconds."""

    def __init__(self, api: Api, table: Table, listen_port: int | None) -> None:
        self.api, self.table, self.listen_port = api, table, listen_port
        self.claimed: set[str] = set()
        self.last_error: str | None = None

    def sync_once(self) -> None:
        items = (self.api.get("/apis/networking.k8s.io/v1/ingresses") or {}).get("items") or []
        namespaces = (self.api.get("/api/v1/namespaces") or {}).get("items") or []
        leaving = {
            (n.get("metadata") or {}).get("name")
            for n in namespaces
            if (n.get("status") or {}).get("phase") == "Terminating"
        }
        # Ingresses being deleted (or in a namespace being deleted) route nothing; the rest
        # oldest first, so the oldest wins a conflict.
        items = sorted(
            (
                i
                for i in items
                if not (i.get("metadata") or {}).get("deletionTimestamp")
                and (i.get("metadata") or {}).get("namespace") not in leaving
            ),
            key=lambda i: str((i.get("metadata") or {}).get("creationTimestamp", "")),
        )
        services: dict[tuple[str, str], dict[str, Any] | None] = {}
        routes = []
        for ingress in items:
            for route in ingress_routes(ingress):
                key = (route.namespace, route.service)
                if key not in services:
                    services[key] = self.api.get(f"/api/v1/namespaces/{key[0]}/services/{key[1]}")
                routes.append(resolve(route, services[key]))
        self.table.replace(routes)
        for ingress in items:
            self.claim(ingress)

    def claim(self, ingress: dict[str, Any]) -> None:
        meta = ingress.get("metadata") or {}
        body = status_patch(self.listen_port)
        current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if current == body["status"]["loadBalancer"]["ingress"]:
            return
        if meta.get("uid") in self.claimed and [e.get("ip") for e in current] == [LB_IP]:
            return  # patched once already; the API server dropped a field (e.g. `ports`)
        path = f"/apis/networking.k8s.io/v1/namespaces/{meta.get('namespace')}/ingresses/{meta.get('name')}/status"
        try:
            self.api.patch(path, body)
            self.claimed.add(str(meta.get("uid")))
            log(f"claimed ingress {meta.get('namespace')}/{meta.get('name')}: {LB_IP}")
        except ClusterError as exc:
            log(f"status patch failed: {exc}")

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.sync_once()
                if self.last_error is not None:
                    log("sync succeeded again")
                self.last_error = None
            except Exception as exc:  # keep serving the last table; the next sync may succeed
                if str(exc) != self.last_error:  # one line per new problem, not one per second
                    log(f"sync failed (keeping the last routing table): {exc}")
                self.last_error = str(exc)
            stop.wait(interval)


def resolve(route: Route, service: dict[str, Any] | None) -> Route:
    """The route with its backend address, or with the reason it has none."""
    name = f"service {route.namespace}/{route.service}"
    if service is None:
        return replace(route, problem=f"{name} not found")
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    port = resolve_port(service, route.port)
    if not cluster_ip or cluster_ip == "None":
        return replace(route, problem=f"{name} has no ClusterIP")
    if port is None:
        return replace(route, problem=f"{name} has no port {route.port!r}")
    return replace(route, backend=f"{cluster_ip}:{port}")


def read_chunked(stream: io.BufferedIOBase) -> bytes:
    body = b""
    while size := int(stream.readline().split(b";")[0].strip() or b"0", 16):
        body += stream.read(size)
        stream.readline()
    while stream.readline().strip():  # trailers
        pass
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections
    server: ProxyServer

    def do_request(self) -> None:
        started, host = time.monotonic(), request_host(self.headers.get("Host"))
        try:
            status, backend = self.handle_own() if self.path.startswith(OWN_PREFIX) else self.proxy(host)
        except ConnectionError:  # the client went away
            status, backend, self.close_connection = 499, "-", True
        log(f"{self.command} {host} {self.path[:200]} {status} {backend} {(time.monotonic() - started) * 1000:.0f}ms")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_request

    def handle_own(self) -> tuple[int, str]:
        table = self.server.table
        if self.path == OWN_PREFIX + "healthz":
            return self.reply(200, "ok\n") if table.synced else self.reply(503, "not synced yet\n"), "-"
        if self.path == OWN_PREFIX + "routes":
            return self.reply(200, json.dumps(table.as_json(), indent=1) + "\n", "application/json"), "-"
        return self.reply(404, "unknown controller endpoint\n"), "-"

    def proxy(self, host: str) -> tuple[int, str]:
        length = self.headers.get("Content-Length")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body: bytes | None = read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(length)) if length else None
        route, status, looked_for = select_route(self.server.table.routes, host, self.path.split("?", 1)[0])
        if route is None:
            synced = "" if self.server.table.synced else " (the controller has not synced with the cluster yet)"
            return self.reply(status, f"{looked_for}{synced}\n"), "-"
        name = f"{route.namespace}/{route.service}"
        if route.backend is None:
            return self.reply(503, f"no backend for {host}{route.path}: {route.problem}\n"), name
        ip, port = route.backend.rsplit(":", 1)
        dropped = HOP_BY_HOP | OWN_HEADERS | {h.strip().lower() for h in self.headers.get("Connection", "").split(",")}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in dropped]
        forwarded_for = ", ".join(filter(None, [self.headers.get("X-Forwarded-For"), self.client_address[0]]))
        headers += [("X-Forwarded-For", forwarded_for), ("X-Forwarded-Host", self.headers.get("Host") or ""),
                    ("X-Forwarded-Proto", "http"), ("Connection", "close")]  # fmt: skip
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        connection = http.client.HTTPConnection(ip, int(port), timeout=CONNECT_TIMEOUT)
        try:
            try:
                connection.connect()
            except OSError as exc:
                return self.reply(502, f"backend service {name} ({route.backend}) unreachable: {exc}\n"), name
            assert connection.sock is not None
            connection.sock.settimeout(READ_TIMEOUT)
            try:
                connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in headers:
                    connection.putheader(key, value)
                connection.endheaders(body)
                response = connection.getresponse()
                data = response.read()
            except TimeoutError:
                return self.reply(504, f"backend service {name} ({route.backend}) did not answer in time\n"), name
            except (OSError, http.client.HTTPException) as exc:
                return self.reply(502, f"backend service {name} ({route.backend}) failed: {exc!r}\n"), name
        finally:
            connection.close()
        # The backend's own Server and Date go back, not a second pair of the proxy's.
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and (key.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(key, value)
        if self.command != "HEAD" and response.status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return response.status, f"{name}@{route.backend}"

    def reply(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> int:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request comes from do_request


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], table: Table) -> None:
        self.table = table
        super().__init__(address, Handler)


def read_kubeconfig(path: str) -> tuple[str, str, str | None, bytes | None]:
    """Server, token, and the CA as a file path or as PEM bytes, of the current context."""
    with open(path) as stream:
        config = yaml.safe_load(stream) or {}

    def pick(kind: str, name: str | None) -> dict[str, Any]:  # the named entry, else the first
        entries = config.get(kind + "s") or [{}]
        return next((e for e in entries if e.get("name") == name), entries[0]).get(kind) or {}

    context = pick("context", config.get("current-context"))
    cluster, user = pick("cluster", context.get("cluster")), pick("user", context.get("user"))
    token = user.get("token") or Path(user["tokenFile"]).read_text().strip()
    ca = cluster.get("certificate-authority-data")
    return cluster["server"], token, cluster.get("certificate-authority"), base64.b64decode(ca) if ca else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azora.cluster.ingress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig with a bearer token (its current context)")
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to serve HTTP on")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between syncs (default 1)")
    args = parser.parse_args(argv)
    listen_host, _, listen_port = args.listen.rpartition(":")
    server_url, token, ca_file, ca_data = read_kubeconfig(args.kubeconfig)
    try:
        server = ProxyServer((listen_host or "127.0.0.1", int(listen_port)), Table())
    except (OSError, ValueError) as exc:
        print(f"azora ingress: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if ca_data:
        fd, ca_file = tempfile.mkstemp(prefix="azora-ingress-ca-", suffix=".crt")
        with os.fdopen(fd, "wb") as stream:
            stream.write(ca_data)
    try:
        port = server.server_address[1]
        syncer = Syncer(Api(server_url, token, ca_file or "", timeout=5.0), server.table, int(port))
        threads = [
            threading.Thread(target=server.serve_forever, name="http", daemon=True),
            threading.Thread(target=syncer.run, args=(stop, args.interval), name="sync", daemon=True),
        ]
        for thread in threads:
            thread.start()
        log(f"azora ingress: serving http://{listen_host or '127.0.0.1'}:{port}/ for {server_url}")
        stop.wait(args.seconds)
        server.shutdown()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        server.server_close()
        if ca_data and ca_file:
            os.unlink(ca_file)
    log("azora ingress: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
