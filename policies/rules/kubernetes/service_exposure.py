from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig, object_name
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != "kubernetes:core/v1:Service":
        return []
    name = object_name(props)
    if name in config["allowedServices"]:
        return []
    problems = []
    kind = dig(props, "spec", "type") or "ClusterIP"
    if kind in ("LoadBalancer", "NodePort"):
        problems.append(f"{name}: type {kind} exposes it outside the cluster")
    if dig(props, "spec", "externalIPs"):
        problems.append(f"{name}: has externalIPs")
    return problems


RULE = Rule(
    name="service-exposure",
    description="Services stay inside the cluster unless listed as exposed.",
    why="Models are reached through the platform's ingress, which authenticates and rate-limits.",
    severity=Severity.HIGH,
    remediation="Keep model Services ClusterIP; list a Service in allowedServices to expose it.",
    config={
        "allowedServices": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Names of Services allowed to be LoadBalancer, NodePort or externalIPs",
        }
    },
    check=check,
)
