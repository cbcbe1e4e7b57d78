"""GPU quotas, at review: the gpu-quota stack policy against the quota the program renders, and
the stack's gpuBudget (the quota) equal to the budget the gpu-budget policy holds it to."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.facts.gpu import GPU_RESOURCE
from components.target.namespaces import gpu_quota
from policies.docs import environment_config
from policies.rules.kubernetes import gpu_quota as rule_module
from tests.support.mocks import ROOT
from tests.support.policy_fixtures import deployment

RULE = rule_module.RULE
QUOTA = "kubernetes:core/v1:ResourceQuota"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def resources(*quotas: dict[str, Any], replicas: int = 4) -> list[tuple[str, Any, str]]:
    digits = deployment("digits-stable")
    digits["spec"]["replicas"] = replicas
    found: list[tuple[str, Any, str]] = [(DEPLOYMENT, digits, "urn:digits")]
    found += [(QUOTA, quota, f"urn:quota-{i}") for i, quota in enumerate(quotas)]
    return found


def test_the_rendered_quota_admits_what_review_admits() -> None:
    assert RULE.check(resources(gpu_quota("models", 8)), {}) == []
    assert RULE.check(resources(gpu_quota("models", 4)), {}) == []


def test_a_namespace_running_gpu_pods_without_a_quota_is_refused() -> None:
    assert RULE.check(resources(gpu_quota("platform", 8)), {}) == [
        (
            f"namespace models: runs GPU pods but has no ResourceQuota on requests.{GPU_RESOURCE}",
            None,
        )
    ]


def test_peak_demand_past_the_quota_is_refused_engine_shaped() -> None:
    quota = gpu_quota("models", 3)
    quota["spec"]["hard"][f"requests.{GPU_RESOURCE}"] = 3.0  # as the engine delivers a number
    assert RULE.check(resources(quota), {}) == [
        (
            f"namespace models: GPUs at peak replicas (4) exceed its requests.{GPU_RESOURCE} quota "
            "(3); the cluster would refuse pods past it",
            None,
        )
    ]


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_the_stacks_quota_is_the_budget_review_checks(environment: str) -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["gpuBudget"]
    stack = yaml.safe_load((ROOT / f"Pulumi.{environment}.yaml").read_text()).get("config") or {}
    quota = stack.get("gpu-model-platform:gpuBudget", declared["default"])
    assert environment_config(environment)["gpu-budget"]["gpuBudget"] == quota
