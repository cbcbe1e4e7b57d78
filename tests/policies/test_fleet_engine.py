"""The fleet-wide rules through the real engine, on a fleet split into the platform stack and a
models stack: each stack's pack runs with the policy config the fleet ledger generates for it
(commands/fleet_ledger.py), as `make preview` and `make up` run it. Two stacks that each fit the
GPU budget but not together must fail, with the message naming the fleet; together within it,
both pass."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from commands.fleet_ledger import load_ledger, stack_policy_config
from tests.support.engine import ROOT, SKIP_CHECKPOINTS, LocalStack, copy_model, edit_spec

pytestmark = pytest.mark.engine

MODELS_STACK = "local.models-vision"
BASE = json.loads((ROOT / "policies/config/local.json").read_text())
# local's gpuBudget is 8. digits (1 GPU a pod, at most 4 replicas) goes to the models stack;
# vision, a copy of it, stays in the platform stack at most VISION_MAX replicas.
FITS, EXCEEDS = 4, 5


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, LocalStack]]:
    platform = LocalStack.create(tmp_path_factory.mktemp("fleet"))
    copy_model(platform, "digits", "vision", replicas={"min": 2, "max": FITS})
    (platform.project / "stacks").mkdir()
    (platform.project / "stacks/local.yaml").write_text("modelStacks:\n  vision: [digits]\n")
    # The models stack reads the platform's outputs: the platform is applied first, as `make up`
    # does (without the pack: the previews below are the subject).
    platform.pulumi("up", "--yes", "--skip-preview", extra_env=SKIP_CHECKPOINTS)
    models = LocalStack(
        project=platform.project,
        env=platform.env,
        stack=MODELS_STACK,
        config_file="Pulumi.local.yaml",
    )
    models.pulumi("stack", "init", MODELS_STACK, "--secrets-provider", "passphrase")
    yield platform, models


def preview_with_ledger(stack: LocalStack) -> tuple[int, str]:
    """The stack's preview with its pack and the policy config the ledger generates for it."""
    ledger = load_ledger(stack.project, "local")
    config = stack.project.parent / f"policy-config-{stack.stack}.json"
    config.write_text(json.dumps(stack_policy_config(BASE, ledger, stack.stack)))
    result = stack.preview(
        "--policy-pack",
        str(ROOT / "policies"),
        "--policy-pack-config",
        str(config),
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def flat(text: str) -> str:
    """The CLI's output with its line wrapping undone."""
    return " ".join(text.split())


def test_stacks_that_fit_the_budget_only_apart_fail_their_previews_naming_the_fleet(
    fleet: tuple[LocalStack, LocalStack],
) -> None:
    platform, models = fleet
    edit_spec(platform, "vision", replicas={"min": 2, "max": EXCEEDS})
    try:
        status, output = preview_with_ledger(models)
        assert status != 0, output
        assert "[mandatory] [severity: high]  gpu-budget" in output, output
        assert (
            "GPUs at peak replicas across the fleet (this stack's digits-stable 4x1 = 4; the "
            "fleet's other stacks local 5; 9 in all) exceed the fleet's GPU budget (8)"
        ) in flat(output), output
        status, output = preview_with_ledger(platform)
        assert status != 0, output
        assert (
            "GPUs at peak replicas across the fleet (this stack's vision-stable 5x1 = 5; the "
            f"fleet's other stacks {MODELS_STACK} 4; 9 in all) exceed the fleet's GPU budget (8)"
        ) in flat(output), output
    finally:
        edit_spec(platform, "vision", replicas={"min": 2, "max": FITS})


def test_stacks_that_fit_the_budget_together_pass(fleet: tuple[LocalStack, LocalStack]) -> None:
    # The models stack, whose pack sees the fleet only through the ledger (the platform's pack
    # sees it the same way: test_splitting_the_fleet_changes_no_verdict, no engine).
    _, models = fleet
    status, output = preview_with_ledger(models)
    assert status == 0, output
    assert "gpu-budget" not in output, output
    # It holds no quota of its own: the platform's, from the ledger, admits its GPU pods.
    assert "gpu-quota" not in output, output
