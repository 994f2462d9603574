"""Build the Azora PolicyPack. Only the Pulumi analyzer runs this file: constructing the
PolicyPack starts a gRPC server and blocks (pulumi-policy#365), so nothing imports it."""

import sys
from pathlib import Path

# The analyzer runs this file from policy/; make `policy.*` importable from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.adapters import sdk_policies  # noqa: E402

PolicyPack(name="azora", enforcement_level=EnforcementLevel.MANDATORY, policies=sdk_policies())
