"""KEDA end to end on the simulated cluster: a GPU model scales on its serving load.

A private plane (toolchain/plane) gets the `local` stack from the real engine, with the
ScaledObjects' Prometheus (`autoscalingPrometheusUrl`) set to a real Prometheus on loopback
(toolchain/prometheus.py). That Prometheus scrapes a loopback exporter of TF Serving-shaped series
for digits' simulated pods (tests/support/tf_serving_exporter.py), and KEDA's operator and metrics
API server, built from KEDA's module, run out of cluster against the plane
(tests/support/keda_plane.py). The test raises digits' request rate and watches the HPA that KEDA
made and owns scale the Deployment up to `replicas.max` and no further, then lowers it and
watches it come back to `replicas.min` and no lower; the stack sees no change throughout.
Figures go to stdout (`pytest -s`) and to build/keda-figures.json.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.autoscaling.scaled_object import trigger_query
from components.facts.labels import MODEL_LABEL
from components.serving import builders as serving
from tests.support.engine import ROOT, LocalStack
from tests.support.keda_plane import KedaOnPlane
from tests.support.loopback import wait_for
from tests.support.prometheus_server import PrometheusServer
from tests.support.specs import spec_of
from tests.support.tf_serving_exporter import TfServingExporter, is_ready
from toolchain.plane.api import Api
from toolchain.plane.layout import Layout
from toolchain.plane.lifecycle import up
from toolchain.plane.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.gobuild]

NAMESPACE = "models"  # modelsNamespace's default
PLATFORM_NAMESPACE = "gpu-platform"  # platformNamespace's default
MODEL = "digits"
# Room for digits' replicas.max on GPU nodes of one GPU each, and for iris on the CPU nodes.
CPU_NODES, GPU_NODES = 2, 4
DEPLOYMENT = f"{MODEL}-stable"
SCALED_OBJECT = f"{MODEL}-stable"
KEDA_HPA = f"keda-hpa-{SCALED_OBJECT}"  # the name KEDA gives the HPA it creates
MODEL_SELECTOR = f"{MODEL_LABEL}%3D{MODEL}"

FIGURES_FILE = ROOT / "build" / "keda-figures.json"
FIGURES: dict[str, Any] = {}


def figure(name: str, value: Any) -> None:
    FIGURES[name] = value
    print(f"[keda figures] {name}: {value}", flush=True)
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=2) + "\n")


@dataclass
class World:
    api: Api
    stack: LocalStack
    exporter: TfServingExporter
    prometheus: PrometheusServer
    keda: KedaOnPlane


def list_pods(api: Api, selector: str) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = api.get(
        f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={selector}"
    )["items"]
    return pods


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("keda")
    layout = Layout(root / "plane")
    spec = spec_of(MODEL)
    stoppers: list[Any] = []
    try:
        up(layout, CPU_NODES, GPU_NODES)
        stoppers.append(lambda: stop(layout))
        api = Api(layout)
        exporter = TfServingExporter(
            model=MODEL,
            service=serving.object_name(spec, "serving"),
            pods=lambda: list_pods(api, MODEL_SELECTOR),
        ).start()
        stoppers.append(exporter.stop)
        prometheus = PrometheusServer.start(root / "prometheus", [exporter.address])
        stoppers.append(prometheus.stop)

        stack = LocalStack.create(root / "stack")
        stack.pulumi("config", "set", "kubeconfig", str(layout.kubeconfig))
        stack.pulumi("config", "set", "autoscalingPrometheusUrl", prometheus.url)
        stack.up()

        keda = KedaOnPlane.start(
            layout, api, root / "keda", watch_namespace=NAMESPACE, own_namespace=PLATFORM_NAMESPACE
        )
        stoppers.append(keda.stop)
        figure("setup_seconds", round(time.monotonic() - started, 1))
        yield World(api, stack, exporter, prometheus, keda)
    finally:
        # The plane is private and goes with its processes: nothing to destroy.
        for stopper in reversed(stoppers):
            stopper()
        figure("module_wall_seconds", round(time.monotonic() - started, 1))


def deployment(api: Api) -> dict[str, Any]:
    found: dict[str, Any] = api.get(
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}"
    )
    return found


def keda_hpa(api: Api) -> dict[str, Any]:
    found: dict[str, Any] = api.get(
        f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers/{KEDA_HPA}"
    )
    return found


def settled_at(world: World, replicas: int) -> bool:
    """The Deployment wants `replicas` and has that many ready pods."""
    d = deployment(world.api)
    ready = [p for p in list_pods(world.api, MODEL_SELECTOR) if is_ready(p)]
    return d["spec"]["replicas"] == replicas and len(ready) == replicas


class ReplicaWatch:
    """The Deployment's wanted replicas, read every half second while the test changes the load:
    a bound crossed for a moment is seen."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.seen.append((time.monotonic(), int(deployment(self.api)["spec"]["replicas"])))
            self._stop.wait(0.5)

    def __enter__(self) -> ReplicaWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def replicas(self) -> set[int]:
        return {count for _, count in self.seen}


