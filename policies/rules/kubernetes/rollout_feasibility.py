from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from components.facts.rollout import REMEDY, RolloutNeed, surge_pods
from policies.kube import autoscaler_bounds, autoscaler_target, dig, object_name, pod_spec
from policies.rules.kubernetes.gpu_budget import (
    GPU_CAPACITY_SETTING,
    StackResource,
    by_stack,
    fleet_gpus,
    fleet_gpus_setting,
    node_group_capacity,
)
from policies.rules.kubernetes.gpu_resources import gpus_per_pod
from policies.support import Rule

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# The GPUs the fleet's other stacks hold at min replicas: a rollout needs GPUs free in the whole
# cluster, not in its stack (commands/fleet_ledger.py generates it for a split fleet).
FLEET_HELD_GPUS = "fleetHeldGpus"
# And the largest rollout of each other stack: the GPUs it needs free. One stack checks every
# rollout; split, each stack checks its own, and these, against the fleet's free GPUs, so a change
# in one stack that leaves too few GPUs for another stack's rollout fails here too.
FLEET_ROLLOUT_GPUS = "fleetRolloutGpus"
# (name, urn, replicas at min, GPUs per pod, its RollingUpdate or None for Recreate)
RolloutWorkload = tuple[str, str, int, int, Mapping[str, Any] | None]


def min_replicas(resources: Sequence[StackResource]) -> dict[tuple[str, str], int]:
    """Fewest replicas each workload keeps: its autoscaler's minimum (an HPA's, or a KEDA
    ScaledObject's, which may be 0)."""
    found: dict[tuple[str, str], int] = {}
    for resource_type, props, _ in resources:
        bounds = autoscaler_bounds(resource_type, props)
        if bounds is not None:
            key = (str(dig(props, "metadata", "namespace")), autoscaler_target(props))
            found[key] = min(found.get(key, bounds[0]), bounds[0])
    return found


def rollout_workloads(resources: Sequence[StackResource]) -> list[tuple[str, RolloutWorkload]]:
    """Every GPU workload with its namespace, at its minimum replicas."""
    minimums = min_replicas(resources)
    workloads: list[tuple[str, RolloutWorkload]] = []
    for resource_type, props, urn in resources:
        pod = pod_spec(resource_type, props)
        if pod is None or not gpus_per_pod(pod):
            continue
        key = (str(dig(props, "metadata", "namespace")), object_name(props))
        replicas = minimums.get(key, int(dig(props, "spec", "replicas") or 1))
        strategy = dig(props, "spec", "strategy") or {}
        rolling = None
        if resource_type == DEPLOYMENT and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            rolling = strategy.get("rollingUpdate") or {}
        workloads.append((key[0], (key[1], urn, replicas, gpus_per_pod(pod), rolling)))
    return workloads


def rollout_gpus(workload: RolloutWorkload) -> int:
    """GPUs a workload's rollout needs beyond what it holds: 0 for Recreate, other kinds, or
    nothing running to roll."""
    name, _, replicas, gpus, rolling = workload
    if rolling is None or replicas == 0:
        return 0
    return RolloutNeed(name, surge_pods(rolling, replicas), 0, gpus, None, 0).need


def check(
    resources: Sequence[StackResource], config: Mapping[str, Any]
) -> list[tuple[str, str | None]]:
    capacity = node_group_capacity(resources)
    if capacity is None:
        capacity = int(config["gpuCapacity"])
        if capacity < 0:
            return []
    workloads = [workload for _, workload in rollout_workloads(resources)]
    held = sum(replicas * gpus for _, _, replicas, gpus, _ in workloads)
    # Sorted: the engine hands a stack policy its resources in no fixed order.
    holders = " + ".join(sorted(f"{n} {r}x{g}" for n, _, r, g, _ in workloads if r))
    held_text = f"{holders} = {held}"
    elsewhere = fleet_gpus(config, FLEET_HELD_GPUS)
    if elsewhere:
        held += sum(gpus for _, _, gpus in elsewhere)
        held_text = (
            f"across the fleet: this stack's {held_text if holders else 'none'}; the fleet's "
            f"other stacks {by_stack(elsewhere)}; {held} in all"
        )
    problems: list[tuple[str, str | None]] = []
    for name, urn, replicas, gpus, rolling in sorted(workloads):
        if rolling is None or replicas == 0:
            continue  # Recreate, other kinds, or nothing running to roll
        need = RolloutNeed(name, surge_pods(rolling, replicas), 0, gpus, capacity, held)
        if need.fits is False:
            problems.append(
                (
                    f"{name}: its rollout will stall: it needs {need.pods_text()} beyond what "
                    f"the GPU workloads hold at min replicas ({held_text}), and {need.free} "
                    f"of the {capacity} GPUs are free; the new pods would stay Pending (remedy: "
                    "`rollout.strategy: replace` in its model.yaml, or more GPUs)",
                    urn,
                )
            )
    free = max(0, capacity - held)
    for stack, _, wanted in sorted(fleet_gpus(config, FLEET_ROLLOUT_GPUS)):
        if wanted > free:
            problems.append(
                (
                    f"a rollout of stack {stack} will stall: it needs {wanted} GPU"
                    f"{'s' if wanted != 1 else ''} beyond what the GPU workloads hold at min "
                    f"replicas ({held_text}), and {free} of the {capacity} GPUs are free; "
                    f"its preview names the model (remedy: {REMEDY})",
                    None,
                )
            )
    return problems


RULE = Rule(
    name="rollout-feasibility",
    description="Each GPU Deployment's rolling update fits in the GPUs the others leave free.",
    why="A RollingUpdate starts its surge pods before the old ones go; on full GPU nodes they stay "
    "Pending on Insufficient nvidia.com/gpu and the rollout stalls until its deadline.",
    severity=Severity.HIGH,
    remediation=REMEDY[0].upper() + REMEDY[1:] + ".",
    config={
        "gpuCapacity": GPU_CAPACITY_SETTING,
        FLEET_HELD_GPUS: fleet_gpus_setting("GPUs held at min replicas"),
        FLEET_ROLLOUT_GPUS: fleet_gpus_setting("GPUs the largest rollout needs free"),
    },
    check=check,
    stack_level=True,
)
