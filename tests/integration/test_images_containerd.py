"""The stack's images on a real containerd: the stand-in built with mmdebstrap (kept in the image
cache, so only the first run downloads), the pause image from a static stand-in pause built here,
the Prometheus image from the toolchain's binary (`azora tools install --with cluster`; its
tests are skipped without it, failed under CI). Imported into a throwaway containerd with its
CRI plugin under the local stack's names, first without the embedded Prometheus, then with it;
seen by the CRI, and run with runc the way a pod runs them: the stand-in as user 10001 from the
image, read-only root with a tmpfs /tmp, default seccomp profile, the service's variables;
Prometheus as nobody from the image, read-only root with a writable /prometheus (the pod's
emptyDir), the component's own config mounted and the pod's in-cluster API settings, scraping
itself while its Kubernetes discovery calls the API server; and with no arguments at all, on its
own defaults."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml

from azora.config.load import load_stack_file
from azora.config.model import StackConfig
from azora.images import PAUSE_IMAGE, PROMETHEUS_IMAGE, STANDIN_IMAGE, ImageReport, ensure_stack_images
from azora.images.containerd import ctr_command, image_digests
from tests.integration.images_support import free_port, http_get, kubernetes_sd_errors, status_ids, stop_process

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("containerd", "ctr", "runc", "mmdebstrap")
PAYMENT = "ghcr.io/azora/payment:2.1.0-errors-5pct"
PAUSE_GO = """package main

// A stand-in pause: sleeps until SIGTERM or SIGINT, reaping children meanwhile.
import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			if pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
"""
CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
"""


def _missing() -> str | None:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"needs {', '.join(absent)} (apt-get install containerd runc mmdebstrap)"
    if os.geteuid() != 0:
        return "needs root: containerd and runc"
    if not (shutil.which("go") or Path("/usr/local/go/bin/go").exists()):
        return "needs Go to build a static pause binary"
    return None


