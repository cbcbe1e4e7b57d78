from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components.facts.labels import POD_SECURITY_PREFIX
from policies.kube import dig, object_name
from policies.support import Rule

NAMESPACE = "kubernetes:core/v1:Namespace"
LEVELS = ("privileged", "baseline", "restricted")


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != NAMESPACE:
        return []
    name = object_name(props)
    if name in config["exemptNamespaces"]:
        return []
    labels = dig(props, "metadata", "labels") or {}
    wanted = config["level"]
    problems = []
    for mode in ("enforce", "audit", "warn"):
        level = labels.get(f"{POD_SECURITY_PREFIX}/{mode}")
        if level not in LEVELS or LEVELS.index(level) < LEVELS.index(wanted):
            problems.append(f"{name}: Pod Security {mode} is {level or 'unset'}, not {wanted}")
    return problems


RULE = Rule(
    name="namespace-pod-security",
    description="Namespaces enforce, audit and warn the Pod Security Standard at the required "
    "level: the run-time half of pod-security.",
    why="pod-security reviews what this program registers; the admission labels also refuse "
    "what anyone else applies by hand or through a chart.",
    severity=Severity.HIGH,
    remediation="Create namespaces with PlatformNamespaces (components/target/namespaces.py); "
    "list a namespace that must run node agents in exemptNamespaces.",
    config={
        "level": {
            "type": "string",
            "enum": list(LEVELS),
            "default": "restricted",
            "description": "Lowest Pod Security level namespaces may enforce",
        },
        "exemptNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Namespaces that may run a lower level (node agents, say)",
        },
    },
    check=check,
)
