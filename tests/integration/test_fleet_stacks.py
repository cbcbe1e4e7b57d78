"""Models stacks in render mode (issue #19, docs/fleet-scale.md sections 4-5), through the real
engine on a copy of the repository: `local` deployed by the one-stack layout, then a stacks file
assigning digits to a models stack. A bad stacks file stops `make preview` and `make up` naming
the file and the field, with nothing changed; `python -m commands.fleet move` moves digits' state
and nothing else; both stacks' previews then plan no change, the rendered manifests are the
same files, byte for byte; the models stack's first `up` keeps every object, and `make preview`
with `--expect-no-changes` passes for both stacks. A change to digits alone previews its models
stack alone, the platform's preview planning no change. That fleet preview's comment prints one
digest over the plans it saved (build/plan-local-fleet.json): `make up PLAN=build/plan-local.json
PLAN_DIGEST=<it>` applies the models stack's plan and not the platform, and a models stack's plan
swapped after the preview, or another fleet digest, is refused with neither stack changed.
Last, without the stacks file, `make up` moves digits back into the platform stack, every object
kept.

The tests run in file order on one copy: each leaves the stacks as the next expects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from commands.fleet import model_of
from commands.plan_binding import fleet_digest
from tests.support.engine import LocalStack, copy_repository, engine_env, run_make

pytestmark = pytest.mark.engine

PLATFORM = "local"
MODELS_STACK = "local.models-vision"
STACKS_FILE = "stacks/local.yaml"
GOOD_STACKS = "modelStacks:\n  vision: [digits]\n"


@dataclass
class Fleet:
    clone: Path
    platform: LocalStack
    models: LocalStack
    """local.models-vision, run as `make` runs it: with the platform's config file."""

    def stacks(self) -> set[str]:
        listed = json.loads(self.platform.pulumi("stack", "ls", "--json").stdout or "[]")
        return {entry["name"].rpartition("/")[2] for entry in listed}

    def manifests(self) -> dict[str, bytes]:
        root = self.clone / "build" / "manifests" / PLATFORM
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.yaml"))}

    def write_stacks(self, text: str | None) -> None:
        path = self.clone / STACKS_FILE
        if text is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)


