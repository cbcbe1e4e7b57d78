"""Bringing a plane up (build, kwokctl, our objects) and asking whether it runs."""

from __future__ import annotations

import contextlib
import time

from toolchain.gobuild import ToolchainError
from toolchain.plane import processes
from toolchain.plane.api import Api, ApiError, wait_until
from toolchain.plane.build import build, say
from toolchain.plane.layout import Layout
from toolchain.plane.nodes import (
    METRICS_FILE,
    STAGES_FILE,
    apply_kwok_objects,
    apply_stages,
    metrics_available,
    nodes_ready,
    plane_nodes,
)


def up(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> dict[str, float]:
    """Start the plane in `layout` (or find it running); returns seconds per phase. A plane that
    fails to start is stopped again, its state and logs kept."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    build()
    timings["build"] = time.monotonic() - started
    layout.root.mkdir(parents=True, exist_ok=True)
    if processes.running(layout):
        say(f"already running; kubeconfig: {layout.kubeconfig}")
        return timings
    started = time.monotonic()
    try:
        start(layout, cpu_nodes, gpu_nodes)
    except BaseException:
        with contextlib.suppress(ToolchainError):
            processes.stop(layout)
        raise
    timings["start"] = time.monotonic() - started
    say(f"up in {timings['start']:.1f}s: {cpu_nodes} CPU and {gpu_nodes} GPU nodes")
    say(f"kubeconfig: {layout.kubeconfig}")
    return timings


def start(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> None:
    if processes.exists(layout):
        say(f"starting the cluster kwokctl keeps in {layout.cluster_dir}")
        processes.start(layout)
    else:
        say(f"creating the cluster with kwokctl in {layout.cluster_dir}")
        processes.create(layout)
    # The file the local stack points at; kwokctl's names its certificates by absolute path.
    layout.kubeconfig.write_text(layout.kwokctl_kubeconfig.read_text())
    layout.kubeconfig.chmod(0o600)
    api = Api(layout)
    wait_until(
        "kube-apiserver",
        lambda: api.get("/readyz") == "ok",
        timeout=120,
        log=layout.log_file("kube-apiserver"),
    )
    # kwokctl installed KWOK's CRDs (processes.KWOK_CRDS); the prometheus-operator CRDs our
    # objects need are the stack's (components/monitoring/component.py), so each CRD has one
    # owner and `destroy` removes them.
    apply_stages(api, STAGES_FILE.read_text())
    apply_kwok_objects(api, METRICS_FILE.read_text())
    for body in plane_nodes(cpu_nodes, gpu_nodes):
        try:
            api.request("POST", "/api/v1/nodes", body)
        except ApiError as error:
            if error.status != 409:
                raise
            # Kept from an earlier start: its annotations (where metrics-server reads its
            # usage) are brought up to date.
            api.request(
                "PATCH",
                f"/api/v1/nodes/{body['metadata']['name']}",
                {"metadata": {"annotations": body["metadata"]["annotations"]}},
                content_type="application/merge-patch+json",
            )
    wait_until(
        f"{cpu_nodes + gpu_nodes} nodes",
        lambda: nodes_ready(api, cpu_nodes + gpu_nodes),
        timeout=60,
        log=layout.log_file("kwok-controller"),
    )
    # kwokctl registered metrics-server's APIService (v1beta1.metrics.k8s.io).
    wait_until(
        "the resource-metrics API (metrics-server)",
        lambda: metrics_available(api),
        timeout=90,
        log=layout.log_file("metrics-server"),
    )
    # Pods need their namespace's default ServiceAccount, made by the controller manager.
    wait_until(
        "the default ServiceAccount",
        lambda: bool(api.get("/api/v1/namespaces/default/serviceaccounts/default")),
        timeout=60,
        log=layout.log_file("kube-controller-manager"),
    )


def status(layout: Layout) -> dict[str, str]:
    """Each process of the plane and its status, as kwokctl reports it (empty: never created)."""
    return processes.components(layout)
