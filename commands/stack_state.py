"""What the stack holds, read from the resource inputs of one side of a preview (before or after).

Models are recognised by the labels (components/facts/labels.py) on every object; GPUs are read
from the Deployments' requests, replicas from the autoscalers, capacity from EKS node groups. The
totals price them with the table of commands/prices.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.prices import PriceTable
from components.autoscaling.scaled_object import TRIGGER_NAMES, WAKE_TRIGGER
from components.catalog.spec import TARGET_UNITS
from components.facts.gpu import GPU_RESOURCE, gpus_per_instance
from components.facts.labels import (
    EXPECTED_READY_ANNOTATION,
    GPU_TYPE_LABEL,
    MODEL_LABEL,
    TRACK_LABEL,
    VERSION_LABEL,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
AUTOSCALER = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
METRIC_OF_TRIGGER = {name: metric for metric, name in TRIGGER_NAMES.items()}
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

# --- what the stack runs, read from resource inputs ---------------------------------------------


@dataclass(frozen=True)
class TrackState:
    """One serving track of a model: its Deployment's version and GPUs, its autoscaler's bounds
    and signal."""

    version: str | None = None
    gpus_per_pod: int = 0
    gpu_types: tuple[str, ...] = ()
    startup_seconds: int = 0
    """How long the startup probe lets a new pod take before it serves."""
    min_replicas: int = 0
    max_replicas: int = 0
    signal: str = "none"
    """What the autoscaler scales on, with its target: `cpu: 70% CPU of requests`."""
    wake: str | None = None
    """For a track that scales to zero: what wakes it (query above threshold)."""
    cooldown_seconds: int = 0
    expected_ready_seconds: int | None = None
    """From container start to the version loaded and warm, as the Deployment's annotation says
    (components/serving/startup.py); None on a Deployment without it."""


def labels_of(inputs: dict[str, Any]) -> dict[str, str]:
    """The object's labels, {} when it has none (the models section finds models by them too)."""
    labels: dict[str, str] = (inputs.get("metadata") or {}).get("labels") or {}
    return labels