def make(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return run_make(fleet.clone, *args)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    clone = copy_repository(tmp_path_factory.mktemp("fleet-stacks") / "clone")
    assert not (clone / STACKS_FILE).exists(), "the one-stack layout is the starting point"
    deployed = run_make(clone, "up")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    env = engine_env(clone / ".pulumi-state")
    yield Fleet(
        clone=clone,
        platform=LocalStack(project=clone, env=env),
        models=LocalStack(
            project=clone, env=env, stack=MODELS_STACK, config_file=f"Pulumi.{PLATFORM}.yaml"
        ),
    )


def models_in(stack: LocalStack) -> set[str | None]:
    return {model_of(urn, ["digits", "iris"]) for urn in stack.resource_urns()} - {None}


@pytest.mark.parametrize("target", ["preview", "up"])
def test_a_bad_stacks_file_stops_make_naming_file_and_field_and_changes_nothing(
    fleet: Fleet, target: str
) -> None:
    before = (fleet.stacks(), fleet.platform.resource_urns(), fleet.manifests())
    fleet.write_stacks("modelStacks:\n  vision: [digits, speech]\n")
    try:
        result = make(fleet, target)
    finally:
        fleet.write_stacks(None)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"invalid {STACKS_FILE}" in output, output
    assert "modelStacks.vision[1]: no model 'speech' under models/" in output, output
    assert "Traceback" not in output, output
    # Stopped before any engine run: no stack made, no state or manifest changed.
    assert "pulumi --non-interactive" not in result.stdout, output
    assert (fleet.stacks(), fleet.platform.resource_urns(), fleet.manifests()) == before


def test_move_takes_the_assigned_model_state_and_nothing_else(fleet: Fleet) -> None:
    platform_before = fleet.platform.resource_urns()
    assert models_in(fleet.platform) == {"digits", "iris"}
    manifests = fleet.manifests()
    fleet.write_stacks(GOOD_STACKS)
    moved = subprocess.run(
        [sys.executable, "-m", "commands.fleet", "move", PLATFORM],
        cwd=fleet.clone,
        env=fleet.platform.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"[fleet] digits: state of 3 resources {PLATFORM} -> {MODELS_STACK}" in moved.stdout, (
        moved.stdout
    )
    assert MODELS_STACK in fleet.stacks()
    assert models_in(fleet.platform) == {"iris"}
    assert models_in(fleet.models) == {"digits"}
    platform_after = set(fleet.platform.resource_urns())
    assert platform_after < set(platform_before)
    gone = set(platform_before) - platform_after
    assert all("digits" in urn for urn in gone), sorted(gone)
    # Every moved resource arrives under the same names and types; only the stack differs.
    arrived = {
        urn.replace(f"urn:pulumi:{MODELS_STACK}::", f"urn:pulumi:{PLATFORM}::")
        for urn in fleet.models.resource_urns()
        if "pulumi:pulumi:Stack" not in urn and "pulumi:providers:" not in urn
    }
    assert arrived == gone, {"missing": gone - arrived, "extra": arrived - gone}
    # A state move touches no object: the rendered files are as they were.
    assert fleet.manifests() == manifests


def test_both_stacks_plan_no_change_after_the_move(fleet: Fleet) -> None:
    assert fleet.platform.preview_steps() == {}
    # The models stack's first run reads the platform's outputs (a StackReference, a read the
    # engine does on every run); nothing is created, updated or replaced.
    steps = fleet.models.preview_steps()
    assert set(steps.values()) <= {"read"}, steps
    assert all("pulumi:pulumi:StackReference" in urn for urn in steps), steps


def test_the_models_stack_up_keeps_every_object_and_a_second_preview_plans_nothing(
    fleet: Fleet,
) -> None:
    manifests = fleet.manifests()
    applied = make(fleet, "up", f"STACK={MODELS_STACK}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"^Resources:\n +\d+ unchanged\n", applied.stdout, re.MULTILINE), (
        applied.stdout
    )
    assert fleet.manifests() == manifests
    previewed = make(fleet, "preview", "PREVIEW_FLAGS=--expect-no-changes")
    assert previewed.returncode == 0, previewed.stdout + previewed.stderr
    summary = (fleet.clone / "build" / f"preview-summary-{PLATFORM}-fleet.md").read_text()
    for stack in (PLATFORM, MODELS_STACK):
        assert f"| `{stack}` | summary below |" in summary, summary


def test_a_change_the_platform_does_not_deploy_previews_the_models_stack_alone(
    fleet: Fleet,
) -> None:
    """`make preview PREVIEW_SINCE=<commit>` after a change to digits that leaves its gated
    images as they are (its replica ceiling): its models stack is previewed, the platform is named
    as not previewed and has no plan to apply, and the platform's own preview would indeed plan
    no change (commands/fleet.py: platform_affected)."""
    identity = ("-c", "user.name=test", "-c", "user.email=test@localhost")
    for args in (("init", "-q"), ("add", "-A"), (*identity, "commit", "-q", "-m", "deployed")):
        subprocess.run(["git", *args], cwd=fleet.clone, capture_output=True, check=True)
    spec = fleet.clone / "models" / "digits" / "model.yaml"
    deployed = spec.read_text()
    spec.write_text(deployed.replace("  max: 4\n", "  max: 5\n", 1))
    try:
        previewed = make(fleet, "preview", "PREVIEW_SINCE=HEAD")
        assert previewed.returncode == 0, previewed.stdout + previewed.stderr
        build = fleet.clone / "build"
        summary = (build / f"preview-summary-{PLATFORM}-fleet.md").read_text()
        assert summary.splitlines()[1].endswith(": 1 previewed, 1 not affected"), summary
        assert f"| `{MODELS_STACK}` | summary below |" in summary, summary
        assert f"| `{PLATFORM}` | not previewed: nothing it is built from changed" in summary
        assert (build / f"plan-{MODELS_STACK}.json").is_file()
        assert not (build / f"plan-{PLATFORM}.json").exists()
        platform = fleet.platform.pulumi("preview", "--expect-no-changes", check=False)
        assert platform.returncode == 0, platform.stdout + platform.stderr
    finally:
        spec.write_text(deployed)


FLEET_PLAN = "build/plan-local.json"


def fleet_preview(fleet: Fleet, replicas_max: int) -> str:
    """`make preview PREVIEW_SINCE=HEAD` after digits' replica ceiling is set to `replicas_max`
    (the models stack alone is affected): the fleet digest its comment printed."""
    spec = fleet.clone / "models" / "digits" / "model.yaml"
    spec.write_text(
        re.sub(r"\n  max: \d+\n", f"\n  max: {replicas_max}\n", spec.read_text(), count=1)
    )
    previewed = make(fleet, "preview", "PREVIEW_SINCE=HEAD")
    assert previewed.returncode == 0, previewed.stdout + previewed.stderr
    build = fleet.clone / "build"
    summary = (build / f"preview-summary-{PLATFORM}-fleet.md").read_text()
    printed = re.findall(r"\*\*Fleet plan\*\* `(sha256:[0-9a-f]{64})`", summary)
    assert len(printed) == 1, summary
    assert f"`make up PLAN={FLEET_PLAN} PLAN_DIGEST={printed[0]}`" in summary, summary
    manifest = json.loads((build / f"plan-{PLATFORM}-fleet.json").read_text())
    assert list(manifest["plans"]) == [MODELS_STACK], manifest  # the platform was not previewed
    assert fleet_digest(manifest) == printed[0]
    return str(printed[0])


def both_states(fleet: Fleet) -> tuple[dict[str, object], dict[str, object]]:
    return fleet.platform.state()["deployment"], fleet.models.state()["deployment"]


def resources(stack: LocalStack) -> dict[str, object]:
    """URN to what the checkpoint holds of each resource: inputs and outputs."""
    held = stack.state()["deployment"].get("resources") or []
    return {r["urn"]: (r.get("inputs"), r.get("outputs")) for r in held}


def acting(plan: Path) -> set[str]:
    plans = json.loads(plan.read_text())["resourcePlans"]
    # A models stack reads its platform (a StackReference) on every run: not a change.
    return {urn for urn, entry in plans.items() if set(entry.get("steps") or []) - {"same", "read"}}


def test_the_fleet_digest_applies_exactly_the_plans_of_the_stacks_previewed(fleet: Fleet) -> None:
    digest = fleet_preview(fleet, 5)
    platform = fleet.platform.state()["deployment"]
    models = resources(fleet.models)
    planned = acting(fleet.clone / "build" / f"plan-{MODELS_STACK}.json")
    assert planned and all("digits" in urn for urn in planned), planned  # its replica ceiling
    # A platform plan of another run beside PLAN: the manifest does not list it, so it is not used.
    (fleet.clone / FLEET_PLAN).write_text(json.dumps({"resourcePlans": {}}))
    applied = make(fleet, "up", f"PLAN={FLEET_PLAN}", f"PLAN_DIGEST={digest}")
    output = applied.stdout + applied.stderr
    assert applied.returncode == 0, output
    assert f"the approved plans of 1 stacks: {MODELS_STACK}" in output, output
    assert f"[fleet] {PLATFORM}: not in the approved fleet plan" in output, output
    assert f"{FLEET_PLAN} is not one of its plans and is not used" in output, output
    assert "[plan] the stack plans exactly the approved plan" in output, output
    assert f"pulumi --non-interactive --stack {PLATFORM} up" not in output, output
    after = resources(fleet.models)
    assert {urn for urn in after if models.get(urn) != after[urn]} == planned
    assert fleet.platform.state()["deployment"] == platform


def test_a_swapped_models_plan_or_another_fleet_digest_is_refused_with_nothing_applied(
    fleet: Fleet,
) -> None:
    first = (fleet.clone / "build" / f"plan-{MODELS_STACK}.json").read_bytes()
    digest = fleet_preview(fleet, 6)
    models_plan = fleet.clone / "build" / f"plan-{MODELS_STACK}.json"
    before = both_states(fleet)
    manifests = fleet.manifests()
    # The models stack's plan swapped for the one of the run before (a stale artifact).
    reviewed = models_plan.read_bytes()
    models_plan.write_bytes(first)
    refused = make(fleet, "up", f"PLAN={FLEET_PLAN}", f"PLAN_DIGEST={digest}")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "[plan] refused: the fleet's plans do not bind; nothing was applied" in output, output
    assert f"build/plan-{MODELS_STACK}.json: digest sha256:" in output, output
    assert "pulumi --non-interactive" not in refused.stdout, output  # no engine run
    assert both_states(fleet) == before and fleet.manifests() == manifests
    models_plan.write_bytes(reviewed)
    other = "sha256:" + "0" * 64
    refused = make(fleet, "up", f"PLAN={FLEET_PLAN}", f"PLAN_DIGEST={other}")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert f"fleet digest {digest} is not the approved {other}" in output, output
    assert "pulumi --non-interactive" not in refused.stdout, output
    assert both_states(fleet) == before and fleet.manifests() == manifests


def test_a_model_assigned_back_to_the_platform_moves_back_and_keeps_every_object(
    fleet: Fleet,
) -> None:
    """Without the stacks file (the one-stack layout again), `make up` moves digits' state from
    its models stack back into the platform's, whose aliases take its resources for its own: no
    object is created, replaced or deleted, the rendered files stay byte for byte, the models
    stack holds none of digits' resources, and a second preview of the platform plans nothing."""
    # The models stack as the working tree has it: the tests before leave digits' edits applied
    # or refused, and an edit applied now would read as a change of the move.
    caught_up = make(fleet, "up", f"STACK={MODELS_STACK}")
    assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    manifests = fleet.manifests()
    fleet.write_stacks(None)
    applied = make(fleet, "up")
    output = applied.stdout + applied.stderr
    assert applied.returncode == 0, output
    assert f"[fleet] digits: state of 3 resources {MODELS_STACK} -> {PLATFORM}" in output, output
    assert models_in(fleet.platform) == {"digits", "iris"}
    assert models_in(fleet.models) == set()
    # The platform's up: the moved resources renamed to the platform's URNs (aliases), nothing
    # made or removed but the Kubernetes provider `state move` copied along (state only: it
    # manages nothing any more).
    changes = re.search(r"^Resources:\n((?: +.+\n)+)", applied.stdout, re.MULTILINE)
    assert changes is not None, output
    counted = dict(
        (kind, int(count))
        for count, kind in re.findall(r"(\d+) (created|updated|replaced|deleted)", changes[1])
    )
    assert counted.get("created", 0) == counted.get("replaced", 0) == 0, changes[1]
    assert counted.get("deleted", 0) <= 1, changes[1]
    assert fleet.manifests() == manifests
    assert fleet.platform.preview_steps() == {}
