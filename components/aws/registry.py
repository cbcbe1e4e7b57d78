"""The image registry of a dev or prod stack: one ECR repository per model, and a pull-through
cache of the upstream registries the charts' images come from.

Each model repository scans on push, refuses to overwrite a tag (IMMUTABLE: a tag names one image
forever, as the `v<version>-<digest>` tags promise), keeps the newest `keep` images, is encrypted
with the stack's registry KMS key, and grants pulls to the node role only.

The cache: one pull-through cache rule per upstream in components.facts.mirrors, and one
repository creation template per rule prefix, so that each repository ECR creates on a first pull
is as the model repositories are: IMMUTABLE, scanned on push, KMS-encrypted with the same key,
pruned, pulled by the node role. nvcr.io has no cache (ECR does not support it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam
from components.facts.mirrors import PULL_THROUGH_UPSTREAMS, Upstream, ecr_registry_host
from components.tokens import renamed, type_token


def repository_name(prefix: str, model: str) -> str:
    """'gpu-model-platform-dev', 'iris' -> 'gpu-model-platform-dev/iris'."""
    return f"{prefix}/{model}"


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
    node_role_name: pulumi.Input[str]
    """The node role, which gets the right to pull through the cache."""
    credentials: dict[str, str]
    """Secrets Manager secret ARN by upstream host, for upstreams that need one."""


def repository_prefix(account_id: str, region: str, prefix: str) -> str:
    """Where every model's repository is: `<registry host>/<prefix>`."""
    return f"{ecr_registry_host(account_id, region)}/{prefix}"


class EcrRegistry(pulumi.ComponentResource):
    repository_urls: dict[str, pulumi.Output[str]]
    """URL of each model's repository."""
    prefixes: dict[str, str]
    """Image repository prefix of each model, as ModelService takes it."""
    key_arn: pulumi.Output[str]
    cache_prefixes: dict[str, str]
    """ECR repository prefix of each cached upstream host."""
    pull_through: list[pulumi.Resource]
    """The cache rules and the node role's right to use them: what a chart's first pull needs."""

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
            self.prefixes[model] = repository_prefix(args.account_id, args.region, args.prefix)
        self.key_arn = key.arn
        self.cache_prefixes = {u.host: u.prefix for u in PULL_THROUGH_UPSTREAMS}
        self.pull_through = self._pull_through_cache(name, args, key, pull_policy)
        self.register_outputs(
            {
                "repositoryUrls": self.repository_urls,
                "prefixes": self.prefixes,
                "keyArn": self.key_arn,
                "cachePrefixes": self.cache_prefixes,
            }
        )

    def _pull_through_cache(
        self,
        name: str,
        args: EcrRegistryArgs,
        key: aws.kms.Key,
        pull_policy: pulumi.Output[str],
    ) -> list[pulumi.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        cached = [
            iam.ecr_repositories_arn(args.partition, args.region, args.account_id, u.prefix)
            for u in PULL_THROUGH_UPSTREAMS
        ]
        creator = aws.iam.Role(
            f"{name}-cache-creator",
            description="ECR creates the pull-through cache's repositories with this role",
            assume_role_policy=json.dumps(iam.service_trust_policy("ecr.amazonaws.com")),
            opts=child,
        )
        creator_policy = aws.iam.RolePolicy(
            f"{name}-cache-creator",
            role=creator.name,
            policy=key.arn.apply(
                lambda arn: json.dumps(iam.repository_creation_policy(cached, arn))
            ),
            opts=child,
        )
        made: list[pulumi.Resource] = [
            aws.iam.RolePolicy(
                f"{name}-pull-through",
                role=args.node_role_name,
                policy=json.dumps(iam.pull_through_node_policy(cached)),
                opts=child,
            )
        ]
        for upstream in PULL_THROUGH_UPSTREAMS:
            template = aws.ecr.RepositoryCreationTemplate(
                f"{name}-cache-{upstream.prefix}",
                prefix=upstream.prefix,
                applied_fors=["PULL_THROUGH_CACHE"],
                description=f"Repositories of the {upstream.host} pull-through cache",
                image_tag_mutability="IMMUTABLE",
                encryption_configurations=[
                    aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                        encryption_type="KMS", kms_key=key.arn
                    )
                ],
                lifecycle_policy=json.dumps(lifecycle_policy(args.keep)),
                repository_policy=pull_policy,
                custom_role_arn=creator.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[creator_policy]),
            )
            made.append(
                aws.ecr.PullThroughCacheRule(
                    f"{name}-cache-{upstream.prefix}",
                    ecr_repository_prefix=upstream.prefix,
                    upstream_registry_url=upstream.url,
                    credential_arn=_credential(upstream, args.credentials),
                    # A first pull must find the template, or ECR creates a default repository.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[template]),
                )
            )
        return made


def _credential(upstream: Upstream, credentials: dict[str, str]) -> str | None:
    """The secret ARN of an upstream that needs credentials (by its host); None for the others."""
    if upstream.credential_key is None:
        return None
    if upstream.host not in credentials:
        raise ValueError(f"no {upstream.credential_key} given for the {upstream.host} cache")
    return credentials[upstream.host]
