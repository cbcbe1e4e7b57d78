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
    check_fleet,
    differences,
    fleet_digest,
    fleet_manifest,
    fleet_manifest_path,
    load_fleet_plan,
    load_plan,
    main,
    not_applied,
    provider_changes,
    stack_digest,
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


FLEET = ["local", "local.models-a", "local.models-b"]


def fleet_preview(tmp_path: Path, stacks: list[str]) -> tuple[Path, str]:
    """Plans of `stacks` saved beside their manifest, as a fleet's `make preview` leaves them;
    the manifest's path and the fleet digest."""
    plans = {}
    for index, stack in enumerate(stacks):
        raw = raw_plan()
        raw["config"]["gpu-model-platform:gpuBudget"] = str(index)  # a plan of its own
        plans[stack] = load_plan(write(tmp_path, f"plan-{stack}.json", raw)).digest
    manifest = fleet_manifest("local", plans)
    path = fleet_manifest_path(tmp_path, "local")
    path.write_text(json.dumps(manifest, indent=2))
    return path, fleet_digest(manifest)


def test_the_fleet_digest_covers_which_stacks_and_which_plans_not_the_files_layout() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    digest = fleet_digest(fleet_manifest("local", {"local": a, "local.models-a": b}))
    assert digest == fleet_digest({"plans": {"local.models-a": b, "local": a}, "platform": "local"})
    assert digest != fleet_digest(fleet_manifest("local", {"local": a, "local.models-a": a}))
    assert digest != fleet_digest(fleet_manifest("local", {"local": a}))  # a stack dropped
    assert digest != fleet_digest(fleet_manifest("dev", {"local": a, "local.models-a": b}))


def test_an_untouched_fleet_preview_binds_its_listed_stacks_in_fleet_order(tmp_path: Path) -> None:
    path, digest = fleet_preview(tmp_path, ["local.models-b", "local"])
    fleet = load_fleet_plan(path)
    assert fleet.digest == digest
    # The file's bytes are not what is approved: its content is.
    path.write_text(json.dumps(json.loads(path.read_text())))
    assert load_fleet_plan(path).digest == digest
    assert check_fleet(fleet, digest, tmp_path / "plan-local.json", FLEET) == [
        "local",
        "local.models-b",
    ]
    assert stack_digest(fleet, digest, "local.models-b") == fleet.plans["local.models-b"]
    # models-a was not previewed: not applied, and a plan file of it is not used.
    (tmp_path / "plan-local.models-a.json").write_text(json.dumps(raw_plan()))
    assert not_applied(fleet, FLEET) == [
        "[fleet] local.models-a: not in the approved fleet plan (not previewed in the reviewed "
        f"run), so not applied; {tmp_path}/plan-local.models-a.json is not one of its plans and "
        "is not used"
    ]
    with pytest.raises(PlanError, match=re.escape("does not list local.models-a")):
        stack_digest(fleet, digest, "local.models-a")


def test_a_fleet_digest_other_than_the_reviewed_one_is_refused(tmp_path: Path) -> None:
    path, digest = fleet_preview(tmp_path, FLEET)
    other = "sha256:" + "0" * 64
    fleet = load_fleet_plan(path)
    message = f"fleet digest {digest} is not the approved {other}"
    with pytest.raises(PlanError, match=re.escape(message)):
        check_fleet(fleet, other, tmp_path / "plan-local.json", FLEET)
    with pytest.raises(PlanError, match=re.escape(message)):
        stack_digest(fleet, other, "local")
    # A manifest edited to name another plan is another fleet digest.
    raw = json.loads(path.read_text())
    raw["plans"]["local.models-a"] = "sha256:" + "1" * 64
    path.write_text(json.dumps(raw))
    with pytest.raises(PlanError, match=r"fleet digest sha256:[0-9a-f]{64} is not the approved"):
        check_fleet(load_fleet_plan(path), digest, tmp_path / "plan-local.json", FLEET)


def test_every_plan_the_manifest_names_must_be_the_one_it_names(tmp_path: Path) -> None:
    path, digest = fleet_preview(tmp_path, FLEET)
    swapped = tmp_path / "plan-local.models-a.json"
    swapped.write_text(json.dumps(raw_plan()))  # another run's plan of the stack
    (tmp_path / "plan-local.models-b.json").unlink()
    fleet = load_fleet_plan(path)
    with pytest.raises(PlanError) as refused:
        check_fleet(fleet, digest, tmp_path / "plan-local.json", FLEET)
    message = str(refused.value)
    assert message.startswith("the fleet's plans do not bind; nothing was applied:"), message
    assert f"{swapped}: digest sha256:" in message, message
    assert f"is not the approved {fleet.plans['local.models-a']}" in message, message
    assert f"{tmp_path}/plan-local.models-b.json: cannot read the plan" in message, message
    assert f"{tmp_path}/plan-local.json" not in message, message  # the untouched one


def test_a_manifest_of_other_stacks_or_another_plan_file_is_refused(tmp_path: Path) -> None:
    path, digest = fleet_preview(tmp_path, ["local", "local.models-z"])
    with pytest.raises(PlanError) as refused:
        check_fleet(load_fleet_plan(path), digest, tmp_path / "other.json", ["dev", *FLEET[1:]])
    message = str(refused.value)
    assert "the manifest of local's fleet, not dev's" in message, message
    assert f"{tmp_path}/other.json: a fleet's plans are read as plan-<stack>.json" in message
    assert "lists local, which is not a stack of dev's fleet" in message, message
    assert "lists local.models-z, which is not a stack of dev's fleet" in message, message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[", "not a fleet plan manifest (not JSON"),
        ('{"platform": "local"}', "not a fleet plan manifest: expected exactly `platform`"),
        ('{"platform": "local", "plans": {}, "x": 1}', "not a fleet plan manifest: expected"),
        ('{"platform": "local", "plans": {"local": 1}}', "not a fleet plan manifest: expected"),
    ],
)
def test_a_file_that_is_no_fleet_manifest_is_refused_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "plan-local-fleet.json"
    path.write_text(content)
    with pytest.raises(PlanError, match=re.escape(f"{path}: {message}")):
        load_fleet_plan(path)
    with pytest.raises(PlanError, match="cannot read the fleet's plan manifest"):
        load_fleet_plan(tmp_path / "missing.json")


def test_the_fleet_commands_print_what_to_apply_or_refuse_with_nothing_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, digest = fleet_preview(tmp_path, ["local", "local.models-a"])
    plan = str(tmp_path / "plan-local.json")
    fleet_args = ["verify-fleet", str(path), "--plan", plan, "--stacks", *FLEET]
    assert main([*fleet_args, "--digest", digest]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["local", "local.models-a"]
    assert "[fleet] local.models-b: not in the approved fleet plan" in err, err
    models = str(tmp_path / "plan-local.models-a.json")
    one = ["verify", models, "--fleet", str(path), "--stack", "local.models-a"]
    assert main([*one, "--digest", digest]) == 0
    capsys.readouterr()
    # The plan swapped for another between the fleet's check and the stack's: refused.
    Path(models).write_text(json.dumps(raw_plan()))
    assert main([*one, "--digest", digest]) == 1
    assert f"[plan] refused: {models}: digest sha256:" in capsys.readouterr().err
    assert main([*fleet_args, "--digest", digest]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "nothing was applied" in err, (out, err)
    assert main([*fleet_args, "--digest", "sha256:" + "0" * 64]) == 1
