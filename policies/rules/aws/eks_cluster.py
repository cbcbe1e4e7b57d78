from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig
from policies.support import Rule

EKS_CLUSTER = "aws:eks/cluster:Cluster"


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != EKS_CLUSTER:
        return []
    name = props.get("name") or "(unnamed)"
    problems = []
    if dig(props, "vpcConfig", "endpointPublicAccess") is not False:
        cidrs = dig(props, "vpcConfig", "publicAccessCidrs") or ["0.0.0.0/0"]
        if "0.0.0.0/0" in cidrs:
            problems.append(f"{name}: the API endpoint is public to 0.0.0.0/0")
    encrypted = [
        resource
        for entry in _as_list(props.get("encryptionConfig"))
        for resource in entry.get("resources") or []
    ]
    if "secrets" not in encrypted:
        problems.append(f"{name}: secrets are not envelope-encrypted with a KMS key")
    missing = sorted(
        set(config["requiredLogTypes"]) - set(props.get("enabledClusterLogTypes") or [])
    )
    if missing:
        problems.append(f"{name}: control-plane logs off: {', '.join(missing)}")
    return problems


def _as_list(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    return list(value or [])


RULE = Rule(
    name="eks-cluster",
    description="The EKS endpoint is private or CIDR-limited, secrets are KMS-encrypted, and the "
    "control plane logs.",
    why="The API server holds every credential of the platform; its exposure and audit trail "
    "are the first things an auditor asks for.",
    severity=Severity.CRITICAL,
    remediation="Set endpointPublicAccessCidrs in the stack file; keep the cluster component's "
    "encryption and logging.",
    config={
        "requiredLogTypes": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["api", "audit", "authenticator"],
            "description": "Control-plane log types that must be enabled",
        }
    },
    check=check,
)
