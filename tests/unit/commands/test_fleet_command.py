"""commands/fleet.py: which stacks a change affects, which state moves put each model where the
stacks file says, and one PR comment from the stacks' summaries."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from commands import fleet
from commands.fleet import (
    Move,
    affected_models_stacks,
    affected_stacks,
    fleet_plan,
    fleet_summary,
    model_of,
    models_stacks,
    move_refusal,
    planned_moves,
)
from commands.plan_binding import fleet_digest, load_plan
from commands.pr_comment import marker
from components.catalog.load import load_catalog
from components.outputs import ADMITTED_IMAGES
from components.serving.builders import image_tag
from tests.support.mocks import ROOT

P = "urn:pulumi:local::gpu-model-platform::"
SERVICE = f"{P}gpu-model-platform:serving:ModelService::digits"
MONITORING = (
    f"{P}gpu-model-platform:monitoring:MonitoringStack$"
    "gpu-model-platform:monitoring:ModelMonitoring::digits-monitoring"
)
SCALED = (
    f"{P}gpu-model-platform:autoscaling:KedaAutoscaling$"
    "kubernetes:keda.sh/v1alpha1:ScaledObject::digits-canary-scaledobject"
)
DEPLOYMENT = (
    f"{P}gpu-model-platform:serving:ModelService$kubernetes:apps/v1:Deployment::digits-stable"
)


def project(tmp_path: Path, stacks: str | None) -> Path:
    shutil.copytree(ROOT / "models", tmp_path / "models")
    (tmp_path / "models" / "resnet").mkdir()
    if stacks is not None:
        (tmp_path / "stacks").mkdir()
        (tmp_path / "stacks" / "local.yaml").write_text(stacks)
    return tmp_path


def test_a_models_top_level_resources_are_its_own_and_no_others() -> None:
    models = ["digits", "digit"]
    assert [model_of(urn, models) for urn in (SERVICE, MONITORING, SCALED)] == ["digits"] * 3
    # Children move with their parent; other models' and the platform's are not the model's.
    assert model_of(DEPLOYMENT, models) is None
    assert model_of(f"{P}gpu-model-platform:serving:ModelService::digits2", models) is None
    assert model_of(f"{P}gpu-model-platform:monitoring:MonitoringStack::monitoring", models) is None


def test_moves_take_each_model_to_the_stack_the_file_assigns() -> None:
    assigned = {"digits": "local.models-a", "iris": "local"}
    iris = SERVICE.replace("digits", "iris")
    moves = planned_moves("local", assigned, {"local": [SERVICE, MONITORING, DEPLOYMENT, iris]})
    assert moves == [Move("digits", "local", "local.models-a", (SERVICE, MONITORING))]
    # Once moved, nothing is left to move: `make up` can run it every time.
    after = {"local": [iris], "local.models-a": [SERVICE, MONITORING]}
    assert planned_moves("local", assigned, after) == []
    # Between models stacks too.
    assigned["digits"] = "local.models-b"
    assert planned_moves("local", assigned, after) == [
        Move("digits", "local.models-a", "local.models-b", (SERVICE, MONITORING))
    ]


def test_a_model_assigned_to_no_models_stack_moves_back_into_the_platform() -> None:
    here = {"local": [], "local.models-a": [SERVICE, MONITORING]}
    assert planned_moves("local", {"digits": "local"}, here) == [
        Move("digits", "local.models-a", "local", (SERVICE, MONITORING))
    ]


def test_a_change_inside_model_folders_affects_the_stacks_holding_them(tmp_path: Path) -> None:
    root = project(tmp_path, "modelStacks:\n  a: [digits]\n  b: [iris]\n  c: [resnet]\n")
    assert models_stacks(root, "local") == ["local.models-a", "local.models-b", "local.models-c"]
    assert models_stacks(root, "local.models-a") == []
    affected = affected_models_stacks(root, "local", ["models/digits/model.yaml"])
    assert affected == ["local.models-a"]
    both = ["models/iris/gate/v2.json", "models/resnet/model.yaml"]
    assert affected_models_stacks(root, "local", both) == ["local.models-b", "local.models-c"]
    # Anything else can change every stack's objects.
    for path in ("components/serving/builders.py", "stacks/local.yaml", "models/README.md"):
        assert len(affected_models_stacks(root, "local", [path])) == 3, path


def test_no_stacks_file_is_one_stack(tmp_path: Path) -> None:
    assert models_stacks(project(tmp_path, None), "local") == []


def test_the_pr_comment_has_every_stack_and_says_which_failed(tmp_path: Path) -> None:
    (tmp_path / "preview-summary-local.md").write_text("platform: no changes\n")
    (tmp_path / "preview-summary-local.models-a.md").write_text("digits: v1 -> v2\n")
    stacks = ["local.models-a", "local.models-b", "local.models-c"]
    previewed = ["local.models-a", "local", "local.models-b"]  # the platform first, whatever order
    text, complete = fleet_summary(tmp_path, "local", previewed, stacks)
    assert not complete
    # The environment's one comment, found by the platform's marker (upsert-comment.js).
    assert text.splitlines()[:2] == [
        marker("local"),
        "# Preview of local and its models stacks: 3 previewed, 1 not affected",
    ]
    assert "| `local.models-b` | **failed: its preview wrote no summary** |" in text
    assert "| `local.models-c` | not previewed: nothing it is built from changed" in text
    assert "## Stack `local.models-a`\n\ndigits: v1 -> v2" in text
    assert text.index("## Stack `local`") < text.index("## Stack `local.models-a`")
    text, complete = fleet_summary(tmp_path, "local", ["local.models-a"], stacks)
    assert complete
    assert "| `local` | not previewed: nothing it is built from changed" in text
    assert "## Stack `local`\n" not in text


def test_the_platform_is_previewed_when_a_change_can_alter_what_it_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a model held by a models stack the platform deploys only its gated images (the
    admission allow-list): a change that leaves them as the platform last deployed them (its
    stack output) previews the models stack alone."""
    root = project(tmp_path, "modelStacks:\n  a: [digits]\n  b: [iris]\n")
    for name in ("Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(ROOT / name, root / name)
    catalog = load_catalog(root / "models", 1, only={"digits", "iris"})
    images = [
        f"registry.local:5000/gpu-model-platform/{e.spec.name}:{image_tag(e.spec, v, d)}"
        for e in catalog
        for v, d in e.gated.items()
    ]
    deployed: dict[str, dict[str, Any] | None] = {"local": {ADMITTED_IMAGES: images}}
    monkeypatch.setattr(fleet, "stack_outputs", lambda project, stack: deployed[stack])
    spec = root / "models" / "iris" / "model.yaml"
    spec.write_text(spec.read_text().replace("active: 2", "active: 1"))  # a rollback
    assert affected_stacks(root, "local", ["models/iris/model.yaml"]) == ["local.models-b"]

    # The platform's own: a model it holds, a path outside model folders, no change at all.
    assert affected_stacks(root, "local", ["models/resnet/model.yaml"]) == ["local"]
    everything = ["local", "local.models-a", "local.models-b"]
    assert affected_stacks(root, "local", ["components/serving/builders.py"]) == everything
    assert affected_stacks(root, "local", []) == ["local"]
    # The allow-list would change: a version not admitted yet, a platform never deployed (or
    # deployed before it exported its allow-list), a version whose files no longer match its gate.
    deployed["local"] = {ADMITTED_IMAGES: [i for i in images if "/iris:v1-" not in i]}
    assert affected_stacks(root, "local", ["models/iris/model.yaml"]) == ["local", "local.models-b"]
    blank: list[dict[str, Any] | None] = [None, {}]
    for outputs in blank:
        deployed["local"] = outputs
        assert affected_stacks(root, "local", ["models/iris/model.yaml"])[0] == "local"
    deployed["local"] = {ADMITTED_IMAGES: images}
    weights = root / "models" / "iris" / "savedmodel" / "2" / "saved_model.pb"
    weights.write_bytes(weights.read_bytes() + b"retrained")
    changed = ["models/iris/savedmodel/2/saved_model.pb"]
    assert affected_stacks(root, "local", changed) == ["local", "local.models-b"]


def test_the_pr_comment_says_which_models_make_up_moves_first(tmp_path: Path) -> None:
    (tmp_path / "preview-summary-local.md").write_text("12 to delete\n")
    move = Move("digits", "local", "local.models-a", (SERVICE, MONITORING, SCALED))
    text, _ = fleet_summary(tmp_path, "local", [], ["local.models-a"], [move])
    assert "- `digits`: `local` -> `local.models-a` (3 resources)" in text
    assert "the deletes and creates previewed above for them do not happen" in text


def test_a_new_models_stack_gets_its_platforms_secrets_provider(tmp_path: Path) -> None:
    from commands.fleet import secrets_provider_args

    (tmp_path / "Pulumi.dev.yaml").write_text("secretsprovider: awskms://alias/x?region=r\n")
    (tmp_path / "Pulumi.local.yaml").write_text("encryptionsalt: v1:abc\n")
    assert secrets_provider_args(tmp_path, "dev") == [
        "--secrets-provider",
        "awskms://alias/x?region=r",
    ]
    assert secrets_provider_args(tmp_path, "local") == ["--secrets-provider", "passphrase"]


def saved_plans(build: Path, stacks: list[str]) -> dict[str, str]:
    """A plan of each stack where `make preview` saves it; stack to its digest."""
    for index, stack in enumerate(stacks):
        plan = {"config": {"n": index}, "resourcePlans": {f"{P}kubernetes:v1:ConfigMap::c": {}}}
        (build / f"plan-{stack}.json").write_text(json.dumps(plan))
    return {s: load_plan(build / f"plan-{s}.json").digest for s in stacks}


def test_a_fleet_preview_binds_the_plans_of_the_stacks_previewed_by_one_digest(
    tmp_path: Path,
) -> None:
    digests = saved_plans(tmp_path, ["local", "local.models-a", "local.models-b"])
    manifest, lines = fleet_plan(tmp_path, "local", ["local", "local.models-b"], False, [])
    # models-a was not previewed: its plan file (another run's) is not in the manifest.
    assert manifest == {
        "platform": "local",
        "plans": {"local": digests["local"], "local.models-b": digests["local.models-b"]},
    }
    digest = fleet_digest(manifest)
    assert lines[0] == (
        f"**Fleet plan** `{digest}`: `make up PLAN=build/plan-local.json PLAN_DIGEST={digest}` "
        "applies exactly the plans of the 2 stacks previewed below (`local`, `local.models-b`), "
        "each checked against its digest in `build/plan-local-fleet.json`, and nothing else: a "
        "stack not previewed is not applied."
    )
    (tmp_path / "preview-summary-local.md").write_text("platform\n")
    (tmp_path / "preview-summary-local.models-b.md").write_text("b\n")
    text, complete = fleet_summary(
        tmp_path,
        "local",
        ["local", "local.models-b"],
        ["local.models-a", "local.models-b"],
        plan_lines=lines,
    )
    assert complete and f"\n**Fleet plan** `{digest}`" in text, text
    # What .github/scripts/approved-plan.sh reads from the comment: the fleet digest alone.
    assert re.findall(r"Fleet plan\*\* `(sha256:[0-9a-f]{64})`", text) == [digest]
    # Another plan of a previewed stack is another fleet digest.
    saved_plans(tmp_path, ["local.models-a", "local.models-b", "local"])
    again, _ = fleet_plan(tmp_path, "local", ["local", "local.models-b"], False, [])
    assert again is not None and fleet_digest(again) != digest


def test_a_fleet_preview_that_failed_or_cannot_be_bound_offers_no_digest(tmp_path: Path) -> None:
    saved_plans(tmp_path, ["local", "local.models-a"])
    previewed = ["local", "local.models-a"]
    failed = fleet_plan(tmp_path, "local", previewed, True, [])
    assert failed == (
        None,
        ["**Fleet plan**: none to deploy (a stack's preview failed: see below).", ""],
    )
    move = Move("digits", "local", "local.models-a", (SERVICE,))
    manifest, lines = fleet_plan(tmp_path, "local", previewed, False, [move])
    assert manifest is None and "none to bind: models move between stacks" in lines[0]
    (tmp_path / "plan-local.models-a.json").write_text("{")
    manifest, lines = fleet_plan(tmp_path, "local", previewed, False, [])
    assert manifest is None and "none to deploy: a previewed stack saved no usable plan" in lines[0]
    assert "plan-local.models-a.json: not an update plan" in lines[0], lines
    provider = f"{P}pulumi:providers:kubernetes::models-k8s"
    created = {"resourcePlans": {provider: {"steps": ["create"]}}}
    (tmp_path / "plan-local.models-a.json").write_text(json.dumps(created))
    manifest, lines = fleet_plan(tmp_path, "local", previewed, False, [])
    assert manifest is None, manifest
    assert lines[0].startswith(
        "**Fleet plan** **cannot be bound**: a plan creates or replaces a "
        "provider (`local.models-a`: `models-k8s`)"
    ), lines
    for found in (failed[1], lines):
        assert not re.search(r"Fleet plan\*\* `sha256:", found[0]), found


def test_with_plan_a_pending_move_is_refused_naming_each_model() -> None:
    text = move_refusal([Move("digits", "local", "local.models-a", (SERVICE,))])
    assert "nothing was moved or applied" in text
    assert "[fleet]   - digits: local -> local.models-a" in text
