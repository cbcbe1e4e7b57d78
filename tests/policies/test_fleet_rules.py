"""The fleet-wide rules' fleet settings: what the rest of a split fleet takes, as each stack's
generated policy config gives it (commands/fleet_ledger.py). One stack's objects as ModelService
builds them, then one setting at a time, asserting the exact message; the defaults are one stack
that is the whole fleet (tests/policies/test_rules.py holds that behaviour)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.config_check import config_problems
from policies.rules.kubernetes import gpu_budget, gpu_node_match, gpu_quota, rollout_feasibility
from policies.support import Rule
from tests.support.specs import stack_of

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
QUOTA = "kubernetes:core/v1:ResourceQuota"
Resources = list[tuple[str, Any, str]]


def stack(*models: str) -> Resources:
    """The Deployments and autoscalers of `models` as one stack holds them."""
    return stack_of(*models)


def gpus(stack_name: str, count: float, namespace: str = "models") -> dict[str, Any]:
    return {"stack": stack_name, "namespace": namespace, "gpus": count}


def check(rule: Rule, resources: Resources, **config: Any) -> list[tuple[str, str | None]]:
    return rule.check(resources, {**rule.defaults(), **config})


# digits alone: 4 GPUs at peak (ScaledObject max 4 x 1 GPU), 2 held at min replicas.


def test_gpu_budget_counts_the_rest_of_the_fleet() -> None:
    rule = gpu_budget.RULE
    assert check(rule, stack("digits"), gpuBudget=8) == []
    assert check(rule, stack("digits"), gpuBudget=8, fleetPeakGpus=[gpus("local", 4)]) == []
    # Each stack fits the budget of 8 alone; together they do not. 5.0: as the engine hands it.
    assert check(rule, stack("digits"), gpuBudget=8, fleetPeakGpus=[gpus("local", 5.0)]) == [
        (
            "GPUs at peak replicas across the fleet (this stack's digits-stable 4x1 = 4; the "
            "fleet's other stacks local 5; 9 in all) exceed the fleet's GPU budget (8)",
            None,
        )
    ]


def test_gpu_budget_in_a_stack_without_gpus_still_sees_the_fleet() -> None:
    elsewhere = [gpus("local.models-b", 4), gpus("local.models-a", 3), gpus("local.models-a", 2)]
    assert check(gpu_budget.RULE, stack("iris"), gpuBudget=8, fleetPeakGpus=elsewhere) == [
        (
            "GPUs at peak replicas across the fleet (this stack's none; the fleet's other stacks "
            "local.models-a 5 + local.models-b 4; 9 in all) exceed the fleet's GPU budget (8)",
            None,
        )
    ]


def test_gpu_budget_holds_the_fleet_to_the_platforms_node_groups() -> None:
    # A models stack has no node groups: its generated config gives the platform's as gpuCapacity.
    found = check(gpu_budget.RULE, stack("digits"), gpuCapacity=6, fleetPeakGpus=[gpus("local", 3)])
    assert found == [
        (
            "GPUs at peak replicas across the fleet (this stack's digits-stable 4x1 = 4; the "
            "fleet's other stacks local 3; 7 in all) exceed the GPU capacity of the fleet's node "
            "groups (6)",
            None,
        )
    ]


def test_gpu_quota_of_a_models_stack_is_its_platforms() -> None:
    rule = gpu_quota.RULE
    # The quota is an object of the platform stack: without the fleet's, it is missing here.
    assert check(rule, stack("digits")) == [
        (
            "namespace models: runs GPU pods but has no ResourceQuota on requests.nvidia.com/gpu",
            None,
        )
    ]
    assert check(rule, stack("digits"), fleetQuotas=[gpus("local", 8.0)]) == []
    assert check(rule, stack("digits"), fleetQuotas=[gpus("local", 3)]) == [
        (
            "namespace models: GPUs at peak replicas (4) exceed its requests.nvidia.com/gpu quota "
            "(3); the cluster would refuse pods past it",
            None,
        )
    ]
    # A quota of another namespace admits nothing here.
    assert check(rule, stack("digits"), fleetQuotas=[gpus("local", 8, "platform")]) == [
        (
            "namespace models: runs GPU pods but has no ResourceQuota on requests.nvidia.com/gpu",
            None,
        )
    ]


def test_gpu_quota_admits_the_whole_fleets_pods() -> None:
    rule = gpu_quota.RULE
    quota = (
        QUOTA,
        {"metadata": {"namespace": "models"}, "spec": {"hard": {gpu_quota.QUOTA_KEY: "8"}}},
        "urn:q",
    )
    # The platform stack: its quota, no GPU pods of its own, the models stacks' elsewhere.
    assert check(rule, [quota], fleetPeakGpus=[gpus("local.models-a", 8)]) == []
    assert check(
        rule, [quota], fleetPeakGpus=[gpus("local.models-a", 5), gpus("local.models-b", 4)]
    ) == [
        (
            "namespace models: GPUs at peak replicas (across the fleet: this stack's 0; the "
            "fleet's other stacks local.models-a 5 + local.models-b 4; 9 in all) exceed its "
            "requests.nvidia.com/gpu quota (8); the cluster would refuse pods past it",
            None,
        )
    ]
    # Fail closed: GPU pods elsewhere in a namespace no stack gives a quota.
    assert check(rule, [], fleetPeakGpus=[gpus("local.models-a", 1, "batch")]) == [
        ("namespace batch: runs GPU pods but has no ResourceQuota on requests.nvidia.com/gpu", None)
    ]


def test_gpu_node_match_of_a_models_stack_is_against_the_platforms_node_groups() -> None:
    rule = gpu_node_match.RULE
    assert check(rule, stack("digits")) == []  # no node groups anywhere (local): not checked
    assert check(rule, stack("digits"), nodeGpuTypes=["a10g"]) == []
    assert check(rule, stack("digits"), nodeGpuTypes=["h100"]) == [
        (
            "digits-stable: accepts GPU types a10g, l4, t4 but the node groups offer h100; its "
            "pods would stay pending",
            "urn:digits-stable",
        )
    ]


def test_rollout_feasibility_counts_what_the_rest_of_the_fleet_holds() -> None:
    rule = rollout_feasibility.RULE
    # digits holds 2 of 3 GPUs at min replicas; its surge pod takes the third.
    assert check(rule, stack("digits"), gpuCapacity=3) == []
    assert check(rule, stack("digits"), gpuCapacity=4, fleetHeldGpus=[gpus("local", 1)]) == []
    assert check(rule, stack("digits"), gpuCapacity=3, fleetHeldGpus=[gpus("local", 1.0)]) == [
        (
            "digits-stable: its rollout will stall: it needs 1 surge pod x 1 GPU = 1 GPU beyond "
            "what the GPU workloads hold at min replicas (across the fleet: this stack's "
            "digits-stable 2x1 = 2; the fleet's other stacks local 1; 3 in all), and 0 of the 3 "
            "GPUs are free; the new pods would stay Pending (remedy: `rollout.strategy: replace` "
            "in its model.yaml, or more GPUs)",
            "urn:digits-stable",
        )
    ]


def test_rollout_feasibility_checks_the_other_stacks_rollouts_against_the_fleet() -> None:
    # digits' own rollout fits in 5 GPUs (2 held, 1 more needed); another stack's needs 3 more.
    rule = rollout_feasibility.RULE
    assert check(rule, stack("digits"), gpuCapacity=5, fleetRolloutGpus=[gpus("a", 3)]) == []
    found = check(
        rule, stack("digits"), gpuCapacity=4, fleetRolloutGpus=[gpus("local.models-a", 3)]
    )
    assert found == [
        (
            "a rollout of stack local.models-a will stall: it needs 3 GPUs beyond what the GPU "
            "workloads hold at min replicas (digits-stable 2x1 = 2), and 2 of the 4 GPUs are "
            "free; its preview names the model (remedy: set `rollout.strategy: replace` in its "
            "model.yaml (maxSurge 0, maxUnavailable 1: each old pod goes before its replacement "
            "starts, so the rollout needs no free GPU; allowed with replicas.min >= 2 and no "
            "canary, so the PodDisruptionBudget's minAvailable holds), or add GPU capacity)",
            None,
        )
    ]


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (
            {"gpu-budget": {"fleetPeakGpus": [gpus("local", -1)]}},
            "gpu-budget.fleetPeakGpus[0].gpus: -1 is below the minimum 0",
        ),
        (
            {"gpu-quota": {"fleetQuotas": [{"stack": "local", "gpus": 8}]}},
            "gpu-quota.fleetQuotas[0]: namespace is required",
        ),
        (
            {"rollout-feasibility": {"fleetHeldGpus": [{**gpus("local", 1), "model": "x"}]}},
            "rollout-feasibility.fleetHeldGpus[0].model: unknown key (allowed: stack, namespace, "
            "gpus)",
        ),
        (
            {"gpu-node-match": {"nodeGpuTypes": ["v100"]}},
            'gpu-node-match.nodeGpuTypes[0]: "v100" is not one of ["a100", "a10g", "h100", "l4", '
            '"l40s", "t4"]',
        ),
    ],
)
def test_a_bad_fleet_setting_is_refused_by_name(setting: dict[str, Any], problem: str) -> None:
    assert config_problems(setting) == [problem]
