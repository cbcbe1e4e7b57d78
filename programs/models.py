"""A models stack: the serving stack, monitoring and KEDA ScaledObjects of the models that
`stacks/<platform stack>.yaml` assigns to it, on the platform stack's cluster.

It runs with the platform stack's config file (one home for every setting), reads the platform
stack's outputs through a StackReference, and needs it applied first: namespaces, CRDs and the
admission allow-list are the platform's (`make up` applies the platform before its models stacks).

Resources that a models stack receives by `pulumi state move` from the platform stack keep their
URNs' parent types (docs/fleet-scale.md, section 5): those declared here at the top level carry
an alias of where they were, so the engine takes them for what they are instead of planning
their replacement.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import outputs
from components.autoscaling.component import (
    KedaAutoscaling,
    KedaAutoscalingArgs,
    register_scaled_objects,
)
from components.catalog.folders import model_names
from components.catalog.load import load_catalog
from components.fleet.stacks import StackRole, load_fleet_stacks
from components.monitoring.component import MonitoringStack
from components.monitoring.model_component import ModelMonitoring, ModelMonitoringArgs
from components.serving.component import ModelService, ModelServiceArgs
from components.settings.load import load_settings
from components.target.cluster import models_stack_cluster
from components.tokens import type_token

# Where the platform program registers these (programs/platform.py): the parents a moved
# ModelMonitoring or ScaledObject had there.
PLATFORM_MONITORING = ("monitoring", type_token("monitoring", MonitoringStack))
PLATFORM_AUTOSCALING = ("autoscaling", type_token("autoscaling", KedaAutoscaling))


def formerly_under(parent: tuple[str, str]) -> pulumi.ResourceOptions:
    name, type_ = parent
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(parent=pulumi.create_urn(name, type_))])


def run(project: Path, role: StackRole) -> None:
    # The platform stack's settings: the stack runs with its config file (--config-file).
    settings = load_settings(source=f"Pulumi.{role.platform}.yaml")
    # Only this stack's models are loaded and validated: a broken model elsewhere fails its own
    # stack and the platform (which admits every model's images), not this one; and each models
    # stack of a fleet of 100 would otherwise verify the gates of all 100.
    names = model_names(project / "models")
    held = set(load_fleet_stacks(project, role.platform, names).held_by(role, names))
    here = load_catalog(
        project / "models", settings.max_gpus_per_pod, settings.node_gpu_types, only=held
    )

    platform = pulumi.StackReference(
        "platform", stack_name=f"organization/{pulumi.get_project()}/{role.platform}"
    )
    cluster = models_stack_cluster(settings, role.platform, platform, [e.spec.name for e in here])
    services = {
        entry.spec.name: ModelService(
            entry.spec.name, ModelServiceArgs.from_settings(settings, entry, cluster)
        )
        for entry in here
    }
    alerts = {
        entry.spec.name: ModelMonitoring(
            f"{entry.spec.name}-monitoring",
            ModelMonitoringArgs(entry.spec, settings.models_namespace, cluster.provider),
            opts=formerly_under(PLATFORM_MONITORING),
        ).alert_names
        for entry in here
    }
    keda = KedaAutoscalingArgs.from_settings(settings, cluster.provider, [e.spec for e in here])
    scaled_objects = {}
    for entry in here:
        opts = pulumi.ResourceOptions.merge(
            formerly_under(PLATFORM_AUTOSCALING), pulumi.ResourceOptions(provider=cluster.provider)
        )
        found = register_scaled_objects(entry.spec, keda, opts)
        if found:
            scaled_objects[entry.spec.name] = found

    pulumi.export(outputs.PLATFORM_STACK, role.platform)
    pulumi.export(
        outputs.MODELS,
        {name: {"versions": s.versions, "images": s.images} for name, s in services.items()},
    )
    pulumi.export(outputs.MONITORING, {"alerts": alerts})
    pulumi.export(outputs.AUTOSCALING, {"scaledObjects": scaled_objects})
