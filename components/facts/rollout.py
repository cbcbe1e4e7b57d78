"""Rollout strategies and the arithmetic of their GPU needs (issue #17), shared by the serving
builders (the Deployment's strategy), the preview summary and the `rollout-feasibility` policy, so
all three say the same.

A RollingUpdate with `maxUnavailable: 0` starts its new pods before the old ones go: at its peak
a model holds its old pods and `maxSurge` new ones. On full GPU nodes those surge pods stay
Pending (`Insufficient nvidia.com/gpu`) and the rollout stalls. `replace` (maxSurge 0,
maxUnavailable 1) needs no GPU beyond what the model holds, at the price of one replica less
while each pod is replaced, which the PodDisruptionBudget (minAvailable = replicas.min - 1)
allows only when the model keeps at least two replicas in one Deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

RolloutStrategy = Literal["surge", "replace"]
SURGE: Final = "surge"
REPLACE: Final = "replace"
ROLLING_UPDATE: Final[dict[str, dict[str, int]]] = {
    # A new pod must be ready before an old one goes: capacity never drops.
    SURGE: {"maxUnavailable": 0, "maxSurge": 1},
    # An old pod goes first, then its replacement starts on the GPU it freed.
    REPLACE: {"maxUnavailable": 1, "maxSurge": 0},
}
# Kubernetes' default maxSurge when a RollingUpdate names none.
DEFAULT_MAX_SURGE: Final = "25%"

# When `pulumi up` may call a Deployment's rollout done (its `pulumi.com/waitFor` annotation,
# labels.WAIT_FOR_ANNOTATION): `kubectl rollout status`'s rule. Every replica the Deployment now
# wants runs the new template, no old pod is left, and every one is available; or it wants none
# and has none (a model KEDA scaled to zero). The Kubernetes provider checks first that the
# controller has observed the Deployment's generation (.status.observedGeneration), so status from
# before the update cannot satisfy it. The provider's own Deployment await (pulumi-kubernetes 4.25,
# await/deployment.go) does not check that for apps/v1: read right after the update, before the
# controller has bumped the revision, the old ReplicaSet's readiness counted as the rollout's, and
# a rollout that never became ready was reported done (seen in a run of the suite: `up`
# succeeded in 0.7 s while version 1's pods stayed unready). spec.replicas is read from the live
# object, where the HPA sets it. The expression is RFC 9535 JSONPath, as the provider parses
# it: a filter over .metadata's members selects them all or none, so it holds exactly when the
# predicate does.
# Written without blanks: the provider's parser (github.com/theory/jsonpath v0.9.0) skips blank
# space before the first `&&` or `||` of a run only, and refused the spaced form.
ROLLOUT_COMPLETE: Final = (
    "jsonpath={.metadata[?("
    "$.status.updatedReplicas==$.spec.replicas&&$.status.replicas==$.spec.replicas"
    "&&$.status.availableReplicas==$.spec.replicas"
    ")||($.spec.replicas==0&&!$.status.replicas)]}"
)
REMEDY: Final = (
    "set `rollout.strategy: replace` in its model.yaml (maxSurge 0, maxUnavailable 1: each old "
    "pod goes before its replacement starts, so the rollout needs no free GPU; allowed with "
    "replicas.min >= 2 and no canary, so the PodDisruptionBudget's minAvailable holds), or add "
    "GPU capacity"
)


def surge_pods(rolling_update: Mapping[str, object] | None, replicas: int) -> int:
    """Pods a RollingUpdate runs beside the old ones at its peak: maxSurge as a count (an int, or
    the float the engine delivers to policies), or as a percentage of `replicas` rounded up
    (Kubernetes' rule)."""
    value = (rolling_update or {}).get("maxSurge", DEFAULT_MAX_SURGE)
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(float(str(value)))


@dataclass(frozen=True)
class RolloutNeed:
    """What one model's rollout asks of the GPU nodes at its peak, against what is free there."""

    model: str
    surge_pods: int
    canary_pods: int
    """Pods of a canary the change adds: they start beside everything else."""
    gpus_per_pod: int
    capacity: int | None
    """GPUs of the nodes the model's pods may land on; None when unknown (render mode)."""
    held: int
    """GPUs every model holds at its minimum replicas, this one included, before the rollout."""

    @property
    def need(self) -> int:
        return (self.surge_pods + self.canary_pods) * self.gpus_per_pod

    @property
    def free(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.held)

    @property
    def fits(self) -> bool | None:
        return None if self.free is None else self.need <= self.free

    def pods_text(self) -> str:
        parts = []
        if self.surge_pods:
            parts.append(f"{self.surge_pods} surge pod{'s' if self.surge_pods != 1 else ''}")
        if self.canary_pods:
            parts.append(f"{self.canary_pods} canary pod{'s' if self.canary_pods != 1 else ''}")
        pods = " + ".join(parts) or "no extra pod"
        return f"{pods} x {self.gpus_per_pod} GPU = {self.need} GPU{'s' if self.need != 1 else ''}"

    def verdict(self) -> str:
        """One line: *fits*, *will stall* with the remedy, or what is known without capacity."""
        if self.need == 0:
            return "fits: the rollout needs no GPU beyond what the model holds"
        if self.free is None:
            return (
                f"capacity unknown (no cluster or node groups to read): the rollout needs "
                f"{self.need} GPU{'s' if self.need != 1 else ''} free beyond the {self.held} the "
                "models hold at min replicas"
            )
        said = f"needs {self.pods_text()}, {self.free} of {self.capacity} free"
        if self.fits:
            return f"fits: {said}"
        return f"will stall: {said} (new pods stay Pending); remedy: {REMEDY}"
