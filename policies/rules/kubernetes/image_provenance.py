from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import Severity

from policies.kube import all_containers, object_name, pod_spec
from policies.support import Rule


def split_reference(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    repository, _, digest = image.partition("@")
    last = repository.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        repository, tag = repository.rsplit(":", 1)
    return repository, tag, digest or None


def under(repository: str, prefixes: Sequence[str]) -> bool:
    """Whether a repository sits below one of the prefixes (shell wildcards allowed)."""
    return any(fnmatchcase(repository, prefix.rstrip("/") + "/*") for prefix in prefixes)


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    problems = []
    allowed, immutable = config["allowedRegistries"], config["immutableTagRegistries"]
    for container in all_containers(pod):
        where = f"{object_name(props)}/{container.get('name')}"
        image = str(container.get("image"))
        repository, tag, digest = split_reference(image)
        if not under(repository, allowed):
            problems.append(f"{where}: image {image} is not from an allowed registry")
        # Without a tag or digest the runtime pulls `latest`: one violation, whichever was written.
        moving = digest is None and tag in (None, "latest")
        if moving or tag == "latest":
            problems.append(f"{where}: image {image} uses the moving tag 'latest'")
        if digest is None and config["requireDigest"]:
            problems.append(
                f"{where}: image {image} is not pinned by digest, which this stack requires"
            )
        elif digest is None and not moving and not under(repository, immutable):
            problems.append(
                f"{where}: image {image} is neither pinned by digest nor in a registry with "
                "immutable tags"
            )
    return problems


RULE = Rule(
    name="image-provenance",
    description="Images (init and ephemeral containers too) come from the stack's registry or an "
    "allow-list, with an explicit tag or digest, never `latest`; by digest where the stack "
    "requires it. Applies to every kind with a pod template.",
    why="What runs must be what was reviewed and gated; a moving tag can change it silently.",
    severity=Severity.CRITICAL,
    remediation="Deploy models through ModelService, which tags images with their content digest.",
    config={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Registry prefixes images may come from; shell wildcards allowed",
        },
        "immutableTagRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Registry prefixes whose tags cannot be moved (e.g. IMMUTABLE ECR)",
        },
        "requireDigest": {
            "type": "boolean",
            "default": False,
            "description": "Every image must be pinned by digest (@sha256:...), tag or not",
        },
    },
    check=check,
)
