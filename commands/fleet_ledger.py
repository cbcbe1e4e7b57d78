"""The fleet ledger (issue #19, docs/fleet-scale.md, "Fleet-wide rules keep a fleet view"): what
each stack of a split fleet contributes to the fleet-wide policies, and the policy config each
stack's pack runs with.

    python -m commands.fleet_ledger policy-config STACK
        # prints the policy config STACK's pack runs with: policies/config/<platform>.json when
        # the platform's models are all in one stack; when they are split across stacks, the
        # generated build/policy-config-STACK.json (and build/fleet-<platform>.json, the ledger)

Why: a stack policy sees only its own stack's resources. Split, gpu-budget in each models stack
would count only that stack's models, and two stacks that each fit the budget could together
exceed it with every preview passing. So the ledger is computed from the catalog and settings at
the commit being previewed (every model, in whichever stack, previewed or not), with no engine
run and no state read: each model's objects are built by the same pure builders the programs
register (components/serving/builders.py, components/autoscaling/scaled_object.py), the
platform's GPU quota and node groups likewise, and each is read by the very functions the rules
read their own stack with (policies/rules/kubernetes/). So what a rule counts for another stack is
what it would count if that stack's objects were in its own.

Each stack's generated config is its environment's policies/config/<platform>.json plus, for each
fleet-wide rule, what the rest of the fleet takes: gpu-budget and gpu-quota `fleetPeakGpus`,
gpu-quota `fleetQuotas`, rollout-feasibility `fleetHeldGpus` and `fleetRolloutGpus`, and for
a models stack (it has no node groups) the platform's node groups as gpu-budget's and
rollout-feasibility's `gpuCapacity` and gpu-node-match's `nodeGpuTypes`. Each setting's schema
and default are the rule's.

Errors (a bad stacks file, catalog or stack config) print as `error: ...` lines and exit 2.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.autoscaling.scaled_object import prometheus_address, scaled_object
from components.catalog.load import CatalogEntry, load_catalog
from components.facts.yaml_input import InputError
from components.fleet.stacks import (
    fleet_stacks_path,
    load_fleet_stacks,
    models_stack_name,
    stack_role,
)
from components.serving import builders as serving
from components.settings.load import platform_settings
from components.settings.model import AwsSettings, PlatformSettings
from components.target import namespaces
from policies import config_check
from policies.kube import HPA, SCALED_OBJECT
from policies.rules.kubernetes import gpu_budget, gpu_node_match, gpu_quota, rollout_feasibility
from policies.rules.kubernetes.gpu_budget import NODE_GROUP, StackResource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path("policies") / "config"
BUILD = Path("build")
RESOURCE_QUOTA = gpu_quota.RESOURCE_QUOTA
DEPLOYMENT = rollout_feasibility.DEPLOYMENT
# The ledger builds Deployments to read their replicas, GPUs and strategy; no rule it feeds reads
# the image, which the program computes from the registry.
NO_IMAGE = "ledger-reads-no-image"


def model_objects(entry: CatalogEntry, settings: PlatformSettings) -> list[StackResource]:
    """A model's Deployments and their autoscalers (HPA or KEDA ScaledObject), as its program
    builds them and the policy engine hands them over."""
    spec, namespace = entry.spec, settings.models_namespace
    prometheus = prometheus_address(
        settings.autoscaling_prometheus_url, settings.platform_namespace
    )
    images = {version: NO_IMAGE for version in spec.served_versions}
    found: list[StackResource] = []
    for track in serving.tracks(spec, images, entry.startup):
        name = serving.object_name(spec, track.name)
        found.append((DEPLOYMENT, serving.deployment(spec, track, namespace, name), name))
        if spec.autoscaling.uses_keda:
            body = scaled_object(spec, track, namespace, prometheus)
            found.append((SCALED_OBJECT, body, f"{name}-scaledobject"))
        else:
            body = serving.horizontal_pod_autoscaler(spec, track, namespace)
            found.append((HPA, body, f"{name}-autoscaler"))
    return found


def platform_objects(settings: PlatformSettings) -> list[StackResource]:
    """The platform stack's objects the fleet-wide rules read: the models namespace's GPU quota
    (components/target/namespaces.py) and, on AWS, the node groups (components/aws/node_groups.py)
    as the NodeGroups component registers them."""
    found: list[StackResource] = [
        (
            RESOURCE_QUOTA,
            namespaces.gpu_quota(settings.models_namespace, settings.gpu_budget),
            namespaces.GPU_QUOTA_NAME,
        )
    ]
    if isinstance(settings, AwsSettings):
        # Here, not at the top: it imports pulumi-aws, which a local stack's ledger, run before
        # every preview and up, need not pay for.
        from components.aws.node_groups import node_group_specs

        for group in node_group_specs(settings):
            props = {
                "instanceTypes": group.instance_types,
                "scalingConfig": {"maxSize": group.max_size},
                "labels": group.labels,
            }
            found.append((NODE_GROUP, props, group.name))
    return found


@dataclass(frozen=True)
class StackShare:
    """What one stack takes of the fleet: its models, and per namespace the GPUs its workloads
    reach at peak replicas and hold at min replicas."""

    stack: str
    models: tuple[str, ...]
    peak_gpus: Mapping[str, int]
    held_gpus: Mapping[str, int]
    rollout_gpus: Mapping[str, int]
    """GPUs its largest rollout needs free beyond what it holds, per namespace."""


@dataclass(frozen=True)
class FleetLedger:
    platform: str
    shares: tuple[StackShare, ...]
    """The platform stack's first, then the models stacks' in the stacks file's order."""
    quotas: Mapping[str, int]
    """The GPU quota of each namespace, held by the platform stack."""
    node_gpu_capacity: int | None
    """GPUs of the platform's node groups at their maximum sizes; None without GPU node groups."""
    node_gpu_types: tuple[str, ...] | None
    """GPU types the platform's node groups offer; None without node groups (local)."""

    @property
    def split(self) -> bool:
        return len(self.shares) > 1

    def share(self, stack: str) -> StackShare:
        for share in self.shares:
            if share.stack == stack:
                return share
        listed = ", ".join(share.stack for share in self.shares)
        raise pulumi.RunError(f"{stack} is not a stack of the fleet {self.platform} ({listed})")

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "stacks": [
                {
                    "stack": share.stack,
                    "models": list(share.models),
                    "peakGpus": dict(share.peak_gpus),
                    "heldGpus": dict(share.held_gpus),
                    "rolloutGpus": dict(share.rollout_gpus),
                }
                for share in self.shares
            ],
            "quotas": dict(self.quotas),
            "nodeGpuCapacity": self.node_gpu_capacity,
            "nodeGpuTypes": None if self.node_gpu_types is None else list(self.node_gpu_types),
        }


