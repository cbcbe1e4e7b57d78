from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from components.facts.gpu import gpus_per_instance
from policies.kube import autoscaler_bounds, autoscaler_target, dig, object_name, pod_spec, shown
from policies.rules.kubernetes.gpu_resources import gpus_per_pod
from policies.support import Rule

StackResource = tuple[str, Mapping[str, Any], str]
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def peak_replicas(resources: Sequence[StackResource]) -> dict[tuple[str, str], int]:
    """Most replicas each Deployment can reach: its autoscaler's maximum (an HPA's, or a KEDA
    ScaledObject's, which scales from 0 to the same peak), else its replicas."""
    peaks: dict[tuple[str, str], int] = {}
    for resource_type, props, _ in resources:
        bounds = autoscaler_bounds(resource_type, props)
        if bounds is not None:
            key = (str(dig(props, "metadata", "namespace")), autoscaler_target(props))
            peaks[key] = max(peaks.get(key, 0), bounds[1])
    return peaks


# The nodes' GPUs where the stack has no EKS GPU node groups; rollout-feasibility reads it too.
GPU_CAPACITY_SETTING: dict[str, Any] = {
    "type": "integer",
    "minimum": -1,
    "default": -1,
    "description": "GPUs the nodes provide when the stack has no EKS GPU node groups "
    "(whose maximum sizes are used instead); -1: not checked",
}


def node_group_capacity(resources: Sequence[StackResource]) -> int | None:
    """GPUs the stack's EKS node groups provide at their maximum size; None without any."""
    capacity, found = 0, False
    for resource_type, props, _ in resources:
        if resource_type != NODE_GROUP:
            continue
        per_node = min((gpus_per_instance(t) for t in props.get("instanceTypes") or []), default=0)
        if per_node:
            found = True
            capacity += per_node * int(dig(props, "scalingConfig", "maxSize") or 0)
    return capacity if found else None


def gpu_workloads(resources: Sequence[StackResource]) -> list[tuple[str, str, int, int]]:
    """(namespace, name, replicas at peak, GPUs per pod) of every workload asking for GPUs."""
    peaks = peak_replicas(resources)
    found = []
    for resource_type, props, _ in resources:
        pod = pod_spec(resource_type, props)
        if pod is None or not gpus_per_pod(pod):
            continue
        key = (str(dig(props, "metadata", "namespace")), object_name(props))
        replicas = peaks.get(key, int(dig(props, "spec", "replicas") or 1))
        found.append((*key, replicas, gpus_per_pod(pod)))
    return found


def check(
    resources: Sequence[StackResource], config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    demand, parts = 0, []
    for _, name, replicas, gpus in gpu_workloads(resources):
        demand += replicas * gpus
        parts.append(f"{name} {replicas}x{gpus}")
    limits = {"gpuBudget": config["gpuBudget"], "gpuCapacity": config["gpuCapacity"]}
    capacity = node_group_capacity(resources)
    if capacity is not None:
        limits["gpuCapacity"] = capacity
    problems: list[tuple[str, str | None]] = []
    for limit_key, what in (
        ("gpuBudget", "the stack's GPU budget"),
        ("gpuCapacity", "the GPU capacity of its node groups"),
    ):
        limit = limits[limit_key]
        if limit >= 0 and demand > limit:
            problems.append(
                (
                    # Sorted: the engine hands a stack policy its resources in no fixed order.
                    f"GPUs at peak replicas ({' + '.join(sorted(parts))} = {demand}) exceed "
                    f"{what} ({shown(limit)})",
                    None,
                )
            )
    return problems


RULE = Rule(
    name="gpu-budget",
    description="Across the stack, max replicas x GPUs per pod stays within budget and capacity.",
    why="Autoscalers that may together ask for more GPUs than exist leave pods pending at peak.",
    severity=Severity.HIGH,
    remediation="Lower replicas.max of GPU models, or raise the budget and the GPU node groups.",
    config={
        "gpuBudget": {
            "type": "integer",
            "minimum": 0,
            "default": 8,
            "description": "GPUs the stack may use at peak",
        },
        "gpuCapacity": GPU_CAPACITY_SETTING,
    },
    check=check,
    stack_level=True,
)
