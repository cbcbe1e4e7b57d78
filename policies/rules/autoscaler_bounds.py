from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig, object_name
from policies.support import Rule

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != HPA:
        return []
    name = object_name(props)
    low = int(dig(props, "spec", "minReplicas") or 1)
    high = int(dig(props, "spec", "maxReplicas") or 0)
    problems = []
    if low > high:
        problems.append(f"{name}: minReplicas {low} is above maxReplicas {high}")
    if high > config["maxReplicas"]:
        problems.append(f"{name}: maxReplicas {high} is above the ceiling {config['maxReplicas']}")
    if not dig(props, "spec", "metrics"):
        problems.append(f"{name}: has no metrics to scale on")
    return problems


RULE = Rule(
    name="autoscaler-bounds",
    description="Autoscalers have ordered bounds under a ceiling, and a metric.",
    why="An unbounded autoscaler turns a traffic spike (or a bug) into a bill.",
    severity=Severity.MEDIUM,
    remediation="Set replicas.min and replicas.max in model.yaml within the ceiling.",
    config={
        "maxReplicas": {"type": "integer", "default": 50, "description": "Highest maxReplicas"}
    },
    check=check,
)