def share_of(stack: str, models: Sequence[str], objects: Sequence[StackResource]) -> StackShare:
    peak: dict[str, int] = {}
    for namespace, _, replicas, gpus in gpu_budget.gpu_workloads(objects):
        peak[namespace] = peak.get(namespace, 0) + replicas * gpus
    held: dict[str, int] = {}
    rollout: dict[str, int] = {}
    for namespace, workload in rollout_feasibility.rollout_workloads(objects):
        _, _, replicas, gpus, _ = workload
        held[namespace] = held.get(namespace, 0) + replicas * gpus
        need = rollout_feasibility.rollout_gpus(workload)
        if need:
            rollout[namespace] = max(need, rollout.get(namespace, 0))
    return StackShare(
        stack,
        tuple(models),
        dict(sorted(peak.items())),
        dict(sorted(held.items())),
        dict(sorted(rollout.items())),
    )


def fleet_ledger(
    platform: str,
    settings: PlatformSettings,
    catalog: Sequence[CatalogEntry],
    models_stacks: Mapping[str, Sequence[str]],
) -> FleetLedger:
    """The ledger of the fleet of `platform`: `models_stacks` maps each models stack's name (as
    in stacks/<platform>.yaml) to its models; every other model of `catalog` is the platform's."""
    by_name = {entry.spec.name: entry for entry in catalog}
    assigned = {model for models in models_stacks.values() for model in models}
    held = {platform: [name for name in by_name if name not in assigned]}
    for name, models in models_stacks.items():
        held[models_stack_name(platform, name)] = list(models)
    shares = []
    for stack, models in held.items():
        objects = [obj for model in models for obj in model_objects(by_name[model], settings)]
        shares.append(share_of(stack, models, objects))
    platform_only = platform_objects(settings)
    offered = gpu_node_match.offered_gpu_types(platform_only)
    return FleetLedger(
        platform=platform,
        shares=tuple(shares),
        quotas={ns: int(hard) for ns, hard in sorted(gpu_quota.gpu_quotas(platform_only).items())},
        node_gpu_capacity=gpu_budget.node_group_capacity(platform_only),
        node_gpu_types=None if offered is None else tuple(sorted(offered)),
    )


def _items(entries: Sequence[tuple[str, Mapping[str, int]]]) -> list[dict[str, Any]]:
    return [
        {"stack": stack, "namespace": namespace, "gpus": gpus}
        for stack, per_namespace in entries
        for namespace, gpus in per_namespace.items()
    ]


