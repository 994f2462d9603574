"""The Prometheus image built from the toolchain's binary (found as the product finds it, in the
toolchain's bin directory; `azora tools install --with cluster` builds it: skipped without it,
failed under CI), its layer unpacked into a directory as a runtime would, and the real binary
run from it as the image's user: `--version`, the build info azora reads compared with what
`go version -m` prints, and a short run on a read-only root with a `kubernetes_sd_configs` job
(what Debian's build refused: `field kubernetes_sd_configs not found`) that answers /-/ready
while its Kubernetes discovery calls the API server it names."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from azora.images.binaries import go_build_info
from azora.images.build import PROMETHEUS_IMAGE, BuiltImage, build_prometheus_image
from tests.integration.images_support import free_port, http_get, kubernetes_sd_errors, status_ids, stop_process


def _missing() -> str | None:
    absent = [tool for tool in ("chroot", "unshare", "mount") if shutil.which(tool) is None]
    if absent:
        return f"needs {', '.join(absent)}"
    if os.geteuid() != 0:
        return "needs root: chroot and mounts"
    return None


pytestmark = [pytest.mark.integration, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]
NOBODY = "65534:65534"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # for chroot, unshare and mount
KUBERNETES_JOB = """global:
  scrape_interval: 1s
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: https://127.0.0.1:1
        namespaces: {names: [azora]}
