"""Kubernetes resource quantities ("100m", "1", "256Mi") as numbers, so limits compare to requests."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


def parse_quantity(text: str | int | float) -> Decimal:
    """Return the quantity's value in base units (cores for CPU, bytes for memory).

    Raises ValueError with a message fit for a config error when the text is not a quantity.
    """
    if isinstance(text, bool):
        raise ValueError(f"must be a Kubernetes quantity such as '500m' or '256Mi', got {text!r}")
    raw = str(text).strip()
    match = _QUANTITY.match(raw)
    if not match:
        raise ValueError(f"must be a Kubernetes quantity such as '500m' or '256Mi', got {raw!r}")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValueError(f"is not a number: {raw!r}") from exc
    suffix = match["suffix"]
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def format_cpu(cores: Decimal) -> str:
    """Render cores as millicores ("1500m"), the form Kubernetes itself prints."""
    return f"{int((cores * 1000).to_integral_value(rounding='ROUND_CEILING'))}m"


def format_memory(size: Decimal) -> str:
    """Render bytes as whole mebibytes ("768Mi"), rounded up."""
    mebibytes = (size / _BINARY["Mi"]).to_integral_value(rounding="ROUND_CEILING")
    return f"{int(mebibytes)}Mi"
