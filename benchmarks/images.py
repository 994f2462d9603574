"""How long do the embedded cluster's images take to build and import, cold and warm?

    .venv/bin/python benchmarks/images.py [--address SOCK] [--pause PATH] [--prometheus PATH] [--keep]

Times, in seconds:

- stand-in, cold build: into an empty cache directory (mmdebstrap downloads and unpacks the
  Debian packages; the layers and the archive are written); warm: the same again (a cache hit:
  hashing the stand-in's sources, reading meta.json);
- Prometheus, cold build: from the toolchain's static binary (`--prometheus`, or the one in the
  toolchain's bin directory: `azora tools install --with cluster`): the binary checked (ELF, Go
  build info), hashed, written as one gzip layer and archived; warm: checked and hashed again;
- pause build: the pause image from a static binary (`--pause`, or a stand-in pause built here
  with `CGO_ENABLED=0 go build`);
- import: the three images and the local stack's names into containerd (the stack with the
  embedded Prometheus): first into an empty one (import, unpack, tag), then again (one
  `ctr images ls` per image, nothing to do); each image's share is printed below the total.

Without `--address`, a throwaway containerd (needs root) runs under a temporary directory that is
unmounted and removed at the end. A plain script, not a test: the figures depend on the machine
and on the Debian mirror.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without relying on the editable install

from azora.config.load import load_stack_file  # noqa: E402
from azora.config.model import StackConfig  # noqa: E402
from azora.images import ImageReport, build, ensure_stack_images  # noqa: E402
from azora.images.containerd import ctr_command  # noqa: E402
from azora.toolchain import CLUSTER_GROUP, find_toolchain  # noqa: E402

PAUSE_GO = """package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
"""
CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.internal.v1.opt"]  # it would create /opt/containerd
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni"
    conf_dir = "{d}/cni"
"""


def build_pause(directory: Path) -> Path:
    (directory / "main.go").write_text(PAUSE_GO)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
    subprocess.run([go, "build", "-o", "pause", "main.go"], cwd=directory, env=env, check=True)
    return directory / "pause"


@contextmanager
def throwaway_containerd(directory: Path) -> Iterator[str]:
    (directory / "cni").mkdir()
    (directory / "config.toml").write_text(CONFIG.format(d=directory, pause=build.PAUSE_IMAGE))
    address = str(directory / "c.sock")
    with open(directory / "containerd.log", "w") as log:
        process = subprocess.Popen(["containerd", "--config", str(directory / "config.toml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(ctr_command(address, "version"), capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"containerd did not start; see {directory / 'containerd.log'}")
            time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for point in sorted((p for p in mounts if p.startswith(f"{directory}/")), key=len, reverse=True):
            subprocess.run(["umount", "--lazy", point], check=False)


def timed(label: str, action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    print(f"{label:<48} {seconds:8.3f} s", flush=True)
    return seconds


def with_embedded_prometheus(config: StackConfig) -> StackConfig:
    """The stack running the embedded Prometheus, whatever its file says about monitoring."""
    prometheus = config.monitoring.prometheus.model_copy(update={"enabled": True, "mode": "embedded"})
    monitoring = config.monitoring.model_copy(update={"enabled": True, "prometheus": prometheus})
    return config.model_copy(update={"monitoring": monitoring})


def built(label: str, cold_how: str, build_image: Callable[[], build.BuiltImage]) -> None:
    """Cold then warm build of one image, with its size (and Debian package count, if it has any)."""
    images: list[build.BuiltImage] = []
    timed(f"{label}: cold build ({cold_how})", lambda: images.append(build_image()))
    timed(f"{label}: warm build (cache hit)", lambda: images.append(build_image()))
    cold, warm = images
    packages = f", {len(cold.packages)} Debian packages" if cold.packages else ""
    print(f"  {cold.ref} {cold.digest[:19]}: archive {cold.size / 2**20:.1f} MiB{packages}")
    print(f"  cache hits: cold {cold.cache_hit}, warm {warm.cache_hit}")


def toolchain_prometheus() -> Path:
    found = find_toolchain((CLUSTER_GROUP,))
    if found is None:
        raise SystemExit(
            "the toolchain has no Prometheus: run `azora tools install --with cluster`, or pass --prometheus"
        )
    return found.bin_dir / "prometheus"


def imported(label: str, action: Callable[[], ImageReport]) -> None:
    reports: list[ImageReport] = []
    timed(label, lambda: reports.append(action()))
    for result in reports[0].results:
        print(f"  {result.ref:<46} {result.import_seconds:8.3f} s ({'imported' if result.imported else 'present'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", help="an existing containerd's socket (default: start a throwaway one)")
    parser.add_argument("--pause", type=Path, help="a static pause binary (default: build one with Go)")
    parser.add_argument("--prometheus", type=Path, help="the static Prometheus (default: the toolchain's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="azimg-bench-", dir="/tmp"))
    cache = work / "cache"
    try:
        prometheus = args.prometheus or toolchain_prometheus()
        built("stand-in", "empty cache, mmdebstrap", lambda: build.build_standin_image(cache))
        size = f"{prometheus.stat().st_size / 2**20:.0f} MiB"
        built("prometheus", f"{size} binary", lambda: build.build_prometheus_image(prometheus, cache))
        pause = args.pause or build_pause(work)
        timed("pause build", lambda: build.build_pause_image(pause, cache))
        config = with_embedded_prometheus(load_stack_file(ROOT / "Pulumi.local.yaml"))

        def ensure() -> ImageReport:
            return ensure_stack_images(config, address, pause, prometheus, cache=cache)

        with throwaway_containerd(work) if args.address is None else _given(args.address) as address:
            imported("import into containerd (first)", ensure)
            imported("import again (nothing to do)", ensure)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


@contextmanager
def _given(address: str) -> Iterator[str]:
    yield address


if __name__ == "__main__":
    sys.exit(main())
