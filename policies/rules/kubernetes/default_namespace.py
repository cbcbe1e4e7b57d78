from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import POD_TEMPLATE_PATHS, dig, object_name
from policies.support import Rule

# Namespaced kinds the platform creates; cluster-scoped ones (Namespace, CRDs) have no namespace.
NAMESPACED = (
    *POD_TEMPLATE_PATHS,
    "kubernetes:core/v1:Service",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:core/v1:Secret",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:LimitRange",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
)


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type not in NAMESPACED:
        return []
    namespace = dig(props, "metadata", "namespace")
    if not namespace:
        return [f"{object_name(props)}: no namespace, so it lands in the provider's default"]
    if namespace == "default":
        return [f"{object_name(props)}: in the default namespace"]
    return []


RULE = Rule(
    name="default-namespace",
    description="Namespaced objects name their namespace, and it is not `default`.",
    why="`default` carries none of the platform's Pod Security, quota or network policy; an "
    "object without a namespace goes wherever the kubeconfig of the day points.",
    severity=Severity.MEDIUM,
    remediation="Put models in the models namespace and shared services in the platform one.",
    config={},
    check=check,
)
