"""One policy per module; ALL is the pack, in the order docs/policies.md lists it."""

from policies.rules import (
    autoscaler_bounds,
    container_resources,
    disruption_budget,
    ecr_repository,
    eks_cluster,
    gpu_budget,
    gpu_placement,
    gpu_resources,
    image_provenance,
    pod_security,
    probes,
    protect_critical,
    service_exposure,
    serving_completeness,
    topology_spread,
)
from policies.support import Rule

ALL: list[Rule] = [
    container_resources.RULE,
    gpu_resources.RULE,
    gpu_placement.RULE,
    gpu_budget.RULE,
    image_provenance.RULE,
    pod_security.RULE,
    probes.RULE,
    disruption_budget.RULE,
    autoscaler_bounds.RULE,
    topology_spread.RULE,
    service_exposure.RULE,
    serving_completeness.RULE,
    ecr_repository.RULE,
    eks_cluster.RULE,
    protect_critical.RULE,
]
