"""Only gated images in the models namespace, enforced by the API server itself.

The gate and the image-provenance policy check images at preview; a `kubectl apply` afterwards
bypasses both. A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA since Kubernetes
1.30) and its binding make the API server refuse, in the models namespace only, any pod or
workload whose containers run an image that is not one of the gated versions' images: exactly
the references components.serving.builders.image_reference gives every version the catalog has
verified against its gate record. The platform's own namespaces are not matched.

Pure: plain dicts, registered by components.serving.admission_component.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from components.facts import labels

POLICY_NAME = "gpu-model-platform-gated-images"
# Kubernetes sets this label on every namespace to its name (since 1.21): the binding selects the
# models namespace by it, so no label of ours is needed and no other namespace can match.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# Every kind that carries a pod template, and pods themselves (also their ephemeral containers,
# which `kubectl debug` adds through a subresource). A Deployment with an ungated image is refused
# when applied, not only its pods later.
MATCHED_RESOURCES = (
    ("", "v1", ("pods", "pods/ephemeralcontainers")),
    ("apps", "v1", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", "v1", ("jobs", "cronjobs")),
)


def _pod_spec(root: str) -> str:
    """CEL: the pod spec of whichever kind `root` (object or oldObject) is."""
    return (
        f"({root}.kind == 'Pod' ? {root}.spec : "
        f"{root}.kind == 'CronJob' ? {root}.spec.jobTemplate.spec.template.spec : "
        f"{root}.spec.template.spec)"
    )


def _images_of(spec: str) -> str:
    """CEL: every image of a pod spec's containers, init containers and ephemeral containers."""
    return (
        f"{spec}.containers.map(c, c.image)"
        f" + (has({spec}.initContainers) ? {spec}.initContainers.map(c, c.image) : [])"
        f" + (has({spec}.ephemeralContainers) ? {spec}.ephemeralContainers.map(c, c.image) : [])"
    )


def allowed_images_literal(images: Iterable[str]) -> str:
    """The allow-list as a CEL list literal: JSON strings are valid CEL strings."""
    return "[" + ", ".join(json.dumps(image) for image in sorted(set(images))) + "]"


def policy(images: Iterable[str]) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy admitting only `images` (the gated versions' references)."""
    owned = {labels.PART_OF: labels.PART_OF_VALUE, labels.MANAGED_BY: labels.MANAGED_BY_VALUE}
    return {
        "metadata": {"name": POLICY_NAME, "labels": owned},
        "spec": {
            # An expression the API server cannot evaluate refuses the request: fail closed.
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": [version],
                        "resources": list(resources),
                        "operations": ["CREATE", "UPDATE"],
                    }
                    for group, version, resources in MATCHED_RESOURCES
                ]
            },
            "variables": [
                {"name": "allowed", "expression": allowed_images_literal(images)},
                {"name": "spec", "expression": _pod_spec("object")},
                {"name": "images", "expression": _images_of("variables.spec")},
                # An update that brings no new image passes: the controllers scale and relabel
                # ReplicaSets and pods of versions that have left the allow-list, and must keep
                # doing so while those go away.
                {
                    "name": "previous",
                    "expression": (
                        "request.operation == 'UPDATE' ? "
                        + _images_of(_pod_spec("oldObject"))
                        + " : []"
                    ),
                },
                {
                    "name": "ungated",
                    "expression": (
                        "variables.images.filter(i, !(i in variables.allowed)"
                        " && !(i in variables.previous))"
                    ),
                },
            ],
            "validations": [
                {
                    "expression": "variables.ungated.size() == 0",
                    "messageExpression": (
                        "'image ' + variables.ungated.join(', ') + ' is not a gated model "
                        "version: the models namespace admits only images of versions whose gate "
                        "passed (models/<name>/gate/<version>.json); run `make models` and deploy "
                        "through the stack'"
                    ),
                    "reason": "Forbidden",
                }
            ],
        },
    }


def binding(namespace: str) -> dict[str, Any]:
    """The binding that enforces the policy in the models namespace, and nowhere else."""
    owned = {labels.PART_OF: labels.PART_OF_VALUE, labels.MANAGED_BY: labels.MANAGED_BY_VALUE}
    return {
        "metadata": {"name": POLICY_NAME, "labels": owned},
        "spec": {
            "policyName": POLICY_NAME,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}
            },
        },
    }
