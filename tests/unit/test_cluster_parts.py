"""The embedded cluster's parts that need no cluster: credentials, process records, and the
recovery rules for locks and pending operations (on real files and real processes)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from cryptography import x509

from azora.cluster import lifecycle, processes
from azora.cluster import pki as pki_module
from azora.cluster.layout import ClusterError, Layout
from azora.cluster.pki import Pki
from azora.recovery import Recovery, adopt_pending_creates, object_id, stale


def test_credentials(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    ports = layout.create()
    assert layout.load_ports() == ports
    assert len({ports.etcd_client, ports.etcd_peer, ports.apiserver, ports.scheduler, ports.kwok}) == 5
    pki = Pki(layout)
    pki.create(ports.apiserver)
    assert pki.complete()

    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # What a pod dials: the Service's ClusterIP and names, and the node address it leads to.
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.96.0.1", "10.240.0.1"}
    assert set(names.get_values_for_type(x509.DNSName)) == {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert pki.missing_serving_names() == []

    tokens = pki.tokens()
    assert set(tokens) == {
        "admin",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "kubelet",
        "kube-proxy",
        "coredns",
    }
    assert len(set(tokens.values())) == 7 and all(len(t) >= 40 for t in tokens.values())
    lines = pki.token_file.read_text().splitlines()
    assert f'{tokens["admin"]},azora-admin,azora-admin,"system:masters"' in lines
    # The node's identities: the Node authorizer knows kubelet by this user and group.
    assert f'{tokens["kubelet"]},system:node:azora-node-0,system:node:azora-node-0,"system:nodes"' in lines
    assert f'{tokens["kube-proxy"]},system:kube-proxy,system:kube-proxy,"system:node-proxiers"' in lines
    # The certificate the API server shows kubelet: issued by the CA, for client auth.
    client = x509.load_pem_x509_certificate(pki.kubelet_client_cert.read_bytes())
    client.verify_directly_issued_by(ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    assert stat.S_IMODE(pki.kubelet_client_key.stat().st_mode) == 0o600

    config = yaml.safe_load(layout.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://127.0.0.1:{ports.apiserver}"
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.ca_cert.read_bytes()
    assert config["users"][0]["user"]["token"] == tokens["admin"]
    for path in (layout.kubeconfig, pki.serving_key, pki.sa_key, pki.token_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _old_serving_cert(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving certificate an older azora made: without the node address."""
    with monkeypatch.context() as patch:
        patch.setattr(pki_module, "SERVING_IPS", ("127.0.0.1", "10.96.0.1"))
        pki.renew_certificates(pki.layout.load_ports().apiserver)


def test_an_older_serving_certificate_is_renewed_with_the_same_tokens_and_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout(tmp_path)
    ports = layout.create()
    pki = Pki(layout)
    pki.create(ports.apiserver)
    _old_serving_cert(pki, monkeypatch)
    assert pki.missing_serving_names() == ["10.240.0.1"]
    tokens, sa_key, old_ca = pki.tokens(), pki.sa_key.read_bytes(), pki.ca_cert.read_bytes()
    lines: list[str] = []

    lifecycle._renew_certificates(layout, pki, pki.missing_serving_names(), lines.append)
    assert pki.missing_serving_names() == []
    assert lines == [
        "the API server's certificate lacks 10.240.0.1 (made by an older azora); renewing the certificates "
        "(the tokens stay, the kubeconfig gets the new CA)"
    ]
    assert pki.tokens() == tokens and pki.sa_key.read_bytes() == sa_key  # every issued token stays valid
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert pki.ca_cert.read_bytes() != old_ca
    x509.load_pem_x509_certificate(pki.serving_cert.read_bytes()).verify_directly_issued_by(ca)
    x509.load_pem_x509_certificate(pki.kubelet_client_cert.read_bytes()).verify_directly_issued_by(ca)
    config = yaml.safe_load(layout.kubeconfig.read_text())
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == pki.ca_cert.read_bytes()
    assert config["users"][0]["user"]["token"] == tokens["admin"]


def test_certificates_are_not_renewed_under_running_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = Layout(tmp_path)
    pki = Pki(layout)
    pki.create(layout.create().apiserver)
    _old_serving_cert(pki, monkeypatch)
    before = pki.serving_cert.read_bytes()
    record = processes.start(
        [sys.executable, "-c", "import time; time.sleep(60)"], layout.log("etcd"), layout.record("etcd")
    )
    try:
        with pytest.raises(ClusterError, match=r"lacks 10\.240\.0\.1.*`azora cluster down`, then `azora cluster up`"):
            lifecycle._renew_certificates(layout, pki, pki.missing_serving_names(), lambda _: None)
    finally:
        processes.stop(record, grace=5)
    assert pki.serving_cert.read_bytes() == before


def test_process_records_follow_the_pid_and_its_start_time(tmp_path: Path) -> None:
    record_file, log = tmp_path / "run" / "sleeper.json", tmp_path / "logs" / "sleeper.log"
    record = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], log, record_file)
    try:
        assert processes.read(record_file) == record
        assert record.start_time == psutil.Process(record.pid).create_time()  # seconds since the epoch
        assert abs(record.start_time - record.started_at) < 5
        assert processes.is_running(record)
        assert processes.group_members(record.pid) == [record.pid]
        # The same pid with another start time is someone else's process: never ours to signal.
        recycled = processes.Record(
            record.pid, record.start_time + 60, record.argv, record.started_at, record.boot_time
        )
        assert not processes.is_running(recycled)
        assert processes.stop(recycled) is False
        assert processes.is_running(record)
    finally:
        assert processes.stop(record, grace=5) is True
    assert not processes.is_running(record)
    assert processes.group_members(record.pid) == []
    assert "time.sleep(60)" in log.read_text()


