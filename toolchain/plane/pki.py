"""The plane's certificates, made with `openssl`, and the kubeconfig that carries them."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from toolchain.gobuild import ToolchainError, run
from toolchain.plane.layout import CLUSTER_NAME, KUBERNETES_SERVICE_IP, Layout, Ports


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise ToolchainError("`openssl` is not on PATH; it makes the plane's certificates")
    run(["openssl", *args], cwd=cwd)


# The name the API server's proxy client certificate carries; aggregated APIs trust only it.
FRONT_PROXY_CLIENT = "front-proxy-client"


def write_certificates(pki: Path) -> None:
    """A private CA, the API server's serving certificate, one client certificate in
    system:masters (used by the components and by whoever holds the kubeconfig; the plane listens
    on loopback only), the front-proxy client certificate the API server presents to aggregated
    APIs (metrics-server), and the service-account signing key. Each is kept across restarts; one
    missing (a plane from before it was needed) is made."""
    pki.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    if not (pki / "ca.crt").exists():
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
                "-subj", f"/CN={CLUSTER_NAME}-ca", cwd=pki)  # fmt: skip
    names = ",".join(
        [
            "IP:127.0.0.1",
            f"IP:{KUBERNETES_SERVICE_IP}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    certificates = {
        "apiserver": ("/CN=kube-apiserver", f"subjectAltName={names}", "serverAuth"),
        "admin": ("/O=system:masters/CN=gpu-model-platform-admin", None, "clientAuth"),
        FRONT_PROXY_CLIENT: (f"/CN={FRONT_PROXY_CLIENT}", None, "clientAuth"),
    }
    for name, (subject, alt_names, usage) in certificates.items():
        if (pki / f"{name}.crt").exists():
            continue
        request = ["req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr"]
        request += ["-subj", subject, "-addext", f"extendedKeyUsage={usage}"]
        if alt_names:
            request += ["-addext", alt_names]
        openssl(*request, cwd=pki)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "3650",
                "-copy_extensions", "copy", cwd=pki)  # fmt: skip
    if (pki / "service-account.pub").exists():
        return
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", "service-account.key", cwd=pki)  # fmt: skip
    openssl("pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub",
            cwd=pki)  # fmt: skip


def kubeconfig_text(layout: Layout, ports: Ports) -> str:
    """A self-contained kubeconfig (certificates inline), JSON being valid YAML."""

    def inline(name: str) -> str:
        return base64.b64encode((layout.pki / name).read_bytes()).decode()

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CLUSTER_NAME,
                    "cluster": {
                        "server": f"https://127.0.0.1:{ports.apiserver}",
                        "certificate-authority-data": inline("ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": inline("admin.crt"),
                        "client-key-data": inline("admin.key"),
                    },
                }
            ],
            "contexts": [
                {"name": CLUSTER_NAME, "context": {"cluster": CLUSTER_NAME, "user": "admin"}}
            ],
            "current-context": CLUSTER_NAME,
        },
        indent=2,
    )
