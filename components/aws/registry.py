"""The image registry of a dev or prod stack: one ECR repository per model.

Each repository scans on push, refuses to overwrite a tag (IMMUTABLE: a tag names one image
forever, as the `v<version>-<digest>` tags promise), keeps the newest `keep` images, is encrypted
with the stack's registry KMS key, and grants pulls to the node role only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.tokens import renamed, type_token


def repository_name(prefix: str, model: str) -> str:
    """'gpu-model-platform-dev', 'iris' -> 'gpu-model-platform-dev/iris'."""
    return f"{prefix}/{model}"


def registry_host(account_id: str, region: str, partition: str) -> str:
    """ECR's registry host, known before any repository exists, so image references (and the
    image-provenance policy that reads them) are known at preview."""
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"


def lifecycle_policy(keep: int) -> dict[str, Any]:
    """Expire all but the newest `keep` images, tagged or not."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the newest {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }


@dataclass(frozen=True)
class EcrRegistryArgs:
    prefix: str
    """Repository name prefix, e.g. the cluster name: repositories are '<prefix>/<model>'."""
    models: Sequence[str]
    keep: int
    """Images each repository keeps."""
    node_role_arn: pulumi.Input[str]
    """The only principal the repositories grant pulls to."""
    account_id: str
    region: str
    partition: str


class EcrRegistry(pulumi.ComponentResource):
    repository_urls: dict[str, pulumi.Output[str]]
    """URL of each model's repository."""
    prefixes: dict[str, str]
    """Image repository prefix of each model, as ModelService takes it."""
    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: EcrRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            type_token("aws", EcrRegistry),
            name,
            None,
            renamed(opts, "registry:EcrRegistry"),
        )
        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=True)
        root = iam.account_root_arn(args.partition, args.account_id)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encryption of the model images in ECR {args.prefix}/*",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(iam.kms_key_policy(root)),
            opts=protected,
        )
        aws.kms.Alias(
            f"{name}-key", name=f"alias/{args.prefix}-ecr", target_key_id=key.key_id, opts=child
        )
        pull_policy = pulumi.Output.from_input(args.node_role_arn).apply(
            lambda arn: json.dumps(iam.ecr_pull_policy(arn))
        )
        self.repository_urls = {}
        self.prefixes = {}
        for model in args.models:
            repository = aws.ecr.Repository(
                f"{name}-{model}",
                name=repository_name(args.prefix, model),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(
                        encryption_type="KMS", kms_key=key.arn
                    )
                ],
                opts=protected,
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{model}",
                repository=repository.name,
                policy=json.dumps(lifecycle_policy(args.keep)),
                opts=child,
            )
            aws.ecr.RepositoryPolicy(
                f"{name}-{model}", repository=repository.name, policy=pull_policy, opts=child
            )
            self.repository_urls[model] = repository.repository_url
            self.prefixes[model] = (
                f"{registry_host(args.account_id, args.region, args.partition)}/{args.prefix}"
            )
        self.key_arn = key.arn
        self.register_outputs(
            {
                "repositoryUrls": self.repository_urls,
                "prefixes": self.prefixes,
                "keyArn": self.key_arn,
            }
        )
