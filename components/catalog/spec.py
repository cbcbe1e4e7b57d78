"""`models/<name>/model.yaml`: one pydantic model validates every model's spec.

The spec says what a model is (signature, versions, gate) and how it is served (active version,
canary, resources, replicas, batching, SLO). Its defaults live here and nowhere else. Rules that
depend on the stack (GPUs per pod) are checked by components.catalog.load, which knows the stack.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from components.facts.gpu import GpuType
from components.facts.rollout import REPLACE, SURGE, RolloutStrategy
from components.facts.types import CpuQuantity, MemoryQuantity, ModelName


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Strict):
    dtype: Literal["float16", "float32", "float64", "int32", "int64", "string", "bool"]
    shape: list[int] = Field(description="-1 for a dimension of any size, such as the batch")

    @model_validator(mode="after")
    def _dims(self) -> TensorSpec:
        if any(dim < -1 or dim == 0 for dim in self.shape):
            raise ValueError("shape dimensions are positive sizes or -1 for any size")
        return self


class Signature(_Strict):
    """The `serving_default` signature the SavedModel must expose, checked by the gate."""

    inputs: dict[str, TensorSpec] = Field(min_length=1)
    outputs: dict[str, TensorSpec] = Field(min_length=1)


class Version(_Strict):
    id: PositiveInt = Field(description="TF Serving version number: the SavedModel's folder name")
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters passed to the model's train.py to produce this version",
    )


class Canary(_Strict):
    version: PositiveInt
    percent: int = Field(ge=1, le=99, description="Share of replicas (and so of traffic)")


class Serving(_Strict):
    active: PositiveInt
    canary: Canary | None = None


class Resources(_Strict):
    cpu: CpuQuantity
    memory: MemoryQuantity
    gpus: int = Field(default=0, ge=0, description="nvidia.com/gpu per pod; 0 for a CPU model")
    gpu_types: list[GpuType] = Field(default_factory=list, description="GPU types accepted")

    @model_validator(mode="after")
    def _gpu_types_match_gpus(self) -> Resources:
        if self.gpus and not self.gpu_types:
            raise ValueError("gpu_types must list the accepted GPU types when gpus > 0")
        if not self.gpus and self.gpu_types:
            raise ValueError("gpu_types is set but gpus is 0")
        return self


class Replicas(_Strict):
    min: NonNegativeInt = Field(
        description="0: scale to zero, only with a KEDA metric and autoscaling.activation"
    )
    max: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


ScalingMetric = Literal["cpu", "requests", "gpu"]
# What `autoscaling.target` means for each metric, and its default.
TARGET_UNITS: dict[str, str] = {
    "cpu": "% CPU of requests",
    "requests": "requests/s per replica",
    "gpu": "% GPU utilisation",
}
DEFAULT_TARGETS: dict[str, float] = {"cpu": 70, "requests": 20, "gpu": 70}
PERCENT_METRICS = ("cpu", "gpu")


class Activation(_Strict):
    """What wakes a model scaled to zero. With no pod running, TF Serving reports no requests and
    DCGM no utilisation, so the wake signal must be a series that exists without the model's pods
    (a gateway's or queue's demand for the model): KEDA starts the first pod when it is above
    `threshold`, and keeps one while it is."""

    query: str = Field(min_length=1, description="PromQL of the demand for the model")
    threshold: PositiveFloat = Field(description="above it, KEDA scales from 0 to 1")


class Autoscaling(_Strict):
    """The signal each track scales on. `cpu` is the Kubernetes HPA on CPU utilisation; `requests`
    (TF Serving's request rate per replica) and `gpu` (DCGM's GPU utilisation of the track's pods)
    scale through KEDA, which owns the HPA it creates. A GPU model defaults to `requests`: CPU
    says little about the load of a model served on a GPU."""

    metric: ScalingMetric
    target: PositiveFloat = Field(description="per metric, see TARGET_UNITS")
    activation: Activation | None = Field(
        default=None, description="only with replicas.min: 0, see Activation"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" not in data and data.get("metric") in TARGET_UNITS:
            return {**data, "target": DEFAULT_TARGETS[data["metric"]]}
        return data

    @model_validator(mode="after")
    def _target_fits_metric(self) -> Autoscaling:
        if self.metric in PERCENT_METRICS and not 10 <= self.target <= 100:
            raise ValueError(
                f"target {self.target:g} for metric {self.metric}: a percent from 10 to 100"
            )
        if self.activation is not None and not self.uses_keda:
            raise ValueError(
                "activation applies to the KEDA metrics (requests, gpu): the cpu metric scales "
                "through a HorizontalPodAutoscaler, which never scales to zero"
            )
        return self

    @property
    def uses_keda(self) -> bool:
        return self.metric != "cpu"

    @property
    def target_text(self) -> str:
        return f"{self.target:g} {TARGET_UNITS[self.metric]}"


class Batching(_Strict):
    """TF Serving's server-side batching (batching_parameters_file)."""

    max_batch_size: PositiveInt = 32
    batch_timeout_micros: int = Field(default=2000, ge=0)
    num_batch_threads: PositiveInt = 4
    max_enqueued_batches: PositiveInt = 100


class Slo(_Strict):
    p99_latency_ms: float = Field(gt=0)
    error_rate: float = Field(gt=0, lt=1, description="fraction of requests, e.g. 0.001")


class Gate(_Strict):
    metric: Literal["accuracy"]
    threshold: float = Field(gt=0, le=1)
    held_out_fraction: float = Field(default=0.25, gt=0, lt=1)
    seed: int = Field(default=0, description="seed of the train/held-out split and of training")


class Rollout(_Strict):
    strategy: RolloutStrategy = Field(
        default=SURGE,
        description="surge: a new pod is ready before an old one goes (needs a free GPU per "
        "surge pod); replace: an old pod goes first (no extra GPU, one replica less meanwhile)",
    )


class ModelSpec(_Strict):
    name: ModelName
    owner: str = Field(min_length=1)
    description: str = Field(min_length=1)
    versions: list[Version] = Field(min_length=1)
    serving: Serving
    resources: Resources
    replicas: Replicas
    autoscaling: Autoscaling = Field(
        description="default: metric requests for a model with GPUs, cpu otherwise"
    )
    batching: Batching = Batching()
    rollout: Rollout = Rollout()
    slo: Slo
    signature: Signature
    gate: Gate

    @model_validator(mode="before")
    @classmethod
    def _default_metric(cls, data: Any) -> Any:
        """The one default that depends on another field: the metric follows GPU use."""
        if not isinstance(data, dict):
            return data
        autoscaling = data.get("autoscaling", {})
        if not isinstance(autoscaling, dict) or "metric" in autoscaling:
            return data
        resources = data.get("resources")
        gpus = resources.get("gpus", 0) if isinstance(resources, dict) else 0
        metric = "requests" if isinstance(gpus, int) and gpus > 0 else "cpu"
        return {**data, "autoscaling": {**autoscaling, "metric": metric}}

    @model_validator(mode="after")
    def _scaling_fits_the_model(self) -> ModelSpec:
        scaling = self.autoscaling
        if scaling.metric == "gpu" and not self.uses_gpus:
            raise ValueError(
                "autoscaling.metric: gpu needs resources.gpus > 0; a CPU model has no GPU "
                "utilisation to scale on"
            )
        if self.replicas.min == 0:
            if not scaling.uses_keda:
                raise ValueError(
                    "replicas.min: 0 (scale to zero) needs a KEDA metric (autoscaling.metric: "
                    "requests or gpu); the cpu metric's HorizontalPodAutoscaler keeps at least 1"
                )
            if scaling.activation is None:
                raise ValueError(
                    "replicas.min: 0 (scale to zero) needs autoscaling.activation: with no pod "
                    "running the model reports no load, so say what demand wakes it"
                )
            if self.serving.canary is not None:
                raise ValueError(
                    "serving.canary: a canary's share is its share of ready pods, which a model "
                    "scaled to zero (replicas.min: 0) does not keep; canary with replicas.min >= 2"
                )
        elif scaling.activation is not None:
            raise ValueError(
                "autoscaling.activation: applies only with replicas.min: 0; KEDA's activation "
                f"decides between 0 and 1 replicas, and this model keeps {self.replicas.min}"
            )
        return self

    @model_validator(mode="after")
    def _replace_keeps_the_disruption_budget(self) -> ModelSpec:
        """`replace` takes one pod of a Deployment down at a time: the PodDisruptionBudget
        (minAvailable = replicas.min - 1, only with replicas.min >= 2) allows exactly one, so one
        Deployment (no canary) of at least two replicas."""
        if self.rollout.strategy != REPLACE:
            return self
        if self.replicas.min < 2:
            raise ValueError(
                f"rollout.strategy: replace takes a pod down before its replacement starts; "
                f"with replicas.min {self.replicas.min} that leaves no replica serving (no "
                "PodDisruptionBudget allows it): replace needs replicas.min >= 2"
            )
        if self.serving.canary is not None:
            raise ValueError(
                "rollout.strategy: replace with a canary can take a pod of each track down at "
                "once, below the PodDisruptionBudget's minAvailable (replicas.min - 1): replace "
                "needs a model without serving.canary"
            )
        return self

    @model_validator(mode="after")
    def _serving_refers_to_declared_versions(self) -> ModelSpec:
        ids = [version.id for version in self.versions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"versions: ids must be unique, got {ids}")
        if self.serving.active not in ids:
            raise ValueError(
                f"serving.active: version {self.serving.active} is not in versions {ids}"
            )
        canary = self.serving.canary
        if canary is not None:
            if canary.version not in ids:
                raise ValueError(
                    f"serving.canary.version: {canary.version} is not in versions {ids}"
                )
            if canary.version == self.serving.active:
                raise ValueError(
                    f"serving.canary.version: {canary.version} is the active version; a canary "
                    "serves a different version"
                )
            canary_split(self.replicas, canary.percent)  # raises when it cannot be expressed
        return self

    @property
    def uses_gpus(self) -> bool:
        return self.resources.gpus > 0

    @property
    def scales_to_zero(self) -> bool:
        return self.replicas.min == 0

    @property
    def served_versions(self) -> list[int]:
        canary = self.serving.canary
        return [self.serving.active] + ([canary.version] if canary else [])


class TrackReplicas(_Strict):
    min: int
    max: int


def canary_split(replicas: Replicas, percent: int) -> tuple[TrackReplicas, TrackReplicas]:
    """Stable and canary replica bounds for a canary share of `percent`.

    Traffic follows the replica ratio behind one Service, so the share must be exact at the
    minimum replica count: 10% needs a minimum of 10 replicas (9 stable + 1 canary), 50% a
    minimum of 2. At the maximum the canary gets the nearest whole number of replicas.
    """
    canary_min, remainder = divmod(replicas.min * percent, 100)
    if remainder or canary_min == 0:
        needed = 100 // math.gcd(100, percent)
        raise ValueError(
            f"serving.canary.percent: {percent}% cannot be expressed with replicas.min "
            f"{replicas.min}; traffic follows the replica ratio, so replicas.min must be a "
            f"multiple of {needed}"
        )
    canary_max = max(canary_min, min(replicas.max - 1, round(replicas.max * percent / 100)))
    stable = TrackReplicas(min=replicas.min - canary_min, max=replicas.max - canary_max)
    canary = TrackReplicas(min=canary_min, max=canary_max)
    return stable, canary
