"""The preview summary's **Rollouts** section (issue #17): for each model whose change rolls its
pods (a Deployment's pod template changed, or a canary added beside a running model), the GPUs
the rollout needs at its peak against the GPUs free where its pods may land, and whether it fits
or will stall, with the remedy. The arithmetic is components/facts/rollout.py, which the
`rollout-feasibility` policy shares.

Capacity: on AWS the GPU node groups at their maximum size (max size x GPUs per instance); else
the `gpuCapacity` the stack's policy config gives rollout-feasibility (a connected cluster's
GPUs, set by whoever knows them); else unknown (render mode), and the section says what is known.
"""

from __future__ import annotations

from typing import Any

from commands.engine_events import Step
from commands.stack_state import NODE_GROUP, TrackState, labels_of
from components.facts.gpu import gpus_per_instance
from components.facts.labels import MODEL_LABEL, TRACK_LABEL
from components.facts.rollout import RolloutNeed, surge_pods

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def node_group_capacity(resources: dict[str, dict[str, Any]]) -> int | None:
    """GPUs of the stack's EKS node groups at their maximum size; None without GPU node groups."""
    total, found = 0, False
    for urn, inputs in resources.items():
        if urn.split("::")[-2].rsplit("$", 1)[-1] != NODE_GROUP:
            continue
        per_node = min((gpus_per_instance(t) for t in inputs.get("instanceTypes") or []), default=0)
        if per_node:
            found = True
            total += per_node * int((inputs.get("scalingConfig") or {}).get("maxSize") or 0)
    return total if found else None


def _rolls(step: Step) -> bool:
    """Whether this Deployment step starts new pods beside running ones."""
    if step.type != DEPLOYMENT or step.new is None:
        return False
    if step.op not in ("update", "replace", "create-replacement"):
        return False
    # Without a detailed diff, assume the worst: the pod template changed.
    return not step.changed or any(path.startswith("spec.template") for path in step.changed)


def rollouts(
    found: list[Step],
    before: dict[str, dict[str, TrackState]],
    after: dict[str, dict[str, TrackState]],
    capacity: int | None,
) -> list[tuple[str, RolloutNeed]]:
    """(model, need) for each model whose change rolls GPU pods, in model order."""
    held = sum(
        t.min_replicas * t.gpus_per_pod for tracks in after.values() for t in tracks.values()
    )
    surges: dict[str, int] = {}
    canaries: dict[str, int] = {}
    for step in found:
        labels = labels_of(step.new or {})
        model, track = labels.get(MODEL_LABEL), labels.get(TRACK_LABEL)
        if step.type != DEPLOYMENT or model is None or track is None or step.new is None:
            continue
        state = after.get(model, {}).get(track)
        if state is None or not state.gpus_per_pod:
            continue
        if step.op == "create" and before.get(model):
            # A canary beside a running model: all its pods start on top of what runs.
            canaries[model] = canaries.get(model, 0) + state.min_replicas
        elif _rolls(step) and state.min_replicas:
            rolling = ((step.new.get("spec") or {}).get("strategy") or {}).get("rollingUpdate")
            surges[model] = surges.get(model, 0) + surge_pods(rolling, state.min_replicas)
    needs = []
    for model in sorted(set(surges) | set(canaries)):
        gpus = max(t.gpus_per_pod for t in after[model].values())
        needs.append(
            (
                model,
                RolloutNeed(
                    model, surges.get(model, 0), canaries.get(model, 0), gpus, capacity, held
                ),
            )
        )
    return needs


def rollout_section(
    found: list[Step],
    before: dict[str, dict[str, TrackState]],
    after: dict[str, dict[str, TrackState]],
    after_resources: dict[str, dict[str, Any]],
    configured_capacity: int | None,
) -> list[str]:
    capacity = node_group_capacity(after_resources)
    source = "the GPU node groups at max size"
    if capacity is None and configured_capacity is not None and configured_capacity >= 0:
        capacity, source = configured_capacity, "`gpuCapacity` of rollout-feasibility"
    needs = rollouts(found, before, after, capacity)
    if not needs:
        return []
    rows = [f"| **{model}** | {need.verdict()} |" for model, need in needs]
    known = f"capacity: {capacity} GPUs ({source})" if capacity is not None else "capacity unknown"
    return [
        "### Rollouts",
        "",
        f"_GPUs each rollout needs at its peak (surge and canary pods x GPUs per pod) against "
        f"those the models leave free at min replicas; {known}._",
        "",
        "| model | rollout |",
        "|---|---|",
        *rows,
        "",
    ]
