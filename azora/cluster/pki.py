"""Credentials of an embedded cluster, made once at the first `up` with `cryptography`.

- a CA and the API server's serving certificate (for 127.0.0.1 and localhost, and for what a
  pod dials: NODE_IP, where the forwarder relays to the API server, the `kubernetes` Service's
  ClusterIP and its DNS names). A cluster made before NODE_IP was on it gets new certificates at
  its next `up` with nothing running (`renew_certificates`: the tokens and keys stay);
- the service-account signing key pair;
- bearer tokens in the API server's token file: `admin` (group `system:masters`) for the
  kubeconfig users get, and one per control-plane component, so audit lines name who did what;
- the node's identities: kubelet is `system:node:<node>` in `system:nodes` (the Node authorizer
  grants what a kubelet needs), kube-proxy is `system:kube-proxy` (bound to
  `system:node-proxier` by default), CoreDNS is `system:coredns` (a read-only role, made at `up`);
- a client certificate the API server shows to kubelet (`kubectl logs`/`exec`); kubelet
  accepts certificates of this CA only. The CA key is not kept: nothing else is signed later.
- kubeconfigs: `<cluster>/kubeconfig` for users and Pulumi, `pki/<component>.kubeconfig` for the
  components.
Files are written 0600; the directory is gitignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from azora.cluster.layout import NODE_IP, NODE_NAME, Layout

VALIDITY = dt.timedelta(days=3650)
CONTEXT = "azora-local"
# Who each token authenticates as: (user, groups). The components run with full rights: this is
# a single-user development cluster, and the narrower bootstrap roles assume kubelets and
# per-controller service accounts that a kwok cluster does not have.
IDENTITIES = {
    "admin": ("azora-admin", "system:masters"),
    "kube-controller-manager": ("system:kube-controller-manager", "system:masters"),
    "kube-scheduler": ("system:kube-scheduler", "system:masters"),
    "kwok": ("system:kwok", "system:masters"),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
    "kube-proxy": ("system:kube-proxy", "system:node-proxiers"),
    "coredns": ("system:coredns", "system:cluster-dns"),
}
KUBELET_CLIENT = "kube-apiserver-kubelet-client"
# The serving certificate's names: the host's, and what a pod's in-cluster client dials (the
# `kubernetes` Service's ClusterIP, the first of SERVICE_CIDR, its DNS names, and NODE_IP, its
# endpoint).
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", "10.96.0.1", NODE_IP)


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class Pki:
    layout: Layout

    @property
    def ca_cert(self) -> Path:
        return self.layout.pki / "ca.crt"

    @property
    def serving_cert(self) -> Path:
        return self.layout.pki / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.layout.pki / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.layout.pki / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.layout.pki / "sa.pub"

    @property
    def kubelet_client_cert(self) -> Path:
        return self.layout.pki / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.layout.pki / "apiserver-kubelet-client.key"

    @property
    def token_file(self) -> Path:
        return self.layout.pki / "tokens.csv"

    def kubeconfig_for(self, identity: str) -> Path:
        return self.layout.kubeconfig if identity == "admin" else self.layout.pki / f"{identity}.kubeconfig"

    def complete(self) -> bool:
        files = [self.ca_cert, self.serving_cert, self.serving_key, self.sa_key, self.sa_pub, self.token_file]
        files += [self.kubelet_client_cert, self.kubelet_client_key]
        return all(path.exists() for path in files) and all(self.kubeconfig_for(i).exists() for i in IDENTITIES)

    def tokens(self) -> dict[str, str]:
        """identity -> bearer token, read back from the token file."""
        found = {}
        by_user = {user: identity for identity, (user, _) in IDENTITIES.items()}
        for line in self.token_file.read_text().splitlines():
            token, user, *_ = line.split(",")
            if user in by_user:
                found[by_user[user]] = token
        return found

    def missing_serving_names(self) -> list[str]:
        """The names of SERVING_DNS_NAMES and SERVING_IPS that the serving certificate lacks
        (one made by an older azora); every name when it cannot be read."""
        wanted = [*SERVING_DNS_NAMES, *SERVING_IPS]
        try:
            cert = x509.load_pem_x509_certificate(self.serving_cert.read_bytes())
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (OSError, ValueError, x509.ExtensionNotFound):
            return wanted
        have = set(names.get_values_for_type(x509.DNSName))
        have |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
        return [name for name in wanted if name not in have]

    def create(self, apiserver_port: int) -> None:
        """Make every credential (overwriting any partial set) and the kubeconfigs."""
        sa_key = ec.generate_private_key(ec.SECP256R1())
        _write(self.sa_key, _key_pem(sa_key))
        _write(
            self.sa_pub,
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        tokens = {identity: secrets.token_urlsafe(32) for identity in IDENTITIES}
        lines = [f'{tokens[identity]},{user},{user},"{groups}"' for identity, (user, groups) in IDENTITIES.items()]
        _write(self.token_file, "\n".join(lines) + "\n")
        self._issue_certificates()
        for identity, token in tokens.items():
            self.write_kubeconfig(identity, token, apiserver_port)

    def renew_certificates(self, apiserver_port: int) -> None:
        """A new CA with new serving and kubelet-client certificates, and the kubeconfigs that
        carry the CA. The CA key is not kept, so the serving certificate cannot be re-signed
        alone; the tokens and the service-account keys stay, so every token stays valid. Only
        while nothing of the cluster runs: the components read the CA when they start."""
        self._issue_certificates()
        for identity, token in self.tokens().items():
            self.write_kubeconfig(identity, token, apiserver_port)

    def _issue_certificates(self) -> None:
        """The CA, the API server's serving certificate and its client certificate for kubelet."""
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("azora-local-ca"))
            .issuer_name(_name("azora-local-ca"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        serving_key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVING_DNS_NAMES]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
        serving = (
            x509.CertificateBuilder()
            .subject_name(_name("kube-apiserver"))
            .issuer_name(ca.subject)
            .public_key(serving_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                        x509.NameAttribute(NameOID.COMMON_NAME, KUBELET_CLIENT),
                    ]
                )
            )
            .issuer_name(ca.subject)
            .public_key(client_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(self.kubelet_client_cert, client.public_bytes(serialization.Encoding.PEM))
        _write(self.kubelet_client_key, _key_pem(client_key))
        _write(self.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
        _write(self.serving_cert, serving.public_bytes(serialization.Encoding.PEM))
        _write(self.serving_key, _key_pem(serving_key))

    def write_kubeconfig(self, identity: str, token: str, apiserver_port: int) -> None:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": f"https://127.0.0.1:{apiserver_port}",
                        "certificate-authority-data": base64.b64encode(self.ca_cert.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": IDENTITIES[identity][0], "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": IDENTITIES[identity][0]}}],
            "current-context": CONTEXT,
        }
        _write(self.kubeconfig_for(identity), yaml.safe_dump(document, sort_keys=False))
