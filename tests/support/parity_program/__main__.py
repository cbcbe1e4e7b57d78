"""Each fixture in fixtures.json as its own resource, with its props exactly as written, so the
policy pack sees them the way the engine delivers any program's values.

Kubernetes objects are real resources of a render-mode Kubernetes provider (nothing is applied,
the provider's own input checks still run); AWS objects are registered as component resources of
the same type, because the AWS provider cannot run here: the engine hands a component's inputs to
the pack through the same path, and registers them as its outputs too, which stack policies
read. The fixtures' unknown marker becomes an unknown Output."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

HERE = Path(__file__).resolve().parent


def unknown() -> pulumi.Output[Any]:
    loop = asyncio.get_event_loop()
    value, known = loop.create_future(), loop.create_future()
    value.set_result(None)
    known.set_result(False)
    return pulumi.Output(set(), value, known)


def with_unknowns(value: Any) -> Any:
    if value == UNKNOWN_STRING_VALUE:
        return unknown()
    if isinstance(value, dict):
        return {key: with_unknowns(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_unknowns(item) for item in value]
    return value


provider = k8s.Provider("render", render_yaml_to_directory=str(HERE / "rendered"))
for fixture in json.loads((HERE / "fixtures.json").read_text()):
    props = with_unknowns(fixture["props"])
    if fixture["type"].startswith("kubernetes:"):
        options = pulumi.ResourceOptions(provider=provider, protect=fixture["protect"])
        pulumi.CustomResource(fixture["type"], fixture["id"], props, opts=options)
    else:
        options = pulumi.ResourceOptions(protect=fixture["protect"])
        component = pulumi.ComponentResource(fixture["type"], fixture["id"], props, opts=options)
        # Stack policies read resources' outputs; a provider's preview echoes the inputs.
        component.register_outputs(props)
