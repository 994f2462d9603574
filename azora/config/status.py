"""Release state: what the release workflow records per service, apart from what people write.

Argo Rollouts keeps `status` apart from `spec`; the stack file keeps `azora:status` apart
from `azora:services` the same way, so a release PR reads as the few lines that changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator

from azora.config.base import Color, Model

Verdict = Literal["Successful", "Failed", "Error", "Inconclusive"]
Decision = Literal["promoted", "analyzing", "verified", "held", "switched-back"]


def _iso_time(value: str | None) -> str | None:
    if value is not None:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 time, got {value!r}") from None
        if when.tzinfo is None:
            raise ValueError(f"must include a UTC offset (e.g. {value}+00:00), got {value!r}")
    return value


class Revision(Model):
    """A colour running a version, and when a gate said so."""

    color: Color = Field(description="The colour.")
    version: str = Field(description="The version it ran.")
    at: str = Field(description="When (UTC, ISO 8601).")

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        return _iso_time(value) or value


class AnalysisRun(Revision):
    """The last gated promotion of a service: what was under test, each gate's verdict, the decision.
    The measurements themselves are in the message of the update that recorded it."""

    pre_promotion: Verdict | None = Field(default=None, description="The pre-promotion gate's verdict.")
    post_promotion: Verdict | None = Field(default=None, description="The post-promotion gate's verdict.")
    decision: Decision = Field(
        description="promoted: switched after its pre-promotion gate (it has no post-promotion gate); "
        "analyzing: switched, the post-promotion gate is running; verified: the post-promotion gate passed; held: "
        "the post-promotion gate was Inconclusive; switched-back: it failed and the old colour is active again. "
        "`azora scale-down` leaves the old colour up while analyzing or held (unless --now)."
    )


class ServiceStatus(Model):
    """What the release workflow records for one service, apart from what a person asks for
    (Argo Rollouts keeps `status` apart from `spec` the same way). `azora deploy`, `promote`,
    `scale-down` and `rollback` write it; a person may set `activeColor` by hand."""

    active_color: Color = Field(default="blue", description="The colour the active Service routes to.")
    idle_scaled_up: bool = Field(
        default=False,
        description="The idle colour runs `replicas` instead of `previewReplicas`; set by "
        "`azora deploy` and `promote`, cleared by `azora scale-down`.",
    )
    promoted_at: str | None = Field(
        default=None,
        description="When `azora promote` last switched colours (UTC, ISO 8601); the old colour keeps "
        "its replicas until scaleDownDelaySeconds after it.",
    )

    analysis: AnalysisRun | None = Field(
        default=None, description="The last gated `azora promote`: verdicts and decision (azora/gates)."
    )
    verified: Revision | None = Field(
        default=None,
        description="The last revision whose post-promotion gate passed; the service's active revision is "
        "verified while it is this one (`azora history`, `azora rollback --verified`).",
    )

    @field_validator("promoted_at")
    @classmethod
    def _promoted_at(cls, value: str | None) -> str | None:
        return _iso_time(value)

    @property
    def idle_color(self) -> Color:
        return other_color(self.active_color)

    @property
    def held(self) -> bool:
        """The post-promotion gate is running or could not decide: the old colour stays up."""
        return self.analysis is not None and self.analysis.decision in ("analyzing", "held")

    def is_verified(self, versions: dict[Color, str]) -> bool:
        """The active colour runs the revision the last passing gate verified."""
        record = self.verified
        return record is not None and record.color == self.active_color and versions.get(record.color) == record.version


def other_color(color: Color) -> Color:
    """The colour that is not `color`: the idle one of an active colour, and back."""
    return "green" if color == "blue" else "blue"


# Keys that older stack files kept under `services.<name>` and now live in `azora:status`.
LEGACY_STATUS_KEYS = ("activeColor", "idleScaledUp", "promotedAt")


def split_legacy_status(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Raw `azora:` config in today's layout: release state found under `services.<name>` (the
    layout before `azora:status`) moved to `status.<name>`, unless status already has that key.
    Returns the new raw config and the services that were moved (empty for today's layout)."""
    services, status = raw.get("services"), raw.get("status", {})
    if not isinstance(services, dict) or not isinstance(status, dict):
        return raw, []  # the model reports a malformed `services` or `status` itself
    new_status = {name: dict(entry) if isinstance(entry, dict) else entry for name, entry in status.items()}
    new_services: dict[str, Any] = {}
    moved: list[str] = []
    for name, svc in services.items():
        entry = new_status.get(name, {})
        if not isinstance(svc, dict) or not isinstance(entry, dict) or not any(k in svc for k in LEGACY_STATUS_KEYS):
            new_services[name] = svc  # nothing to move, or malformed: the model reports it
            continue
        moved.append(name)
        new_status[name] = entry
        for key in LEGACY_STATUS_KEYS:
            if key in svc:
                entry.setdefault(key, svc[key])
        new_services[name] = {key: value for key, value in svc.items() if key not in LEGACY_STATUS_KEYS}
    if not moved:
        return raw, []
    return {**raw, "services": new_services, "status": new_status}, moved
