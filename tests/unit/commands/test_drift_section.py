"""The Drift table of a refreshed preview: each differing object named, a deleted one as missing."""

from __future__ import annotations

from commands.engine_events import Step
from commands.summary_sections import drift_section

URN = "urn:pulumi:local::gpu-model-platform::kubernetes:apps/v1:Deployment::"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def step(op: str, kind: str, name: str, changed: list[str] | None = None) -> Step:
    inputs = {"metadata": {"name": name, "namespace": "models"}}
    return Step(op, URN + name, kind, inputs, inputs, changed=changed or [])


def test_without_a_refresh_there_is_no_drift_section() -> None:
    assert drift_section([step("create", DEPLOYMENT, "iris-stable")]) == []


def test_a_refresh_with_nothing_to_do_says_no_drift() -> None:
    lines = drift_section([step("refresh", DEPLOYMENT, "iris-stable")])
    assert "No drift: refreshed from the cluster, every object matches." in lines


def test_each_drifted_object_is_named_with_its_fields_and_a_deleted_one_as_missing() -> None:
    lines = drift_section(
        [
            step("refresh", DEPLOYMENT, "iris-stable"),
            step("create", DEPLOYMENT, "iris-stable"),
            step("update", HPA, "digits-stable", ["spec.maxReplicas"]),
            step("same", HPA, "iris-stable"),
        ]
    )
    assert "Refreshed from the cluster, 2 objects differ from the code:" in lines
    assert (
        "| Deployment | `models/iris-stable` | **missing**: deleted out of band; `make up` creates "
        "it again |"
    ) in lines
    assert (
        "| HorizontalPodAutoscaler | `models/digits-stable` | changed out of band: "
        "`spec.maxReplicas`; `make up` sets it back |"
    ) in lines
