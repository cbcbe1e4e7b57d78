"""Where each Kubernetes object of a stack's state lives on a cluster: the API server's own
discovery (group, version, plural, namespaced) turns an object's apiVersion, kind, namespace and
name into the path to GET it, so a test can check every object the engine says it made, or says
it deleted, without a table of kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolchain.plane.api import Api, ApiError


@dataclass(frozen=True)
class StateObject:
    """One Kubernetes object as the stack's checkpoint records it."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def state_objects(state: dict[str, Any]) -> list[StateObject]:
    """The Kubernetes objects of an exported checkpoint (providers and components left out)."""
    found = []
    for resource in state["deployment"].get("resources") or []:
        outputs = resource.get("outputs") or {}
        if not resource["type"].startswith("kubernetes:") or "kind" not in outputs:
            continue
        if resource["type"].startswith(("kubernetes:helm.sh/", "pulumi:providers:")):
            continue
        metadata = outputs.get("metadata") or {}
        found.append(
            StateObject(
                outputs["apiVersion"], outputs["kind"], metadata.get("namespace"), metadata["name"]
            )
        )
    return found


class Discovery:
    """Kind to path, as the API server serves them; groups read once, on first use."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.known: dict[tuple[str, str], tuple[str, bool]] = {}

    def _learn(self, api_version: str) -> None:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        for resource in self.api.get(prefix)["resources"]:
            if "/" not in resource["name"]:  # not a subresource such as pods/status
                self.known[(api_version, resource["kind"])] = (
                    f"{prefix}/{{namespaces}}{resource['name']}",
                    resource["namespaced"],
                )

    def path(self, obj: StateObject) -> str:
        if (obj.api_version, obj.kind) not in self.known:
            self._learn(obj.api_version)
        template, namespaced = self.known[(obj.api_version, obj.kind)]
        namespaces = f"namespaces/{obj.namespace}/" if namespaced else ""
        return template.format(namespaces=namespaces) + f"/{obj.name}"

    def exists(self, obj: StateObject) -> bool:
        try:
            self.api.get(self.path(obj))
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True


# Cluster-scoped kinds a chart or the program could leave behind, by the path listing them.
CLUSTER_SCOPED = {
    "Namespace": "/api/v1/namespaces",
    "CustomResourceDefinition": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "ValidatingWebhookConfiguration": (
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
    ),
    "MutatingWebhookConfiguration": (
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    ),
    "ValidatingAdmissionPolicy": (
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
    ),
    "ValidatingAdmissionPolicyBinding": (
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
    ),
    "APIService": "/apis/apiregistration.k8s.io/v1/apiservices",
    "PriorityClass": "/apis/scheduling.k8s.io/v1/priorityclasses",
}


def cluster_scoped(api: Api) -> set[str]:
    """Every cluster-scoped object of those kinds, as `Kind name`."""
    return {
        f"{kind} {item['metadata']['name']}"
        for kind, path in CLUSTER_SCOPED.items()
        for item in api.get(path)["items"]
    }
