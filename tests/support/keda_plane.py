"""KEDA's operator and metrics API server (toolchain/keda.py builds them) run out of cluster against
a simulated cluster (toolchain/plane), as the KEDA chart would run them in it:

- the operator watches the models namespace's ScaledObjects, creates and owns each one's HPA and
  answers metric requests over gRPC (mutual TLS, the certificates of `write_grpc_certificates`;
  no certificate rotation: `--enable-cert-rotation` stays off, as the chart can be told);
- the metrics API server serves `external.metrics.k8s.io` through the API server's aggregation
  layer, wired the way kwokctl wires the plane's metrics-server: an ExternalName
  Service to loopback and an APIService, here with the CA that signed its certificate;
- both on 127.0.0.1 (the metrics API server's own /metrics endpoint excepted: KEDA binds it on
  every interface, with no flag to narrow it), with the plane's admin kubeconfig.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.loopback import LoopbackProcess, free_port, wait_for
from toolchain.keda import METRICS_API_SERVER, OPERATOR, ensure_keda
from toolchain.plane.api import Api
from toolchain.plane.layout import Layout

EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io"
SERVICE, SERVICE_NAMESPACE = "keda-metrics-apiserver", "kube-system"


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise AssertionError("`openssl` is not on PATH; it makes KEDA's certificates")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def write_grpc_certificates(folder: Path) -> None:
    """`ca.crt`, `tls.crt`, `tls.key`: what KEDA reads from its cert dir, in both programs. One
    certificate, for serving and as a client, as KEDA's own certificate manager makes it; its
    names are loopback's and the metrics API Service's, which the API server checks."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
            "-subj", "/CN=keda-test-ca", cwd=folder)  # fmt: skip
    names = f"IP:127.0.0.1,DNS:localhost,DNS:{SERVICE}.{SERVICE_NAMESPACE}.svc"
    openssl("req", "-new", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=keda",
            "-addext", f"subjectAltName={names}",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth", cwd=folder)  # fmt: skip
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tls.crt", "-days", "30", "-copy_extensions", "copy",
            cwd=folder)  # fmt: skip


def register_external_metrics_api(api: Api, port: int, ca: bytes) -> None:
    api.apply(
        f"/api/v1/namespaces/{SERVICE_NAMESPACE}/services/{SERVICE}",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": SERVICE_NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost"},
        },
    )
    api.apply(
        f"/apis/apiregistration.k8s.io/v1/apiservices/{EXTERNAL_METRICS_API}",
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": EXTERNAL_METRICS_API},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "caBundle": base64.b64encode(ca).decode(),
                "service": {"name": SERVICE, "namespace": SERVICE_NAMESPACE, "port": port},
            },
        },
    )


def external_metrics_available(api: Api) -> bool:
    service = api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{EXTERNAL_METRICS_API}")
    conditions = (service.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


@dataclass
class KedaOnPlane:
    operator: LoopbackProcess
    metrics_api_server: LoopbackProcess

    @classmethod
    def start(
        cls, layout: Layout, api: Api, workdir: Path, watch_namespace: str, own_namespace: str
    ) -> KedaOnPlane:
        """Both programs started and the external metrics API available through the plane."""
        binaries = ensure_keda()
        certs = workdir / "certs"
        write_grpc_certificates(certs)
        grpc, probes, secure = free_port(), free_port(), free_port()
        env = {
            "KUBECONFIG": str(layout.kubeconfig),
            "WATCH_NAMESPACE": watch_namespace,
            # Where the chart would run KEDA; it reads its cluster-wide secrets from there.
            "POD_NAMESPACE": own_namespace,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": own_namespace,
        }
        operator = LoopbackProcess.start(
            OPERATOR,
            [
                str(binaries / OPERATOR),
                f"--cert-dir={certs}",
                f"--metrics-service-bind-address=127.0.0.1:{grpc}",
                f"--health-probe-bind-address=127.0.0.1:{probes}",
                "--metrics-bind-address=0",
                "--enable-cert-rotation=false",
                "--leader-elect=false",
            ],
            workdir,
            env,
        )
        kubeconfig = str(layout.kubeconfig)
        metrics_api_server = LoopbackProcess.start(
            METRICS_API_SERVER,
            [
                str(binaries / METRICS_API_SERVER),
                f"--metrics-service-address=127.0.0.1:{grpc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={secure}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--port={free_port()}",
            ],
            workdir,
            env,
        )
        keda = cls(operator, metrics_api_server)
        try:
            register_external_metrics_api(api, secure, (certs / "ca.crt").read_bytes())
            wait_for(
                "the external metrics API (KEDA's metrics API server) available",
                lambda: external_metrics_available(api),
                timeout=120,
                watched=keda.processes,
            )
        except BaseException:
            keda.stop()
            raise
        return keda

    @property
    def processes(self) -> list[LoopbackProcess]:
        return [self.operator, self.metrics_api_server]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
