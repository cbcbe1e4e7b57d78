"""The whole stack with the monitoring charts on the simulated cluster, as a user deploys it:
`make cluster-up` and `make up` on a copy of the repository whose chartsDirectory is the pinned
charts beside the clone (kube-prometheus-stack 77.14.0, dcgm-exporter 4.8.2; KEDA's chart is not
rendered on `local`, kedaChart being unset). Every object the engine recorded exists on the
cluster; every namespace enforces its Pod Security level, which the API server applies (a
privileged pod in the platform namespace is refused) and which every workload's pods passed (they
exist and are ready); every CRD is Established; `make preview` with `--expect-no-changes` exits 0
right after; `make destroy` leaves none of those objects, namespaces, CRDs or cluster-scoped
objects behind.

What the plane cannot show: KWOK runs no container, so the prometheus-operator never reconciles
the Prometheus and Alertmanager resources and their StatefulSets' pods are never made; their
admission is the operator's to ask for on a real cluster.

The engine runs with PULUMI_SKIP_CHECKPOINTS (experimental; only the final checkpoint is
written). The state is 31 MB on disk (the ten operator CRDs and KEDA's are 10 MB of it, each held
as inputs and outputs) and the file backend rewrites it at every step: on this machine the engine
reported 6 min 56 s for `up` with checkpoints and 52 s without, 11 min 10 s and 30 s for
`destroy`. What the test checks does not depend on intermediate checkpoints; `make up` for users
keeps them (an interrupted run is recovered from them, commands/recover.py). Figures go to
build/monitoring-cluster-figures.json."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.facts.namespaces import NODE_AGENTS_POD_SECURITY_LEVEL
from components.target.namespaces import POD_SECURITY_LEVEL
from tests.support.cluster_objects import Discovery, StateObject, cluster_scoped, state_objects
from tests.support.engine import (
    ROOT,
    SKIP_CHECKPOINTS,
    copy_repository,
    engine_env,
    run_make,
    timed_make,
    user_env,
)
from toolchain.plane.api import Api, ApiError
from toolchain.plane.layout import Layout

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

SHARED_CHARTS = ROOT.parent / "shared" / "charts"
FIGURES = ROOT / "build" / "monitoring-cluster-figures.json"
NAMESPACES = {
    "gpu-platform": POD_SECURITY_LEVEL,
    "models": POD_SECURITY_LEVEL,
    "node-agents": NODE_AGENTS_POD_SECURITY_LEVEL,
}


@dataclass
class Deployed:
    clone: Path
    api: Api
    objects: list[StateObject]
    before: set[str]
    """The cluster-scoped objects of the plane before `make up`."""
    figures: dict[str, Any] = field(default_factory=dict)


def make_env() -> dict[str, str]:
    return {**user_env(), **SKIP_CHECKPOINTS}  # see the docstring


def make(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_make(clone, *args, env=make_env(), timeout=1800)


def timed(figures: dict[str, Any], key: str, clone: Path, *args: str) -> str:
    return timed_make(figures, key, clone, *args, env=make_env(), timeout=1800)


def exported_state(clone: Path) -> dict[str, Any]:
    exported = subprocess.run(
        ["pulumi", "--non-interactive", "stack", "export", "--stack", "local"],
        cwd=clone,
        env=engine_env(clone / ".pulumi-state"),
        capture_output=True,
        text=True,
        check=True,
    )
    state: dict[str, Any] = json.loads(exported.stdout)
    return state


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    if not (SHARED_CHARTS / "kube-prometheus-stack" / "Chart.yaml").is_file():
        pytest.skip(f"the pinned charts are not beside the clone ({SHARED_CHARTS})")
    clone = copy_repository(tmp_path_factory.mktemp("monitoring-cluster") / "clone")
    # The copy is not beside the charts: it names them where they are, as a user's config would.
    stack_file = clone / "Pulumi.local.yaml"
    settings = yaml.safe_load(stack_file.read_text()) or {}
    settings.setdefault("config", {})["gpu-model-platform:chartsDirectory"] = str(SHARED_CHARTS)
    stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    figures: dict[str, Any] = {"skipCheckpoints": True}
    try:
        timed(figures, "clusterUpSeconds", clone, "cluster-up")
        api = Api(Layout(clone / "build" / "cluster"))
        before = cluster_scoped(api)
        timed(figures, "upSeconds", clone, "up")
        yield Deployed(clone, api, state_objects(exported_state(clone)), before, figures)
    finally:
        make(clone, "cluster-down")
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


def test_every_object_is_on_the_cluster(deployed: Deployed) -> None:
    discovery = Discovery(deployed.api)
    kinds = Counter(obj.kind for obj in deployed.objects)
    deployed.figures["objectsPerKind"] = dict(sorted(kinds.items()))
    deployed.figures["objects"] = len(deployed.objects)
    missing = [str(obj) for obj in deployed.objects if not discovery.exists(obj)]
    assert not missing, missing
    # The charts' workloads and ours, and the operator's CRDs: the full stack, not a part of it.
    assert kinds["CustomResourceDefinition"] == 16, kinds
    assert kinds["DaemonSet"] == 2 and kinds["Deployment"] >= 5, kinds
    for kind in ("Prometheus", "Alertmanager", "ServiceMonitor", "PrometheusRule"):
        assert kinds[kind] >= 1, (kind, kinds)


def test_namespaces_enforce_pod_security_and_the_api_server_applies_it(
    deployed: Deployed,
) -> None:
    for name, level in NAMESPACES.items():
        found = deployed.api.get(f"/api/v1/namespaces/{name}")["metadata"]["labels"]
        assert found["pod-security.kubernetes.io/enforce"] == level, (name, found)
    # Not a label nobody reads: a pod needing the host is refused in the platform namespace.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "needs-the-host", "namespace": "gpu-platform"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "busybox"}]},
    }
    with pytest.raises(ApiError) as refused:
        deployed.api.request("POST", "/api/v1/namespaces/gpu-platform/pods?dryRun=All", pod)
    assert refused.value.status == 403 and "violates PodSecurity" in str(refused.value)


def test_every_workload_pod_was_admitted_and_is_ready(deployed: Deployed) -> None:
    discovery = Discovery(deployed.api)
    ready = {}
    for obj in deployed.objects:
        if obj.kind not in ("Deployment", "DaemonSet", "StatefulSet"):
            continue
        found = deployed.api.get(discovery.path(obj))
        status = found.get("status", {})
        if obj.kind == "DaemonSet":
            wanted, count = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
        else:
            wanted, count = found["spec"]["replicas"], status.get("readyReplicas", 0)
        assert wanted > 0 and count == wanted, (str(obj), status)
        ready[str(obj)] = count
    assert any(name.startswith("DaemonSet node-agents/") for name in ready), ready
    refused = []
    for namespace in NAMESPACES:
        for event in deployed.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]:
            # Pod Security and admission refusals. A pod made before its ServiceAccount exists is
            # refused too ("serviceaccount ... not found"): the chart's objects are applied in
            # parallel and the controller retries, so the readiness above shows it passed (seen
            # once, for dcgm-exporter, in a full run).
            message = event["message"]
            if event["reason"] == "FailedCreate" and "serviceaccount" not in message:
                refused.append(f"{event['involvedObject']['name']}: {message}")
    assert not refused, refused
    deployed.figures["readyPods"] = ready


def test_every_crd_is_established(deployed: Deployed) -> None:
    crds = [obj for obj in deployed.objects if obj.kind == "CustomResourceDefinition"]
    for crd in crds:
        found = deployed.api.get(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd.name}"
        )
        conditions = {c["type"]: c["status"] for c in found["status"]["conditions"]}
        assert conditions.get("Established") == "True", (crd.name, conditions)


def test_a_second_preview_plans_no_change(deployed: Deployed) -> None:
    timed(
        deployed.figures,
        "secondPreviewSeconds",
        deployed.clone,
        "preview",
        "PREVIEW_FLAGS=--expect-no-changes",
    )


def test_destroy_leaves_nothing_behind(deployed: Deployed) -> None:
    discovery = Discovery(deployed.api)
    for obj in deployed.objects:  # every path learnt while the CRDs still serve their kinds
        discovery.path(obj)
    timed(deployed.figures, "destroySeconds", deployed.clone, "destroy")

    def left() -> list[str]:
        return [str(obj) for obj in deployed.objects if discovery.exists(obj)]

    # A namespace may still be finalizing its contents when the engine returns.
    deadline = time.monotonic() + 120
    while left() and time.monotonic() < deadline:
        time.sleep(1)
    assert not left(), left()
    for name in NAMESPACES:
        assert not discovery.exists(StateObject("v1", "Namespace", None, name)), name
    # Whatever else the charts or the program made cluster-wide (roles, webhooks, API services,
    # CRDs), recorded in state or not: the plane holds what it held before `make up`.
    after = cluster_scoped(deployed.api)
    assert after == deployed.before, {
        "left": after - deployed.before,
        "gone": deployed.before - after,
    }