"""


@pytest.fixture(scope="module")
def image(prometheus_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    return build_prometheus_image(prometheus_binary, tmp_path_factory.mktemp("image-cache"))


@pytest.fixture(scope="module")
def unpacked(image: BuiltImage) -> Iterator[Path]:
    """The image's layers, in the manifest's order, unpacked into one directory (owners kept)."""
    work = Path(tempfile.mkdtemp(prefix="azprom-", dir="/tmp"))
    try:
        with tarfile.open(image.archive) as archive:
            archive.extractall(work / "archive", filter="data")
        index = json.loads((work / "archive" / "index.json").read_text())
        manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.loads((work / "archive" / "blobs" / "sha256" / manifest_digest).read_text())
        root = work / "rootfs"
        root.mkdir()
        for layer in manifest["layers"]:
            blob = work / "archive" / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
            subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xzpf", str(blob)], check=True)
        yield root
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_image_holds_the_binary_its_default_config_and_storage_for_nobody(
    unpacked: Path, image: BuiltImage, prometheus_binary: Path
) -> None:
    files = {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if not p.is_dir()}
    assert files == {"bin/prometheus", "etc/prometheus/prometheus.yml"}
    binary = (unpacked / "bin/prometheus").read_bytes()
    assert hashlib.sha256(binary).digest() == hashlib.sha256(prometheus_binary.read_bytes()).digest()
    storage = (unpacked / "prometheus").stat()
    assert (storage.st_uid, storage.st_gid, oct(storage.st_mode & 0o7777)) == (65534, 65534, "0o755")
    assert 20 * 2**20 < image.size < 30 * 2**20  # one layer: the 76 MB binary at gzip level 1 is 25 MiB


def test_azora_reads_the_build_info_go_version_m_prints(prometheus_binary: Path) -> None:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.skip("needs Go: `go version -m` is the reference")
    printed = subprocess.run([go, "version", "-m", str(prometheus_binary)], capture_output=True, text=True, check=True)
    lines = [line.strip().split("\t") for line in printed.stdout.splitlines()[1:]]
    info = go_build_info(prometheus_binary.read_bytes())
    assert info is not None and printed.stdout.startswith(f"{prometheus_binary}: {info.go}\n")
    assert info.modules == {words[1]: words[2] for words in lines if words[0] in ("mod", "dep")}
    assert info.settings == dict(words[1].partition("=")[::2] for words in lines if words[0] == "build")
    assert info.modules["github.com/prometheus/prometheus"] == "v0.316.0"
    assert {"remove_all_sd", "enable_kubernetes_sd"} <= set(info.tags) and info.settings["CGO_ENABLED"] == "0"


def test_the_unpacked_image_runs_prometheus_version_as_nobody(unpacked: Path) -> None:
    done = subprocess.run(
        ["chroot", f"--userspec={NOBODY}", str(unpacked), "/bin/prometheus", "--version"],
        capture_output=True, text=True, timeout=30, env={"PATH": SYSTEM_PATH},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (done.stdout or done.stderr).splitlines()
    assert lines[0].startswith(f"prometheus, version {PROMETHEUS_IMAGE.rsplit(':', 1)[1]} ")
    assert [line.split()[-1] for line in lines if line.strip().startswith("tags:")] == [
        "remove_all_sd,enable_kubernetes_sd"
    ]


# In a mount namespace of its own (gone with the process): the unpacked image made read-only, a
# writable /prometheus (the pod's emptyDir) and the config read-only over /etc/prometheus (the
# ConfigMap); then, as nobody, the image's entrypoint. Every step execs: the pid is Prometheus's.
READ_ONLY_RUN = """set -e
root=$1 data=$2 config=$3
shift 3
mount --bind "$root" "$root"
mount --bind "$data" "$root/prometheus"
mount --bind "$config" "$root/etc/prometheus"
mount -o remount,bind,ro "$root/etc/prometheus"
mount -o remount,bind,ro "$root"
exec chroot --userspec=65534:65534 "$root" /bin/prometheus "$@"
"""


def test_it_runs_on_a_read_only_root_and_discovers_with_kubernetes(unpacked: Path, tmp_path: Path) -> None:
    port, data, config = free_port(), tmp_path / "data", tmp_path / "config"
    data.mkdir()
    data.chmod(0o777)  # an emptyDir: made by the kubelet, writable by the pod's user
    config.mkdir()
    (config / "prometheus.yml").write_text(KUBERNETES_JOB)
    args = ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    args.append(f"--web.listen-address=127.0.0.1:{port}")
    log = tmp_path / "prometheus.log"
    with open(log, "w") as out:
        command = ["unshare", "--mount", "sh", "-c", READ_ONLY_RUN, "sh", str(unpacked), str(data), str(config), *args]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={"PATH": SYSTEM_PATH})
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            assert http_get(f"{base}/-/ready", time.monotonic() + 30) == (200, "Prometheus Server is Ready.\n")
        except OSError:
            pytest.fail(f"prometheus did not become ready:\n{log.read_text()[-3000:]}")
        assert http_get(f"{base}/-/healthy", time.monotonic() + 5)[0] == 200
        build = json.loads(http_get(f"{base}/api/v1/status/buildinfo", time.monotonic() + 5)[1])["data"]
        assert build["version"] == PROMETHEUS_IMAGE.rsplit(":", 1)[1]
        loaded = json.loads(http_get(f"{base}/api/v1/status/config", time.monotonic() + 5)[1])["data"]["yaml"]
        assert "kubernetes_sd_configs:" in loaded and "api_server: https://127.0.0.1:1" in loaded
        deadline, failed = time.monotonic() + 20, 0.0
        while failed < 1 and time.monotonic() < deadline:  # its discovery keeps calling the API server
            failed = kubernetes_sd_errors(http_get(f"{base}/metrics", deadline)[1])
            time.sleep(0.2)
        assert failed >= 1
        assert process.poll() is None, log.read_text()[-3000:]  # still up: the job was accepted
        status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        assert next(line for line in status if line.startswith("Name:")).split()[1] == "prometheus"
        assert status_ids(process.pid) == ["65534"] * 4
        mounts = [line.split() for line in Path(f"/proc/{process.pid}/mountinfo").read_text().splitlines()]
        options = {fields[4]: fields[5].split(",") for fields in mounts}
        assert "ro" in options["/"] and "rw" in options["/prometheus"] and "ro" in options["/etc/prometheus"]
        assert (data / "wal").is_dir() and (data / "wal").stat().st_uid == 65534
    finally:
        stop_process(process)  # Prometheus's pid (see READ_ONLY_RUN): SIGTERM, as the kubelet stops it
    assert process.returncode == 0 and "See you next time!" in log.read_text()