def _pod_gpus(deployment: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    pod = deployment["spec"]["template"]["spec"]
    gpus = sum(
        int(((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE, 0))
        for c in pod.get("containers") or []
    )
    required = (pod.get("affinity") or {}).get("nodeAffinity", {})
    terms = (required.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    types = {
        value
        for term in terms
        for expression in term.get("matchExpressions") or []
        if expression.get("key") == GPU_TYPE_LABEL
        for value in expression.get("values") or []
    }
    return gpus, tuple(sorted(types))


def _startup_seconds(deployment: dict[str, Any]) -> int:
    probes = [
        c.get("startupProbe") or {} for c in deployment["spec"]["template"]["spec"]["containers"]
    ]
    return max(
        (int(p.get("periodSeconds", 10)) * int(p.get("failureThreshold", 3)) for p in probes),
        default=0,
    )


def _hpa_fields(spec: dict[str, Any]) -> dict[str, Any]:
    metric = (spec.get("metrics") or [{}])[0]
    resource = metric.get("resource") or {}
    target = (resource.get("target") or {}).get("averageUtilization")
    shown = "?" if target is None else f"{float(target):g}"
    signal = f"{resource.get('name', metric.get('type', '?'))}: {shown}% of requests (HPA)"
    return {
        "min_replicas": int(spec.get("minReplicas", 1)),
        "max_replicas": int(spec["maxReplicas"]),
        "signal": signal,
    }


def _scaled_object_fields(spec: dict[str, Any]) -> dict[str, Any]:
    # KEDA's defaults when a bound is left out: 0 and 100.
    fields: dict[str, Any] = {
        "min_replicas": int(spec.get("minReplicaCount", 0)),
        "max_replicas": int(spec.get("maxReplicaCount", 100)),
        "cooldown_seconds": int(spec.get("cooldownPeriod", 300)),
    }
    signals = []
    for trigger in spec.get("triggers") or []:
        metadata = trigger.get("metadata") or {}
        if trigger.get("name") == WAKE_TRIGGER:
            fields["wake"] = f"`{metadata.get('query')}` above {metadata.get('threshold')}"
            continue
        metric = METRIC_OF_TRIGGER.get(str(trigger.get("name")))
        unit = TARGET_UNITS[metric] if metric else f"{trigger.get('type')} value per replica"
        signals.append(f"{metric or trigger.get('name')}: {metadata.get('threshold')} {unit}")
    fields["signal"] = ", ".join(signals or ["no trigger"]) + " (KEDA)"
    return fields


def model_tracks(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, TrackState]]:
    """Model name -> track name -> state, from the Deployments and their autoscalers (HPAs or
    KEDA ScaledObjects) in `resources`."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for urn, inputs in resources.items():
        kind = urn.split("::")[-2].rsplit("$", 1)[-1]
        labels = labels_of(inputs)
        model, track = labels.get(MODEL_LABEL), labels.get(TRACK_LABEL)
        if model is None or track is None or kind not in (DEPLOYMENT, AUTOSCALER, SCALED_OBJECT):
            continue
        state = found.setdefault(model, {}).setdefault(track, {})
        if kind == DEPLOYMENT:
            state["version"] = labels.get(VERSION_LABEL)
            state["gpus_per_pod"], state["gpu_types"] = _pod_gpus(inputs)
            state["startup_seconds"] = _startup_seconds(inputs)
            annotations = (inputs.get("metadata") or {}).get("annotations") or {}
            if EXPECTED_READY_ANNOTATION in annotations:
                state["expected_ready_seconds"] = int(annotations[EXPECTED_READY_ANNOTATION])
        elif kind == AUTOSCALER:
            state.update(_hpa_fields(inputs["spec"]))
        else:
            state.update(_scaled_object_fields(inputs["spec"]))
    return {
        model: {name: TrackState(**fields) for name, fields in sorted(tracks.items())}
        for model, tracks in sorted(found.items())
    }


@dataclass(frozen=True)
class NodeGroupState:
    name: str
    instance_type: str
    """The first listed type: EKS launches on-demand nodes in the order the types are listed."""
    desired: int
    gpus_per_node: int


def node_groups(resources: dict[str, dict[str, Any]]) -> list[NodeGroupState]:
    """EKS managed node groups of the stack (dev, prod), from their inputs."""
    groups = []
    for urn, inputs in sorted(resources.items()):
        if urn.split("::")[-2].rsplit("$", 1)[-1] != NODE_GROUP:
            continue
        instance_type = (inputs.get("instanceTypes") or ["unknown"])[0]
        groups.append(
            NodeGroupState(
                name=urn.rsplit("::", 1)[-1],
                instance_type=instance_type,
                desired=int(inputs["scalingConfig"]["desiredSize"]),
                gpus_per_node=gpus_per_instance(instance_type),
            )
        )
    return groups


# --- totals and the cost estimate ----------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    gpus_at_min: int
    gpus_at_max: int
    capacity_gpus: int | None
    """GPUs of the node groups at their desired size; None on a stack without node groups."""
    hourly_at_min: float | None
    hourly_at_max: float | None
    """Estimated cost; on a stack with node groups both are the node groups' (what is billed)."""
    unpriced: tuple[str, ...]


def model_gpus(tracks: dict[str, TrackState], at: str) -> int:
    return sum(
        track.gpus_per_pod * (track.min_replicas if at == "min" else track.max_replicas)
        for track in tracks.values()
    )


def totals(resources: dict[str, dict[str, Any]], prices: PriceTable) -> Totals:
    models = model_tracks(resources)
    groups = node_groups(resources)
    unpriced: set[str] = set()
    at_min = sum(model_gpus(tracks, "min") for tracks in models.values())
    at_max = sum(model_gpus(tracks, "max") for tracks in models.values())
    if groups:
        hourly = 0.0
        for group in groups:
            price = prices.instance_hourly(group.instance_type)
            if price is None:
                unpriced.add(group.instance_type)
            else:
                hourly += group.desired * price
        capacity = sum(g.desired * g.gpus_per_node for g in groups)
        cost = None if unpriced else round(hourly, 4)
        return Totals(at_min, at_max, capacity, cost, cost, tuple(sorted(unpriced)))

    # No node groups (the local stack): price each requested GPU at the cheapest listed instance
    # of a GPU type its pod accepts.
    def pods_hourly(at: str) -> float | None:
        hourly = 0.0
        for tracks in models.values():
            for track in tracks.values():
                if not track.gpus_per_pod:
                    continue
                offers = [o for o in map(prices.gpu_hourly, track.gpu_types) if o]  # type: ignore[arg-type]
                if not offers:
                    unpriced.update(track.gpu_types or ("unknown GPU type",))
                    continue
                replicas = track.min_replicas if at == "min" else track.max_replicas
                hourly += track.gpus_per_pod * replicas * min(price for _, price in offers)
        return round(hourly, 4)

    cost_min, cost_max = pods_hourly("min"), pods_hourly("max")
    if unpriced:
        cost_min = cost_max = None
    return Totals(at_min, at_max, None, cost_min, cost_max, tuple(sorted(unpriced)))
