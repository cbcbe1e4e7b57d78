from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.support import Rule


def check(
    resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any], protected: bool
) -> list[str]:
    if resource_type not in config["protectedTypes"] or protected:
        return []
    return [f"{resource_type} is not protected: a stray `pulumi destroy` would delete it"]


RULE = Rule(
    name="protect-critical",
    description="The cluster, node groups, registries and KMS keys carry Pulumi's `protect`.",
    why="Losing one of them loses every model's serving, images or encrypted secrets at once.",
    severity=Severity.HIGH,
    remediation="Register them with ResourceOptions(protect=True), as the AWS components do.",
    config={
        "protectedTypes": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "aws:eks/cluster:Cluster",
                "aws:eks/nodeGroup:NodeGroup",
                "aws:ecr/repository:Repository",
                "aws:kms/key:Key",
            ],
            "description": "Resource types that must be protected",
        }
    },
    check=check,
    reads_protect=True,
)
