"""The managed node groups of a dev or prod stack: one CPU "system" group, and GPU groups whose
labels and taint come from components.facts.gpu, which the serving stacks and policies read too.

All groups run in the private subnets with one node role that carries only what EKS documents as
a node's minimum (components.aws.iam.MANAGED_POLICIES["node"]); the VPC CNI's permissions are on its
own IRSA role instead. No cluster autoscaler runs yet: desiredSize is what runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.facts.gpu import GPU_AMI_TYPE, GpuType, gpu_node_group_taint, gpu_node_labels
from components.facts.versions import KUBERNETES_VERSION
from components.settings.aws import GpuNodeGroup, SystemNodeGroup
from components.settings.model import AwsSettings
from components.tokens import renamed, type_token

SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"
SYSTEM_GROUP = "system"


@dataclass(frozen=True)
class NodeGroupSpec:
    """What one managed node group is, independent of Pulumi."""

    name: str
    instance_types: list[str]
    ami_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    gpu_type: GpuType | None = None


def system_group_spec(group: SystemNodeGroup) -> NodeGroupSpec:
    return NodeGroupSpec(
        name=SYSTEM_GROUP,
        instance_types=list(group.instance_types),
        ami_type=SYSTEM_AMI_TYPE,
        min_size=group.min_size,
        desired_size=group.desired_size,
        max_size=group.max_size,
        disk_size_gib=group.disk_size_gib,
    )


def gpu_group_spec(group: GpuNodeGroup) -> NodeGroupSpec:
    """A GPU group: NVIDIA AMI, the GPU node labels of its GPU type, and the GPU taint."""
    return NodeGroupSpec(
        name=f"gpu-{group.name}",
        instance_types=list(group.instance_types),
        ami_type=GPU_AMI_TYPE,
        min_size=group.min_size,
        desired_size=group.desired_size,
        max_size=group.max_size,
        disk_size_gib=group.disk_size_gib,
        labels=gpu_node_labels(group.gpu_type),
        taints=[gpu_node_group_taint()],
        gpu_type=group.gpu_type,
    )


def node_group_specs(settings: AwsSettings) -> list[NodeGroupSpec]:
    return [system_group_spec(settings.system_node_group)] + [
        gpu_group_spec(group) for group in settings.gpu_node_groups
    ]


@dataclass(frozen=True)
class NodeGroupsArgs:
    cluster_name: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets, one per zone."""
    partition: str
    groups: list[NodeGroupSpec]
    after: Sequence[pulumi.Resource]
    """What nodes need before they join (the VPC CNI add-on with its IRSA role)."""


class NodeGroups(pulumi.ComponentResource):
    node_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    groups: dict[str, aws.eks.NodeGroup]
    gpu_types: dict[str, GpuType]
    """GPU type of each GPU group, by group name."""

    def __init__(
        self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("aws", NodeGroups),
            name,
            None,
            renamed(opts, "cluster:NodeGroups"),
        )
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(iam.service_trust_policy("ec2.amazonaws.com")),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{policy}",
                role=role.name,
                policy_arn=iam.managed_policy_arn(args.partition, policy),
                opts=child,
            )
            for policy in iam.MANAGED_POLICIES["node"]
        ]
        self.groups = {}
        for spec in args.groups:
            self.groups[spec.name] = aws.eks.NodeGroup(
                f"{name}-{spec.name}",
                cluster_name=args.cluster_name,
                node_role_arn=role.arn,
                subnet_ids=list(args.subnet_ids),
                version=KUBERNETES_VERSION,
                ami_type=spec.ami_type,
                capacity_type="ON_DEMAND",
                instance_types=spec.instance_types,
                disk_size=spec.disk_size_gib,
                labels=spec.labels or None,
                taints=[aws.eks.NodeGroupTaintArgs(**taint) for taint in spec.taints] or None,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=spec.min_size,
                    desired_size=spec.desired_size,
                    max_size=spec.max_size,
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                # Nodes fail to join without the role's policies or the CNI: create them first,
                # and on destroy remove the nodes before them.
                opts=pulumi.ResourceOptions(
                    parent=self, protect=True, depends_on=[*attachments, *args.after]
                ),
            )
        self.node_role_arn = role.arn
        self.node_role_name = role.name
        self.gpu_types = {s.name: s.gpu_type for s in args.groups if s.gpu_type is not None}
        self.register_outputs(
            {
                "nodeRoleArn": self.node_role_arn,
                "nodeRoleName": self.node_role_name,
                "groups": {key: group.node_group_name for key, group in self.groups.items()},
                "gpuTypes": self.gpu_types,
            }
        )
