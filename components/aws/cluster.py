"""The AWS cluster path of dev and prod: network, EKS, node groups and ECR, all through one explicit
AWS provider pinned to the stack's account and region. (The NVIDIA device plugin, which makes the
GPU nodes advertise their GPUs, runs in the node agents' namespace, so it is created after the
platform's namespaces: components.target.cluster.)

What the rest of the program needs from it is what it needs from the local cluster: the one
Kubernetes provider, and where each model's images live (here, its ECR repository).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components.aws import iam
from components.aws.eks import EksCluster, EksClusterArgs, cluster_name
from components.aws.network import Network, NetworkArgs
from components.aws.node_groups import NodeGroups, NodeGroupsArgs, NodeGroupSpec, node_group_specs
from components.aws.registry import EcrRegistry, EcrRegistryArgs, repository_prefix
from components.facts.mirrors import DOCKER_HUB, GITHUB, ecr_registry_host
from components.settings.load import PROJECT
from components.settings.model import AwsSettings
from components.tokens import renamed, type_token


def default_tags(environment: str, stack: str) -> dict[str, str]:
    """Tags the AWS provider puts on every resource it creates."""
    return {
        "project": PROJECT,
        "environment": environment,
        "pulumi-stack": stack,
        "managed-by": "pulumi",
    }


@dataclass(frozen=True)
class AwsClusterArgs:
    environment: str
    stack: str
    account_id: str
    region: str
    cluster_name: str
    network: NetworkArgs
    public_access_cidrs: list[str]
    service_cidr: str | None
    admin_roles: list[str]
    log_retention_days: int
    node_groups: list[NodeGroupSpec]
    models: Sequence[str]
    """One ECR repository each."""
    images_kept: int
    build_images: bool
    """Images are built and pushed by this program: it then needs push credentials for ECR."""
    cache_credentials: dict[str, str]
    """Pull-through cache credentials' secret ARNs by upstream host."""

    @classmethod
    def from_settings(
        cls, settings: AwsSettings, models: Sequence[str], stack: str
    ) -> AwsClusterArgs:
        name = cluster_name(PROJECT, stack)
        return cls(
            environment=settings.environment,
            stack=stack,
            account_id=settings.aws_account_id,
            region=settings.aws_region,
            cluster_name=name,
            network=NetworkArgs.from_settings(settings, name),
            public_access_cidrs=list(settings.endpoint_public_access_cidrs),
            service_cidr=settings.service_cidr,
            admin_roles=list(settings.cluster_admin_roles),
            log_retention_days=settings.control_plane_log_retention_days,
            node_groups=node_group_specs(settings),
            models=list(models),
            images_kept=settings.image_versions_kept,
            build_images=settings.build_images,
            cache_credentials={
                DOCKER_HUB.host: settings.docker_hub_credential_arn,
                GITHUB.host: settings.github_credential_arn,
            },
        )


def aws_provider(name: str, args: AwsClusterArgs, opts: pulumi.ResourceOptions) -> aws.Provider:
    """An AWS provider pinned to the stack's account and region, tagging what it creates."""
    return aws.Provider(
        name,
        region=args.region,
        allowed_account_ids=[args.account_id],
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(args.environment, args.stack)),
        opts=opts,
    )


def ecr_push_credentials(args: AwsClusterArgs, provider: aws.Provider) -> docker.RegistryArgs:
    """Push credentials for the stack's ECR registry; short-lived, fetched on every run."""
    token = aws.ecr.get_authorization_token_output(
        registry_id=args.account_id, opts=pulumi.InvokeOutputOptions(provider=provider)
    )
    return docker.RegistryArgs(
        server=ecr_registry_host(args.account_id, args.region),
        username=token.user_name,
        password=pulumi.Output.secret(token.password),
    )


def ecr_registry_prefix(args: AwsClusterArgs) -> str:
    """The repository prefix of every model's images (EcrRegistry.prefixes)."""
    return repository_prefix(args.account_id, args.region, args.cluster_name)


class AwsCluster(pulumi.ComponentResource):
    mode: str
    cluster_name: pulumi.Output[str]
    network: Network
    eks: EksCluster
    node_groups: NodeGroups
    registry: EcrRegistry
    registry_credentials: docker.RegistryArgs | None
    """Push credentials for ECR when images are built here; short-lived, fetched on every run."""

    def __init__(
        self, name: str, args: AwsClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("aws", AwsCluster),
            name,
            None,
            renamed(opts, "cluster:AwsCluster"),
        )
        provider = aws_provider(f"{name}-aws", args, pulumi.ResourceOptions(parent=self))
        # Children inherit the provider, and pass it on to theirs.
        within = pulumi.ResourceOptions(parent=self, providers={"aws": provider})
        partition = iam.partition_of(args.region)

        self.network = Network(f"{name}-network", args.network, opts=within)
        self.eks = EksCluster(
            f"{name}-eks",
            EksClusterArgs(
                cluster_name=args.cluster_name,
                region=args.region,
                subnet_ids=self.network.private_subnet_ids,
                public_access_cidrs=args.public_access_cidrs,
                service_cidr=args.service_cidr,
                admin_roles=args.admin_roles,
                log_retention_days=args.log_retention_days,
                account_id=args.account_id,
                partition=partition,
                deletion_protection=args.environment == "prod",
            ),
            opts=within,
        )
        self.node_groups = NodeGroups(
            f"{name}-nodes",
            NodeGroupsArgs(
                cluster_name=self.eks.name,
                subnet_ids=self.network.private_subnet_ids,
                partition=partition,
                groups=args.node_groups,
                after=[self.eks.vpc_cni],
            ),
            opts=within,
        )
        self.registry = EcrRegistry(
            f"{name}-registry",
            EcrRegistryArgs(
                prefix=args.cluster_name,
                models=args.models,
                keep=args.images_kept,
                node_role_arn=self.node_groups.node_role_arn,
                account_id=args.account_id,
                region=args.region,
                partition=partition,
                node_role_name=self.node_groups.node_role_name,
                credentials=args.cache_credentials,
            ),
            opts=within,
        )
        self.registry_credentials = (
            ecr_push_credentials(args, provider) if args.build_images else None
        )

        self.mode = "eks"
        self.cluster_name = self.eks.name
        self.register_outputs(
            {
                "mode": self.mode,
                "clusterName": self.cluster_name,
                "provider": self.eks.provider,
                "repositoryUrls": self.registry.repository_urls,
            }
        )

    @property
    def provider(self) -> k8s.Provider:
        """The stack's one Kubernetes provider."""
        return self.eks.provider

    @property
    def serving_prerequisites(self) -> list[pulumi.Resource]:
        """What model and chart pods need of this cluster before they can run: nodes, and the
        pull-through cache their chart images come through. (GPUs advertised on GPU nodes, the
        device plugin, come on top: components.target.cluster.with_device_plugin.)"""
        return [self.node_groups, *self.registry.pull_through]
