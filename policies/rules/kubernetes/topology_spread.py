from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig, object_name, pod_spec
from policies.support import Rule

# Kinds that run a replica count of the same pod; DaemonSets spread by definition, Jobs finish.
REPLICATED = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:ReplicaSet",
)


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None or resource_type not in REPLICATED:
        return []
    replicas = dig(props, "spec", "replicas")
    if replicas is not None and int(replicas) < config["fromReplicas"]:
        return []
    # Without `replicas` an autoscaler owns the count: it may reach the threshold.
    if not pod.get("topologySpreadConstraints"):
        return [f"{object_name(props)}: no topologySpreadConstraints; replicas may share one node"]
    return []


RULE = Rule(
    name="topology-spread",
    description="Deployments, StatefulSets and ReplicaSets that may run several replicas spread "
    "them over nodes and zones (DaemonSets and Jobs are not replica sets of one pod).",
    why="Replicas on one node fall together; spreading is what makes replicas redundancy.",
    severity=Severity.LOW,
    remediation="ModelService spreads over zones and hosts; keep its constraints.",
    config={
        "fromReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": 3,
            "description": "Replica count from which spreading is required",
        }
    },
    check=check,
)
