"""The EKS cluster of a dev or prod stack, and the one Kubernetes provider built from it.

Control plane at the pinned KUBERNETES_VERSION; API endpoint private, public access off or limited
to configured networks; Kubernetes secrets envelope-encrypted with a KMS key of its own; every
control-plane log type to CloudWatch with a set retention; an OIDC provider for IAM roles for
service accounts (used by the VPC CNI); and access entries (API authentication mode) for the
admin roles in config, and for nobody else: the creator gets no implicit admin.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws import iam
from components.facts.versions import KUBERNETES_VERSION
from components.tokens import renamed, type_token

# Every control-plane log type EKS offers: the audit and authenticator logs are the ones an
# incident needs; api, controllerManager and scheduler explain what the cluster did.
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The VPC CNI's service account, which assumes its IRSA role.
VPC_CNI_SERVICE_ACCOUNT = ("kube-system", "aws-node")


def cluster_name(project: str, stack: str) -> str:
    return f"{project}-{stack}"


def control_plane_log_group(name: str) -> str:
    """The log group EKS writes to; created beforehand so that its retention is ours to set."""
    return f"/aws/eks/{name}/cluster"


def role_name_of(arn: str) -> str:
    """'arn:aws:iam::111122223333:role/team/admin' -> 'team-admin', for resource names."""
    return arn.partition(":role/")[2].replace("/", "-")


def oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    """The cluster's OIDC issuer URL, from its `identities` output."""
    oidcs = identities[0].oidcs if identities else None
    if not oidcs or not oidcs[0].issuer:
        raise ValueError("the EKS cluster reports no OIDC issuer")
    return oidcs[0].issuer


def kubeconfig(name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig (JSON) for the cluster that gets a token from `aws eks get-token` on every use,
    with the credentials of whoever runs Pulumi: no token or key is stored in it, or in state."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": endpoint,
                        "certificate-authority-data": certificate_authority,
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class EksClusterArgs:
    cluster_name: str
    region: str
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets: the control plane's network interfaces."""
    public_access_cidrs: list[str]
    """Networks that may reach the public API endpoint; empty turns the public endpoint off."""
    service_cidr: str | None
    """CIDR of Kubernetes Services; None lets EKS choose."""
    admin_roles: list[str]
    """IAM role ARNs given cluster-admin through access entries."""
    log_retention_days: int
    account_id: str
    partition: str
    deletion_protection: bool
    """EKS's own deletion protection, on top of Pulumi's `protect` (prod)."""


class EksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    secrets_key_arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    """The stack's one Kubernetes provider, usable once the admin access entries exist."""
    vpc_cni: aws.eks.Addon
    """Nodes need it (and its IRSA role) before they join."""

    def __init__(
        self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("aws", EksCluster),
            name,
            None,
            renamed(opts, "cluster:EksCluster"),
        )
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=True)

        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=json.dumps(iam.service_trust_policy("eks.amazonaws.com")),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-cluster-role-{policy}",
                role=role.name,
                policy_arn=iam.managed_policy_arn(args.partition, policy),
                opts=child,
            )
            for policy in iam.MANAGED_POLICIES["cluster"]
        ]

        root = iam.account_root_arn(args.partition, args.account_id)
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in EKS {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=role.arn.apply(
                lambda arn: json.dumps(
                    iam.kms_key_policy(
                        root, {"ClusterEncryptsSecrets": (arn, iam.EKS_SECRETS_KEY_ACTIONS)}
                    )
                )
            ),
            opts=protected,
        )
        aws.kms.Alias(
            f"{name}-secrets-key",
            name=f"alias/{args.cluster_name}-eks-secrets",
            target_key_id=key.key_id,
            opts=child,
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=control_plane_log_group(args.cluster_name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )

        network = (
            aws.eks.ClusterKubernetesNetworkConfigArgs(service_ipv4_cidr=args.service_cidr)
            if args.service_cidr
            else None
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            version=KUBERNETES_VERSION,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=bool(args.public_access_cidrs),
                public_access_cidrs=list(args.public_access_cidrs) or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            kubernetes_network_config=network,
            deletion_protection=args.deletion_protection,
            # The role needs its policies while EKS creates the cluster, and the log group must
            # exist first or EKS creates it without a retention.
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[logs, *attachments]),
        )
        issuer = cluster.identities.apply(oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            opts=child,
        )

        access = []
        for arn in args.admin_roles:
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{role_name_of(arn)}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                opts=child,
            )
            access.append(
                aws.eks.AccessPolicyAssociation(
                    f"{name}-admin-{role_name_of(arn)}",
                    cluster_name=cluster.name,
                    principal_arn=arn,
                    policy_arn=iam.access_policy_arn(
                        args.partition, iam.CLUSTER_ADMIN_ACCESS_POLICY
                    ),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
                )
            )

        cni_namespace, cni_account = VPC_CNI_SERVICE_ACCOUNT
        cni_role = aws.iam.Role(
            f"{name}-vpc-cni-role",
            assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
                lambda values: json.dumps(
                    iam.irsa_trust_policy(values[0], values[1], cni_namespace, cni_account)
                )
            ),
            opts=child,
        )
        cni_attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-vpc-cni-role-{policy}",
                role=cni_role.name,
                policy_arn=iam.managed_policy_arn(args.partition, policy),
                opts=child,
            )
            for policy in iam.MANAGED_POLICIES["vpc-cni"]
        ]
        # The managed add-on takes over the aws-node DaemonSet EKS bootstraps, with the IRSA role
        # instead of the node role. Its version is EKS's default for the cluster version.
        self.vpc_cni = aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name="vpc-cni",
            service_account_role_arn=cni_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=cni_attachments),
        )

        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = oidc.arn
        self.secrets_key_arn = key.arn
        self.kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority.data
        ).apply(lambda values: kubeconfig(str(values[0]), values[1], values[2], args.region))
        # Without the access entries the API refuses the deployer: wait for them.
        self.provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=access),
        )
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "oidcProviderArn": self.oidc_provider_arn,
                "secretsKeyArn": self.secrets_key_arn,
                "kubeconfig": self.kubeconfig,
                "provider": self.provider,
                "vpcCni": self.vpc_cni,
            }
        )
