from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from components.serving import MODEL_LABEL
from policies.kube import dig
from policies.support import Rule

StackResource = tuple[str, Mapping[str, Any], str]
KIND_OF = {
    "kubernetes:core/v1:Service": "Service",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": "HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget": "PodDisruptionBudget",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": "ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": "PrometheusRule",
}


def check(
    resources: Sequence[StackResource], config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    present: dict[str, set[str]] = {}
    minimums: dict[str, int] = {}
    deployments: dict[str, str] = {}
    for resource_type, props, urn in resources:
        model = dig(props, "metadata", "labels", MODEL_LABEL)
        if model is None:
            continue
        if resource_type == "kubernetes:apps/v1:Deployment":
            deployments.setdefault(model, urn)
        if resource_type in KIND_OF:
            present.setdefault(model, set()).add(KIND_OF[resource_type])
        if KIND_OF.get(resource_type) == "HorizontalPodAutoscaler":
            minimums[model] = minimums.get(model, 0) + int(dig(props, "spec", "minReplicas") or 1)
    problems: list[tuple[str, str | None]] = []
    for model, urn in sorted(deployments.items()):
        needed = ["Service", "HorizontalPodAutoscaler"]
        if minimums.get(model, 1) >= 2:
            needed.append("PodDisruptionBudget")
        if config["requireMonitoring"]:
            needed += ["ServiceMonitor", "PrometheusRule"]
        missing = [kind for kind in needed if kind not in present.get(model, set())]
        if missing:
            problems.append((f"model {model}: no {', '.join(missing)}", urn))
    return problems


RULE = Rule(
    name="serving-completeness",
    description="Each model Deployment comes with its Service, autoscaler, budget and monitoring.",
    why="A model deployed without them is unreachable, unscaled, or unwatched.",
    severity=Severity.MEDIUM,
    remediation="Deploy models only through ModelService, which registers the full set.",
    config={
        "requireMonitoring": {
            "type": "boolean",
            "default": False,
            "description": "Also require a ServiceMonitor and a PrometheusRule per model",
        }
    },
    check=check,
    stack_level=True,
)
