"""The base of every config model, and the two colours of a blue/green service."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")


class Model(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, strict types."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )
