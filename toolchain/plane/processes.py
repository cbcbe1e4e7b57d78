"""The plane's processes, run by kwokctl (KWOK's own tool, built beside KWOK in build.py): the
KwokctlConfiguration that names our binaries and flags, and the kwokctl commands that create,
start, stop and look at the cluster.

kwokctl's binary runtime makes the certificates and kubeconfig, keeps the ports we choose, starts
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the KWOK controller and
metrics-server (registered as an aggregated API) from the binaries given, and keeps their state
under KWOK_WORKDIR, which is inside the layout's root.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from components.facts.versions import (
    ETCD_VERSION,
    KUBERNETES_RELEASE,
    KWOK_VERSION,
    METRICS_SERVER_VERSION,
)
from toolchain.gobuild import ToolchainError
from toolchain.plane.build import KWOKCTL, binary_path
from toolchain.plane.layout import (
    CLUSTER_NAME,
    KWOK_NODE_ANNOTATION,
    KWOK_NODE_IP,
    POD_CIDR,
    SERVICE_CIDR,
    Layout,
    free_port,
)

# KWOK's CRDs the plane enables: Stage (kwok-stages.yaml), the Metric its nodes serve and the
# resource usage it reports (kwok-metrics.yaml). With Stage among them kwokctl loads none of its
# default stages: ours (applied by lifecycle.py) are the only ones, and a test can add its own.
KWOK_CRDS = ("Stage", "Metric", "ClusterResourceUsage", "ResourceUsage")
HPA_SYNC_SECONDS = 5
HPA_DOWNSCALE_SECONDS = 20
METRIC_RESOLUTION_SECONDS = 15
# The common name of kwokctl's admin certificate, which the API server presents to aggregated APIs.
PROXY_CLIENT = "kwok-admin"
# kwokctl's name for each component whose flags we patch.
ETCD, APISERVER, CONTROLLER_MANAGER = "etcd", "kube-apiserver", "kube-controller-manager"
SCHEDULER, KWOK_CONTROLLER, METRICS_SERVER = "kube-scheduler", "kwok-controller", "metrics-server"


def extra_args(*args: tuple[str, str], override: bool = False) -> list[dict[str, Any]]:
    return [{"key": key, "value": value, "override": override} for key, value in args]


def components_patches(layout: Layout) -> list[dict[str, Any]]:
    """Our flags on top of kwokctl's: each says why it differs from kwokctl's default."""
    pki = layout.pki
    key, value = KWOK_NODE_ANNOTATION
    return [
        {
            "name": ETCD,
            # A disposable test cluster on a shared disk: durability is not worth the fsyncs.
            "extraArgs": extra_args(("unsafe-no-fsync", "true")),
        },
        {
            "name": APISERVER,
            "extraArgs": extra_args(
                ("service-cluster-ip-range", SERVICE_CIDR),
                # The `kubernetes` Service cannot point at a loopback address; nothing here
                # needs it.
                ("endpoint-reconciler-type", "none"),
                # The aggregation layer as a cluster sets it up: kwokctl gives the API server a
                # proxy client certificate (its admin's) but no request-header CA, so aggregated
                # APIs (metrics-server, KEDA's metrics API server) would see every request as
                # that admin's rather than the user's in the forwarded headers.
                ("requestheader-client-ca-file", str(pki / "ca.crt")),
                ("requestheader-username-headers", "X-Remote-User"),
                ("requestheader-group-headers", "X-Remote-Group"),
                ("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
                ("requestheader-allowed-names", PROXY_CLIENT),
                ("profiling", "false"),
            ),
        },
        {
            "name": CONTROLLER_MANAGER,
            "extraArgs": extra_args(
                # A test cluster: autoscalers act within seconds, not the production defaults'
                # 15 s sync and 5 minutes of downscale stabilisation, so a scale-down test stays
                # short.
                ("horizontal-pod-autoscaler-sync-period", f"{HPA_SYNC_SECONDS}s"),
                ("horizontal-pod-autoscaler-downscale-stabilization", f"{HPA_DOWNSCALE_SECONDS}s"),
                ("cluster-name", CLUSTER_NAME),
                # One instance: no lease to wait for after a restart.
                ("leader-elect", "false"),
                ("profiling", "false"),
            ),
        },
        {
            "name": SCHEDULER,
            "extraArgs": extra_args(("leader-elect", "false"), ("profiling", "false")),
        },
        {
            "name": KWOK_CONTROLLER,
            # kwokctl's binary runtime passes an empty --node-ip (nodes would have no InternalIP,
            # where metrics-server scrapes them) and makes KWOK manage every node; ours manages
            # only the nodes that carry its annotation (nodes.py).
            "extraArgs": extra_args(
                ("node-ip", KWOK_NODE_IP),
                ("manage-all-nodes", "false"),
                override=True,
            )
            + extra_args(("manage-nodes-with-annotation-selector", f"{key}={value}")),
        },
        {
            "name": METRICS_SERVER,
            "extraArgs": extra_args(
                ("kubelet-preferred-address-types", "InternalIP"),
                ("metric-resolution", f"{METRIC_RESOLUTION_SECONDS}s"),
                override=True,
            ),
        },
    ]


def kwokctl_configuration(layout: Layout, ports: dict[str, int]) -> dict[str, Any]:
    """The KwokctlConfiguration (config.kwok.x-k8s.io/v1alpha1) of the plane in `layout`."""
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": {
            "runtime": "binary",
            # kwokctl's default is every interface; the plane answers on loopback only.
            "bindAddress": "127.0.0.1",
            "kubeVersion": f"v{KUBERNETES_RELEASE}",
            "etcdVersion": ETCD_VERSION,
            "kwokVersion": KWOK_VERSION,
            "metricsServerVersion": METRICS_SERVER_VERSION,
            # Our binaries, built from their Go modules (build.py); kwokctl downloads nothing.
            "etcdBinary": str(binary_path("etcd")),
            "kubeApiserverBinary": str(binary_path("kube-apiserver")),
            "kubeControllerManagerBinary": str(binary_path("kube-controller-manager")),
            "kubeSchedulerBinary": str(binary_path("kube-scheduler")),
            "kwokControllerBinary": str(binary_path("kwok")),
            "metricsServerBinary": str(binary_path("metrics-server")),
            "enable": [METRICS_SERVER],
            "enableCRDs": list(KWOK_CRDS),
            "nodeLeaseDurationSeconds": 40,
            **ports,
        },
        "componentsPatches": components_patches(layout),
    }


def kwok_configuration() -> dict[str, Any]:
    """What the KWOK controller reads besides its flags: the range its pods' addresses come from
    (kwokctl writes it into the controller's own configuration file)."""
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {"cidr": POD_CIDR},
    }


