"""The services a one-service stand-in talks to, and the path-prefix routes it serves for them.

In the cluster the ingress sends the apex host (and any unknown host) to the web pods, and the
browser suites and `azora smoke --base-url` reach every service there at `/<Service><path>`
(azora.smoke's base-URL convention: `/auth/health`, `/web/api/health`, `/auth-preview/health`).
The stand-in answers those the way the Azora apps are wired, following the stacks' `talksTo`
(which is also all their NetworkPolicies allow):

  web          the front door: `/web/<rest>` itself; every other service's prefix to the API
               gateway, its one peer, path unchanged (a frontend's `/<service>/...` rewrite)
  api-gateway  `/api-gateway/<rest>` itself; `/<svc>[-preview]/<rest>` to that Kubernetes
               Service as `/<rest>` (a path-prefix router)
  the others   no peers, no prefix routes

A peer's address comes from `<PEER>_URL` (`API_GATEWAY_URL`, `AUTH_URL`, ...), which the
platform sets for each service in `talksTo` (components/platform.py), by the cluster DNS name of
its active Service, as it passes DATABASE_URL. Without variables there are no peers, so a
hand-run or test process serves only its own routes.

Forwarding is plain HTTP/1.1 through http.client (stdlib: the service image has no more):
request headers pass except hop-by-hop ones, with `Via: 1.1 azora-<service>` added (a request
that already passed this service is refused with 508, so a misconfiguration cannot loop);
back come the status, body, Content-Type, Location and Set-Cookie. A peer that cannot be
reached answers 502, one that does not answer in time 504, both naming the peer and its URL.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from azora.standin.state import AZORA_SERVICES

GATEWAY = "api-gateway"
PREVIEW_SUFFIX = "-preview"
TIMEOUT_SECONDS = 10.0  # for a peer's answer; through the gateway, longer than the gateway's own
VIA_GATEWAY_TIMEOUT_SECONDS = TIMEOUT_SECONDS + 5.0
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
     "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect"}
)  # fmt: skip
RETURNED_HEADERS = ("Content-Type", "Location")

Reply = tuple[int, str, dict[str, str]]  # as routes.Reply: status, text, extra headers


def url_variable(service: str) -> str:
    """The variable holding a peer's URL: `api-gateway` -> API_GATEWAY_URL."""
    return service.upper().replace("-", "_") + "_URL"


def via_token(service: str) -> str:
    return f"azora-{service}"


@dataclass(frozen=True)
class Local:
    """Served by this process, at `path` (the prefix removed)."""

    path: str


@dataclass(frozen=True)
class Forward:
    """Sent to `peer` at `url` (path and query included); `timeout` seconds for its answer."""

    peer: str
    url: str
    timeout: float = TIMEOUT_SECONDS


@dataclass(frozen=True)
class NoRoute:
    """A service's prefix this process has no way to reach; `reason` says why."""

    name: str
    reason: str


Decision = Local | Forward | NoRoute


@dataclass(frozen=True)
class Upstreams:
    """One service's peers (service -> base URL, no trailing slash) and its prefix routes."""

    service: str
    peers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Upstreams:
        """The peers `<PEER>_URL` name; ValueError names a bad variable."""
        env = os.environ if environ is None else environ
        explicit: dict[str, str] = {}
        for peer in AZORA_SERVICES:
            value = env.get(url_variable(peer), "").strip()
            if value and peer != service:
                explicit[peer] = _base_url(value, url_variable(peer))
        return cls(service, explicit)

    def describe(self) -> str:
        return ", ".join(f"{peer} {url}" for peer, url in sorted(self.peers.items())) or "none"

    def route(self, path: str, query: str = "") -> Decision | None:
        """Where a request for `path` goes; None: not a service prefix here (the normal routes)."""
        if not self.peers:
            return None
        name, _, rest = path.lstrip("/").partition("/")
        local_path = "/" + rest
        if name == self.service:
            return Local(local_path)
        service = name.removesuffix(PREVIEW_SUFFIX)
        if not name or service not in {*AZORA_SERVICES, *self.peers}:
            return None
        suffix = f"?{query}" if query else ""
        if service in self.peers:
            base = self.peers[service] if name == service else preview_url(self.peers[service], service, name)
            if base is None:
                return NoRoute(name, f"{self.peers[service]} names no Service whose preview could be {name}")
            return Forward(name, base + local_path + suffix)
        if GATEWAY in self.peers:
            # The gateway waits TIMEOUT_SECONDS for the service: waiting longer here lets its 504,
            # which names the service, come back instead of one naming the gateway.
            return Forward(GATEWAY, self.peers[GATEWAY] + path + suffix, VIA_GATEWAY_TIMEOUT_SECONDS)
        return NoRoute(name, f"{self.service} talks to {', '.join(sorted(self.peers))} only")

    def no_route(self, decision: NoRoute) -> Reply:
        body = {"error": f"{self.service} has no route to {decision.name}: {decision.reason}"}
        return 404, json.dumps(body), {"Content-Type": "application/json"}

    def forward(
        self,
        decision: Forward,
        method: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        client: str = "",
    ) -> Reply:
        """Send the request on to the peer and return its answer (502/504 when it has none)."""
        headers = list(headers)
        token = via_token(self.service)
        seen = [value for key, value in headers if key.lower() == "via"]
        if any(token in part.split() for value in seen for part in value.split(",")):
            return self._error(508, decision, "the request already passed this service (a routing loop)")
        sent = [(key, value) for key, value in headers if key.lower() not in HOP_BY_HOP and key.lower() != "via"]
        sent.append(("Via", ", ".join([*seen, f"1.1 {token}"])))
        if client:
            sent.append(("X-Forwarded-For", client))
        parts = urlsplit(decision.url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.hostname or "", parts.port, timeout=decision.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for key, value in sent:
                connection.putheader(key, value)
            if body or method in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:
            return self._error(504, decision, f"no answer within {decision.timeout:g} s")
        except socket.gaierror as exc:
            return self._error(502, decision, f"cannot resolve {parts.hostname}: {exc.strerror or exc}")
        except (OSError, http.client.HTTPException) as exc:
            return self._error(502, decision, getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        finally:
            connection.close()
        returned = {name: found for name in RETURNED_HEADERS if (found := response.getheader(name)) is not None}
        cookies = response.headers.get_all("Set-Cookie") or []
        if cookies:
            returned["Set-Cookie"] = "\n".join(cookies)
        return response.status, data.decode("utf-8", "replace"), returned

    def _error(self, status: int, decision: Forward, reason: str) -> Reply:
        body = {"error": f"{self.service} cannot reach {decision.peer} at {decision.url}: {reason}"}
        return status, json.dumps(body), {"Content-Type": "application/json"}


def preview_url(base_url: str, service: str, preview: str) -> str | None:
    """A peer's URL with its Service swapped for the preview one (`auth.ns.svc...` ->
    `auth-preview.ns.svc...`), or None when its host does not start with the Service's name."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    first, dot, rest = host.partition(".")
    if first != service:
        return None
    netloc = preview + dot + rest + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def _base_url(value: str, variable: str) -> str:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{variable} must be an http(s) URL like http://auth:8081, not {value!r}")
    return value.rstrip("/")
