"""The embedded local cluster: a Kubernetes control plane as local processes on 127.0.0.1.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from their Go modules
into the toolchain cache, group ``cluster``) plus a node: a real one (containerd, kubelet,
kube-proxy, CoreDNS; pods on the bridge, and the API server reachable from them through a
forwarder on the node address, see `components`) or kwok, which simulates a node and makes pods
Running and Ready with no container runtime at all.

One concept per file:
- `layout`: where the cluster lives (`.azora/cluster`, or `AZORA_CLUSTER_DIR`) and its ports;
- `pki`: the certificates, service-account keys, tokens and the kubeconfig;
- `components`: each process's command line and health check;
- `processes`: starting, recording (pid + start time) and stopping processes by pid;
- `api`: a small REST client for readiness checks and the simulated node;
- `lifecycle`: `up`, `down` and `status`, which the `azora cluster` command calls.
"""
