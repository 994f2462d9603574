"""The base of every config model, the two colours of a blue/green service, and the name and
version checks the model's sections share."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A pinned chart version: exact semver, optionally with a leading v; no ranges.
PINNED_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")


def check_dns_label(value: str, what: str, reserve: int = 0) -> str:
    """Return value if it is a DNS-1123 label short enough to take a `reserve`-long suffix."""
    limit = 63 - reserve
    if not DNS_LABEL.match(value) or len(value) > limit:
        raise ValueError(
            f"{what} {value!r} is not a DNS-1123 label (lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {limit} characters)"
        )
    return value


class Model(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, strict types."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )
