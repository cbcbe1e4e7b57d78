"""The fleet ledger (commands/fleet_ledger.py): what each stack of a split fleet takes of the
fleet-wide rules, and the policy config each stack's pack runs with. The verdict of a rule must
not depend on how the fleet is split: the property the last tests hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from commands.fleet_ledger import (
    fleet_ledger,
    model_objects,
    policy_config_path,
    stack_policy_config,
)
from commands.fleet_ledger import (
    platform_objects as platform_only,
)
from components.catalog.load import CatalogEntry
from components.serving import builders as serving
from components.settings.load import platform_settings
from policies.config_check import config_problems
from policies.rules.kubernetes import gpu_budget, gpu_quota, rollout_feasibility
from tests.support.mocks import ROOT
from tests.support.specs import spec_of, startup_of

LOCAL = platform_settings(ROOT, "local")
DEV = platform_settings(ROOT, "dev")


def entry(name: str, source: str = "digits", **changes: Any) -> CatalogEntry:
    spec = spec_of(source, **changes).model_copy(update={"name": name})
    return CatalogEntry(
        spec=spec,
        directory=ROOT / "models" / source,
        digests={},
        startup=startup_of(spec),
        gated={},
    )


# digits: 1 GPU a pod, 2 to 4 replicas; iris: no GPU; vision: a copy of digits at 1 to 3.
CATALOG = [
    entry("digits"),
    entry("iris", source="iris"),
    entry("vision", replicas={"min": 1, "max": 3}),
]
BASE: dict[str, Any] = json.loads((ROOT / "policies/config/local.json").read_text())


def test_each_stack_takes_what_its_models_reach_at_peak_and_hold_at_min() -> None:
    ledger = fleet_ledger("local", LOCAL, CATALOG, {"vision": ["vision"]})
    assert ledger.split
    assert ledger.to_json() == {
        "platform": "local",
        "stacks": [
            {
                "stack": "local",
                "models": ["digits", "iris"],
                "peakGpus": {"models": 4},
                "heldGpus": {"models": 2},
                # digits' surge pod: one of 1 GPU.
                "rolloutGpus": {"models": 1},
            },
            {
                "stack": "local.models-vision",
                "models": ["vision"],
                "peakGpus": {"models": 3},
                "heldGpus": {"models": 1},
                "rolloutGpus": {"models": 1},
            },
        ],
        # The models namespace's quota, rendered from the stack's gpuBudget; no node groups here.
        "quotas": {"models": 8},
        "nodeGpuCapacity": None,
        "nodeGpuTypes": None,
    }


def test_a_canary_counts_both_tracks_as_the_builders_split_them() -> None:
    resources = {**spec_of("iris").resources.model_dump(), "gpus": 1, "gpu_types": ["t4"]}
    canary = entry(
        "iris",
        source="iris",
        serving={"active": 2, "canary": {"version": 1, "percent": 50}},
        replicas={"min": 2, "max": 6},
        resources=resources,
    )
    objects = model_objects(canary, LOCAL)
    deployments = sorted(name for kind, _, name in objects if kind.endswith("Deployment"))
    assert deployments == ["iris-canary", "iris-stable"]
    tracks = serving.tracks(canary.spec, dict.fromkeys(canary.spec.served_versions))
    (share,) = fleet_ledger("local", LOCAL, [canary], {}).shares
    assert share.peak_gpus == {"models": sum(track.replicas.max for track in tracks)}
    assert share.held_gpus == {"models": sum(track.replicas.min for track in tracks)}


def test_a_models_stack_gets_the_platforms_quota_and_node_groups() -> None:
    ledger = fleet_ledger("dev", DEV, CATALOG, {"vision": ["vision"]})
    # dev's one GPU group: g5.xlarge or g5.2xlarge (1 GPU each), at most 5 nodes.
    assert (ledger.node_gpu_capacity, ledger.node_gpu_types) == (5, ("a10g",))
    models = stack_policy_config(BASE, ledger, "dev.models-vision")
    assert models["gpu-budget"] == {
        "gpuBudget": 8,
        "fleetPeakGpus": [{"stack": "dev", "namespace": "models", "gpus": 4}],
        "gpuCapacity": 5,
    }
    assert models["gpu-quota"] == {
        "fleetPeakGpus": [{"stack": "dev", "namespace": "models", "gpus": 4}],
        "fleetQuotas": [{"stack": "dev", "namespace": "models", "gpus": 8}],
    }
    assert models["rollout-feasibility"] == {
        "fleetHeldGpus": [{"stack": "dev", "namespace": "models", "gpus": 2}],
        "fleetRolloutGpus": [{"stack": "dev", "namespace": "models", "gpus": 1}],
        "gpuCapacity": 5,
    }
    assert models["gpu-node-match"] == {"nodeGpuTypes": ["a10g"]}
    # The platform stack holds the quota and node groups itself: only the models stack's GPUs.
    platform = stack_policy_config(BASE, ledger, "dev")
    assert platform["gpu-budget"] == {
        "gpuBudget": 8,
        "fleetPeakGpus": [{"stack": "dev.models-vision", "namespace": "models", "gpus": 3}],
    }
    assert platform["gpu-quota"] == {
        "fleetPeakGpus": [{"stack": "dev.models-vision", "namespace": "models", "gpus": 3}]
    }
    assert "gpu-node-match" not in platform


def test_the_base_config_is_kept_whole_and_unchanged() -> None:
    base = {"all": "mandatory", "gpu-budget": "advisory", "probes": {"exemptions": []}}
    before = json.dumps(base)
    ledger = fleet_ledger("local", LOCAL, CATALOG, {"vision": ["vision"]})
    config = stack_policy_config(base, ledger, "local")
    assert json.dumps(base) == before
    assert config["all"] == "mandatory" and config["probes"] == {"exemptions": []}
    assert config["gpu-budget"]["enforcementLevel"] == "advisory"
    with pytest.raises(
        pulumi.RunError, match=re.escape("local.models-other is not a stack of the fleet")
    ):
        stack_policy_config(base, ledger, "local.models-other")


@pytest.mark.parametrize("environment", ["local", "dev", "prod"])
def test_every_generated_config_is_valid(environment: str) -> None:
    settings = platform_settings(ROOT, environment)
    base = json.loads((ROOT / f"policies/config/{environment}.json").read_text())
    ledger = fleet_ledger(environment, settings, CATALOG, {"a": ["digits"], "b": ["vision"]})
    for share in ledger.shares:
        assert config_problems(stack_policy_config(base, ledger, share.stack)) == [], share.stack


def verdicts(resources: list[Any], config: dict[str, Any]) -> list[bool]:
    rules = (gpu_budget.RULE, gpu_quota.RULE, rollout_feasibility.RULE)
    return [
        bool(rule.check(resources, {**rule.defaults(), **config.get(rule.name, {})}))
        for rule in rules
    ]


@pytest.mark.parametrize("budget", [5, 6, 7, 8, 9])
@pytest.mark.parametrize("capacity", [-1, 4, 6, 9])
def test_splitting_the_fleet_changes_no_verdict(budget: int, capacity: int) -> None:
    """Whatever the split, each stack's rules fail exactly when the one stack's would."""
    settings = LOCAL.model_copy(update={"gpu_budget": budget})
    base = {
        "gpu-budget": {"gpuBudget": budget, "gpuCapacity": capacity},
        "rollout-feasibility": {"gpuCapacity": capacity},
    }
    every_model = [obj for e in CATALOG for obj in model_objects(e, settings)]
    whole = verdicts([*every_model, *platform_only(settings)], base)
    ledger = fleet_ledger("local", settings, CATALOG, {"a": ["digits"], "b": ["vision"]})
    objects = {"local": ["iris"], "local.models-a": ["digits"], "local.models-b": ["vision"]}
    by_name = {e.spec.name: e for e in CATALOG}
    for share in ledger.shares:
        own = [obj for m in objects[share.stack] for obj in model_objects(by_name[m], settings)]
        if share.stack == "local":
            own += platform_only(settings)
        split = verdicts(own, stack_policy_config(base, ledger, share.stack))
        # A stack fails a rule the whole fleet fails, and passes one it passes: the platform
        # stack, with no GPU model of its own here, included.
        assert split == whole, (share.stack, budget, capacity)


def linked_project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.local.yaml", "models", "policies"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_one_stack_runs_with_its_environments_config_and_a_split_one_with_its_own(
    tmp_path: Path,
) -> None:
    project = linked_project(tmp_path)
    assert policy_config_path(project, "local") == Path("policies/config/local.json")
    assert not (project / "build").exists()
    (project / "stacks").mkdir()
    (project / "stacks/local.yaml").write_text("modelStacks:\n  vision: [digits]\n")
    generated = policy_config_path(project, "local.models-vision")
    assert generated == Path("build/policy-config-local.models-vision.json")
    config = json.loads((project / generated).read_text())
    assert config["gpu-quota"]["fleetQuotas"] == [
        {"stack": "local", "namespace": "models", "gpus": 8}
    ]
    assert json.loads((project / "build/fleet-local.json").read_text())["stacks"][1] == {
        "stack": "local.models-vision",
        "models": ["digits"],
        "peakGpus": {"models": 4},
        "heldGpus": {"models": 2},
        "rolloutGpus": {"models": 1},
    }
    with pytest.raises(
        pulumi.RunError, match=re.escape("local.models-other is not a stack of the fleet")
    ):
        policy_config_path(project, "local.models-other")
