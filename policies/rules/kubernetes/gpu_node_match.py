from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, get_args

from pulumi_policy import Severity

from components.facts.gpu import GpuType
from components.facts.labels import GPU_TYPE_LABEL
from policies.kube import dig, object_name, pod_spec
from policies.rules.kubernetes.gpu_budget import NODE_GROUP, StackResource
from policies.rules.kubernetes.gpu_resources import gpus_per_pod
from policies.support import Rule

KNOWN_TYPES = frozenset(get_args(GpuType))


def accepted_gpu_types(pod: Mapping[str, Any]) -> set[str] | None:
    """GPU types a pod's node selector or required affinity accepts; None: any."""
    accepted: set[str] | None = None
    selected = (pod.get("nodeSelector") or {}).get(GPU_TYPE_LABEL)
    if selected is not None:
        accepted = {str(selected)}
    terms = dig(
        pod,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    for term in terms or []:
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == GPU_TYPE_LABEL and expression.get("operator") == "In":
                values = {str(v) for v in expression.get("values") or []}
                accepted = values if accepted is None else accepted & values
    return accepted


def offered_gpu_types(resources: Sequence[StackResource]) -> set[str] | None:
    """GPU types the stack's EKS node groups label their nodes with; None without node groups."""
    groups = [props for resource_type, props, _ in resources if resource_type == NODE_GROUP]
    if not groups:
        return None
    return {
        str((g.get("labels") or {})[GPU_TYPE_LABEL])
        for g in groups
        if GPU_TYPE_LABEL in (g.get("labels") or {})
    }


def check(
    resources: Sequence[StackResource], config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    offered = offered_gpu_types(resources)
    problems: list[tuple[str, str | None]] = []
    for resource_type, props, urn in resources:
        pod = pod_spec(resource_type, props)
        if pod is None or not gpus_per_pod(pod):
            continue
        name, accepted = object_name(props), accepted_gpu_types(pod)
        if accepted is None:
            continue  # gpu-placement requires the GPU node label; any GPU type will do
        unknown = sorted(accepted - KNOWN_TYPES)
        if unknown:
            problems.append((f"{name}: selects unknown GPU types {', '.join(unknown)}", urn))
        if offered is not None and not accepted & offered:
            problems.append(
                (
                    f"{name}: accepts GPU types {', '.join(sorted(accepted))} but the node groups "
                    f"offer {', '.join(sorted(offered)) or 'none'}; its pods would stay pending",
                    urn,
                )
            )
    return problems


RULE = Rule(
    name="gpu-node-match",
    description="GPU pods select GPU types that exist and that one of the stack's GPU node "
    "groups provides.",
    why="A selector no node group matches is not an error anywhere else: the pods just stay "
    "pending, and the autoscaler cannot add a node that fits.",
    severity=Severity.HIGH,
    remediation="Set resources.gpuTypes in model.yaml to types of the stack's gpuNodeGroups, or "
    "add a node group of that type.",
    config={},
    check=check,
    stack_level=True,
)
