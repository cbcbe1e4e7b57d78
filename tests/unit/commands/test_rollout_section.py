"""commands/rollout_section.py: which changes roll GPU pods, and the verdict the summary prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from commands.engine_events import Step
from commands.preview_summary import configured_capacity
from commands.rollout_section import node_group_capacity, rollout_section, rollouts
from commands.stack_state import TrackState
from components.facts.labels import MODEL_LABEL, TRACK_LABEL
from components.facts.rollout import REMEDY, ROLLING_UPDATE

URN = "urn:pulumi:local::gpu-model-platform::gpu-model-platform:serving:ModelService$"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def inputs(model: str, track: str, strategy: str = "surge") -> dict[str, Any]:
    return {
        "metadata": {"labels": {MODEL_LABEL: model, TRACK_LABEL: track}},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": ROLLING_UPDATE[strategy]}},
    }


def step(op: str, model: str, track: str, changed: list[str], strategy: str = "surge") -> Step:
    new = inputs(model, track, strategy)
    return Step(
        op=op,
        urn=f"{URN}{DEPLOYMENT}::{model}-{track}",
        type=DEPLOYMENT,
        old=None if op == "create" else inputs(model, track),
        new=new,
        changed=changed,
    )


DIGITS = {"stable": TrackState(version="1", gpus_per_pod=1, min_replicas=2, max_replicas=4)}
IRIS = {"stable": TrackState(version="2", gpus_per_pod=0, min_replicas=2, max_replicas=6)}
STATE = {"digits": DIGITS, "iris": IRIS}
NEW_IMAGE = ["spec.template.spec.containers[0].image"]


def test_a_new_image_of_a_gpu_model_surges_one_pod_and_stalls_on_full_nodes() -> None:
    found = [step("update", "digits", "stable", NEW_IMAGE), step("update", "iris", "stable", [])]
    ((model, need),) = rollouts(found, STATE, STATE, capacity=2)
    assert model == "digits" and (need.surge_pods, need.held, need.free, need.fits) == (
        1,
        2,
        0,
        False,
    )
    lines = rollout_section(found, STATE, STATE, {}, configured_capacity=2)
    assert lines[0] == "### Rollouts"
    assert "capacity: 2 GPUs (`gpuCapacity` of rollout-feasibility)" in lines[2]
    assert lines[-2] == (
        "| **digits** | will stall: needs 1 surge pod x 1 GPU = 1 GPU, 0 of 2 free (new pods "
        f"stay Pending); remedy: {REMEDY} |"
    )


def test_with_replace_the_same_change_fits() -> None:
    found = [step("update", "digits", "stable", NEW_IMAGE, strategy="replace")]
    lines = rollout_section(found, STATE, STATE, {}, configured_capacity=2)
    assert lines[-2] == (
        "| **digits** | fits: the rollout needs no GPU beyond what the model holds |"
    )


def test_a_change_outside_the_pod_template_rolls_nothing() -> None:
    found = [step("update", "digits", "stable", ["spec.strategy.rollingUpdate.maxSurge"])]
    assert rollout_section(found, STATE, STATE, {}, configured_capacity=2) == []


def test_a_canary_beside_a_running_model_adds_its_pods() -> None:
    canary = TrackState(version="2", gpus_per_pod=1, min_replicas=1, max_replicas=2)
    after = {"digits": {**DIGITS, "canary": canary}}
    found = [step("create", "digits", "canary", [])]
    ((_, need),) = rollouts(found, STATE, after, capacity=4)
    assert (need.surge_pods, need.canary_pods, need.held, need.free, need.fits) == (
        0,
        1,
        3,
        1,
        True,
    )


def test_a_new_model_is_no_rollout_and_render_mode_says_what_is_known() -> None:
    assert rollouts([step("create", "digits", "stable", [])], {}, STATE, capacity=None) == []
    found = [step("update", "digits", "stable", NEW_IMAGE)]
    lines = rollout_section(found, STATE, STATE, {}, configured_capacity=None)
    assert "capacity unknown" in lines[2]
    assert "the rollout needs 1 GPU free beyond the 2 the models hold at min replicas" in lines[-2]


def test_node_groups_give_the_capacity_at_their_maximum_size() -> None:
    group = "urn:pulumi:dev::gpu-model-platform::aws:eks/nodeGroup:NodeGroup::"
    resources = {
        group + "gpu": {"instanceTypes": ["g5.xlarge"], "scalingConfig": {"maxSize": 3}},
        group + "system": {"instanceTypes": ["m6i.large"], "scalingConfig": {"maxSize": 9}},
    }
    assert node_group_capacity(resources) == 3
    assert node_group_capacity({}) is None
    found = [step("update", "digits", "stable", NEW_IMAGE)]
    lines = rollout_section(found, STATE, STATE, resources, configured_capacity=None)
    assert "capacity: 3 GPUs (the GPU node groups at max size)" in lines[2]
    assert "fits: needs 1 surge pod x 1 GPU = 1 GPU, 1 of 3 free" in lines[-2]


def test_the_summary_reads_gpu_capacity_from_the_policy_config_and_tolerates_a_bad_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "local.json"
    path.write_text(json.dumps({"all": "mandatory", "rollout-feasibility": {"gpuCapacity": 2}}))
    assert configured_capacity(path) == 2
    path.write_text(json.dumps({"rollout-feasibility": {"gpuCapacity": -1}}))
    assert configured_capacity(path) is None
    # A bad file is policies/config_check.py's to report; the summary must still be written.
    for bad in ('{"rollout-feasibility": {"gpuCapacity": "many"}}', "[]", "{"):
        path.write_text(bad)
        assert configured_capacity(path) is None
    assert configured_capacity(None) is None