def configuration_text(layout: Layout, ports: dict[str, int]) -> str:
    """Both documents, as YAML (each JSON document is one)."""
    documents = (kwokctl_configuration(layout, ports), kwok_configuration())
    return "---\n".join(json.dumps(document, indent=2) + "\n" for document in documents)


def plane_ports() -> dict[str, int]:
    """The ports of a new plane, each chosen free by the kernel. kwokctl would choose them itself,
    counting down from 32767: two planes created at once (two test workers) would both pick the
    same. kwokctl keeps them in its cluster's configuration, so a restarted plane has the same
    API server address (a stack's Kubernetes provider would otherwise see another cluster)."""
    names = (
        "kubeApiserverPort",
        "etcdPort",
        "etcdPeerPort",
        "kubeControllerManagerPort",
        "kubeSchedulerPort",
        "kwokControllerPort",
        "metricsServerPort",
    )
    chosen: set[int] = set()
    while len(chosen) < len(names):
        chosen.add(free_port())
    return dict(zip(names, sorted(chosen), strict=True))


def exists(layout: Layout) -> bool:
    """Whether kwokctl has created the plane's cluster (running or stopped)."""
    return layout.kwokctl_kubeconfig.exists()


def kwokctl(layout: Layout, *args: str) -> str:
    """Run kwokctl on the plane's cluster; returns its output. The configuration file is always
    ours, never ~/.kwok/kwok.yaml."""
    command = [
        str(binary_path(KWOKCTL)),
        f"--name={CLUSTER_NAME}",
        f"--config={layout.kwokctl_config}",
        *args,
    ]
    result = subprocess.run(
        command,
        env={**os.environ, "KWOK_WORKDIR": str(layout.kwok_workdir)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=layout.root,
    )
    if result.returncode != 0:
        raise ToolchainError(
            f"`kwokctl {' '.join(args)}` failed (exit {result.returncode}); logs in "
            f"{layout.cluster_dir / 'logs'}:\n{(result.stdout + result.stderr).strip()[-4000:]}"
        )
    return result.stdout


def create(layout: Layout) -> None:
    """Create and start the plane's cluster. `--kubeconfig=` keeps kwokctl from adding a context
    to the user's ~/.kube/config."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.kwokctl_config.write_text(configuration_text(layout, plane_ports()))
    kwokctl(layout, "create", "cluster", "--kubeconfig=")


def start(layout: Layout) -> None:
    """Start the plane's cluster again, with the state and ports it had."""
    kwokctl(layout, "start", "cluster")


def components(layout: Layout) -> dict[str, str]:
    """Each process of the plane and its status as kwokctl sees it (Ready, Stopped, ...)."""
    if not exists(layout):
        return {}
    return component_states(kwokctl(layout, "get", "components", "-o", "wide"))


def component_states(table: str) -> dict[str, str]:
    """`kwokctl get components -o wide`: a NAME and STATUS header, then one line per process."""
    lines = [line.split() for line in table.splitlines() if line.strip()]
    if not lines or lines[0][:2] != ["NAME", "STATUS"]:
        raise ToolchainError(f"unexpected output of kwokctl get components:\n{table}")
    return {fields[0]: " ".join(fields[1:]) for fields in lines[1:]}


def running(layout: Layout) -> bool:
    states = components(layout)
    return bool(states) and all(state == "Ready" for state in states.values())


def stop(layout: Layout) -> list[str]:
    """Stop every process of the plane, its state kept; returns the names of those that ran."""
    if not exists(layout):
        return []
    was_running = [name for name, state in components(layout).items() if state != "Stopped"]
    kwokctl(layout, "stop", "cluster")
    return was_running
