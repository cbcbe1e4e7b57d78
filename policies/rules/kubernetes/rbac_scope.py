from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import dig, object_name
from policies.support import Rule

ROLES = (
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
)
BINDINGS = (
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
)
# Verbs that hand out more than they name: escalate, bind and impersonate grant other roles.
ESCALATING_VERBS = ("*", "escalate", "bind", "impersonate")
ADMIN_ROLES = ("cluster-admin", "admin", "edit")


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    name = object_name(props)
    if name in config["allowedNames"]:
        return []
    problems = []
    if resource_type in ROLES:
        for index, rule in enumerate(props.get("rules") or []):
            for field in ("apiGroups", "resources"):
                if "*" in (rule.get(field) or []):
                    problems.append(f"{name}: rule {index} grants every {field[:-1]} (*)")
            verbs = [verb for verb in rule.get("verbs") or [] if verb in ESCALATING_VERBS]
            if verbs:
                problems.append(f"{name}: rule {index} grants {', '.join(verbs)}")
            if "secrets" in (rule.get("resources") or []) and {"get", "list", "watch"} & set(
                rule.get("verbs") or []
            ):
                problems.append(f"{name}: rule {index} reads secrets")
    elif resource_type in BINDINGS:
        role = dig(props, "roleRef", "name")
        if role in ADMIN_ROLES:
            problems.append(f"{name}: binds the built-in {role} role")
        problems += [
            f"{name}: binds {subject.get('name')}, which is everyone"
            for subject in props.get("subjects") or []
            if subject.get("name")
            in ("system:anonymous", "system:unauthenticated", "system:authenticated")
        ]
    return problems


RULE = Rule(
    name="rbac-scope",
    description="Roles name the API groups, resources and verbs they grant (no wildcards, "
    "escalate, bind, impersonate or secret reads); bindings grant no built-in admin role and "
    "never to everyone.",
    why="A model server or chart component holding a broad role turns one compromised pod into "
    "a compromised cluster, GPU nodes and registry credentials included.",
    severity=Severity.HIGH,
    remediation="Grant the verbs on the resources a component needs; list reviewed chart roles "
    "(e.g. an operator's) in allowedNames.",
    config={
        "allowedNames": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Names of reviewed roles and bindings exempt from this rule",
        }
    },
    check=check,
)
