from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from components.facts.gpu import GPU_RESOURCE
from policies.kube import dig, number, shown
from policies.rules.kubernetes.gpu_budget import StackResource, gpu_workloads
from policies.support import Rule

RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
QUOTA_KEY = f"requests.{GPU_RESOURCE}"


def gpu_quotas(resources: Sequence[StackResource]) -> dict[str, float]:
    """The tightest GPU requests quota of each namespace that has one."""
    quotas: dict[str, float] = {}
    for resource_type, props, _ in resources:
        if resource_type != RESOURCE_QUOTA:
            continue
        hard = number(dig(props, "spec", "hard", QUOTA_KEY))
        if hard is not None:
            namespace = str(dig(props, "metadata", "namespace"))
            quotas[namespace] = min(hard, quotas.get(namespace, hard))
    return quotas


def check(
    resources: Sequence[StackResource], config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    quotas = gpu_quotas(resources)
    demand: dict[str, int] = {}
    for namespace, _, replicas, gpus in gpu_workloads(resources):
        demand[namespace] = demand.get(namespace, 0) + replicas * gpus
    problems: list[tuple[str, str | None]] = []
    for namespace, peak in sorted(demand.items()):
        quota = quotas.get(namespace)
        if quota is None:
            problems.append(
                (
                    f"namespace {namespace}: runs GPU pods but has no ResourceQuota on {QUOTA_KEY}",
                    None,
                )
            )
        elif peak > quota:
            problems.append(
                (
                    f"namespace {namespace}: GPUs at peak replicas ({peak}) exceed its "
                    f"{QUOTA_KEY} quota ({shown(quota)}); the cluster would refuse pods past it",
                    None,
                )
            )
    return problems


RULE = Rule(
    name="gpu-quota",
    description=f"Every namespace running GPU pods has a ResourceQuota on {QUOTA_KEY} that "
    "admits its autoscalers' ceilings.",
    why="The quota is the run-time half of the GPU budget: the cluster refuses GPU pods past it, "
    "so what review lets through must fit under it, and nothing may run GPUs without one.",
    severity=Severity.HIGH,
    remediation="PlatformNamespaces renders the quota from the stack's gpuBudget; raise gpuBudget "
    "(here and in gpu-budget's config) or lower replicas.max of GPU models.",
    config={},
    check=check,
    stack_level=True,
)
