"""The `local` stack deployed for real: a control plane of toolchain/plane (real API server,
scheduler and controllers; KWOK's simulated CPU and GPU nodes) and the real Pulumi engine.

The tests run in file order on one deployment: up, placement, no perpetual diff, rollout and
rollback, canary, a rollout that cannot become ready, destroy. Each leaves iris serving its
active version 2 without a canary, as model.yaml says. Figures go to stdout (`pytest -s`) and to
build/cluster-figures.json.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import yaml

from components.facts.labels import (
    GPU_NODE_LABEL,
    MODEL_LABEL,
    SIMULATED_CPU_USAGE,
    TRACK_LABEL,
    VERSION_LABEL,
)
from components.serving.admission import POLICY_NAME
from tests.support.engine import ROOT, LocalStack, edit_spec
from toolchain.plane.api import Api, ApiError
from toolchain.plane.layout import Layout
from toolchain.plane.lifecycle import up
from toolchain.plane.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.engine]

NAMESPACE = "models"  # modelsNamespace's default
PLATFORM_NAMESPACE = "gpu-platform"  # platformNamespace's default
CPU_NODES, GPU_NODES = 2, 2
# The bad rollout's deadline (stack config rolloutTimeoutSeconds): long enough for a good rollout
# here, short enough to keep the suite quick.
ROLLOUT_TIMEOUT = 45


def min_replicas(model: str) -> int:
    """replicas.min of the shipped models/<model>/model.yaml: what each autoscaler keeps."""
    spec = yaml.safe_load((ROOT / "models" / model / "model.yaml").read_text())
    return int(spec["replicas"]["min"])


FIGURES_FILE = ROOT / "build" / "cluster-figures.json"
FIGURES: dict[str, Any] = {}


def figure(name: str, value: Any) -> None:
    FIGURES[name] = value
    print(f"[cluster figures] {name}: {value}", flush=True)
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(FIGURES, indent=2) + "\n")


@dataclass
class Plane:
    layout: Layout
    api: Api


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    layout = Layout(tmp_path_factory.mktemp("plane"))
    try:
        timings = up(layout, CPU_NODES, GPU_NODES)
        figure("plane_start_seconds", round(timings["start"], 1))
        yield Plane(layout, Api(layout))
    finally:
        stop(layout)


@pytest.fixture(scope="module")
def stack(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack.create(tmp_path_factory.mktemp("cluster-stack"))
    stack.pulumi("config", "set", "kubeconfig", str(plane.layout.kubeconfig))
    stack.pulumi("config", "set", "rolloutTimeoutSeconds", str(ROLLOUT_TIMEOUT))
    started = time.monotonic()
    stack.up()
    figure("pulumi_up_two_models_seconds", round(time.monotonic() - started, 1))
    yield stack
    if stack.resource_urns():
        stack.pulumi("destroy", "--yes", check=False)


# --- reading the cluster -----------------------------------------------------------------------


def items(api: Api, path: str, selector: dict[str, str] | None = None) -> list[dict[str, Any]]:
    query = ""
    if selector:
        query = "?labelSelector=" + ",".join(f"{k}%3D{v}" for k, v in selector.items())
    result: list[dict[str, Any]] = api.get(path + query)["items"]
    return result


def pods(api: Api, **selector: str) -> list[dict[str, Any]]:
    return items(api, f"/api/v1/namespaces/{NAMESPACE}/pods", selector)


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    deleting = "deletionTimestamp" in pod["metadata"]
    return not deleting and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def deployment(api: Api, name: str) -> dict[str, Any]:
    result: dict[str, Any] = api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
    return result


def rolled_out(d: dict[str, Any]) -> bool:
    status, wanted = d.get("status", {}), d["spec"].get("replicas", 1)
    return bool(
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas") == wanted
        and status.get("readyReplicas") == wanted
        and status.get("replicas") == wanted
    )


def ready_replicas(api: Api, name: str) -> int:
    return int(deployment(api, name).get("status", {}).get("readyReplicas", 0))


def min_available(api: Api, model: str) -> int:
    budget = api.get(f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets/{model}-serving")
    return int(budget["spec"]["minAvailable"])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not so after {timeout}s"
        time.sleep(0.5)


def set_serving(stack: LocalStack, model: str, **serving: Any) -> None:
    """Edit the serving section of the copy's models/<model>/model.yaml (None removes a key)."""
    path = stack.project / "models" / model / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    for key, value in serving.items():
        if value is None:
            spec["serving"].pop(key, None)
        else:
            spec["serving"][key] = value
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


