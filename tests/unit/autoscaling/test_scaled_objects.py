"""KEDA ScaledObjects of the models on serving signals: one per track, bounds from the canary
split, triggers on the model's scraped series, and valid against KEDA's own CRD schema, read from
the pinned chart beside the clone (../shared/charts/keda, never copied into the project)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from commands.stack_state import model_tracks
from commands.summary_sections import cold_start
from components.autoscaling.crds import crd_bodies
from components.autoscaling.scaled_object import (
    COOLDOWN_SECONDS,
    IN_CLUSTER_PROMETHEUS,
    prometheus_address,
    scaled_object,
    trigger_query,
)
from components.facts.versions import KEDA
from components.serving import builders as serving
from tests.support.keda import CHART, chart_crd, schema, validate_scaled_object
from tests.support.mocks import RecordingMocks, run_program, stack_config
from tests.support.specs import PROMETHEUS, spec_of, startup_of

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
WAKE = {"query": 'sum(rate(gateway_requests_total{model="digits"}[2m]))', "threshold": 1}
validate = validate_scaled_object


def bodies(**changes: Any) -> list[dict[str, Any]]:
    spec = spec_of("digits", **changes)
    return [
        scaled_object(spec, track, "models", PROMETHEUS)
        for track in serving.tracks(spec, {v: "x" for v in spec.served_versions})
    ]


def test_the_chart_is_the_pinned_version_and_its_crd_is_the_one_we_install() -> None:
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["version"] == KEDA.version
    ours, chart = crd_bodies()["scaledobjects.keda.sh"], chart_crd()
    assert ours["spec"]["names"] == chart["spec"]["names"]
    assert [v["name"] for v in ours["spec"]["versions"]] == ["v1alpha1"]
    spec_fields = [schema(crd)["properties"]["spec"] for crd in (ours, chart)]
    assert {"scaleTargetRef"} <= set(spec_fields[1]["required"]) <= set(spec_fields[0]["required"])
    assert spec_fields[0]["properties"].keys() == spec_fields[1]["properties"].keys()


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"autoscaling": {"metric": "gpu", "target": 60}},
        {
            "replicas": {"min": 0, "max": 3},
            "autoscaling": {"metric": "requests", "activation": WAKE},
        },
        {
            "versions": [{"id": 1}, {"id": 2}],
            "serving": {"active": 1, "canary": {"version": 2, "percent": 50}},
        },
    ],
    ids=["requests", "gpu", "scale-to-zero", "canary"],
)
def test_every_scaled_object_is_valid_against_kedas_crd(changes: dict[str, Any]) -> None:
    for body in bodies(**changes):
        validate(body)


def test_a_broken_scaled_object_fails_the_schema() -> None:
    # The check must be able to fail: KEDA requires a type on each trigger.
    (body,) = bodies()
    broken = copy.deepcopy(body)
    del broken["spec"]["triggers"][0]["type"]
    with pytest.raises(jsonschema.ValidationError, match="'type' is a required property"):
        validate(broken)
    broken = copy.deepcopy(body)
    broken["spec"]["minReplicaCount"] = "two"
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        validate(broken)


def test_a_track_scales_its_deployment_on_its_request_rate_per_replica() -> None:
    (body,) = bodies()
    spec = body["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "digits-stable",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 4)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": PROMETHEUS,
        "query": 'sum(rate(:tensorflow:serving:request_count{namespace="models", '
        'service="digits-serving", model_name="digits", gpu_model_platform_track="stable"}[2m]))',
        "threshold": "50",
    }
    assert "cooldownPeriod" not in spec  # only matters when scaling to zero


def test_a_canarys_tracks_split_the_bounds_and_each_reads_its_own_series() -> None:
    stable, canary = bodies(
        versions=[{"id": 1}, {"id": 2}],
        serving={"active": 1, "canary": {"version": 2, "percent": 50}},
        replicas={"min": 2, "max": 6},
    )
    assert (stable["spec"]["minReplicaCount"], stable["spec"]["maxReplicaCount"]) == (1, 3)
    assert (canary["spec"]["minReplicaCount"], canary["spec"]["maxReplicaCount"]) == (1, 3)
    assert 'gpu_model_platform_track="canary"' in canary["spec"]["triggers"][0]["metadata"]["query"]
    assert canary["metadata"]["name"] == "digits-canary"


def test_gpu_utilisation_is_per_gpu_over_the_tracks_pods() -> None:
    spec = spec_of("digits", autoscaling={"metric": "gpu"})
    (track,) = serving.tracks(spec, {1: "x"})
    assert trigger_query(spec, track, "models") == (
        'sum(DCGM_FI_DEV_GPU_UTIL{namespace="models", '
        'pod=~"digits-stable-[a-z0-9]+-[a-z0-9]+"}) / 1'
    )
    assert spec.autoscaling.target == 70  # the gpu metric's default


def test_scale_to_zero_wakes_on_its_activation_and_cools_down() -> None:
    (body,) = bodies(
        replicas={"min": 0, "max": 3}, autoscaling={"metric": "requests", "activation": WAKE}
    )
    spec = body["spec"]
    assert spec["minReplicaCount"] == 0 and spec["cooldownPeriod"] == COOLDOWN_SECONDS
    wake = spec["triggers"][1]
    assert wake["name"] == "wake"
    assert wake["metadata"]["query"] == WAKE["query"]
    assert wake["metadata"]["activationThreshold"] == "1"


def test_the_prometheus_is_the_platforms_unless_configured() -> None:
    assert prometheus_address("", "gpu-platform") == IN_CLUSTER_PROMETHEUS.format(
        namespace="gpu-platform"
    )
    assert prometheus_address("http://127.0.0.1:9090", "gpu-platform") == "http://127.0.0.1:9090"


def registered(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {mocks.registration(r).urn: dict(r.inputs) for r in mocks.resources}


def test_the_program_gives_gpu_models_a_scaled_object_and_no_hpa() -> None:
    mocks = run_program(stack_config("local"))
    hpas = mocks.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert [r.name for r in hpas] == ["iris-stable-autoscaler"]
    (scaled,) = mocks.of_type(SCALED_OBJECT)
    assert scaled.name == "digits-stable-scaledobject"
    crds = {
        mocks.registration(r).urn
        for r in mocks.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
        if r.inputs["metadata"]["name"].endswith("keda.sh")
    }
    assert len(crds) == 6 and crds <= set(mocks.registration(scaled).dependencies)
    tracks = model_tracks(registered(mocks))
    assert tracks["digits"]["stable"].signal == "requests: 50 requests/s per replica (KEDA)"
    assert tracks["iris"]["stable"].signal == "cpu: 70% of requests (HPA)"
    assert (tracks["digits"]["stable"].min_replicas, tracks["digits"]["stable"].max_replicas) == (
        2,
        4,
    )


def test_the_summary_states_the_cold_start_of_a_model_scaled_to_zero() -> None:
    spec = spec_of(
        "digits",
        replicas={"min": 0, "max": 3},
        autoscaling={"metric": "requests", "activation": WAKE},
    )
    (track,) = serving.tracks(spec, {1: "img"}, startup_of(spec))
    urn = "urn:pulumi:local::p::{kind}::{name}"
    resources = {
        urn.format(kind="kubernetes:apps/v1:Deployment", name="d"): serving.deployment(
            spec, track, "models", "cfg"
        ),
        urn.format(kind=SCALED_OBJECT, name="s"): scaled_object(spec, track, "models", PROMETHEUS),
    }
    tracks = model_tracks(resources)["digits"]
    assert (tracks["stable"].min_replicas, tracks["stable"].max_replicas) == (0, 3)
    assert cold_start("digits", tracks) == (
        "_**digits** scales to zero: 300 s after its wake signal "
        f"(`{WAKE['query']}` above 1) drops, its last pod stops, freeing 1 GPU(s) a pod. The next "
        "requests find no pod and fail until the signal rises again; then one pod starts, on a "
        "node with a free GPU, and serves once its image is pulled and the SavedModel loaded (its "
        "startup probe allows up to 90 s), so callers must retry or tolerate a cold start of "
        "minutes._"
    )
    assert (
        cold_start("digits", {"stable": tracks["stable"].__class__(min_replicas=2, max_replicas=4)})
        is None
    )
