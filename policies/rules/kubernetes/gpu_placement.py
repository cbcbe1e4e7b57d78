from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components.facts.gpu import GPU_TAINT_KEY
from components.facts.labels import GPU_NODE_LABEL, GPU_TYPE_LABEL
from policies.kube import dig, object_name, pod_spec
from policies.rules.kubernetes.gpu_resources import gpus_per_pod
from policies.support import Rule


def selected_node_labels(pod: Mapping[str, Any]) -> set[str]:
    """Node label keys a pod requires, by nodeSelector or required node affinity."""
    keys = set((pod.get("nodeSelector") or {}).keys())
    terms = (
        dig(
            pod,
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
            "nodeSelectorTerms",
        )
        or []
    )
    for term in terms:
        for expression in term.get("matchExpressions") or []:
            if expression.get("operator") == "In":
                keys.add(expression.get("key"))
    return keys


def tolerates_gpu_taint(pod: Mapping[str, Any]) -> bool:
    return any(
        t.get("key") == GPU_TAINT_KEY or (t.get("operator") == "Exists" and not t.get("key"))
        for t in pod.get("tolerations") or []
    )


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    name = object_name(props)
    labels = selected_node_labels(pod)
    if gpus_per_pod(pod):
        problems = []
        if not {GPU_NODE_LABEL, GPU_TYPE_LABEL} & labels:
            problems.append(
                f"{name}: asks for GPUs but does not select GPU nodes ({GPU_TYPE_LABEL})"
            )
        if not tolerates_gpu_taint(pod):
            problems.append(
                f"{name}: asks for GPUs but does not tolerate the {GPU_TAINT_KEY} taint"
            )
        return problems
    if tolerates_gpu_taint(pod) or {GPU_NODE_LABEL, GPU_TYPE_LABEL} & labels:
        return [f"{name}: asks for no GPU but may land on GPU nodes; they are kept for GPU pods"]
    return []


RULE = Rule(
    name="gpu-placement",
    description="GPU pods select a GPU node group and tolerate its taint; others stay off it.",
    why="GPU nodes are the most expensive capacity; a CPU pod there wastes a GPU.",
    severity=Severity.HIGH,
    remediation=(
        "Let ModelService place pods (components/facts/gpu.py); add no GPU toleration by hand."
    ),
    config={},
    check=check,
)
