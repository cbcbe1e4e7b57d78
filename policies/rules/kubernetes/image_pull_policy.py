from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import all_containers, object_name, pod_spec
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    return [
        f"{object_name(props)}/{container.get('name')}: imagePullPolicy "
        f"{container['imagePullPolicy']} is not one of {', '.join(config['allowedPolicies'])}"
        for container in all_containers(pod)
        # Unset is IfNotPresent for a pinned tag (image-provenance refuses latest and no tag).
        if container.get("imagePullPolicy") not in (None, *config["allowedPolicies"])
    ]


RULE = Rule(
    name="image-pull-policy",
    description="Containers pull their image as the stack allows (never `Never`); applies to "
    "every kind with a pod template.",
    why="`Never` runs whatever a node happens to hold under that name, unverified by the "
    "registry; GPU nodes are replaced often, so it also fails at random on fresh nodes.",
    severity=Severity.MEDIUM,
    remediation="Leave imagePullPolicy unset (IfNotPresent for a pinned tag) or set IfNotPresent.",
    config={
        "allowedPolicies": {
            "type": "array",
            "items": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
            "default": ["Always", "IfNotPresent"],
            "description": "imagePullPolicy values allowed when set",
        }
    },
    check=check,
)
