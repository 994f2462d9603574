"""The pinned versions: ``toolchain/pins.toml`` read into ``Pins``.

``toolchain/pins.toml`` is the one place the toolchain's versions are written down
(the Python SDKs, the Go modules that build the CLI and the providers, the minimum
Go, the cluster group's etcd, Kubernetes, kwok and CoreDNS). This module reads it, compares
it with the Python SDKs installed in this interpreter, and parses version strings.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from azora.toolchain.errors import ToolchainError
from azora.toolchain.paths import PINS_FILE


def parse_version(text: str) -> tuple[int, int, int]:
    """``"v3.259.0"``, ``"3.259.0"`` or ``"go1.26.8"`` -> ``(3, 259, 0)``; pre-release
    and build suffixes are ignored. Raises ValueError for anything else."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


@dataclass(frozen=True)
class Pins:
    """The versions in ``toolchain/pins.toml`` (see the comments there for why)."""

    pulumi: str
    kubernetes: str
    random: str
    go_minimum: str
    pulumi_module_version: str
    kubernetes_module: str
    kubernetes_module_version: str
    kubernetes_sdk_module_version: str
    random_terraform_provider: str
    helm: str = "v3.18.6"
    cluster_etcd: str = "v3.6.5"
    cluster_kubernetes: str = "v1.34.1"
    cluster_kwok: str = "v0.7.0"
    cluster_coredns: str = "v1.13.1"
    cluster_prometheus: str = "v0.316.0"

    @classmethod
    def load(cls, path: Path = PINS_FILE) -> Pins:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ToolchainError(
                f"{path} is missing; azora's toolchain is built from a checkout of the "
                "azora repository (run azora from the repository, e.g. after `pip install -e .`)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ToolchainError(f"{path} is not valid TOML: {exc}") from None
        try:
            return cls(
                pulumi=data["sdk"]["pulumi"],
                kubernetes=data["sdk"]["pulumi-kubernetes"],
                random=data["sdk"]["pulumi-random"],
                go_minimum=data["go"]["minimum"],
                pulumi_module_version=data["pulumi"]["module_version"],
                kubernetes_module=data["kubernetes"]["module"],
                kubernetes_module_version=data["kubernetes"]["module_version"],
                kubernetes_sdk_module_version=data["kubernetes"]["sdk_module_version"],
                random_terraform_provider=data["random"]["terraform_provider"],
                helm=data["kubernetes"]["helm"],
                cluster_etcd=data["cluster"]["etcd"],
                cluster_kubernetes=data["cluster"]["kubernetes"],
                cluster_kwok=data["cluster"]["kwok"],
                cluster_coredns=data["cluster"]["coredns"],
                cluster_prometheus=data["cluster"]["prometheus"],
            )
        except KeyError as exc:
            raise ToolchainError(f"{path} lacks the key {exc}") from None

    @property
    def sdk_versions(self) -> dict[str, str]:
        """Python distribution name -> version it must be pinned to."""
        return {
            "pulumi": self.pulumi,
            "pulumi-kubernetes": self.kubernetes,
            "pulumi-random": self.random,
        }

    @property
    def plugins(self) -> dict[str, str]:
        """Resource plugin name -> version the Python SDKs ask the engine for."""
        return {"kubernetes": self.kubernetes, "random": self.random}

    def tag(self) -> str:
        """Name of the cache directory for these versions, e.g.
        ``pulumi-3.259.0_kubernetes-4.25.0_random-4.16.6``. Further groups (e.g. a
        ``cluster`` group) build into the same directory with their own stamps."""
        return f"pulumi-{self.pulumi}_kubernetes-{self.kubernetes}_random-{self.random}"


def installed_sdk_versions(names: Sequence[str]) -> dict[str, str | None]:
    """Versions of the given Python distributions in this interpreter (None if absent)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def sdk_mismatches(pins: Pins) -> list[str]:
    """Human-readable differences between pins.toml and the installed Python SDKs."""
    problems = []
    for name, installed in installed_sdk_versions(list(pins.sdk_versions)).items():
        wanted = pins.sdk_versions[name]
        if installed is not None and installed != wanted:
            problems.append(f"{name} {installed} is installed but the toolchain pins {wanted}")
    return problems
