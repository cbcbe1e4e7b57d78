from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig
from policies.support import Rule

ECR_REPOSITORY = "aws:ecr/repository:Repository"


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    if resource_type != ECR_REPOSITORY:
        return []
    name = props.get("name") or "(unnamed)"
    problems = []
    if dig(props, "imageScanningConfiguration", "scanOnPush") is not True:
        problems.append(f"{name}: images are not scanned on push")
    if props.get("imageTagMutability") != "IMMUTABLE":
        problems.append(f"{name}: tags are mutable; a pushed tag could be moved")
    encryption = [e.get("encryptionType") for e in props.get("encryptionConfigurations") or []]
    if "KMS" not in encryption:
        problems.append(f"{name}: not encrypted with a KMS key")
    return problems


RULE = Rule(
    name="ecr-repository",
    description="Model image repositories scan on push, have immutable tags and use KMS.",
    why="Immutable tags are what lets a tag pin an image; scanning and KMS are the baseline.",
    severity=Severity.CRITICAL,
    remediation="Create repositories through the registry component (components/aws/registry.py).",
    config={},
    check=check,
)
