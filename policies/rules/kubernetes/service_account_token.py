from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import object_name, pod_spec
from policies.support import Rule

SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type == SERVICE_ACCOUNT:
        if props.get("automountServiceAccountToken") is not False:
            return [
                f"{object_name(props)}: service account mounts its token into every pod "
                "(set automountServiceAccountToken false)"
            ]
        return []
    pod = pod_spec(resource_type, props)
    if pod is None or object_name(props) in config["allowedWorkloads"]:
        return []
    if pod.get("automountServiceAccountToken") is not False:
        return [
            f"{object_name(props)}: mounts a service-account token "
            "(set automountServiceAccountToken false)"
        ]
    return []


RULE = Rule(
    name="service-account-token",
    description="Pods and service accounts do not mount an API token unless listed; applies to "
    "every kind with a pod template.",
    why="A model server never calls the Kubernetes API; a mounted token is a credential an "
    "attacker could use against the cluster.",
    severity=Severity.HIGH,
    remediation="ModelService sets automountServiceAccountToken false on the pod and its account; "
    "list workloads that must talk to the API in allowedWorkloads.",
    config={
        "allowedWorkloads": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Names of workloads (e.g. operators from charts) that may mount a token",
        }
    },
    check=check,
)
