"""The stand-in's /metrics: Prometheus text exposition, through `prometheus_client`.

Two series families, both carrying the labels service, color and version (constant for a
one-service process: its AZORA_SERVICE, AZORA_COLOR and AZORA_VERSION):

  azora_http_requests_total{route, method, code}         counter of answered requests
  azora_http_request_duration_seconds{route}             latency histogram (seconds)

`route` is the route's template (`/courses/{id}`, `unmatched` for a 404), never the raw path,
so a crawler cannot grow the series without bound. Each `Metrics` has its own
`CollectorRegistry`, so several stand-ins in one test process keep separate counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

IDENTITY_LABELS = ("service", "color", "version")
UNMATCHED = "unmatched"
REQUESTS = "azora_http_requests"  # exposed as azora_http_requests_total
DURATION = "azora_http_request_duration_seconds"


class Metrics:
    """Request counts and latencies for one stand-in; `identity` fills service, color, version."""

    # The classic text format, which every Prometheus reads (the names are all legacy-valid);
    # prometheus_client's own CONTENT_TYPE_LATEST moved to version=1.0.0 in newer releases.
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, identity: Mapping[str, str]) -> None:
        self.identity = _identity(identity)
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            REQUESTS,
            "HTTP requests answered, by route template, method and status code.",
            [*IDENTITY_LABELS, "route", "method", "code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            DURATION,
            "Time to answer an HTTP request, by route template.",
            [*IDENTITY_LABELS, "route"],
            registry=self.registry,
        )

    def observe(
        self, route: str, method: str, code: int, seconds: float, identity: Mapping[str, str] | None = None
    ) -> None:
        """Count one answered request. `identity` overrides the default labels for this one (the
        all-services stand-in labels a health request with the service it answered for)."""
        labels = _identity(identity) if identity is not None else self.identity
        self._requests.labels(**labels, route=route, method=method, code=str(code)).inc()
        self._duration.labels(**labels, route=route).observe(seconds)

    def render(self) -> str:
        """The exposition text, as a scrape gets it."""
        return generate_latest(self.registry).decode("utf-8")


def _identity(values: Mapping[str, str]) -> dict[str, str]:
    return {key: str(values.get(key, "")) for key in IDENTITY_LABELS}
