from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig, number, object_name
from policies.support import Rule

PDB = "kubernetes:policy/v1:PodDisruptionBudget"


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != PDB:
        return []
    spec = props.get("spec") or {}
    name = object_name(props)
    if "maxUnavailable" in spec:
        # int-or-string: 0, the engine's 0.0 and "0%" all allow no disruption.
        if number(spec["maxUnavailable"]) == 0 or str(spec["maxUnavailable"]) == "0%":
            return [f"{name}: maxUnavailable 0 blocks every node drain"]
        return []
    min_available = spec.get("minAvailable")
    if min_available is None:
        return [f"{name}: sets neither minAvailable nor maxUnavailable"]
    if str(min_available) == "100%":
        return [f"{name}: minAvailable 100% blocks every node drain"]
    if not dig(spec, "selector", "matchLabels") and not dig(spec, "selector", "matchExpressions"):
        return [f"{name}: selects no pods"]
    return []


RULE = Rule(
    name="disruption-budget",
    description="Disruption budgets protect availability without blocking node drains.",
    why="A budget that allows no disruption stalls cluster upgrades; one that selects nothing "
    "protects nothing.",
    severity=Severity.MEDIUM,
    remediation="ModelService sets minAvailable to replicas.min - 1 from two replicas.",
    config={},
    check=check,
)
