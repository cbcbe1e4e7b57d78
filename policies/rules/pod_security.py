from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import containers, dig, object_name, pod_spec
from policies.support import Rule


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    pod = pod_spec(resource_type, props)
    if pod is None:
        return []
    name = object_name(props)
    problems = [
        f"{name}: uses the host's {field[4:].lower()} namespace"
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if pod.get(field)
    ]
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(
            f"{name}: mounts a service-account token (set automountServiceAccountToken false)"
        )
    problems += [
        f"{name}: mounts hostPath volume {volume.get('name')}"
        for volume in pod.get("volumes") or []
        if "hostPath" in volume
    ]
    pod_context = pod.get("securityContext") or {}
    for container in containers(pod):
        where = f"{name}/{container.get('name')}"
        context = container.get("securityContext") or {}

        def setting(key: str, context: Mapping[str, Any] = context) -> Any:
            return context.get(key, pod_context.get(key))

        if setting("runAsNonRoot") is not True:
            problems.append(f"{where}: may run as root (runAsNonRoot is not true)")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allows privilege escalation")
        if context.get("privileged"):
            problems.append(f"{where}: is privileged")
        if "ALL" not in (dig(context, "capabilities", "drop") or []):
            problems.append(f"{where}: does not drop ALL capabilities")
        if (
            dig(context, "seccompProfile", "type") or dig(pod_context, "seccompProfile", "type")
        ) not in (
            "RuntimeDefault",
            "Localhost",
        ):
            problems.append(f"{where}: has no RuntimeDefault seccomp profile")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        problems += [
            f"{where}: binds host port {port.get('hostPort')}"
            for port in container.get("ports") or []
            if port.get("hostPort")
        ]
    return problems


RULE = Rule(
    name="pod-security",
    description="Pods meet the restricted Pod Security Standard, read-only root and no token.",
    why="A model server parses untrusted input; if it is compromised, it must hold no privileges.",
    severity=Severity.CRITICAL,
    remediation="Use the security context ModelService builds (components/serving.py).",
    config={},
    check=check,
)
