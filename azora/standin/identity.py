"""Who a one-service stand-in is, read from the environment a pod gets.

components/platform.py sets AZORA_SERVICE and AZORA_ENVIRONMENT on every service's pods and
components/blue_green.py adds AZORA_COLOR and AZORA_VERSION (the full image tag). PORT and
HEALTH_PATH say where to listen and what the probes ask for; they default to 8080 and /health.
An unset or empty variable counts as missing: the service is then "standin" and the colour,
version and environment "unknown" (a hand-run process claims no blue/green identity).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azora.standin.faults import Faults, parse_faults

DEFAULT_PORT = 8080
DEFAULT_HEALTH_PATH = "/health"
UNKNOWN = "unknown"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class ServiceIdentity:
    """One Azora service's identity and where it serves; its faults come from its version."""

    service: str = "standin"
    color: str = UNKNOWN
    version: str = UNKNOWN
    environment: str = UNKNOWN
    port: int = DEFAULT_PORT
    health_path: str = DEFAULT_HEALTH_PATH

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"PORT must be a port number (0-65535; 0 picks a free one), not {self.port}")
        path = self.health_path
        if not path.startswith("/") or any(c.isspace() or c in "?#" for c in path) or path == METRICS_PATH:
            raise ValueError(f"HEALTH_PATH must be a plain absolute path other than {METRICS_PATH}, not {path!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceIdentity:
        """The identity that AZORA_SERVICE, AZORA_COLOR, AZORA_VERSION, AZORA_ENVIRONMENT, PORT
        and HEALTH_PATH describe (`os.environ` by default). ValueError names a bad variable."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        port_text = get("PORT", str(DEFAULT_PORT))
        if not port_text.isdigit():
            raise ValueError(f"PORT must be a port number (0-65535; 0 picks a free one), not {port_text!r}")
        return cls(
            service=get("AZORA_SERVICE", cls.service),
            color=get("AZORA_COLOR", UNKNOWN),
            version=get("AZORA_VERSION", UNKNOWN),
            environment=get("AZORA_ENVIRONMENT", UNKNOWN),
            port=int(port_text),
            health_path=get("HEALTH_PATH", DEFAULT_HEALTH_PATH),
        )

    @property
    def faults(self) -> Faults:
        """The failure modes its version asks for (azora/standin/faults.py)."""
        return parse_faults(self.version)

    def labels(self) -> dict[str, str]:
        """The constant labels of its metrics."""
        return {"service": self.service, "color": self.color, "version": self.version}

    def health_body(self, status: str, error: str | None = None) -> dict[str, Any]:
        """The health endpoint's JSON: status ("ok" or "fail"), service, version, color, environment."""
        body: dict[str, Any] = {
            "status": status,
            "service": self.service,
            "version": self.version,
            "color": self.color,
            "environment": self.environment,
        }
        if error is not None:
            body["error"] = error
        return body
