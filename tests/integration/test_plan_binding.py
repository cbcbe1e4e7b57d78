"""Plan binding (issue #17) through the commands a user and the deploy workflow run, on a copy of
the repository deployed in render mode: `make preview` saves the plan and prints its digest;
`make up PLAN=... PLAN_DIGEST=...` applies exactly that plan, and refuses, changing nothing, when
a gate record or the program's inputs changed after the preview, or the digest is not the one
the summary printed."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.engine import LocalStack, copy_repository, engine_env, run_make

pytestmark = pytest.mark.engine

PLAN = "build/plan-local.json"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clone = copy_repository(tmp_path_factory.mktemp("plan") / "clone")
    # The stack's first deploy creates its Kubernetes provider, which no plan can bind
    # (commands/plan_binding.provider_changes): it is deployed unbound.
    first = run_make(clone, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    return clone


def state(clone: Path) -> dict[str, Any]:
    """URN to what the checkpoint holds of each resource: inputs and outputs."""
    stack = LocalStack(project=clone, env=engine_env(clone / ".pulumi-state"))
    resources = stack.state()["deployment"].get("resources") or []
    return {r["urn"]: (r.get("inputs"), r.get("outputs")) for r in resources}


def manifests(clone: Path) -> dict[str, str]:
    folder = clone / "build" / "manifests" / "local"
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.yaml"))
    }


def set_replicas(clone: Path, model: str, low: int, high: int) -> None:
    path = clone / "models" / model / "model.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["replicas"] = {"min": low, "max": high}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def preview(clone: Path) -> tuple[str, dict[str, Any]]:
    """`make preview`: the digest its summary printed, and the plan it saved."""
    result = run_make(clone, "preview")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = (clone / "build" / "preview-summary-local.md").read_text()
    found = re.search(r"\*\*Update plan\*\* `(sha256:[0-9a-f]{64})`", summary)
    assert found, summary
    plan_bytes = (clone / PLAN).read_bytes()
    assert found.group(1) == "sha256:" + hashlib.sha256(plan_bytes).hexdigest()
    return found.group(1), json.loads(plan_bytes)


def acting(plan: dict[str, Any]) -> set[str]:
    return {
        urn
        for urn, entry in plan["resourcePlans"].items()
        if set(entry.get("steps") or []) - {"same"}
    }


def up(clone: Path, digest: str) -> tuple[int, str]:
    result = run_make(clone, "up", f"PLAN={PLAN}", f"PLAN_DIGEST={digest}")
    return result.returncode, result.stdout + result.stderr


def test_unchanged_since_the_preview_up_applies_exactly_the_plan(clone: Path) -> None:
    set_replicas(clone, "iris", 3, 6)
    digest, plan = preview(clone)
    planned = acting(plan)
    # The HPA's minReplicas and the PDB's minAvailable, nothing else.
    assert {urn.rsplit("::", 1)[-1] for urn in planned} == {
        "iris-stable-autoscaler",
        "iris-disruption-budget",
    }, planned
    before = state(clone)
    status, output = up(clone, digest)
    assert status == 0, output
    assert "[plan] the stack plans exactly the approved plan" in output, output
    after = state(clone)
    changed = {urn for urn in after if before.get(urn) != after[urn]}
    assert changed == planned, (changed, planned)
    # A preview right after plans nothing.
    again = run_make(clone, "preview")
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr


def test_a_gate_record_changed_after_the_preview_is_refused_and_nothing_changes(
    clone: Path,
) -> None:
    set_replicas(clone, "iris", 2, 6)
    digest, _ = preview(clone)
    record = clone / "models" / "iris" / "gate" / "2.json"
    original = record.read_text()
    # The gate run again on a slower machine: its measured load time sets the startup budget.
    gated = json.loads(original)
    gated["startup"]["load_seconds"] = 9.0
    record.write_text(json.dumps(gated, indent=2))
    before, files = state(clone), manifests(clone)
    try:
        status, output = up(clone, digest)
    finally:
        record.write_text(original)
    assert status != 0, output
    assert "[plan] refused: the stack would now do what the approved plan" in output, output
    # The approved plan left the Deployment as it was; its startup probe's budget now changes.
    assert "Deployment::iris-stable: would update, approved: same" in output, output
    assert "pulumi --non-interactive --stack local up" not in output, output
    assert state(clone) == before
    assert manifests(clone) == files


def test_a_model_edited_after_the_preview_is_refused_and_nothing_changes(clone: Path) -> None:
    set_replicas(clone, "iris", 2, 6)
    digest, _ = preview(clone)
    set_replicas(clone, "iris", 2, 7)
    before, files = state(clone), manifests(clone)
    status, output = up(clone, digest)
    assert status != 0, output
    assert re.search(
        r"HorizontalPodAutoscaler::iris-stable-autoscaler: update with other inputs than "
        r"approved: `inputDiff\.updates\.spec\.maxReplicas`",
        output,
    ), output
    assert state(clone) == before
    assert manifests(clone) == files


def test_a_plan_whose_digest_is_not_the_reviewed_one_is_refused_before_the_engine_runs(
    clone: Path,
) -> None:
    set_replicas(clone, "iris", 2, 6)
    digest, _ = preview(clone)
    before = state(clone)
    other = "sha256:" + "0" * 64
    status, output = up(clone, other)
    assert status != 0, output
    assert f"is not the approved {other}: this is not the plan the reviewed preview saved" in (
        output
    )
    assert "preview --save-plan build/plan-check" not in output, output
    assert state(clone) == before
    # The right digest still deploys it.
    status, output = up(clone, digest)
    assert status == 0, output
