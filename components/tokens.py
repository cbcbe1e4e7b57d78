"""Type tokens of the platform's components: `gpu-model-platform:<area>:<Class>`, the area being
the subpackage the class lives in, and what a component was called before it was renamed or
moved.

A component's type is part of its URN and of every child's URN, so renaming one would make the
engine replace the component and everything under it. `renamed` gives the component an alias of
its old type, and the engine moves the state instead (children inherit the alias). Its parent is
part of the URN too: `moved` gives a component that left its parent an alias of where it was.
"""

from __future__ import annotations

import pulumi

PACKAGE = "gpu-model-platform"


def type_token(area: str, component: type) -> str:
    return f"{PACKAGE}:{area}:{component.__name__}"


def renamed(opts: pulumi.ResourceOptions | None, *old_types: str) -> pulumi.ResourceOptions:
    """`opts` plus aliases of the component's earlier type tokens, each as `<area>:<Type>`."""
    aliases: list[pulumi.Alias | str] = [
        pulumi.Alias(type_=f"{PACKAGE}:{old}") for old in old_types
    ]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))


def moved(
    opts: pulumi.ResourceOptions | None,
    former_name: str,
    former_parent: str,
    *former_types: tuple[str, str],
) -> pulumi.ResourceOptions:
    """`opts` plus aliases of the component as the child `former_name` of the top-level component
    named `former_parent`, one per (parent type, own type) pair it was registered under, each as
    `<area>:<Type>`."""
    aliases: list[pulumi.Alias | str] = [
        pulumi.Alias(
            name=former_name,
            type_=f"{PACKAGE}:{own}",
            parent=pulumi.create_urn(former_parent, f"{PACKAGE}:{parent}"),
        )
        for parent, own in former_types
    ]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))


# A model's ModelMonitoring and ScaledObjects sit under the platform's MonitoringStack and
# KedaAutoscaling in the platform stack, and at the top level in a models stack
# (programs/models.py, whose aliases take them from the platform). The platform registers them
# with this alias too, so a model moved back into the platform stack (`pulumi state move`,
# commands/fleet.py) is taken for the same resources instead of being replaced (their children
# inherit it; docs/fleet-scale.md, section 5).
AT_A_MODELS_STACK_TOP_LEVEL = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)