@dataclass
class Sample:
    at: float
    generation: int
    ready: int
    """The Deployment's readyReplicas."""
    done: bool


@dataclass
class ReplicaSetState:
    at: float
    ready_by_version: dict[str, int]
    """Ready pods of each version, summed over the Deployment's ReplicaSets."""


class Sampler:
    """Watches a model's stable track while an update runs: the Deployment polled every
    `interval` seconds, and every change of its ReplicaSets from a watch, so that no state of a
    rollout however quick goes unseen."""

    def __init__(self, api: Api, model: str, interval: float = 0.15) -> None:
        self.api, self.model, self.interval = api, model, interval
        self.samples: list[Sample] = []
        self.replica_sets: list[ReplicaSetState] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._failures: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._guarded, args=(reader,), daemon=True)
            for reader in (self._poll_deployment, self._watch_replica_sets)
        ]

    def __enter__(self) -> Sampler:
        for thread in self._threads:
            thread.start()
        wait_for(
            "the sampler's first readings",
            lambda: bool(self._failures or (self.samples and self.replica_sets)),
        )
        if self._failures:
            self.__exit__()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        if self._failures:  # a reader that stopped early would leave a gap in the readings
            raise self._failures[0]

    def _guarded(self, reader: Callable[[], None]) -> None:
        try:
            reader()
        except BaseException as failure:
            self._failures.append(failure)

    def _now(self) -> float:
        return time.monotonic() - self.started

    def _poll_deployment(self) -> None:
        while not self._stop.is_set():
            d = deployment(self.api, f"{self.model}-stable")
            self.samples.append(
                Sample(
                    at=self._now(),
                    generation=d["metadata"]["generation"],
                    ready=d.get("status", {}).get("readyReplicas", 0),
                    done=rolled_out(d),
                )
            )
            self._stop.wait(self.interval)

    def _watch_replica_sets(self) -> None:
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets?labelSelector=" + (
            f"{MODEL_LABEL}%3D{self.model},{TRACK_LABEL}%3Dstable"
        )
        listed = self.api.get(path)
        ready: dict[str, tuple[str, int]] = {}

        def update(replica_set: dict[str, Any], deleted: bool = False) -> None:
            name = replica_set["metadata"]["name"]
            version = replica_set["spec"]["template"]["metadata"]["labels"][VERSION_LABEL]
            count = 0 if deleted else replica_set.get("status", {}).get("readyReplicas", 0)
            ready[name] = (version, count)

        def record() -> None:
            by_version: dict[str, int] = {}
            for version, count in ready.values():
                by_version[version] = by_version.get(version, 0) + count
            self.replica_sets.append(ReplicaSetState(self._now(), by_version))

        for replica_set in listed["items"]:
            update(replica_set)
        record()
        resource_version = listed["metadata"]["resourceVersion"]
        while not self._stop.is_set():
            for event in self.api.watch(path, resource_version):
                assert event["type"] != "ERROR", event
                update(event["object"], deleted=event["type"] == "DELETED")
                record()
                resource_version = event["object"]["metadata"]["resourceVersion"]

    def lowest_ready(self) -> int:
        return min(
            min(s.ready for s in self.samples),
            min(sum(r.ready_by_version.values()) for r in self.replica_sets),
        )

    def lowest_ready_of(self, version: str) -> int:
        return min(r.ready_by_version.get(version, 0) for r in self.replica_sets)

    def rollout_seconds(self) -> float:
        """From the last reading of the Deployment before its spec changed to the first one that
        finds the rollout done: at most one polling interval longer than the rollout itself."""
        before = self.samples[0].generation
        last_before = max(s.at for s in self.samples if s.generation == before)
        done = min(s.at for s in self.samples if s.generation > before and s.done)
        return done - last_before


