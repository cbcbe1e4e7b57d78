from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from components.facts.labels import MODEL_LABEL
from policies.kube import HPA, SCALED_OBJECT, autoscaler_bounds, autoscaler_target, dig
from policies.support import Rule

StackResource = tuple[str, Mapping[str, Any], str]
AUTOSCALER = "autoscaler (HorizontalPodAutoscaler or KEDA ScaledObject)"
KIND_OF = {
    "kubernetes:core/v1:Service": "Service",
    HPA: AUTOSCALER,
    SCALED_OBJECT: AUTOSCALER,
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
    # Each scaled Deployment and the kinds scaling it: two would both write its replicas.
    writers: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for resource_type, props, urn in resources:
        model = dig(props, "metadata", "labels", MODEL_LABEL)
        if model is None:
            continue
        if resource_type == "kubernetes:apps/v1:Deployment":
            # The first by name, not by arrival: the engine's order is not fixed.
            deployments[model] = min(urn, deployments.get(model, urn))
        if resource_type in KIND_OF:
            present.setdefault(model, set()).add(KIND_OF[resource_type])
        bounds = autoscaler_bounds(resource_type, props)
        if bounds is not None:
            minimums[model] = minimums.get(model, 0) + bounds[0]
            target = (str(dig(props, "metadata", "namespace")), autoscaler_target(props))
            writers.setdefault(target, []).append((resource_type.rsplit(":", 1)[-1], urn))
    problems: list[tuple[str, str | None]] = []
    for (_, deployment), kinds in sorted(writers.items()):
        if len(kinds) > 1:
            # Sorted: the engine hands resources over in no fixed order.
            kinds = sorted(kinds)
            names = " and ".join(kind for kind, _ in kinds)
            problems.append(
                (
                    f"Deployment {deployment}: scaled by {names}; each would write its replicas, "
                    "and they would fight",
                    kinds[-1][1],
                )
            )
    for model, urn in sorted(deployments.items()):
        needed = ["Service", AUTOSCALER]
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
    description="Each model Deployment comes with its Service, one autoscaler, budget and "
    "monitoring. Deployment-specific by design: models are served only by ModelService's "
    "Deployments.",
    why="A model deployed without them is unreachable, unscaled, or unwatched; with two "
    "autoscalers, both write its replicas.",
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