def test_a_clock_step_does_not_make_a_recorded_process_a_stranger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wall-clock step moves psutil's boot time and every create_time with it (seen here: the
    supervisor then called every component of a running cluster 'not running' and `down` left
    them all up). Seconds since boot do not move."""
    record = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "l", tmp_path / "r")
    try:
        assert record.boot_time == psutil.boot_time()
        real_boot, real_create = psutil.boot_time, psutil.Process.create_time
        monkeypatch.setattr(psutil, "boot_time", lambda: real_boot() + 90.0)
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: real_create(self) + 90.0)
        assert processes.is_running(record)
        legacy = processes.Record(record.pid, record.start_time, record.argv, record.started_at)  # no boot time
        assert not processes.is_running(legacy)  # the epoch comparison alone is fooled by the step
        monkeypatch.undo()
        assert processes.is_running(legacy) and processes.is_running(record)
    finally:
        assert processes.stop(record, grace=5) is True
    assert not processes.is_running(record)


def test_a_lock_is_stale_only_when_its_process_is_gone_from_this_host() -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    host = socket.gethostname()
    assert not stale({"pid": os.getpid(), "hostname": host, "timestamp": now}, host)  # this process, alive
    assert not stale({"pid": 999_999_999, "hostname": "ci-runner-7", "timestamp": now}, host)  # another host
    assert stale({"pid": 999_999_999, "hostname": host, "timestamp": now}, host)  # gone
    # pid 1 runs and started before a lock taken now: it may hold it, so the lock stays.
    assert not stale({"pid": 1, "hostname": host, "timestamp": now}, host)
    # A lock older than the process now holding its pid: that pid was reused, the lock is stale.
    old_lock = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)).isoformat()
    assert stale({"pid": 1, "hostname": host, "timestamp": old_lock}, host)


def test_a_lock_held_by_a_killed_process_not_yet_reaped_is_stale() -> None:
    # After `kill -9` of `pulumi up`, its parent (or init) may take a while to reap it: the pid
    # stays in the process table as a zombie that runs nothing.
    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        taken = dt.datetime.now(dt.UTC).isoformat()
        assert not stale({"pid": child.pid, "hostname": host, "timestamp": taken}, host)
        child.kill()
        deadline = time.monotonic() + 10
        while processes.running_start_time(child.pid) is not None:
            assert time.monotonic() < deadline, "the killed child still runs"
            time.sleep(0.01)
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # not reaped: its pid is still taken
        assert stale({"pid": child.pid, "hostname": host, "timestamp": taken}, host)
    finally:
        child.kill()
        child.wait()


def test_pending_creates_are_adopted_with_their_object_ids() -> None:
    prefix = "urn:pulumi:local::azora-platform::azora:platform:AzoraPlatform$azora:deploy:BlueGreenService$"
    deployment_urn = f"{prefix}kubernetes:apps/v1:Deployment::payment-blue"
    namespace_urn = "urn:pulumi:local::azora-platform::kubernetes:core/v1:Namespace::ns"
    password_urn = "urn:pulumi:local::azora-platform::random:index/randomPassword:RandomPassword::pw"
    service_urn = f"{prefix}kubernetes:core/v1:Service::payment-active"
    checkpoint = {
        "manifest": {"version": "3.259.0"},
        "resources": [{"urn": "urn:pulumi:local::azora-platform::pulumi:pulumi:Stack::azora-platform-local"}],
        "pending_operations": [
            {
                "type": "creating",
                "resource": {
                    "urn": deployment_urn,
                    "type": "kubernetes:apps/v1:Deployment",
                    "inputs": {"metadata": {"name": "payment-blue", "namespace": "azora-local"}},
                },
            },
            {
                "type": "creating",
                "resource": {
                    "urn": namespace_urn,
                    "type": "kubernetes:core/v1:Namespace",
                    "inputs": {"metadata": {"name": "azora-local"}},
                },
            },
            {
                "type": "creating",
                "resource": {"urn": password_urn, "type": "random:index/randomPassword:RandomPassword"},
            },
            {"type": "updating", "resource": {"urn": service_urn, "type": "kubernetes:core/v1:Service"}},
        ],
    }
    recovery = Recovery()
    fixed = adopt_pending_creates(checkpoint, recovery)
    assert fixed["pending_operations"] == []
    assert fixed["manifest"] == checkpoint["manifest"]
    adopted = {r["urn"]: r for r in fixed["resources"][1:]}
    assert adopted[deployment_urn]["id"] == "azora-local/payment-blue"
    assert adopted[deployment_urn]["outputs"] == adopted[deployment_urn]["inputs"]
    assert adopted[namespace_urn]["id"] == "azora-local"  # cluster-scoped: the name alone
    assert password_urn not in adopted
    assert recovery.imported == [deployment_urn, namespace_urn]
    assert recovery.cleared == [password_urn]
    assert recovery.other_pending == ["updating of payment-active"]
    assert recovery.lines() == [
        "adopted payment-blue (created before the interruption)",
        "adopted ns (created before the interruption)",
        "dropped the unfinished create of pw",
        "refreshed the unfinished updating of payment-active",
    ]
    assert object_id({"type": "kubernetes:core/v1:ConfigMap", "inputs": {"metadata": {}}}) is None