def roll(stack: LocalStack, plane: Plane, active: int, name: str) -> Sampler:
    set_serving(stack, "iris", active=active)
    with Sampler(plane.api, "iris") as sampler:
        started = time.monotonic()
        stack.up()
        up_seconds = time.monotonic() - started
        latest = sampler.samples
        wait_for(
            "rollout done", lambda: latest[-1].done and latest[-1].generation > latest[0].generation
        )
    floor = min_available(plane.api, "iris")
    figure(f"{name}_pulumi_up_seconds", round(up_seconds, 1))
    figure(f"{name}_seconds", round(sampler.rollout_seconds(), 2))
    figure(f"{name}_lowest_ready", sampler.lowest_ready())
    figure(f"{name}_readings", len(sampler.samples) + len(sampler.replica_sets))
    assert sampler.lowest_ready() >= floor, (
        f"{name}: ready replicas fell to {sampler.lowest_ready()}, under the PDB's minAvailable "
        f"{floor}"
    )
    # Stronger, and what the Deployment's strategy promises (maxUnavailable 0): no ready replica
    # goes before its successor is ready, so capacity never drops below the autoscaler's minimum.
    assert sampler.lowest_ready() == min_replicas("iris"), f"{name}: {sampler.lowest_ready()} ready"
    assert {
        p["metadata"]["labels"][VERSION_LABEL] for p in pods(plane.api, **{MODEL_LABEL: "iris"})
    } == {str(active)}
    return sampler


# --- the tests, in order -----------------------------------------------------------------------


# No KEDA operator runs on this plane, so nothing acts on digits' ScaledObject: its Deployment
# keeps the API server's default of 1 replica, where KEDA's HPA would hold replicas.min.
READY_WITHOUT_KEDA = {"iris": min_replicas("iris"), "digits": 1}


def test_every_model_deployment_becomes_ready(stack: LocalStack, plane: Plane) -> None:
    # iris's HPA brings its Deployment up to its minimum (2), even without metrics.
    wait_for(
        "both models rolled out at their expected ready replicas",
        lambda: all(
            rolled_out(deployment(plane.api, f"{m}-stable"))
            and ready_replicas(plane.api, f"{m}-stable") == wanted
            for m, wanted in READY_WITHOUT_KEDA.items()
        ),
    )


