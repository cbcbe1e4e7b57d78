"""The plane's processes: their command lines, starting one, finding it running, stopping all."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from toolchain.plane.build import PROCESSES, binary_path
from toolchain.plane.layout import (
    CLUSTER_NAME,
    KWOK_NODE_ANNOTATION,
    KWOK_NODE_IP,
    POD_CIDR,
    SERVICE_CIDR,
    Layout,
    Ports,
)
from toolchain.plane.pki import FRONT_PROXY_CLIENT


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of a plane process started from this layout, if it still runs."""
    pid_file = layout.pid_file(name)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return None
    # A recycled pid runs something else: only a process of our binary counts.
    return pid if Path(command).name == name else None


def start_process(layout: Layout, name: str, args: list[str]) -> None:
    layout.log_file(name).parent.mkdir(parents=True, exist_ok=True)
    layout.pid_file(name).parent.mkdir(parents=True, exist_ok=True)
    with layout.log_file(name).open("ab") as log:
        process = subprocess.Popen(
            [str(binary_path(name)), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.root,
            # Its own process group, so it outlives `make cluster-up` and stops as one.
            start_new_session=True,
        )
    layout.pid_file(name).write_text(f"{process.pid}\n")


def stop(layout: Layout, timeout: float = 15) -> list[str]:
    """Stop every process of the plane (reverse start order); returns the names stopped."""
    stopped = []
    for name in reversed(PROCESSES):
        pid = running_pid(layout, name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while running_pid(layout, name) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            if running_pid(layout, name) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        layout.pid_file(name).unlink(missing_ok=True)
    return stopped


# KWOK's CRDs the plane enables: Stage (kwok-stages.yaml), the Metric its nodes serve and the
# resource usage it reports (kwok-metrics.yaml); nodes.KWOK_CRD_FILES installs them.
KWOK_CRDS = ("Stage", "Metric", "ClusterResourceUsage", "ResourceUsage")
HPA_SYNC_SECONDS = 5
HPA_DOWNSCALE_SECONDS = 20
METRIC_RESOLUTION_SECONDS = 15


def component_args(layout: Layout, ports: Ports) -> dict[str, list[str]]:
    pki, kubeconfig = layout.pki, str(layout.kubeconfig)
    delegated = [
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
    ]
    return {
        "etcd": [
            "--name=plane",
            f"--data-dir={layout.root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
            f"--initial-cluster=plane=http://127.0.0.1:{ports.etcd_peer}",
            # A disposable test cluster on a shared disk: durability is not worth the fsyncs.
            "--unsafe-no-fsync",
        ],
        "kube-apiserver": [
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            # The `kubernetes` Service cannot point at a loopback address; nothing here needs it.
            "--endpoint-reconciler-type=none",
            # The aggregation layer, for metrics-server's metrics.k8s.io: the API server proxies
            # to it with this client certificate and the user in these headers.
            f"--proxy-client-cert-file={pki / f'{FRONT_PROXY_CLIENT}.crt'}",
            f"--proxy-client-key-file={pki / f'{FRONT_PROXY_CLIENT}.key'}",
            f"--requestheader-client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            f"--kubeconfig={kubeconfig}",
            *delegated,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.controller_manager}",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--cluster-name={CLUSTER_NAME}",
            # A test cluster: autoscalers act within seconds, not the production defaults' 15 s
            # sync and 5 minutes of downscale stabilisation, so a scale-down test stays short.
            f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_SECONDS}s",
            f"--horizontal-pod-autoscaler-downscale-stabilization={HPA_DOWNSCALE_SECONDS}s",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kube-scheduler": [
            f"--kubeconfig={kubeconfig}",
            *delegated,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.scheduler}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kwok": [
            f"--kubeconfig={kubeconfig}",
            f"--config={layout.root / 'kwok.yaml'}",
        ],
        # Scrapes KWOK's simulated usage from each node's address and status port, as it would a
        # kubelet's (over plain HTTP: KWOK's server has no TLS here), and serves it through the
        # API server's aggregation layer (nodes.register_metrics_api).
        "metrics-server": [
            f"--kubeconfig={kubeconfig}",
            *delegated,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports.metrics_server}",
            f"--cert-dir={layout.root / 'metrics-server'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--deprecated-kubelet-completely-insecure",
            f"--metric-resolution={METRIC_RESOLUTION_SECONDS}s",
            "--profiling=false",
        ],
    }


def kwok_configuration(ports: Ports) -> str:
    key, value = KWOK_NODE_ANNOTATION
    return json.dumps(
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            "options": {
                "manageNodesWithAnnotationSelector": f"{key}={value}",
                "cidr": POD_CIDR,
                # Each node's InternalIP and status port are KWOK's own server, where
                # metrics-server scrapes the node's simulated usage.
                "nodeIP": KWOK_NODE_IP,
                "nodePort": ports.kwok,
                "serverAddress": f"127.0.0.1:{ports.kwok}",
                "nodeLeaseDurationSeconds": 40,
                # Stages are objects in the cluster (kwok-stages.yaml, applied by nodes.py),
                # so a test can add one, e.g. to hold one model version's pods unready.
                "enableCRDs": list(KWOK_CRDS),
            },
        },
        indent=2,
    )
