"""A pod on the real node reaches the API server the way any in-cluster client does (what
Prometheus's `kubernetes_sd_configs` needs): its projected ServiceAccount token and
`kube-root-ca.crt`, the `kubernetes` Service (10.96.0.1:443, DNATed by kube-proxy to the API
server's advertised address, NODE_IP) and the forwarder there that relays to 127.0.0.1.

The pod runs the stand-in image (it has python3) and prints, as one JSON line, what three
requests with its token answered: its own namespace's pods by the Service's DNS name and by
the address client-go's in-cluster config dials (KUBERNETES_SERVICE_HOST/PORT), which its Role
allows, and the `default` namespace's pods, which it does not.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from azora.cluster import processes
from azora.cluster.api import Api
from azora.cluster.layout import NODE_IP, Layout
from azora.cluster.lifecycle import api_for
from azora.cluster.node import NodePaths
from azora.images.build import STANDIN_IMAGE, build_standin_image
from azora.images.containerd import import_image
from tests.live.conftest import wait_for

pytestmark = pytest.mark.live

NAMESPACE = "live-in-cluster-api"
POD = "pod-lister"
RBAC = "/apis/rbac.authorization.k8s.io/v1"

# What the pod runs: the in-cluster files and three GETs; every answer's status, and the pod
# names of each list.
LISTER = """
import json, os, ssl, urllib.error, urllib.request
sa = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(sa + '/token').read()
namespace = open(sa + '/namespace').read()
tls = ssl.create_default_context(cafile=sa + '/ca.crt')
env_server = 'https://%s:%s' % (os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])
def get(url):
    request = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(request, context=tls, timeout=10) as response:
            return {'status': response.status, 'pods': [p['metadata']['name'] for p in json.load(response)['items']]}
    except urllib.error.HTTPError as error:
        return {'status': error.code, 'reason': json.loads(error.read()).get('reason')}
print(json.dumps({
    'namespace': namespace,
    'env_server': env_server,
    'by_name': get('https://kubernetes.default.svc/api/v1/namespaces/%s/pods' % namespace),
    'by_env': get(env_server + '/api/v1/namespaces/%s/pods' % namespace),
    'default': get('https://kubernetes.default.svc/api/v1/namespaces/default/pods'),
}))
"""


@pytest.fixture(scope="module")
def api(live_cluster: Layout) -> Iterator[Api]:
    """A namespace with a ServiceAccount whose Role allows `list pods` there, and the stand-in
    image in the node's containerd."""
    image = build_standin_image()
    import_image(str(NodePaths(live_cluster).containerd_socket), image, [])
    client = api_for(live_cluster)
    client.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    try:
        client.create(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", {"metadata": {"name": "lister"}})
        role = {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}
        client.create(f"{RBAC}/namespaces/{NAMESPACE}/roles", {"metadata": {"name": "pod-lister"}, "rules": [role]})
        binding = {
            "metadata": {"name": "pod-lister"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-lister"},
            "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": NAMESPACE}],
        }
        client.create(f"{RBAC}/namespaces/{NAMESPACE}/rolebindings", binding)
        yield client
    finally:
        client.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}")


def _pod(api: Api) -> dict[str, Any]:
    found = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}")
    assert found is not None
    return found


def test_the_kubernetes_service_leads_to_the_forwarder_on_the_node_address(live_cluster: Layout, api: Api) -> None:
    port = live_cluster.load_ports().apiserver
    slices = api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")
    assert slices is not None
    assert [e["addresses"] for e in slices["endpoints"]] == [[NODE_IP]]
    assert [p["port"] for p in slices["ports"]] == [port]
    # kube-proxy's rule for 10.96.0.1:443 ends at the node address.
    nat = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    rules = [line for line in nat.splitlines() if '"default/kubernetes:https' in line]
    assert any("-d 10.96.0.1/32" in line and "--dport 443" in line for line in rules), rules
    assert any(f"--to-destination {NODE_IP}:{port}" in line for line in rules), rules
    # The forwarder listens there and nowhere else; the API server itself stays on 127.0.0.1.
    record = processes.read(live_cluster.record("apiserver-forwarder"))
    assert record is not None and processes.is_running(record)
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }
    assert listening == {(NODE_IP, port), ("127.0.0.1", port)}


def test_a_pod_lists_its_namespace_with_its_service_account_token(api: Api) -> None:
    pod = {
        "metadata": {"name": POD},
        "spec": {
            "serviceAccountName": "lister",
            "automountServiceAccountToken": True,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "lister",
                    "image": STANDIN_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", LISTER],
                }
            ],
        },
    }
    started = time.monotonic()
    api.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod)
    assert wait_for(lambda: _pod(api)["status"].get("phase") in ("Succeeded", "Failed"), 90), _pod(api)["status"]
    log = api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}/log").text
    print(f"in-cluster API from a pod in {time.monotonic() - started:.1f} s: {log.strip()}")
    assert _pod(api)["status"]["phase"] == "Succeeded", log
    answers = json.loads(log.strip().splitlines()[-1])

    # The projected token, the cluster's CA and the namespace, as the ServiceAccount admission made them.
    (volume,) = [v for v in _pod(api)["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert answers["namespace"] == NAMESPACE
    assert answers["env_server"] == "https://10.96.0.1:443"

    # The token authenticates as the ServiceAccount: its Role's list is allowed, another is not.
    assert answers["by_name"]["status"] == 200, answers
    assert POD in answers["by_name"]["pods"], answers
    assert answers["by_env"] == answers["by_name"]
    assert answers["default"] == {"status": 403, "reason": "Forbidden"}, answers
