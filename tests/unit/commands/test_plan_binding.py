"""commands/plan_binding.py on plans of the engine's shape: what binds, what is refused, and why."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from commands.plan_binding import (
    PlanError,
    differences,
    load_plan,
    main,
    provider_changes,
    verify,
)
from commands.preview_summary import plan_lines

STACK = "urn:pulumi:local::gpu-model-platform::"
PROVIDER = STACK + "gpu-model-platform:target:LocalCluster$pulumi:providers:kubernetes::local-k8s"
DEPLOYMENT = STACK + "gpu-model-platform:serving:ModelService$kubernetes:apps/v1:Deployment::iris"
HPA = STACK + "gpu-model-platform:serving:ModelService$kubernetes:autoscaling/v2:HPA::iris-hpa"


def goal(kind: str, updates: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": kind,
        "name": "x",
        "custom": True,
        "inputDiff": {"updates": updates or {}},
        "provider": PROVIDER + "::1234",
        "dependencies": [PROVIDER, STACK + "a", STACK + "b"],
        "propertyDependencies": {"metadata": [STACK + "b", STACK + "a"]},
    }


def raw_plan() -> dict[str, Any]:
    return {
        "manifest": {"time": "2026-12-03T10:00:00Z", "version": "v3.215.0"},
        "config": {"gpu-model-platform:gpuBudget": "8"},
        "resourcePlans": {
            PROVIDER: {"goal": goal("pulumi:providers:kubernetes"), "steps": ["same"]},
            DEPLOYMENT: {"goal": goal("kubernetes:apps/v1:Deployment"), "steps": ["same"]},
            HPA: {
                "goal": goal("kubernetes:autoscaling/v2:HPA", {"spec": {"minReplicas": 3}}),
                "steps": ["update"],
                "seed": "AAAA",
            },
        },
    }


def write(tmp_path: Path, name: str, raw: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return path


def compared(tmp_path: Path, approved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    return differences(
        load_plan(write(tmp_path, "a.json", approved)), load_plan(write(tmp_path, "b.json", fresh))
    )


def test_the_same_plan_saved_twice_binds_although_seeds_times_and_orders_differ(
    tmp_path: Path,
) -> None:
    fresh = raw_plan()
    fresh["manifest"]["time"] = "2026-12-03T11:00:00Z"
    fresh["resourcePlans"][HPA]["seed"] = "BBBB"
    fresh["resourcePlans"][HPA]["goal"]["dependencies"].reverse()
    fresh["resourcePlans"][HPA]["goal"]["propertyDependencies"]["metadata"].reverse()
    approved = load_plan(write(tmp_path, "a.json", raw_plan()))
    again = load_plan(write(tmp_path, "b.json", fresh))
    assert approved.digest != again.digest
    assert differences(approved, again) == []


def test_an_update_the_approved_plan_left_alone_is_named(tmp_path: Path) -> None:
    fresh = raw_plan()
    fresh["resourcePlans"][DEPLOYMENT]["steps"] = ["update"]
    found = compared(tmp_path, raw_plan(), fresh)
    assert found == [f"{DEPLOYMENT}: would update, approved: same"]


def test_the_same_update_with_other_inputs_names_the_fields(tmp_path: Path) -> None:
    fresh = raw_plan()
    fresh["resourcePlans"][HPA]["goal"]["inputDiff"]["updates"]["spec"]["minReplicas"] = 4
    found = compared(tmp_path, raw_plan(), fresh)
    assert found == [
        f"{HPA}: update with other inputs than approved: `inputDiff.updates.spec.minReplicas`"
    ]


def test_a_new_resource_a_dropped_one_and_a_config_change_are_each_named(tmp_path: Path) -> None:
    approved = raw_plan()
    approved["resourcePlans"][STACK + "kubernetes:v1:ConfigMap::old"] = {"steps": ["delete"]}
    fresh = copy.deepcopy(raw_plan())
    fresh["resourcePlans"][STACK + "kubernetes:v1:ConfigMap::new"] = {"steps": ["create"]}
    fresh["config"]["gpu-model-platform:gpuBudget"] = "9"
    found = compared(tmp_path, approved, fresh)
    assert found == [
        "stack config `gpu-model-platform:gpuBudget` differs from the approved preview's",
        f"{STACK}kubernetes:v1:ConfigMap::new: would create, not in the approved plan",
        f"{STACK}kubernetes:v1:ConfigMap::old: the approved plan would delete it; "
        "the program no longer declares it",
    ]


def test_a_provider_created_by_the_plan_cannot_be_bound(tmp_path: Path) -> None:
    raw = raw_plan()
    raw["resourcePlans"][PROVIDER]["steps"] = ["create"]
    plan = load_plan(write(tmp_path, "a.json", raw))
    assert provider_changes(plan) == [f"{PROVIDER} (create)"]
    with pytest.raises(PlanError, match=r"creates or replaces a provider, which pulumi 3\.215"):
        verify(plan, None)


def test_a_digest_other_than_the_reviewed_one_is_refused(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, "a.json", raw_plan()))
    verify(plan, plan.digest)
    with pytest.raises(PlanError, match=r"a\.json: digest sha256:[0-9a-f]{64} is not the approved"):
        verify(plan, "sha256:" + "0" * 64)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "a.json: not an update plan (not JSON"),
        ('{"steps": []}', "a.json: not an update plan: no `resourcePlans`"),
        ('{"resourcePlans": {}, "config": []}', "a.json: `config` is list, expected a mapping"),
    ],
)
def test_a_file_that_is_no_plan_is_refused_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "a.json").write_text(content)
    with pytest.raises(PlanError, match=re.escape(message)):
        load_plan(tmp_path / "a.json")


def test_the_command_exits_non_zero_and_says_nothing_was_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = raw_plan()
    fresh["resourcePlans"][DEPLOYMENT]["steps"] = ["update"]
    approved = write(tmp_path, "a.json", raw_plan())
    assert main(["compare", str(approved), str(write(tmp_path, "b.json", fresh))]) == 1
    err = capsys.readouterr().err
    assert "does not contain; nothing was applied" in err and DEPLOYMENT in err
    assert main(["compare", str(approved), str(approved)]) == 0
    assert "1 resources to change, 2 unchanged" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: cannot read the plan" in capsys.readouterr().err


def test_the_summary_names_the_plan_or_says_why_there_is_none() -> None:
    digest = "sha256:" + "a" * 64
    assert plan_lines(digest, False, [])[0] == (
        f"**Update plan** `{digest}`: the deploy applies this plan and refuses anything beyond "
        "it (`make up PLAN=...`)."
    )
    assert "none to deploy (the preview failed)" in plan_lines(digest, True, [])[0]
    assert "none saved" in plan_lines("", False, [])[0]
    assert (
        "**cannot be bound**: it creates or replaces a provider (`local-k8s`)"
        in (plan_lines(digest, False, [f"{PROVIDER} (create)"])[0])
    )
