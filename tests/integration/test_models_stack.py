"""Model serving stacks through the real engine: a change to one model touches only that model,
a new model is a new folder, and a bad model stops the preview with nothing changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine import LocalStack, edit_spec

pytestmark = pytest.mark.engine


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack.create(tmp_path)
    stack.up()
    yield stack


def belongs_to(urn: str, model: str) -> bool:
    """URNs of a ModelService and its children end in the model name or `<model>-<object>`."""
    name = urn.rsplit("::", 1)[1]
    in_model_service = "gpu-model-platform:serving:ModelService" in urn
    return in_model_service and (name == model or name.startswith(f"{model}-"))


def test_rolling_back_one_model_touches_only_that_model(deployed: LocalStack) -> None:
    edit_spec(deployed, "iris", serving={"active": 1})
    steps = deployed.preview_steps()
    assert steps, "a version change must show in the preview"
    assert all(belongs_to(urn, "iris") for urn in steps), steps
    updated = {urn.rsplit("::", 1)[1]: op for urn, op in steps.items()}
    # The ConfigMap holds every declared version: only the Deployment (and the labels of its
    # autoscaler) follow the version.
    assert updated == {"iris-stable": "update", "iris-stable-autoscaler": "update"}, updated


def test_a_canary_adds_only_its_deployment_and_autoscaler(deployed: LocalStack) -> None:
    edit_spec(
        deployed,
        "iris",
        serving={"active": 2, "canary": {"version": 1, "percent": 50}},
        replicas={"min": 2, "max": 6},
    )
    steps = {urn.rsplit("::", 1)[1]: op for urn, op in deployed.preview_steps().items()}
    # The stable Deployment is untouched; its autoscaler's bounds shrink to make room.
    assert steps == {
        "iris-canary": "create",
        "iris-canary-autoscaler": "create",
        "iris-stable-autoscaler": "update",
    }, steps


def test_a_third_model_is_a_folder_with_its_gate_run_and_no_code_change(
    deployed: LocalStack,
) -> None:
    copy = deployed.project / "models" / "iris-copy"
    shutil.copytree(deployed.project / "models" / "iris", copy)
    shutil.rmtree(copy / "gate")
    edit_spec(deployed, "iris-copy", name="iris-copy")
    gate = subprocess.run(
        [sys.executable, "-m", "commands.gate", "iris-copy"],
        cwd=deployed.project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr

    steps = deployed.preview_steps()
    # The new model's objects, and the gated-image policy admitting its images: what a reviewer
    # approves is exactly which new images the models namespace will run.
    policy = next(urn for urn in steps if urn.endswith("::gated-images-policy"))
    assert steps.pop(policy) == "update", steps
    assert steps and set(steps.values()) == {"create"}, steps
    assert all("iris-copy" in urn for urn in steps), steps
    deployed.up()
    assert (
        deployed.manifests / "1-manifest" / "apps_v1-deployment-models-iris-copy-stable.yaml"
    ).is_file()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"serving": {"active": 2, "canary": {"version": 1, "percent": 100}}},
            "models/iris/model.yaml: serving.canary.percent: Input should be less than or equal "
            "to 99",
        ),
        ({"serving": {"active": 3}}, "models/iris/model.yaml: serving.active: version 3 is not"),
        ({"colour": "blue"}, "models/iris/model.yaml: colour: unknown field"),
        (
            {"name": "3d-iris"},
            "models/iris/model.yaml: name: '3d-iris' cannot name the model's Service "
            "'3d-iris-serving', which must be a DNS-1035 label",
        ),
        (
            {
                "gate": {
                    "metric": "accuracy",
                    "threshold": 0.99,
                    "held_out_fraction": 0.3,
                    "seed": 7,
                }
            },
            "models/iris/gate/2.json: value: accuracy 0.9777777777777777 is below the threshold "
            "0.99 of model.yaml gate.threshold",
        ),
        (
            {
                "versions": [
                    {"id": 1, "train": {"hidden_units": 16, "epochs": 150, "learning_rate": 0.01}},
                    {"id": 2, "train": {"hidden_units": 64, "epochs": 200, "learning_rate": 0.01}},
                ]
            },
            "models/iris/gate/2.json: versions[id=2].train.hidden_units: gated with 32, but "
            "model.yaml says 64",
        ),
    ],
)
def test_a_bad_model_stops_preview_and_up_and_nothing_changes(
    deployed: LocalStack, changes: dict[str, object], message: str
) -> None:
    before = deployed.resource_urns()
    files = {p: p.read_bytes() for p in deployed.manifests.rglob("*.yaml")}
    edit_spec(deployed, "iris", **changes)
    for command in (deployed.preview, deployed.up):
        result = command(check=False)
        assert result.returncode != 0
        assert "models cannot deploy; nothing was changed:" in result.stdout, result.stdout
        assert message in result.stdout, result.stdout
        assert "Traceback" not in result.stdout + result.stderr
    assert deployed.resource_urns() == before
    assert {p: p.read_bytes() for p in deployed.manifests.rglob("*.yaml")} == files


def test_savedmodel_changed_after_its_gate_stops_the_preview(deployed: LocalStack) -> None:
    pb = deployed.project / "models" / "digits" / "savedmodel" / "1" / "saved_model.pb"
    pb.write_bytes(pb.read_bytes() + b"\0")
    result = deployed.preview(check=False)
    assert result.returncode != 0
    assert "models/digits/savedmodel/1: files changed since the gate passed" in result.stdout


def test_a_duplicate_key_in_model_yaml_stops_the_preview_naming_both_lines(
    deployed: LocalStack,
) -> None:
    """A second `replicas:` once replaced the first without a word (and dropped a
    PodDisruptionBudget); now it is an error naming both lines."""
    spec = deployed.project / "models" / "iris" / "model.yaml"
    lines = spec.read_text().splitlines()
    first = lines.index("replicas:") + 1
    spec.write_text(spec.read_text() + "replicas:\n  min: 1\n  max: 1\n")
    result = deployed.preview(check=False)
    assert result.returncode != 0
    assert (
        f"models/iris/model.yaml: duplicate key 'replicas' at line {len(lines) + 1} (first at "
        f"line {first})"
    ) in result.stdout, result.stdout


def test_a_gate_record_edited_by_hand_stops_the_preview(deployed: LocalStack) -> None:
    record = deployed.project / "models" / "digits" / "gate" / "1.json"
    record.write_text(record.read_text().replace('"threshold": 0.95', '"threshold": 0.5'))
    result = deployed.preview(check=False)
    assert result.returncode != 0
    assert (
        "models/digits/gate/1.json: gate.threshold: gated with 0.5, but model.yaml says 0.95"
    ) in result.stdout, result.stdout
