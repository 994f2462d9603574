"""Finding a toolchain that is ready now, never building one.

A usable toolchain is either azora's own build in the cache (every piece of the
requested groups stamped fresh for the current pins) or, for the Pulumi group only, a
compatible ``pulumi`` already on PATH (same major version as the installed SDK and
not older, with the Python language host and the pinned provider plugins).
``Toolchain`` describes the one found, and ``Toolchain.env()`` is the environment to
run ``pulumi`` in.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from azora.toolchain.catalog import PULUMI_GROUP, pieces_for
from azora.toolchain.gobuild import run_quiet
from azora.toolchain.paths import cache_root, toolchain_dir
from azora.toolchain.pins import Pins, installed_sdk_versions, parse_version
from azora.toolchain.stamps import is_fresh


@dataclass(frozen=True)
class Toolchain:
    """A usable Pulumi toolchain.

    ``bin_dir`` holds ``pulumi`` and the plugins; prepend it to PATH (``env()`` does).
    ``source`` is ``"cache"`` for azora's own build and ``"system"`` for a compatible
    Pulumi installation that was already on PATH.
    """

    bin_dir: Path
    source: Literal["cache", "system"]
    pulumi_version: str
    plugins: Mapping[str, str] = field(default_factory=dict)

    @property
    def pulumi(self) -> Path:
        """Path of the ``pulumi`` executable."""
        return self.bin_dir / "pulumi"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for running ``pulumi`` (CLI or Automation API).

        Starts from ``base`` (default ``os.environ``) and sets:

        * ``PATH``: ``bin_dir`` first, so the CLI finds the language host, the exec
          shims and the provider binaries next to it;
        * ``PULUMI_SKIP_UPDATE_CHECK=true``: no network lookup of newer CLIs;
        * ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true``: a missing plugin is an
          error, never a download attempt;
        * ``PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true``: the Automation API accepts
          the CLI without probing its version;
        * ``PULUMI_PYTHON_CMD`` (only if unset): this interpreter, so programs and
          policy packs without a ``virtualenv`` option import the same packages as
          azora itself;
        * ``PULUMI_HOME`` (only if unset): ``$HOME/.pulumi``. Without it the CLI takes
          the home directory of the user's passwd entry, so where ``$HOME`` differs (a
          CI container, ``HOME=/tmp/x``) ``azora tools install`` registered the plugins
          in one place and the engine looked for them in another.
        """
        env = dict(os.environ if base is None else base)
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != self.bin_dir]
        env["PATH"] = os.pathsep.join([str(self.bin_dir), *parts])
        env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
        env["PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK"] = "true"
        env.setdefault("PULUMI_PYTHON_CMD", sys.executable)
        env.setdefault("PULUMI_HOME", str(Path(env.get("HOME") or Path.home()) / ".pulumi"))
        return env


def find_toolchain(groups: Sequence[str] = (PULUMI_GROUP,)) -> Toolchain | None:
    """A toolchain that is ready now, or None. Never builds and never installs.

    Prefers azora's cached build when every piece of ``groups`` is built from the
    current pins; otherwise a compatible ``pulumi`` on PATH that already has the
    pinned provider plugins (only for the Pulumi group, which is all it can offer).
    """
    pins = Pins.load()
    cached = cached_toolchain(pins, groups)
    if cached is not None:
        return cached
    if set(groups) <= {PULUMI_GROUP}:
        return system_toolchain(pins)
    return None


def cached_toolchain(pins: Pins, groups: Sequence[str]) -> Toolchain | None:
    """azora's build for these pins if every piece of ``groups`` is fresh, else None."""
    root = toolchain_dir(pins)
    if all(is_fresh(root, piece) for piece in pieces_for(pins, groups)):
        return Toolchain(root / "bin", "cache", pins.pulumi, pins.plugins)
    return None


def required_pulumi(pins: Pins) -> str:
    """The oldest CLI azora accepts: the installed ``pulumi`` SDK's version (the CLI
    must know everything the SDK may ask of it), or the pinned one if not installed."""
    return installed_sdk_versions(["pulumi"])["pulumi"] or pins.pulumi


def is_compatible_cli(cli_version: str, sdk_version: str) -> bool:
    """Same major version as the SDK and not older than it."""
    try:
        cli, sdk = parse_version(cli_version), parse_version(sdk_version)
    except ValueError:
        return False
    return cli[0] == sdk[0] and cli >= sdk


def installed_plugins(pulumi: Path, env: Mapping[str, str] | None = None) -> set[tuple[str, str, str]]:
    """``(kind, name, version)`` of the plugins ``pulumi plugin ls --json`` reports."""
    out = run_quiet([str(pulumi), "plugin", "ls", "--json"], env=env)
    if not out:
        return set()
    try:
        entries = json.loads(out) or []
    except ValueError:
        return set()
    return {
        (str(e.get("kind")), str(e.get("name")), str(e.get("version", "")).lstrip("v"))
        for e in entries
        if isinstance(e, dict)
    }


def system_toolchain(pins: Pins) -> Toolchain | None:
    """A compatible ``pulumi`` on PATH with the language host and the pinned plugins, else None."""
    found = shutil.which("pulumi")
    if found is None:
        return None
    pulumi = Path(found).resolve()
    if cache_root().resolve() in pulumi.parents:
        return None  # one of our own (maybe stale) builds on PATH: not a system install
    version = (run_quiet([str(pulumi), "version"]) or "").strip().lstrip("v")
    if not version or not is_compatible_cli(version, required_pulumi(pins)):
        return None
    if not (pulumi.parent / "pulumi-language-python").exists() and not shutil.which("pulumi-language-python"):
        return None
    toolchain = Toolchain(pulumi.parent, "system", version, pins.plugins)
    plugins = installed_plugins(pulumi, toolchain.env())  # in the PULUMI_HOME the engine will use
    if not all(("resource", name, v) in plugins for name, v in pins.plugins.items()):
        return None
    return toolchain
