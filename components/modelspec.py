"""`models/<name>/model.yaml`: one pydantic model validates every model's spec.

The spec says what a model is (signature, versions, gate) and how it is served (active version,
canary, resources, replicas, batching, SLO). Its defaults live here and nowhere else. Rules that
depend on the stack (GPUs per pod) are checked by components.catalog, which knows the stack.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from components.gpu import GpuType
from components.types import CpuQuantity, DnsLabel, MemoryQuantity

# Objects are named `<model>-<track>-<kind>`, and Kubernetes names are DNS labels of 63 characters.
MAX_MODEL_NAME_LENGTH = 40


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
    min: PositiveInt
    max: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Autoscaling(_Strict):
    # Only CPU for now; a GPU-utilisation or latency metric needs a metrics adapter (monitoring).
    metric: Literal["cpu"] = "cpu"
    target_utilization: int = Field(default=70, ge=10, le=100, description="percent of requests")


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


class ModelSpec(_Strict):
    name: DnsLabel = Field(max_length=MAX_MODEL_NAME_LENGTH)
    owner: str = Field(min_length=1)
    description: str = Field(min_length=1)
    versions: list[Version] = Field(min_length=1)
    serving: Serving
    resources: Resources
    replicas: Replicas
    autoscaling: Autoscaling = Autoscaling()
    batching: Batching = Batching()
    slo: Slo
    signature: Signature
    gate: Gate

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