pytestmark = [pytest.mark.integration, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def _unmount_under(directory: Path) -> None:
    """Unmount what containerd left mounted below `directory` (overlay roots, shm), deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(f"{directory}/"):
            points.append(point)
    for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="azimg-", dir="/tmp"))  # short: socket paths are limited
    yield directory
    _unmount_under(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def pause_binary(workdir: Path) -> Path:
    source = workdir / "pause-src" / "main.go"
    source.parent.mkdir()
    source.write_text(PAUSE_GO)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
    command = [go, "build", "-trimpath", "-ldflags=-s", "-o", str(workdir / "pause"), "main.go"]
    subprocess.run(command, cwd=source.parent, env=env, check=True, capture_output=True, timeout=600)
    return workdir / "pause"


@pytest.fixture(scope="module")
def containerd(workdir: Path) -> Iterator[str]:
    """A throwaway containerd with the CRI plugin; its address. Stopped by pid afterwards."""
    for sub in ("root", "state", "cni/bin", "cni/conf"):
        (workdir / sub).mkdir(parents=True)
    config = workdir / "config.toml"
    config.write_text(CONFIG.format(d=workdir, pause=PAUSE_IMAGE))
    address = str(workdir / "c.sock")
    with open(workdir / "containerd.log", "w") as log:
        process = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(ctr_command(address, "version"), capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"containerd did not start:\n{(workdir / 'containerd.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield address
    finally:
        stop_process(process)


def _local_stack(prometheus_mode: str) -> StackConfig:
    """The local stack, payment's green colour on PAYMENT, its Prometheus in `prometheus_mode`
    (embedded: azora builds its image; chart: none), whatever the file says about monitoring."""
    config = load_stack_file(ROOT / "Pulumi.local.yaml")
    prometheus = config.monitoring.prometheus.model_copy(update={"enabled": True, "mode": prometheus_mode})
    monitoring = config.monitoring.model_copy(update={"enabled": True, "prometheus": prometheus})
    payment = config.services["payment"]
    services = {
        **config.services,
        "payment": payment.model_copy(update={"versions": {"blue": "2.0.4", "green": PAYMENT.split(":")[1]}}),
    }
    return config.model_copy(update={"monitoring": monitoring, "services": services})


@pytest.fixture(scope="module")
def imported(containerd: str, pause_binary: Path, workdir: Path) -> ImageReport:
    """The stand-in and pause images (no embedded Prometheus: its binary is not read)."""
    return ensure_stack_images(_local_stack("chart"), containerd, pause_binary, workdir / "no-prometheus")


@pytest.fixture(scope="module")
def prometheus_imported(
    imported: ImageReport, containerd: str, pause_binary: Path, prometheus_binary: Path
) -> ImageReport:
    """The same stack with the embedded Prometheus, once the other images are in."""
    return ensure_stack_images(_local_stack("embedded"), containerd, pause_binary, prometheus_binary)


def _varint(value: int) -> bytes:
    out = b""
    while value > 0x7F:
        out, value = out + bytes([value & 0x7F | 0x80]), value >> 7
    return out + bytes([value])


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _strings(message: bytes, number: int) -> list[bytes]:
    """The length-delimited fields `number` of a protobuf message (a reader for what we need)."""
    found, at = [], 0
    while at < len(message):
        key, at = _read_varint(message, at)
        kind = key & 7
        if kind == 0:
            _, at = _read_varint(message, at)
        elif kind == 2:
            size, at = _read_varint(message, at)
            if key >> 3 == number:
                found.append(message[at : at + size])
            at += size
        else:
            at += 8 if kind == 1 else 4
    return found


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value, at


def _cri_repo_tags(address: str, ref: str) -> list[str]:
    """The repo tags the CRI plugin reports for `ref` (runtime.v1 ImageService/ImageStatus)."""
    with grpc.insecure_channel(f"unix://{address}") as channel:
        status = channel.unary_unary("/runtime.v1.ImageService/ImageStatus")
        response = status(_field(1, _field(1, ref.encode())), timeout=10)
    images = _strings(response, 1)
    return [tag.decode() for tag in _strings(images[0], 2)] if images else []


def _seen_by_the_cri(address: str, ref: str) -> bool:
    deadline = time.monotonic() + 5  # the CRI plugin follows image events: a moment, not a poll loop
    while ref not in _cri_repo_tags(address, ref) and time.monotonic() < deadline:
        time.sleep(0.1)
    return ref in _cri_repo_tags(address, ref)


def test_the_stack_images_are_imported_under_every_name_and_the_cri_sees_them(
    imported: ImageReport, containerd: str, pause_binary: Path, workdir: Path
) -> None:
    have = image_digests(containerd)
    assert have[PAUSE_IMAGE] == imported.pause.digest
    assert set(imported.standin.refs) >= {STANDIN_IMAGE, PAYMENT, "ghcr.io/azora/web:2.4.0"}
    assert {have[ref] for ref in imported.standin.refs} == {imported.standin.digest}
    assert imported.prometheus is None and PROMETHEUS_IMAGE not in have
    for ref in (PAYMENT, "ghcr.io/azora/web:2.4.0", PAUSE_IMAGE):
        assert _seen_by_the_cri(containerd, ref), ref
    assert _cri_repo_tags(containerd, "ghcr.io/azora/web:0.0.0-absent") == []
    again = ensure_stack_images(_local_stack("chart"), containerd, pause_binary, workdir / "no-prometheus")
    assert again.cache_hit and again.prometheus is None
    assert (again.standin.imported, again.standin.tagged, again.pause.imported, again.pause.tagged) == (
        False, (), False, (),
    )  # fmt: skip


def test_the_prometheus_image_is_imported_under_its_name_and_the_cri_sees_it(
    prometheus_imported: ImageReport, containerd: str, pause_binary: Path, prometheus_binary: Path
) -> None:
    report = prometheus_imported
    assert report.prometheus is not None and report.prometheus.refs == (PROMETHEUS_IMAGE,)
    assert (report.prometheus.imported, report.pause.imported, report.standin.imported) == (True, False, False)
    have = image_digests(containerd)
    assert have[PROMETHEUS_IMAGE] == report.prometheus.digest not in (report.standin.digest, report.pause.digest)
    assert report.prometheus.packages == {}  # no Debian layer
    assert _seen_by_the_cri(containerd, PROMETHEUS_IMAGE)
    again = ensure_stack_images(_local_stack("embedded"), containerd, pause_binary, prometheus_binary)
    assert again.cache_hit and again.prometheus is not None
    assert [(result.imported, result.tagged) for result in again.results] == [(False, ())] * 3


def _task_state(ctr: list[str], name: str) -> tuple[str, str] | None:
    """(pid, status) of the task `name`, or None."""
    listing = subprocess.run([*ctr, "task", "ls"], capture_output=True, text=True).stdout
    rows = [line.split() for line in listing.splitlines()[1:]]
    return next(((row[1], row[2]) for row in rows if row[0] == name), None)


def _stop(ctr: list[str], name: str) -> None:
    """SIGTERM, as the kubelet stops a container, SIGKILL after 10 s; then remove task and container."""
    subprocess.run([*ctr, "task", "kill", "--signal", "SIGTERM", name], capture_output=True)
    started = time.monotonic()
    while (state := _task_state(ctr, name)) is not None and state[1] == "RUNNING" and time.monotonic() < started + 20:
        if time.monotonic() > started + 10:
            subprocess.run([*ctr, "task", "kill", "--signal", "SIGKILL", name], capture_output=True)
        time.sleep(0.1)
    subprocess.run([*ctr, "task", "rm", "--force", name], capture_output=True)
    subprocess.run([*ctr, "container", "rm", name], capture_output=True)


def test_the_standin_image_runs_as_the_pod_would(imported: ImageReport, containerd: str, workdir: Path) -> None:
    port, name = free_port(), "azimg-payment"
    ctr = ctr_command(containerd)
    env = {"AZORA_SERVICE": "payment", "AZORA_COLOR": "green", "AZORA_VERSION": PAYMENT.split(":")[1]}
    env |= {"AZORA_ENVIRONMENT": "local", "PORT": str(port), "HEALTH_PATH": "/health"}
    run = [*ctr, "run", "--detach", "--net-host", "--read-only", "--seccomp", "--null-io"]
    run += ["--runc-root", str(workdir / "runc"), "--mount", "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev"]
    run += [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    subprocess.run([*run, PAYMENT, name], check=True, capture_output=True, timeout=60)
    try:
        status, body = http_get(f"http://127.0.0.1:{port}/health", time.monotonic() + 20)
        assert status == 200
        assert json.loads(body) == {
            "status": "ok", "service": "payment", "color": "green",
            "version": "2.1.0-errors-5pct", "environment": "local",
        }  # fmt: skip
        status, metrics = http_get(f"http://127.0.0.1:{port}/metrics", time.monotonic() + 5)
        assert status == 200 and "# TYPE azora_http_requests_total counter" in metrics
        state = _task_state(ctr, name)
        assert state is not None and state[1] == "RUNNING"
        assert status_ids(state[0]) == ["10001"] * 4  # the image's User, as runAsUser gives it
    finally:
        _stop(ctr, name)


def test_the_pause_image_runs_until_sigterm(imported: ImageReport, containerd: str, workdir: Path) -> None:
    ctr, name = ctr_command(containerd), "azimg-pause"
    run = [*ctr, "run", "--detach", "--read-only", "--seccomp", "--null-io", "--runc-root", str(workdir / "runc")]
    subprocess.run([*run, PAUSE_IMAGE, name], check=True, capture_output=True, timeout=60)
    try:
        state = _task_state(ctr, name)
        assert state is not None and state[1] == "RUNNING"
        subprocess.run([*ctr, "task", "kill", "--signal", "SIGTERM", name], check=True, capture_output=True)
        deadline = time.monotonic() + 5
        while (state := _task_state(ctr, name)) is not None and state[1] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state is not None and state[1] == "STOPPED"
    finally:
        _stop(ctr, name)


def _service_account(directory: Path) -> Path:
    """What the pod's projected token volume holds: a token, the namespace and a CA certificate
    (a real one: client-go will not build its client from a CA file it cannot parse)."""
    directory.mkdir()
    (directory / "token").write_text("not-a-real-token")
    (directory / "namespace").write_text("azora-monitoring")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "/dev/null", "-subj", "/CN=azora-test-ca", "-days", "1", "-out", str(directory / "ca.crt")],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return directory


def test_the_prometheus_image_runs_as_the_pod_would(
    prometheus_imported: ImageReport, containerd: str, workdir: Path
) -> None:
    """The component's own prometheus.yml (Kubernetes discovery of the app's pods, in-cluster)
    and a job scraping itself; the API server it is told of (127.0.0.1:1) refuses it, as one
    that is not there yet would: it stays up, ready, and keeps asking."""
    from components.prometheus import CONFIG_PATH, TOKEN_PATH, scrape_config  # Pulumi's SDK: import on use

    if shutil.which("openssl") is None:
        pytest.skip("needs openssl for the service account's CA certificate")
    port, name = free_port(), "azimg-prometheus"
    config = workdir / "prometheus-config"
    config.mkdir()
    rendered = scrape_config("azora", "1s")
    rendered["scrape_configs"].append({"job_name": "self", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]})
    (config / "prometheus.yml").write_text(yaml.safe_dump(rendered, sort_keys=False))
    account = _service_account(workdir / "prometheus-token")
    ctr = ctr_command(containerd)
    log = workdir / f"{name}.log"
    run = [*ctr, "run", "--detach", "--net-host", "--read-only", "--seccomp", "--log-uri", f"file://{log}"]
    run += ["--runc-root", str(workdir / "runc")]
    data = workdir / "prometheus-data"  # an emptyDir: a directory the kubelet makes, mode 0777
    data.mkdir()
    data.chmod(0o777)
    run += ["--mount", f"type=bind,src={data},dst=/prometheus,options=rbind:rw"]
    run += ["--mount", f"type=bind,src={config},dst={CONFIG_PATH},options=rbind:ro"]  # the ConfigMap
    run += ["--mount", f"type=bind,src={account},dst={TOKEN_PATH},options=rbind:ro"]  # the projected token
    run += ["--env", "KUBERNETES_SERVICE_HOST=127.0.0.1", "--env", "KUBERNETES_SERVICE_PORT=1"]
    # ctr's arguments replace the entrypoint too (a pod's `args` would keep it): name it again.
    args = ["/bin/prometheus", f"--config.file={CONFIG_PATH}/prometheus.yml", "--storage.tsdb.path=/prometheus"]
    args += ["--storage.tsdb.retention.time=2h", f"--web.listen-address=127.0.0.1:{port}"]
    subprocess.run([*run, PROMETHEUS_IMAGE, name, *args], check=True, capture_output=True, timeout=60)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            assert http_get(f"{base}/-/ready", time.monotonic() + 30)[0] == 200
        except OSError:
            pytest.fail(f"prometheus did not become ready:\n{log.read_text()[-3000:] if log.exists() else '(no log)'}")
        deadline = time.monotonic() + 20
        while True:  # its first scrapes land once discovery has settled, a few seconds after it is ready
            result = json.loads(http_get(f"{base}/api/v1/query?query=up", deadline)[1])["data"]["result"]
            errors = kubernetes_sd_errors(http_get(f"{base}/metrics", deadline)[1])
            if (result and errors) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [(r["metric"]["job"], r["value"][1]) for r in result] == [("self", "1")]
        assert errors >= 1  # Kubernetes discovery, in-cluster, calls the API server the pod is told of
        assert http_get(f"{base}/-/healthy", time.monotonic() + 5)[0] == 200
        state = _task_state(ctr, name)
        assert state is not None and state[1] == "RUNNING"
        assert status_ids(state[0]) == ["65534"] * 4  # the image's User: nobody
    finally:
        _stop(ctr, name)


def test_the_prometheus_image_runs_on_its_own_defaults(
    prometheus_imported: ImageReport, containerd: str, workdir: Path
) -> None:
    """No arguments, no volume, its own network namespace: the image's Cmd names its default
    config (Prometheus scraping itself) and /prometheus, which belongs to nobody."""
    ctr, name = ctr_command(containerd), "azimg-prometheus-defaults"
    run = [*ctr, "run", "--detach", "--seccomp", "--null-io", "--runc-root", str(workdir / "runc")]
    subprocess.run([*run, PROMETHEUS_IMAGE, name], check=True, capture_output=True, timeout=60)
    try:
        deadline, wal = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            state = _task_state(ctr, name)
            assert state is not None and state[1] == "RUNNING"
            wal = Path(f"/proc/{state[0]}/root/prometheus/wal")
            if wal.is_dir() and (wal.parent / "queries.active").exists():
                break
            time.sleep(0.2)
        assert wal is not None and wal.is_dir()
        assert wal.parent.stat().st_uid == 65534 and wal.stat().st_uid == 65534
        assert status_ids(state[0]) == ["65534"] * 4
    finally:
        _stop(ctr, name)
