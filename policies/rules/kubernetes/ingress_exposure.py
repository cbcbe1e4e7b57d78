from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from policies.kube import object_name
from policies.support import Rule

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def _ingress(name: str, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    problems = []
    if spec.get("ingressClassName") not in config["allowedClasses"]:
        problems.append(f"{name}: ingress class {spec.get('ingressClassName')} is not allowed")
    secured = {host for tls in spec.get("tls") or [] for host in tls.get("hosts") or []}
    for rule in spec.get("rules") or []:
        host = rule.get("host")
        if not host:
            problems.append(f"{name}: a rule without host answers for every name")
        elif str(host).startswith("*"):
            problems.append(f"{name}: wildcard host {host}")
        elif host not in secured:
            problems.append(f"{name}: host {host} is served without TLS")
    if spec.get("defaultBackend"):
        problems.append(f"{name}: a default backend answers for every name")
    return problems


def _gateway(name: str, spec: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    problems = []
    if spec.get("gatewayClassName") not in config["allowedClasses"]:
        problems.append(f"{name}: gateway class {spec.get('gatewayClassName')} is not allowed")
    for listener in spec.get("listeners") or []:
        if listener.get("protocol") not in ("HTTPS", "TLS"):
            problems.append(
                f"{name}: listener {listener.get('name')} is {listener.get('protocol')}, not TLS"
            )
        if not listener.get("hostname") or str(listener.get("hostname")).startswith("*"):
            problems.append(f"{name}: listener {listener.get('name')} answers for every host")
    return problems


def check(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    spec = props.get("spec") or {}
    if resource_type == INGRESS:
        return _ingress(object_name(props), spec, config)
    if resource_type == GATEWAY:
        return _gateway(object_name(props), spec, config)
    return []


RULE = Rule(
    name="ingress-exposure",
    description="Ingresses and Gateways use an allowed class and serve named hosts over TLS "
    "only (no wildcard host, no default backend).",
    why="Model endpoints answer with predictions bought with GPU time: exposure goes through the "
    "platform's authenticating ingress, encrypted, for names someone reviewed.",
    severity=Severity.HIGH,
    remediation="Use the platform's ingress class with a TLS secret per host.",
    config={
        "allowedClasses": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["platform"],
            "description": "Ingress and Gateway classes models may be exposed through",
        }
    },
    check=check,
)
