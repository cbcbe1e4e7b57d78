from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import HPA, SCALED_OBJECT, autoscaler_bounds, dig, object_name
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    bounds = autoscaler_bounds(resource_type, props)
    if bounds is None:
        return []
    name = object_name(props)
    low, high = bounds
    # Each kind's own words, so the message points at the field to change.
    low_key, high_key, signals = (
        ("minReplicas", "maxReplicas", "metrics")
        if resource_type == HPA
        else ("minReplicaCount", "maxReplicaCount", "triggers")
    )
    problems = []
    if low > high:
        problems.append(f"{name}: {low_key} {low} is above {high_key} {high}")
    if high > config["maxReplicas"]:
        problems.append(
            f"{name}: {high_key} {high} is above the ceiling {config['maxReplicas']}"
            + (" (KEDA's default when unset)" if dig(props, "spec", high_key) is None else "")
        )
    if not dig(props, "spec", signals):
        problems.append(f"{name}: has no {signals} to scale on")
    if resource_type == SCALED_OBJECT and low == 0 and not _activations(props):
        problems.append(
            f"{name}: {low_key} 0 (scale to zero) without a trigger's activationThreshold: "
            "nothing says what demand wakes it"
        )
    return problems


def _activations(props: Mapping[str, Any]) -> list[Any]:
    return [
        t for t in dig(props, "spec", "triggers") or [] if dig(t, "metadata", "activationThreshold")
    ]


RULE = Rule(
    name="autoscaler-bounds",
    description="Autoscalers (HPAs and KEDA ScaledObjects) have ordered bounds under a ceiling, "
    "a signal, and a wake-up signal when they scale to zero.",
    why="An unbounded autoscaler turns a traffic spike (or a bug) into a bill; one scaled to zero "
    "with nothing to wake it never serves again.",
    severity=Severity.MEDIUM,
    remediation="Set replicas.min and replicas.max in model.yaml within the ceiling, and "
    "autoscaling.activation with replicas.min: 0.",
    config={
        "maxReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": 50,
            "description": "Highest maxReplicas",
        }
    },
    check=check,
)