def test_keda_creates_and_owns_the_hpa_and_holds_the_minimum(world: World) -> None:
    spec = spec_of(MODEL)
    wait_for("KEDA's HPA", lambda: bool(keda_hpa(world.api)), 60, world.keda.processes)
    hpa = keda_hpa(world.api)
    owners = [(o["kind"], o["name"]) for o in hpa["metadata"].get("ownerReferences", [])]
    assert owners == [("ScaledObject", SCALED_OBJECT)], owners
    assert hpa["spec"]["scaleTargetRef"]["name"] == DEPLOYMENT
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (
        spec.replicas.min,
        spec.replicas.max,
    )
    # Not ours: the stack made no HPA for digits.
    hpas = world.api.get(f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers")
    scaled_by = {h["spec"]["scaleTargetRef"]["name"]: h["metadata"]["name"] for h in hpas["items"]}
    assert scaled_by[DEPLOYMENT] == KEDA_HPA and sorted(scaled_by) == [DEPLOYMENT, "iris-stable"]
    wait_for(
        f"{DEPLOYMENT} at replicas.min={spec.replicas.min}",
        lambda: settled_at(world, spec.replicas.min),
        90,
        world.keda.processes,
    )
    scaled = world.api.get(
        f"/apis/keda.sh/v1alpha1/namespaces/{NAMESPACE}/scaledobjects/{SCALED_OBJECT}"
    )
    conditions = {c["type"]: c["status"] for c in scaled["status"]["conditions"]}
    assert conditions.get("Ready") == "True", scaled["status"]


def test_the_trigger_queries_the_configured_prometheus_over_the_exported_series(
    world: World,
) -> None:
    spec = spec_of(MODEL)
    scaled = world.api.get(
        f"/apis/keda.sh/v1alpha1/namespaces/{NAMESPACE}/scaledobjects/{SCALED_OBJECT}"
    )
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == world.prometheus.url
    track = next(t for t in serving.tracks(spec, {1: None}) if t.name == "stable")
    query = trigger_query(spec, track, NAMESPACE)
    assert trigger["metadata"]["query"] == query
    # The exporter's series reach Prometheus and the trigger's own query selects them.
    world.exporter.set_rate(10)
    wait_for("digits' series in the trigger's query",
             lambda: bool(world.prometheus.query(query)), 60)  # fmt: skip


def test_serving_load_scales_the_gpu_model_to_its_max_and_back_to_its_min(world: World) -> None:
    spec = spec_of(MODEL)
    low, high = spec.replicas.min, spec.replicas.max
    target = spec.autoscaling.target
    # Far past what max replicas serve at the target: the HPA would want more, KEDA's bound holds.
    load = 6 * high * target
    with ReplicaWatch(world.api) as watch:
        started = time.monotonic()
        world.exporter.set_rate(load)
        wait_for(f"{DEPLOYMENT} scaled up to {high}", lambda: settled_at(world, high), 240,
                 world.keda.processes)  # fmt: skip
        scale_up = time.monotonic() - started
        figure("scale_up_seconds", round(scale_up, 1))
        wanted = math.ceil(load / target)
        figure("load_requests_per_second", load)
        figure("replicas_wanted_by_the_load_unbounded", wanted)
        # Held a while at the load: the bound holds, not only reached.
        time.sleep(20)
        assert max(watch.replicas()) == high, watch.seen
        external = world.api.get(
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/s0-prometheus"
            f"?labelSelector=scaledobject.keda.sh%2Fname%3D{SCALED_OBJECT}"
        )
        # The trigger's query as KEDA serves it to the HPA: the track's total request rate.
        figure("external_metric_at_load", external["items"][0]["value"])
        # KEDA's HPA writes replicas; the stack still plans nothing.
        result = world.stack.preview("--expect-no-changes", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        result = world.stack.preview("--refresh", "--expect-no-changes", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        # The writer is KEDA's HPA: it wants the bound. The stack's field manager owns no
        # `replicas` (the API server records no owner for an HPA's writes through /scale).
        assert keda_hpa(world.api)["status"]["desiredReplicas"] == high
        managers = replicas_managers(deployment(world.api))
        figure("spec_replicas_owners_in_managed_fields", managers)
        assert not [m for m in managers if m.startswith("pulumi")], managers

        world.exporter.set_rate(0)
        lowered = time.monotonic()
        wait_for(f"{DEPLOYMENT} scaled down to {low}", lambda: settled_at(world, low), 420,
                 world.keda.processes)  # fmt: skip
        figure("scale_down_seconds", round(time.monotonic() - lowered, 1))
        time.sleep(20)
    after_up = [count for at, count in watch.seen if at >= started]
    assert max(after_up) == high and min(after_up) >= low, watch.seen
    assert watch.seen[-1][1] == low, watch.seen
    figure("replicas_seen", sorted(watch.replicas()))


def replicas_managers(d: dict[str, Any]) -> list[str]:
    """Who owns `spec.replicas` in the Deployment's managed fields."""
    found = []
    for entry in d["metadata"].get("managedFields", []):
        fields = entry.get("fieldsV1", {}).get("f:spec", {})
        if "f:replicas" in fields:
            found.append(f"{entry['manager']} ({entry.get('subresource', 'main')})")
    return found
