"""IAM and KMS policy documents, as plain JSON-ready dicts built by pure functions.

Least privilege: every action is named (no `kms:*`, no `ecr:*`), principals are the roles this
stack creates, and the only AWS-managed policies attached are those EKS documents as the minimum
for its cluster, node and VPC CNI roles (MANAGED_POLICIES). A `Resource: "*"` in a key policy
means "this key", the only resource a key policy can speak of.
"""

from __future__ import annotations

from typing import Any

POLICY_VERSION = "2012-10-17"

# AWS-managed policies, by the role that needs them (EKS user guide: cluster IAM role, node IAM
# role, and the VPC CNI's IRSA role). The CNI policy is given to the aws-node service account
# through IRSA instead of to every node.
MANAGED_POLICIES = {
    "cluster": ("AmazonEKSClusterPolicy",),
    # PullOnly: the kubelet pulls the built-in add-ons' images from AWS's ECR accounts, and the
    # model images from this stack's repositories.
    "node": ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"),
    "vpc-cni": ("AmazonEKS_CNI_Policy",),
}
# EKS access policy given to each of the stack's admin roles.
CLUSTER_ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"

# What an administrator of a key may do with it: manage it, never use it to encrypt or decrypt.
KMS_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
# The EKS control plane (as the cluster role) encrypting and decrypting Kubernetes secrets.
EKS_SECRETS_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:ListGrants")
# What a node needs from an image repository to pull: nothing to push, list or delete.
ECR_PULL_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
# What a node needs to pull an image through the cache for the first time: ECR imports it from
# upstream and creates its repository as the caller (ECR user guide, pull through cache IAM).
ECR_PULL_THROUGH_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository")
# What ECR, as the repository creation template's role, needs to create a cached repository with
# the template's tags and KMS key (ECR user guide, repository creation template IAM role).
ECR_REPOSITORY_CREATION_ACTIONS = ("ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource")
ECR_REPOSITORY_CREATION_KMS_ACTIONS = ("kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant")


def partition_of(region: str) -> str:
    """The ARN partition of a region: 'aws', or 'aws-cn' / 'aws-us-gov' for those regions."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def access_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def account_root_arn(partition: str, account_id: str) -> str:
    """The account as a principal: delegates to the account's IAM policies, grants nobody alone."""
    return f"arn:{partition}:iam::{account_id}:root"


def service_trust_policy(service: str) -> dict[str, Any]:
    """Trust policy of a role that the AWS service `service` (e.g. eks.amazonaws.com) assumes."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def irsa_trust_policy(
    oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """Trust policy of a role that exactly one Kubernetes service account assumes (IRSA)."""
    issuer = issuer_url.removeprefix("https://")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def kms_key_policy(
    account_root: str, users: dict[str, tuple[str, tuple[str, ...]]] | None = None
) -> dict[str, Any]:
    """Key policy: the account administers the key (through its IAM policies) and lets AWS services
    create the grants they use it through (EKS for secrets, ECR for images); each of `users`
    (statement id -> (principal ARN, actions)) may use it for exactly those actions."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": account_root},
            "Action": list(KMS_ADMIN_ACTIONS),
            "Resource": "*",
        },
        {
            # EKS and ECR create a grant on the key, with the caller's permissions, when the
            # cluster or repository is created; the condition allows no grant for anything else.
            "Sid": "AwsServicesCreateGrants",
            "Effect": "Allow",
            "Principal": {"AWS": account_root},
            "Action": ["kms:CreateGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]
    for sid, (principal, actions) in (users or {}).items():
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": list(actions),
                "Resource": "*",
            }
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def ecr_pull_policy(node_role_arn: str) -> dict[str, Any]:
    """Repository policy: the node role pulls; no other principal is granted anything here."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "NodesPull",
                "Effect": "Allow",
                "Principal": {"AWS": node_role_arn},
                "Action": list(ECR_PULL_ACTIONS),
            }
        ],
    }


def ecr_repositories_arn(partition: str, region: str, account_id: str, prefix: str) -> str:
    """Every repository under `prefix/`."""
    return f"arn:{partition}:ecr:{region}:{account_id}:repository/{prefix}/*"


def pull_through_node_policy(repositories: list[str]) -> dict[str, Any]:
    """Identity policy of the node role: import and create, on the cache's repositories only."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "NodesPullThroughTheCache",
                "Effect": "Allow",
                "Action": list(ECR_PULL_THROUGH_ACTIONS),
                "Resource": repositories,
            }
        ],
    }


def repository_creation_policy(repositories: list[str], key_arn: str) -> dict[str, Any]:
    """Identity policy of the role ECR creates cached repositories with: those repositories, and
    grants on the registry's key to encrypt them."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "CreateCachedRepositories",
                "Effect": "Allow",
                "Action": list(ECR_REPOSITORY_CREATION_ACTIONS),
                "Resource": repositories,
            },
            {
                "Sid": "EncryptThemWithTheRegistryKey",
                "Effect": "Allow",
                "Action": list(ECR_REPOSITORY_CREATION_KMS_ACTIONS),
                "Resource": key_arn,
            },
        ],
    }


def actions_of(document: dict[str, Any]) -> list[str]:
    """Every action a policy document names, for checks such as "no wildcard actions"."""
    actions: list[str] = []
    for statement in document["Statement"]:
        named = statement.get("Action", [])
        actions += [named] if isinstance(named, str) else list(named)
    return actions