def test_the_gpu_models_scaled_object_is_admitted_and_nothing_else_scales_it(
    stack: LocalStack, plane: Plane
) -> None:
    crd = plane.api.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/scaledobjects.keda.sh"
    )
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established.get("Established") == "True", crd["status"]
    scaled = plane.api.get(
        f"/apis/keda.sh/v1alpha1/namespaces/{NAMESPACE}/scaledobjects/digits-stable"
    )
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "digits-stable"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (min_replicas("digits"), 4)
    assert spec["triggers"][0]["type"] == "prometheus"
    # One writer of replicas: we create no HPA for digits (KEDA would create its own).
    hpas = items(plane.api, f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers")
    targets = sorted(h["spec"]["scaleTargetRef"]["name"] for h in hpas)
    assert targets == ["iris-stable"], targets
    assert "replicas" not in stack_inputs_of_deployment(stack, "digits-stable")


def stack_inputs_of_deployment(stack: LocalStack, name: str) -> dict[str, Any]:
    """The Deployment's spec as the stack registered it (not as the cluster defaulted it)."""
    exported = json.loads(stack.pulumi("stack", "export").stdout)
    for resource in exported["deployment"]["resources"]:
        if resource["type"] == "kubernetes:apps/v1:Deployment" and resource["urn"].endswith(
            f"::{name}"
        ):
            found: dict[str, Any] = resource["inputs"]["spec"]
            return found
    raise AssertionError(f"no Deployment {name} in the stack's state")


def test_gpu_pods_run_on_gpu_nodes_only_and_cpu_pods_never_do(
    stack: LocalStack, plane: Plane
) -> None:
    nodes = {n["metadata"]["name"]: n for n in items(plane.api, "/api/v1/nodes")}
    gpu_nodes = {name for name, n in nodes.items() if GPU_NODE_LABEL in n["metadata"]["labels"]}
    assert len(gpu_nodes) == GPU_NODES and len(nodes) == CPU_NODES + GPU_NODES
    placed = {
        model: {p["spec"]["nodeName"] for p in pods(plane.api, **{MODEL_LABEL: model})}
        for model in ("digits", "iris")
    }
    assert placed["digits"] and placed["digits"] <= gpu_nodes, placed
    assert placed["iris"] and not placed["iris"] & gpu_nodes, placed


def test_preview_right_after_up_expects_no_changes(stack: LocalStack) -> None:
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- only gated images in the models namespace -------------------------------------------------

ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def allowed_images(api: Api) -> list[str]:
    """The allow-list of the live policy, parsed from its CEL list literal."""
    policy = api.get(f"{ADMISSION}/validatingadmissionpolicies/{POLICY_NAME}")
    [literal] = [v["expression"] for v in policy["spec"]["variables"] if v["name"] == "allowed"]
    images: list[str] = json.loads(literal)
    return images


def restricted_pod(name: str, image: str) -> dict[str, Any]:
    """A pod the restricted Pod Security Standard admits: a refusal can only be the policy's."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": image,
                    "securityContext": {
                        "runAsUser": 1000,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def refusal(api: Api, path: str, body: dict[str, Any]) -> str:
    """The API server's message refusing `body`; fails if it was admitted."""
    with pytest.raises(ApiError) as refused:
        api.request("POST", path, body)
    assert refused.value.status == 403, refused.value
    message: str = json.loads(str(refused.value).split(": ", 1)[1])["message"]
    return message


def test_the_models_namespace_admits_only_gated_images(stack: LocalStack, plane: Plane) -> None:
    api = plane.api
    binding = api.get(f"{ADMISSION}/validatingadmissionpolicybindings/{POLICY_NAME}")
    assert binding["spec"]["validationActions"] == ["Deny"]
    allowed = allowed_images(api)
    running = {
        m: deployment(api, f"{m}-stable")["spec"]["template"]["spec"]["containers"][0]["image"]
        for m in ("digits", "iris")
    }
    assert set(running.values()) <= set(allowed)
    # iris v1 is gated but not served: the rollback below must be admitted.
    assert any(image.startswith(running["iris"].rsplit(":", 1)[0] + ":v1-") for image in allowed)
    figure("admission_allowed_images", len(allowed))

    pods_path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    ungated = refusal(api, pods_path, restricted_pod("ungated", "docker.io/library/busybox:1.36"))
    print(f"[admission] {ungated}", flush=True)
    figure("admission_refusal_message", ungated)
    assert ungated.startswith(
        f"pods \"ungated\" is forbidden: ValidatingAdmissionPolicy '{POLICY_NAME}' with binding "
        f"'{POLICY_NAME}' denied request: image docker.io/library/busybox:1.36 is not a gated "
        "model version"
    ), ungated
    # The gated image's name with another tag: an ungated build of the same model.
    retagged = running["iris"].rsplit(":", 1)[0] + ":v2-0000000000000000"
    assert retagged in refusal(api, pods_path, restricted_pod("retagged", retagged))
    # A Deployment is refused when applied, not only its pods later.
    bad_deployment = deployment(api, "iris-stable")
    bad_deployment["metadata"] = {"name": "iris-ungated"}
    bad_deployment.pop("status")
    bad_deployment["spec"]["template"]["spec"]["containers"][0]["image"] = retagged
    message = refusal(api, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", bad_deployment)
    assert message.startswith('deployments.apps "iris-ungated" is forbidden: ')
    assert f"image {retagged} is not a gated model version" in message

    # The gated image itself is admitted, and the platform's namespace is left alone. A dry run
    # passes every admission check and stores nothing, so no stray pod meets the tests after.
    dry_run = "?dryRun=All"
    admitted = api.request("POST", pods_path + dry_run, restricted_pod("gated", running["iris"]))
    assert admitted["metadata"]["name"] == "gated"
    platform_pods = f"/api/v1/namespaces/{PLATFORM_NAMESPACE}/pods"
    tool = restricted_pod("tool", "docker.io/library/busybox:1.36")
    assert api.request("POST", platform_pods + dry_run, tool)["metadata"]["name"] == "tool"


def test_rollout_and_rollback_keep_the_disruption_budget(stack: LocalStack, plane: Plane) -> None:
    # Under the gated-image policy: every new pod of both versions is admitted by it.
    assert allowed_images(plane.api)
    roll(stack, plane, active=1, name="rollout")
    roll(stack, plane, active=2, name="rollback")
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_canary_gets_its_share_of_ready_replicas_and_goes_away(
    stack: LocalStack, plane: Plane
) -> None:
    percent = 50
    set_serving(stack, "iris", canary={"version": 1, "percent": percent})
    stack.up()
    hpas = f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers"
    minimum = {
        t: plane.api.get(f"{hpas}/iris-{t}")["spec"]["minReplicas"] for t in ("stable", "canary")
    }
    assert minimum["canary"] / (minimum["stable"] + minimum["canary"]) == percent / 100
    # At zero load each track's autoscaler brings it down to its minimum, after the plane's
    # downscale window; set it at once to keep the test short.
    for track in ("stable", "canary"):
        plane.api.request(
            "PATCH",
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/iris-{track}/scale",
            {"spec": {"replicas": minimum[track]}},
            content_type="application/merge-patch+json",
        )

    def ready_versions() -> dict[str, list[str]]:
        """The version of each ready pod, by track."""
        ready: dict[str, list[str]] = {"stable": [], "canary": []}
        for pod in pods(plane.api, **{MODEL_LABEL: "iris"}):
            labels = pod["metadata"]["labels"]
            if is_ready(pod):
                ready[labels[TRACK_LABEL]].append(labels[VERSION_LABEL])
        return ready

    def counts() -> dict[str, int]:
        return {track: len(versions) for track, versions in ready_versions().items()}

    wait_for("each track at its minimum", lambda: counts() == minimum)
    assert ready_versions() == {
        "stable": ["2"] * minimum["stable"],
        "canary": ["1"] * minimum["canary"],
    }
    share = counts()["canary"] / sum(counts().values())
    figure("canary_ready_share", share)
    assert share == percent / 100

    set_serving(stack, "iris", canary=None)
    stack.up()
    with pytest.raises(ApiError) as gone:
        deployment(plane.api, "iris-canary")
    assert gone.value.status == 404
    wait_for("no canary pods", lambda: not pods(plane.api, **{TRACK_LABEL: "canary"}))
    # The stable track's autoscaler is back at the model's minimum and brings it up again.
    wait_for(
        "iris-stable at its minimum",
        lambda: ready_replicas(plane.api, "iris-stable") == min_replicas("iris"),
    )
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- autoscaling on simulated load -------------------------------------------------------------


class Load:
    """Simulated traffic on a model: `millicores` of CPU in total, spread evenly over the model's
    ready pods (both tracks, as its one Service spreads requests), written on each pod as the
    annotation KWOK reports as its usage (toolchain/plane/kwok-metrics.yaml). Re-spread every
    second, so pods that start or stop change every pod's share, as real traffic would."""

    def __init__(self, api: Api, model: str) -> None:
        self.api, self.model, self.millicores = api, model, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failure: BaseException | None = None

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.failure is not None:
            raise self.failure
        self.spread()  # the last load set holds after the driver stops

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.spread()
                self._stop.wait(1)
        except BaseException as failure:
            self.failure = failure

    def spread(self) -> None:
        ready = [p for p in pods(self.api, **{MODEL_LABEL: self.model}) if is_ready(p)]
        share = f"{max(1, self.millicores // max(1, len(ready)))}m"
        for pod in ready:
            if (pod["metadata"].get("annotations") or {}).get(SIMULATED_CPU_USAGE) != share:
                with contextlib.suppress(ApiError):  # a pod deleted meanwhile
                    self.api.request(
                        "PATCH",
                        f"/api/v1/namespaces/{NAMESPACE}/pods/{pod['metadata']['name']}",
                        {"metadata": {"annotations": {SIMULATED_CPU_USAGE: share}}},
                        content_type="application/merge-patch+json",
                    )


def replicas_of(api: Api, name: str) -> int:
    return int(deployment(api, name)["spec"].get("replicas", 1))


def watch_replicas(
    api: Api, names: list[str], until: Callable[[dict[str, int]], bool], timeout: float
) -> tuple[float, list[dict[str, int]]]:
    """Sample each Deployment's replicas (what its HPA set) until `until` holds; returns the
    seconds it took and every sample."""
    started, samples = time.monotonic(), []
    while True:
        sample = {name: replicas_of(api, name) for name in names}
        samples.append(sample)
        if until(sample) and all(ready_replicas(api, n) == sample[n] for n in names):
            return time.monotonic() - started, samples
        assert time.monotonic() - started < timeout, f"not so after {timeout}s: {sample}"
        time.sleep(1)


def test_cpu_load_scales_a_cpu_model_up_to_its_max_and_back_to_its_min(
    stack: LocalStack, plane: Plane
) -> None:
    """The real HPA controller, on metrics-server's view of KWOK's simulated usage."""
    spec = yaml.safe_load((ROOT / "models/iris/model.yaml").read_text())
    low, high = spec["replicas"]["min"], spec["replicas"]["max"]
    with Load(plane.api, "iris") as load:
        # 6 cores over 2 pods of 500m requests: 600%, far over the 70% target.
        load.millicores = 6000
        up_seconds, up_samples = watch_replicas(
            plane.api, ["iris-stable"], lambda s: s["iris-stable"] == high, timeout=240
        )
        load.millicores = 100
        down_seconds, down_samples = watch_replicas(
            plane.api, ["iris-stable"], lambda s: s["iris-stable"] == low, timeout=240
        )
    seen = [s["iris-stable"] for s in up_samples + down_samples]
    figure("hpa_scale_up_to_max_seconds", round(up_seconds, 1))
    figure("hpa_scale_down_to_min_seconds", round(down_seconds, 1))
    figure("hpa_replicas_seen", sorted(set(seen)))
    assert low <= min(seen) and max(seen) <= high, seen
    assert max(seen) == high and seen[-1] == low


def test_under_load_a_canarys_share_of_ready_pods_stays_near_its_percent(
    stack: LocalStack, plane: Plane
) -> None:
    percent, replicas = 25, {"min": 4, "max": 12}
    edit_spec(stack, "iris", replicas=replicas)
    set_serving(stack, "iris", canary={"version": 1, "percent": percent})
    stack.up()
    names = ["iris-stable", "iris-canary"]
    bounds = {"iris-stable": (3, 9), "iris-canary": (1, 3)}  # the canary split of 4-12 at 25%
    # `up` sets the new bounds; each HPA applies them at its next sync (every few seconds), so
    # sampling starts once both tracks are inside them, not while stable is still at 2.
    watch_replicas(
        plane.api,
        names,
        lambda s: all(low <= s[n] <= high for n, (low, high) in bounds.items()),
        timeout=120,
    )
    with Load(plane.api, "iris") as load:
        # 4 cores in all: at the 70% target of 500m, about 11 pods' worth.
        load.millicores = 4000
        _, samples = watch_replicas(plane.api, names, lambda s: sum(s.values()) >= 10, timeout=240)
        shares = []
        for _ in range(30):  # half a minute of the scaled state
            ready = {n: ready_replicas(plane.api, n) for n in names}
            samples.append({n: replicas_of(plane.api, n) for n in names})
            shares.append(ready["iris-canary"] / max(1, sum(ready.values())))
            time.sleep(1)
        load.millicores = 0
    for sample in samples:
        for name, (low, high) in bounds.items():
            assert low <= sample[name] <= high, sample
    mean = sum(shares) / len(shares)
    figure("canary_share_under_load_percent_spec", percent)
    figure("canary_share_under_load_mean", round(mean, 3))
    figure("canary_share_under_load_range", [round(min(shares), 3), round(max(shares), 3)])
    figure("canary_under_load_replicas_last", samples[-1])
    # Near, not at: each track rounds its own replica count up.
    assert abs(mean - percent / 100) <= 0.1, shares

    set_serving(stack, "iris", canary=None)
    edit_spec(
        stack,
        "iris",
        replicas=yaml.safe_load((ROOT / "models/iris/model.yaml").read_text())["replicas"],
    )
    stack.up()
    wait_for("no canary pods", lambda: not pods(plane.api, **{TRACK_LABEL: "canary"}))
    wait_for(
        "iris-stable back at its minimum",
        lambda: ready_replicas(plane.api, "iris-stable") == min_replicas("iris"),
        timeout=120,
    )


HOLD_STAGE = "hold-iris-v1-unready"
PROBE_NAMESPACE = "default"  # no Deployment of ours: no ReplicaSet adopts a probe pod there


def hold_unready_stage(model: str, version: int) -> dict[str, Any]:
    """A KWOK stage that starts one model version's pods but never makes them ready: a version
    that cannot load. Weighted, so it wins over the plane's weightless pod-ready stage."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": HOLD_STAGE},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "weight": 1,
            "selector": {
                "matchLabels": {MODEL_LABEL: model, VERSION_LABEL: str(version)},
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".status.podIP", "operator": "DoesNotExist"},
                ],
            },
            "next": {
                "statusTemplate": (
                    "conditions:\n"
                    '- type: Ready\n  status: "False"\n  reason: ContainersNotReady\n'
                    "containerStatuses:\n"
                    "{{ range .spec.containers }}\n"
                    "- name: {{ .name | Quote }}\n  image: {{ .image | Quote }}\n"
                    "  ready: false\n  restartCount: 0\n"
                    "  state: {running: {startedAt: {{ Now | Quote }}}}\n"
                    "{{ end }}\n"
                    "podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name"
                    " .metadata.namespace | Quote }}\n"
                    "phase: Running\n"
                )
            },
        },
    }


def has_address(api: Api, pod_path: str) -> bool:
    return "podIP" in api.get(pod_path)["status"]


def await_stage_live(api: Api, labels: dict[str, str], timeout: float = 60) -> None:
    """Wait until KWOK plays a stage just applied: KWOK learns of Stage objects through a watch,
    so a pod created at once may still get the stages it knew before (a CI run saw the held
    version's pods become ready). Proof is a probe pod with the stage's labels, in a namespace no
    Deployment owns, that KWOK holds unready; one made ready instead is deleted and tried again."""
    probes = f"/api/v1/namespaces/{PROBE_NAMESPACE}/pods"
    node = items(api, "/api/v1/nodes")[0]["metadata"]["name"]
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        name = f"stage-probe-{attempt}"
        api.request(
            "POST",
            probes,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "nodeName": node,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "probe", "image": "stage-probe"}],
                },
            },
        )
        probe = f"{probes}/{name}"
        try:
            wait_for(f"KWOK plays {name}", partial(has_address, api, probe))
            held = not is_ready(api.get(probe))
        finally:
            api.request("DELETE", probe, {"gracePeriodSeconds": 0})
        if held:
            return
        assert time.monotonic() < deadline, f"KWOK never played the stage for {labels}"
        time.sleep(1)


def test_a_rollout_that_never_becomes_ready_fails_and_the_old_version_keeps_serving(
    stack: LocalStack, plane: Plane
) -> None:
    stages = "/apis/kwok.x-k8s.io/v1alpha1/stages"
    plane.api.apply(f"{stages}/{HOLD_STAGE}", hold_unready_stage("iris", 1))
    await_stage_live(plane.api, {MODEL_LABEL: "iris", VERSION_LABEL: "1"})
    set_serving(stack, "iris", active=1)
    try:
        with Sampler(plane.api, "iris") as sampler:
            started = time.monotonic()
            result = stack.up(check=False)
            failed_after = time.monotonic() - started
        output = result.stdout + result.stderr
        figure("bad_rollout_failed_after_seconds", round(failed_after, 1))
        # What the user reads: the Deployment's failure, under the engine's Diagnostics heading.
        diagnostics = output[output.find("Diagnostics:") :]
        diagnostics = re.split(r"^(?:Outputs|Resources):", diagnostics, flags=re.M)[0].strip()
        print("[bad rollout] " + diagnostics.replace("\n", "\n[bad rollout] "), flush=True)
        figure("bad_rollout_lowest_ready_v2", sampler.lowest_ready_of("2"))
        v1_pods = pods(plane.api, **{VERSION_LABEL: "1", MODEL_LABEL: "iris"})
        assert result.returncode != 0, (
            output + f"\nversion 1 pods ready: {[is_ready(p) for p in v1_pods]}"
        )
        assert "Deployment (iris-stable)" in diagnostics, output
        # Its await is the Deployment's waitFor (components/facts/rollout.py: ROLLOUT_COMPLETE).
        timed_out = (
            '"models/iris-stable" failed to fully initialize or become live: '
            "timed out waiting for the condition"
        )
        assert timed_out in diagnostics, output
        assert failed_after < ROLLOUT_TIMEOUT + 60
        # Version 2 kept every one of its ready replicas throughout.
        assert sampler.lowest_ready_of("2") == min_replicas("iris"), [
            r.ready_by_version for r in sampler.replica_sets
        ]
        unready = [p for p in pods(plane.api, **{VERSION_LABEL: "1", MODEL_LABEL: "iris"})]
        assert unready and not any(is_ready(p) for p in unready)
    finally:
        plane.api.request("DELETE", f"{stages}/{HOLD_STAGE}")
        set_serving(stack, "iris", active=2)
    stack.up()
    wait_for(
        "iris back on version 2 only",
        lambda: (
            {
                p["metadata"]["labels"][VERSION_LABEL]
                for p in pods(plane.api, **{MODEL_LABEL: "iris"})
            }
            == {"2"}
        ),
    )


def test_destroy_leaves_nothing_in_the_model_namespace(stack: LocalStack, plane: Plane) -> None:
    stack.pulumi("destroy", "--yes")
    namespaced = [
        "/api/v1/namespaces/{ns}/pods",
        "/api/v1/namespaces/{ns}/services",
        "/api/v1/namespaces/{ns}/configmaps",
        "/api/v1/namespaces/{ns}/serviceaccounts",
        "/apis/apps/v1/namespaces/{ns}/deployments",
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    ]

    def namespace_gone() -> bool:
        try:
            plane.api.get(f"/api/v1/namespaces/{NAMESPACE}")
        except ApiError as error:
            return error.status == 404
        return False

    wait_for("the models namespace deleted", namespace_gone)
    for path in namespaced:
        assert items(plane.api, path.format(ns=NAMESPACE)) == [], path
    for kind in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        with pytest.raises(ApiError) as gone:
            plane.api.get(f"{ADMISSION}/{kind}/{POLICY_NAME}")
        assert gone.value.status == 404, kind
    assert stack.resource_urns() == []


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if FIGURES:
        print("\n[cluster figures] " + json.dumps(FIGURES), flush=True)
