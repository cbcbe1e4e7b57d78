"""Bringing a plane up (build, certificates, processes, objects) and asking whether it runs."""

from __future__ import annotations

import time
import urllib.request

from components.facts.versions import KWOK_VERSION
from toolchain.gobuild import go_download, require_go
from toolchain.plane.api import Api, ApiError, wait_until
from toolchain.plane.build import PROCESSES, bin_dir, build, say
from toolchain.plane.layout import Layout, plane_ports
from toolchain.plane.nodes import (
    KWOK_CRD_FILES,
    METRICS_FILE,
    STAGES_FILE,
    apply_kwok_objects,
    apply_stages,
    install_crds,
    metrics_available,
    nodes_ready,
    plane_nodes,
    register_metrics_api,
)
from toolchain.plane.pki import kubeconfig_text, write_certificates
from toolchain.plane.processes import (
    component_args,
    kwok_configuration,
    running_pid,
    start_process,
    stop,
)


def up(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> dict[str, float]:
    """Start the plane in `layout` (or find it running); returns seconds per phase. A plane that
    fails to start is stopped again, its logs kept."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    build()
    timings["build"] = time.monotonic() - started
    layout.root.mkdir(parents=True, exist_ok=True)
    if all(running_pid(layout, name) for name in PROCESSES):
        say(f"already running; kubeconfig: {layout.kubeconfig}")
        return timings
    stop(layout)  # whatever is left of a plane that half-started or half-stopped
    started = time.monotonic()
    try:
        start(layout, cpu_nodes, gpu_nodes)
    except BaseException:
        stop(layout)
        raise
    timings["start"] = time.monotonic() - started
    say(f"up in {timings['start']:.1f}s: {cpu_nodes} CPU and {gpu_nodes} GPU nodes")
    say(f"kubeconfig: {layout.kubeconfig}")
    return timings


def start(layout: Layout, cpu_nodes: int, gpu_nodes: int) -> None:
    kwok_module = go_download(require_go("KWOK's Stage CRD"), "sigs.k8s.io/kwok", KWOK_VERSION)
    ports = plane_ports(layout)
    write_certificates(layout.pki)
    layout.kubeconfig.write_text(kubeconfig_text(layout, ports))
    layout.kubeconfig.chmod(0o600)
    (layout.root / "kwok.yaml").write_text(kwok_configuration(ports))
    args = component_args(layout, ports)
    say(f"starting the control plane from {bin_dir()}")
    start_process(layout, "etcd", args["etcd"])
    etcd_health = f"http://127.0.0.1:{ports.etcd_client}/health"
    wait_until(
        "etcd",
        lambda: b'"true"' in urllib.request.urlopen(etcd_health, timeout=2).read(),
        timeout=30,
        log=layout.log_file("etcd"),
    )
    start_process(layout, "kube-apiserver", args["kube-apiserver"])
    api = Api(layout, ports)
    wait_until(
        "kube-apiserver",
        lambda: api.get("/readyz") == "ok",
        timeout=120,
        log=layout.log_file("kube-apiserver"),
    )
    for name in ("kube-controller-manager", "kube-scheduler"):
        start_process(layout, name, args[name])
    # Only KWOK's own CRD: the prometheus-operator CRDs our objects need are the stack's
    # (components/monitoring/component.py), so each CRD has one owner and `destroy` removes them.
    install_crds(api, [kwok_module / crd for crd in KWOK_CRD_FILES])
    apply_stages(api, STAGES_FILE.read_text())
    apply_kwok_objects(api, METRICS_FILE.read_text())
    start_process(layout, "kwok", args["kwok"])
    for body in plane_nodes(cpu_nodes, gpu_nodes):
        try:
            api.request("POST", "/api/v1/nodes", body)
        except ApiError as error:
            if error.status != 409:
                raise
            # Kept from an earlier start, maybe by a plane from before metrics-server: its
            # annotations (where metrics-server reads its usage) are brought up to date.
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
        log=layout.log_file("kwok"),
    )
    start_process(layout, "metrics-server", args["metrics-server"])
    register_metrics_api(api, ports.metrics_server)
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


def status(layout: Layout) -> dict[str, int | None]:
    return {name: running_pid(layout, name) for name in PROCESSES}
