"""checkov skip annotations: where an object deliberately differs from one of checkov's
Kubernetes checks, the component that builds it says so on the object, with the reason.

checkov (the independent scanner `tests/integration/test_checkov.py` runs on the rendered
production stack) reads `checkov.io/skip<N>: <CHECK_ID>=<reason>` from an object's
`metadata.annotations` and reports the check as skipped with that reason instead of failed. It
splits the value at every '=', so a reason holding one would break the scan: refused here.
A skip is written only where the difference exists, so a later fix makes it disappear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PREFIX = "checkov.io/skip"
CHECK_ID = re.compile(r"^CKV_K8S_[0-9]+$")


def skip_annotations(skips: Mapping[str, str]) -> dict[str, str]:
    """`{check id: reason}` as checkov's annotations (`checkov.io/skip1`, `skip2`, ... in id order).
    ValueError names a check whose id or reason checkov could not read."""
    annotations: dict[str, str] = {}
    for number, (check, reason) in enumerate(sorted(skips.items()), start=1):
        if not CHECK_ID.match(check):
            raise ValueError(f"checkov skip {check!r}: not a Kubernetes check id such as CKV_K8S_15")
        reason = " ".join(reason.split())
        if not reason:
            raise ValueError(f"checkov skip {check}: a skip needs a reason a reviewer can read")
        if "=" in reason:
            raise ValueError(f"checkov skip {check}: the reason may not contain '=' (checkov splits on it): {reason!r}")
        annotations[f"{PREFIX}{number}"] = f"{check}={reason}"
    return annotations