def _set(config: dict[str, Any], policy: str, settings: Mapping[str, Any]) -> None:
    """Add `settings` to `policy`'s entry, which may be absent, an enforcement level alone, or an
    object of settings."""
    entry = config.get(policy)
    if isinstance(entry, str):
        entry = {"enforcementLevel": entry}
    config[policy] = {**(entry or {}), **settings}


def stack_policy_config(base: Mapping[str, Any], ledger: FleetLedger, stack: str) -> dict[str, Any]:
    """`base` (the environment's policy config) with what the rest of the fleet takes, as the
    fleet-wide rules of `stack`'s pack read it."""
    ledger.share(stack)  # a stack outside the fleet is an error, not an empty rest
    others = [share for share in ledger.shares if share.stack != stack]
    config = copy.deepcopy(dict(base))
    peak = _items([(share.stack, share.peak_gpus) for share in others])
    held = _items([(share.stack, share.held_gpus) for share in others])
    budget: dict[str, Any] = {gpu_budget.FLEET_PEAK_GPUS: peak}
    feasibility: dict[str, Any] = {
        rollout_feasibility.FLEET_HELD_GPUS: held,
        rollout_feasibility.FLEET_ROLLOUT_GPUS: _items(
            [(share.stack, share.rollout_gpus) for share in others]
        ),
    }
    quota: dict[str, Any] = {gpu_budget.FLEET_PEAK_GPUS: peak}
    node_match: dict[str, Any] = {}
    if stack != ledger.platform:
        # The quota and the node groups are the platform stack's objects, not this stack's.
        quota[gpu_quota.FLEET_QUOTAS] = _items([(ledger.platform, ledger.quotas)])
        if ledger.node_gpu_capacity is not None:
            budget["gpuCapacity"] = feasibility["gpuCapacity"] = ledger.node_gpu_capacity
        if ledger.node_gpu_types is not None:
            node_match[gpu_node_match.NODE_GPU_TYPES] = list(ledger.node_gpu_types)
    _set(config, gpu_budget.RULE.name, budget)
    _set(config, gpu_quota.RULE.name, quota)
    _set(config, rollout_feasibility.RULE.name, feasibility)
    if node_match:
        _set(config, gpu_node_match.RULE.name, node_match)
    return config


def load_ledger(project: Path, platform: str) -> FleetLedger:
    """The ledger of `platform`'s fleet from the project's files as they are (the commit being
    previewed): its stack config, its catalog, its stacks file."""
    settings = platform_settings(project, platform)
    catalog = load_catalog(project / "models", settings.max_gpus_per_pod, settings.node_gpu_types)
    fleet = load_fleet_stacks(project, platform, [entry.spec.name for entry in catalog])
    return fleet_ledger(platform, settings, catalog, fleet.models_stacks)


def policy_config_path(project: Path, stack: str) -> Path:
    """The policy config `stack`'s pack runs with, relative to `project`; generated (with the
    fleet's ledger beside it) when its platform's models are split across stacks."""
    role = stack_role(stack)
    platform = role.platform
    base = CONFIG_DIR / f"{platform}.json"
    if role.models_stack is None and not fleet_stacks_path(project, platform).exists():
        return base  # the one-stack layout: no catalog to read for it
    ledger = load_ledger(project, platform)
    ledger.share(stack)  # a models stack the file does not list is an error, not a fleet of one
    if not ledger.split:
        return base
    config = stack_policy_config(json.loads((project / base).read_text()), ledger, stack)
    (project / BUILD).mkdir(exist_ok=True)
    write_json(project / BUILD / f"fleet-{platform}.json", ledger.to_json())
    generated = BUILD / f"policy-config-{stack}.json"
    write_json(project / generated, config)
    return generated


def write_json(path: Path, value: Any) -> None:
    """Written whole or not at all: `make up` runs two models stacks at once, and each writes the
    fleet's ledger."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)


def main(argv: Sequence[str]) -> int:
    """`policy-config STACK [--check]`: print the path of the policy config STACK's pack runs
    with; with --check, only once policies/config_check.py finds no problem in it (one process
    where `make preview` ran two)."""
    check = "--check" in argv[3:]
    if len(argv) != 3 + check or argv[1] != "policy-config":
        usage = "usage: python -m commands.fleet_ledger policy-config STACK [--check]"
        print(usage, file=sys.stderr)
        return 2
    try:
        path = policy_config_path(PROJECT_ROOT, argv[2])
    except (pulumi.RunError, InputError, OSError) as error:
        # One `error:` line per line: the preview summary quotes them.
        for line in str(error).splitlines():
            print(f"error: fleet ledger: {line}", file=sys.stderr)
        return 2
    if check and config_check.main([str(path)]) != 0:  # make runs in the project
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
