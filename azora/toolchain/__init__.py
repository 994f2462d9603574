"""The Pulumi toolchain azora runs: find it, build it from Go modules, put it on PATH.

Nothing on this project's machines can download the official Pulumi CLI or plugins;
only package registries are reachable, and none ships them. So azora builds every
piece from Go modules with the machine's Go into a versioned cache outside the repo::

    $AZORA_CACHE_DIR | $XDG_CACHE_HOME/azora | ~/.cache/azora
      toolchain/<tag>/bin/         pulumi, pulumi-language-python(-exec): goes on PATH
      toolchain/<tag>/plugins/     provider binaries, installed as Pulumi plugins
      toolchain/<tag>/build/<piece>/  generated wrapper modules
      toolchain/<tag>/stamps/<piece>.json  what was built, from what, in how long
      toolchain/<tag>/logs/<piece>.log     full go output of the last build

`<tag>` names the versions (``pulumi-3.259.0_kubernetes-4.25.0_random-4.16.6``), all
read from ``toolchain/pins.toml``, the one place they are written down. The provider
plugins are then installed with ``pulumi plugin install --file`` so the engine never
tries to download one.

Public API (used by the CLI and by the engine wrappers):

* ``find_toolchain() -> Toolchain | None`` finds a usable toolchain, never builds.
* ``ensure_toolchain(console=None, groups=("pulumi",)) -> Toolchain`` finds or builds.
* ``Toolchain.env(base=os.environ) -> dict[str, str]`` is the environment to run
  ``pulumi`` in: the bin directory first on PATH, update checks and plugin downloads
  off.
* ``ToolchainError`` is raised for everything a user can fix; its message says what
  is missing and what to do, and commands print it instead of a traceback.

Pieces are data (``Piece``): the module, version, packages, link flags and generate
steps of each binary. They come in groups; ``"pulumi"`` is the Pulumi set and a
``"cluster"`` group (a local Kubernetes control plane, its node and DNS) can be added the same way.

Modules, one concept each (every name below is re-exported here, so
``from azora.toolchain import X`` works for all of them):

* ``errors``: ``ToolchainError``;
* ``paths``: the repository's ``toolchain/`` sources and the cache directories;
* ``pins``: ``toolchain/pins.toml`` read into ``Pins``, version parsing;
* ``catalog``: the pieces that can be built and their groups;
* ``stamps``: build stamps, fingerprints, where outputs go, freshness;
* ``gobuild``: the generic Go builder (environment, disk check, locking, running go
  with progress, ``go install``), shared with ``azora.actionlint``;
* ``build``: building one piece (wrapper modules, generate steps, compiling);
* ``discovery``: ``Toolchain`` and finding a ready one (cache or system Pulumi);
* ``install``: ``ensure_toolchain`` (find or build, register plugins), ``describe``.

Tests that replace a function (``monkeypatch.setattr``) must patch the module that
looks it up (e.g. ``azora.toolchain.install.find_go``), not this package.
"""

from __future__ import annotations

from azora.toolchain.build import sibling_version, sums_file, wrapper_gomod
from azora.toolchain.catalog import (
    CLUSTER_GROUP,
    DROP,
    PULUMI_GROUP,
    Generate,
    GoBinary,
    ModuleFile,
    Piece,
    cluster_pieces,
    pieces_for,
    pulumi_pieces,
)
from azora.toolchain.discovery import (
    Toolchain,
    find_toolchain,
    installed_plugins,
    is_compatible_cli,
    required_pulumi,
)
from azora.toolchain.errors import ToolchainError
from azora.toolchain.gobuild import (
    ERROR_TAIL_LINES,
    MIN_FREE_BYTES,
    StepRunner,
    find_go,
    format_seconds,
    go_env,
    go_version,
)
from azora.toolchain.install import PULUMI_INSTALL_HINT, describe, ensure_toolchain, missing_everything_message
from azora.toolchain.paths import PINS_FILE, REPO_ROOT, TOOLCHAIN_SRC, cache_root, toolchain_dir
from azora.toolchain.pins import Pins, installed_sdk_versions, parse_version, sdk_mismatches
from azora.toolchain.stamps import BUILD_RECIPE, fingerprint, is_fresh, output_path, read_stamp, stamp_path, write_stamp

__all__ = [
    "BUILD_RECIPE",
    "CLUSTER_GROUP",
    "DROP",
    "ERROR_TAIL_LINES",
    "MIN_FREE_BYTES",
    "PINS_FILE",
    "PULUMI_GROUP",
    "PULUMI_INSTALL_HINT",
    "REPO_ROOT",
    "TOOLCHAIN_SRC",
    "Generate",
    "GoBinary",
    "ModuleFile",
    "Piece",
    "Pins",
    "StepRunner",
    "Toolchain",
    "ToolchainError",
    "cache_root",
    "cluster_pieces",
    "describe",
    "ensure_toolchain",
    "find_go",
    "find_toolchain",
    "fingerprint",
    "format_seconds",
    "go_env",
    "go_version",
    "installed_plugins",
    "installed_sdk_versions",
    "is_compatible_cli",
    "is_fresh",
    "missing_everything_message",
    "output_path",
    "parse_version",
    "pieces_for",
    "pulumi_pieces",
    "read_stamp",
    "required_pulumi",
    "sdk_mismatches",
    "sibling_version",
    "stamp_path",
    "sums_file",
    "toolchain_dir",
    "wrapper_gomod",
    "write_stamp",
]
