"""The stack outputs contract: what the program exports per service, and how readers parse it.

`components/platform.py` exports `services` = {name: record}; `azora smoke`, the release
workflow and the E2E tooling read it back (from the engine, or from `pulumi stack output
--json`). Both sides use this module, so the keys and their meaning are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azora.config.model import COLORS, Color, StackConfig, other_color


class OutputsError(ValueError):
    """Stack outputs that do not follow the contract; the message names the key path."""


@dataclass(frozen=True)
class ServiceOutputs:
    """One service's exported record."""

    name: str
    active_color: Color
    active_service: str
    preview_service: str  # "" when the idle colour has no version (nothing listens)
    versions: dict[str, str]
    health_url: str  # the active Service's in-cluster health URL
    public_url: str  # "" when not exposed

    @property
    def idle_color(self) -> Color:
        return other_color(self.active_color)

    def record(self) -> dict[str, Any]:
        """The exported JSON object (camelCase keys)."""
        return service_record(
            active_color=self.active_color,
            active_service=self.active_service,
            preview_service=self.preview_service,
            versions=self.versions,
            health_url=self.health_url,
            public_url=self.public_url,
        )

    @classmethod
    def parse(cls, name: str, record: Any) -> ServiceOutputs:
        """Read one exported record; every problem names `services.<name>.<key>`."""
        where = f"stack outputs: services.{name}"
        if not isinstance(record, Mapping):
            raise OutputsError(f"{where}: expected an object")
        for key in ("activeColor", "healthUrl"):
            if not isinstance(record.get(key), str) or not record[key]:
                raise OutputsError(f"{where}.{key}: missing or not a string")
        if record["activeColor"] not in COLORS:
            raise OutputsError(f"{where}.activeColor: must be blue or green, got {record['activeColor']!r}")
        versions = record.get("versions", {})
        if not isinstance(versions, Mapping):
            raise OutputsError(f"{where}.versions: expected an object")
        return cls(
            name=name,
            active_color=record["activeColor"],
            active_service=str(record.get("activeService") or name),
            preview_service=str(record.get("previewService") or ""),
            versions={str(k): str(v) for k, v in versions.items()},
            health_url=record["healthUrl"],
            public_url=str(record.get("publicUrl") or ""),
        )


def service_record(
    *, active_color: Any, active_service: Any, preview_service: Any, versions: Any, health_url: Any, public_url: Any
) -> dict[str, Any]:
    """The exported object of one service. Values may be Pulumi Outputs (in the program)."""
    return {
        "activeColor": active_color,
        "activeService": active_service,
        "previewService": preview_service,
        "versions": versions,
        "healthUrl": health_url,
        "publicUrl": public_url,
    }


def health_url(config: StackConfig, name: str, service_name: str | None = None) -> str:
    """The in-cluster health URL of a service's active (or named) Service."""
    svc = config.services[name]
    return f"http://{service_name or name}.{config.namespace}.svc.cluster.local:{svc.port}{svc.health_path}"


def public_url(config: StackConfig, name: str) -> str:
    host = config.host_for(name)
    return f"https://{host}" if host else ""


def expected(config: StackConfig) -> dict[str, Any]:
    """The outputs the program exports for this config, without running it."""
    services = {}
    for name, svc in config.services.items():
        status = config.status_of(name)
        services[name] = ServiceOutputs(
            name=name,
            active_color=status.active_color,
            active_service=name,
            preview_service=f"{name}-preview" if status.idle_color in svc.versions else "",
            versions={str(color): tag for color, tag in svc.versions.items()},
            health_url=health_url(config, name),
            public_url=public_url(config, name),
        ).record()
    return {"environment": config.environment, "namespace": config.namespace, "services": services}


def parse_services(outputs: Mapping[str, Any]) -> dict[str, ServiceOutputs]:
    """Every service record of a stack's outputs."""
    services = outputs.get("services")
    if not isinstance(services, Mapping) or not services:
        raise OutputsError("stack outputs: no `services` output (is this the output of the azora program?)")
    return {name: ServiceOutputs.parse(name, record) for name, record in services.items()}
