"""The dev and prod stacks under Pulumi mocks, from the real Pulumi.dev.yaml and Pulumi.prod.yaml:
every security- and GPU-relevant property of what they register."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.aws import device_plugin, iam
from components.aws.eks import CONTROL_PLANE_LOG_TYPES
from components.facts import gpu, labels, mirrors
from components.facts.namespaces import NODE_AGENTS_NAMESPACE
from components.facts.versions import KUBERNETES_VERSION
from components.settings.load import parse_settings
from components.settings.model import AwsSettings
from tests.support.mocks import RecordingMocks, run_program, stack_config

STACKS = ("dev", "prod")
MODELS = {"digits", "iris"}
Resource = pulumi.runtime.MockResourceArgs


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[str, AwsSettings, RecordingMocks]]:
    name: str = request.param
    config = stack_config(name)
    settings = parse_settings(config, f"Pulumi.{name}.yaml")
    assert isinstance(settings, AwsSettings)
    yield name, settings, run_program(config, stack=name)


HELM_TEMPLATE = "kubernetes:helm:template"


def one(mocks: RecordingMocks, typ: str) -> Resource:
    (resource,) = mocks.of_type(typ)
    return resource


def device_plugin_chart(mocks: RecordingMocks) -> Resource:
    (chart,) = [
        r
        for r in mocks.of_type("kubernetes:helm.sh/v4:Chart")
        if r.inputs["chart"] == device_plugin.CHART
    ]
    return chart


def policy(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else dict(document)


def test_the_cluster_is_eks_at_the_pinned_version_with_a_private_endpoint(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, settings, mocks = stack
    cluster = one(mocks, "aws:eks/cluster:Cluster")
    assert cluster.inputs["name"] == f"gpu-model-platform-{name}"
    assert cluster.inputs["version"] == KUBERNETES_VERSION
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    # Public access is off, or limited to the configured networks; never the whole internet.
    assert vpc["endpointPublicAccess"] == bool(settings.endpoint_public_access_cidrs)
    assert vpc.get("publicAccessCidrs", []) == settings.endpoint_public_access_cidrs
    assert "0.0.0.0/0" not in vpc.get("publicAccessCidrs", [])
    private = {r.name for r in mocks.of_type("aws:ec2/subnet:Subnet") if "private" in r.name}
    assert {s.removesuffix("-id") for s in vpc["subnetIds"]} == private
    assert cluster.inputs["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES)
    assert cluster.inputs["deletionProtection"] is (name == "prod")


def test_secrets_are_envelope_encrypted_with_the_stacks_own_rotated_key(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    cluster = one(mocks, "aws:eks/cluster:Cluster")
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    keys = {r.name: r for r in mocks.of_type("aws:kms/key:Key")}
    assert encryption["provider"]["keyArn"].endswith("key/aws-eks-secrets-key-key-id")
    key = keys["aws-eks-secrets-key"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in policy(key.inputs["policy"])["Statement"]}
    cluster_role = next(
        r for r in mocks.of_type("aws:iam/role:Role") if r.name == "aws-eks-cluster-role"
    )
    assert statements["ClusterEncryptsSecrets"]["Principal"]["AWS"].endswith(
        f"role/{cluster_role.name}"
    )
    assert cluster.inputs["roleArn"].endswith(f"role/{cluster_role.name}")


def test_control_plane_logs_go_to_a_log_group_with_the_configured_retention(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, settings, mocks = stack
    logs = one(mocks, "aws:cloudwatch/logGroup:LogGroup")
    assert logs.inputs["name"] == f"/aws/eks/gpu-model-platform-{name}/cluster"
    assert logs.inputs["retentionInDays"] == settings.control_plane_log_retention_days
    cluster = mocks.registration(one(mocks, "aws:eks/cluster:Cluster"))
    assert mocks.registration(logs).urn in cluster.dependencies


def test_access_is_by_api_entries_for_the_configured_admin_roles_only(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    access = one(mocks, "aws:eks/cluster:Cluster").inputs["accessConfig"]
    assert access == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    entries = mocks.of_type("aws:eks/accessEntry:AccessEntry")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted(settings.cluster_admin_roles)
    associations = mocks.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(a.inputs["principalArn"] for a in associations) == sorted(
        settings.cluster_admin_roles
    )
    for association in associations:
        assert association.inputs["policyArn"] == (
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        )
        assert association.inputs["accessScope"] == {"type": "cluster"}


def test_an_oidc_provider_backs_irsa_and_the_vpc_cni_uses_it(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    oidc = one(mocks, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"].startswith("https://oidc.eks.")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    cni = one(mocks, "aws:eks/addon:Addon")
    assert cni.inputs["addonName"] == "vpc-cni"
    role = next(r for r in mocks.of_type("aws:iam/role:Role") if r.name == "aws-eks-vpc-cni-role")
    assert cni.inputs["serviceAccountRoleArn"].endswith(f"role/{role.name}")
    (statement,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"]["Federated"].endswith(oidc.inputs["url"].removeprefix("https://"))
    issuer = oidc.inputs["url"].removeprefix("https://")
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:kube-system:aws-node",
        f"{issuer}:aud": "sts.amazonaws.com",
    }


def test_gpu_node_groups_carry_the_gpu_labels_and_taint_of_components_gpu(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    groups = {r.name: r for r in mocks.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"aws-nodes-system"} | {
        f"aws-nodes-gpu-{g.name}" for g in settings.gpu_node_groups
    }
    private = sorted(
        f"{r.name}-id" for r in mocks.of_type("aws:ec2/subnet:Subnet") if "private" in r.name
    )
    for group in settings.gpu_node_groups:
        node_group = groups[f"aws-nodes-gpu-{group.name}"].inputs
        assert node_group["amiType"] == gpu.GPU_AMI_TYPE == "AL2023_x86_64_NVIDIA"
        assert node_group["instanceTypes"] == group.instance_types
        assert all(
            gpu.gpu_type_of_instance(t) == group.gpu_type for t in node_group["instanceTypes"]
        )
        assert node_group["labels"] == gpu.gpu_node_labels(group.gpu_type)
        assert node_group["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
        ]
        # The taint nodes end up with is exactly the one serving pods tolerate.
        assert node_group["taints"][0]["key"] == gpu.gpu_toleration()["key"]
        assert gpu.EKS_TAINT_EFFECT[gpu.gpu_toleration()["effect"]] == "NO_SCHEDULE"
        assert node_group["scalingConfig"] == {
            "minSize": group.min_size,
            "desiredSize": group.desired_size,
            "maxSize": group.max_size,
        }
        assert sorted(node_group["subnetIds"]) == private
        assert node_group["version"] == KUBERNETES_VERSION


def test_the_system_group_is_cpu_only_untainted_and_in_the_private_subnets(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    system = next(
        r for r in mocks.of_type("aws:eks/nodeGroup:NodeGroup") if r.name == "aws-nodes-system"
    ).inputs
    assert settings.system_node_group is not None
    assert system["amiType"] == "AL2023_x86_64_STANDARD"
    assert system["instanceTypes"] == settings.system_node_group.instance_types
    assert not any(
        t.split(".")[0] in gpu.GPU_TYPE_BY_INSTANCE_FAMILY for t in system["instanceTypes"]
    )
    assert "taints" not in system and "labels" not in system
    assert system["scalingConfig"]["minSize"] == settings.system_node_group.min_size


def test_nodes_join_only_once_the_vpc_cni_and_their_role_policies_exist(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    cni = mocks.registration(one(mocks, "aws:eks/addon:Addon")).urn
    attachments = {
        mocks.registration(r).urn
        for r in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("aws-nodes-node-role-")
    }
    for group in mocks.of_type("aws:eks/nodeGroup:NodeGroup"):
        dependencies = set(mocks.registration(group).dependencies)
        assert cni in dependencies and attachments <= dependencies, group.name


def test_the_device_plugin_is_the_pinned_chart_on_gpu_nodes_tolerating_their_taint(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    chart = device_plugin_chart(mocks)
    assert chart.inputs["chart"] == "nvidia-device-plugin"
    assert chart.inputs["version"] == device_plugin.CHART_VERSION == "0.18.2"
    assert chart.inputs["repositoryOpts"] == {"repo": "https://nvidia.github.io/k8s-device-plugin"}
    # Beside the other node agents, in their privileged namespace, created before it.
    assert chart.inputs["namespace"] == NODE_AGENTS_NAMESPACE == "node-agents"
    namespace = next(
        r
        for r in mocks.of_type("kubernetes:core/v1:Namespace")
        if r.name == "namespaces-node-agents"
    )
    assert namespace.inputs["metadata"]["name"] == NODE_AGENTS_NAMESPACE
    # A dependency on a component is one on its resources: the namespace itself among them.
    (component,) = mocks.of_type("gpu-model-platform:aws:NvidiaDevicePlugin")
    assert mocks.registration(namespace).urn in mocks.registration(component).dependencies
    values = chart.inputs["values"]
    assert values["tolerations"] == [gpu.gpu_toleration()]
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"] == [
        {"key": labels.GPU_NODE_LABEL, "operator": "In", "values": [labels.GPU_NODE_LABEL_VALUE]}
    ]
    # Every GPU node group's labels satisfy it.
    for group in mocks.of_type("aws:eks/nodeGroup:NodeGroup"):
        if group.inputs.get("taints"):
            assert group.inputs["labels"][labels.GPU_NODE_LABEL] == labels.GPU_NODE_LABEL_VALUE
    assert "::aws-eks-kubernetes::" in (chart.provider or "")


def test_one_ecr_repository_per_model_immutable_scanned_encrypted_and_pruned(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, settings, mocks = stack
    repositories = {r.name: r.inputs for r in mocks.of_type("aws:ecr/repository:Repository")}
    assert set(repositories) == {f"aws-registry-{model}" for model in MODELS}
    for model in MODELS:
        repository = repositories[f"aws-registry-{model}"]
        assert repository["name"] == f"gpu-model-platform-{name}/{model}"
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        (encryption,) = repository["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS"
        assert encryption["kmsKey"].endswith("key/aws-registry-key-key-id")
    lifecycles = mocks.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert sorted(p.inputs["repository"] for p in lifecycles) == sorted(
        f"gpu-model-platform-{name}/{model}" for model in MODELS
    )
    for lifecycle in lifecycles:
        (rule,) = policy(lifecycle.inputs["policy"])["rules"]
        assert rule["selection"]["countType"] == "imageCountMoreThan"
        assert rule["selection"]["countNumber"] == settings.image_versions_kept
        assert rule["action"] == {"type": "expire"}


def test_repositories_grant_pulls_to_the_node_role_only(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    node_role = f"arn:aws:iam::{account(mocks)}:role/aws-nodes-node-role"
    policies = mocks.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy")
    assert len(policies) == len(MODELS)
    for repository_policy in policies:
        (statement,) = policy(repository_policy.inputs["policy"])["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": node_role}
        assert sorted(statement["Action"]) == sorted(iam.ECR_PULL_ACTIONS)
        assert not any(
            a.startswith(("ecr:Put", "ecr:Delete", "ecr:Upload")) for a in statement["Action"]
        )


def test_a_pull_through_cache_rule_per_supported_upstream_with_credentials_where_needed(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    rules = {
        r.inputs["ecrRepositoryPrefix"]: r.inputs
        for r in mocks.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    }
    assert rules == {
        "docker-hub": {
            "ecrRepositoryPrefix": "docker-hub",
            "upstreamRegistryUrl": "registry-1.docker.io",
            "credentialArn": settings.docker_hub_credential_arn,
        },
        "ghcr": {
            "ecrRepositoryPrefix": "ghcr",
            "upstreamRegistryUrl": "ghcr.io",
            "credentialArn": settings.github_credential_arn,
        },
        "k8s": {"ecrRepositoryPrefix": "k8s", "upstreamRegistryUrl": "registry.k8s.io"},
        "quay": {"ecrRepositoryPrefix": "quay", "upstreamRegistryUrl": "quay.io"},
    }
    for rule in mocks.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule"):
        # A first pull must find its creation template, or ECR creates a default repository.
        template = f"aws-registry-cache-{rule.inputs['ecrRepositoryPrefix']}"
        assert any(template in urn for urn in mocks.registration(rule).dependencies), rule.name


def test_cached_repositories_are_created_as_the_model_repositories_are(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    node_role = f"arn:aws:iam::{account(mocks)}:role/aws-nodes-node-role"
    creator = f"arn:aws:iam::{account(mocks)}:role/aws-registry-cache-creator"
    typ = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
    templates = {t.inputs["prefix"]: t.inputs for t in mocks.of_type(typ)}
    assert set(templates) == {u.prefix for u in mirrors.PULL_THROUGH_UPSTREAMS}
    for prefix, template in templates.items():
        assert template["appliedFors"] == ["PULL_THROUGH_CACHE"], prefix
        assert template["imageTagMutability"] == "IMMUTABLE", prefix
        (encryption,) = template["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS"
        assert encryption["kmsKey"].endswith("key/aws-registry-key-key-id")
        (rule,) = policy(template["lifecyclePolicy"])["rules"]
        assert rule["selection"]["countNumber"] == settings.image_versions_kept
        (statement,) = policy(template["repositoryPolicy"])["Statement"]
        assert statement["Principal"] == {"AWS": node_role}
        assert sorted(statement["Action"]) == sorted(iam.ECR_PULL_ACTIONS)
        assert template["customRoleArn"] == creator, prefix
    (role,) = [
        r for r in mocks.of_type("aws:iam/role:Role") if r.name == "aws-registry-cache-creator"
    ]
    (trust,) = policy(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "ecr.amazonaws.com"}


def test_the_node_role_pulls_through_the_cache_prefixes_only(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    inline = {r.name: r.inputs for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")}
    node = inline["aws-registry-pull-through"]
    assert node["role"] == "aws-nodes-node-role"
    (statement,) = policy(node["policy"])["Statement"]
    assert sorted(statement["Action"]) == [
        "ecr:BatchImportUpstreamImage",
        "ecr:CreateRepository",
    ]
    assert sorted(statement["Resource"]) == sorted(
        f"arn:aws:ecr:{settings.aws_region}:{account(mocks)}:repository/{u.prefix}/*"
        for u in mirrors.PULL_THROUGH_UPSTREAMS
    )
    creator = policy(inline["aws-registry-cache-creator"]["policy"])["Statement"]
    assert [s["Resource"] for s in creator] == [
        statement["Resource"],
        f"arn:aws:kms:{settings.aws_region}:{account(mocks)}:key/aws-registry-key-key-id",
    ]


def account(mocks: RecordingMocks) -> str:
    return mocks.aws_account


def documents(mocks: RecordingMocks) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM, KMS and ECR policy document the stack writes."""
    for typ, field in (
        ("aws:iam/role:Role", "assumeRolePolicy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy"),
        ("aws:iam/rolePolicy:RolePolicy", "policy"),
        ("aws:iam/policy:Policy", "policy"),
        ("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "repositoryPolicy"),
    ):
        for resource in mocks.of_type(typ):
            yield resource.name, policy(resource.inputs[field])


def test_no_policy_we_write_names_a_wildcard_action(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    written = list(documents(mocks))
    # Roles (cluster, nodes, VPC CNI, cache creator), keys, the model repositories' policies, the
    # node role's and cache creator's inline policies, the cached repositories' policies.
    assert len(written) == 4 + 2 + len(MODELS) + 2 + len(mirrors.PULL_THROUGH_UPSTREAMS)
    for name, document in written:
        for action in iam.actions_of(document):
            assert "*" not in action, f"{name}: {action}"
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", name
            assert statement.get("Principal") not in ("*", {"AWS": "*"}), name


def test_only_the_aws_managed_policies_eks_documents_are_attached(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    attached = Counter(
        r.inputs["policyArn"].removeprefix("arn:aws:iam::aws:policy/")
        for r in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    expected = Counter(name for names in iam.MANAGED_POLICIES.values() for name in names)
    assert attached == expected
    # Besides: the node role's right to pull through the cache, and the cache creator's.
    assert {r.name for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")} == {
        "aws-registry-pull-through",
        "aws-registry-cache-creator",
    }
    assert not mocks.of_type("aws:iam/policy:Policy")


def test_key_policies_let_administrators_manage_but_not_use_the_keys(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, settings, mocks = stack
    for key in mocks.of_type("aws:kms/key:Key"):
        statements = {s["Sid"]: s for s in policy(key.inputs["policy"])["Statement"]}
        admin = statements["AccountAdministersTheKey"]
        assert admin["Principal"] == {"AWS": f"arn:aws:iam::{settings.aws_account_id}:root"}
        assert not {"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom"} & set(admin["Action"])
        grants = statements["AwsServicesCreateGrants"]
        assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize(
    "typ",
    [
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ecr/repository:Repository",
        "aws:kms/key:Key",
    ],
)
def test_cluster_node_groups_repositories_and_keys_are_protected(
    stack: tuple[str, AwsSettings, RecordingMocks], typ: str
) -> None:
    _, _, mocks = stack
    resources = mocks.of_type(typ)
    assert resources
    for resource in resources:
        assert mocks.registration(resource).protect, f"{resource.name} must be protected"


def test_nothing_else_is_protected_so_the_rest_can_be_replaced(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    kept = {
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ecr/repository:Repository",
        "aws:kms/key:Key",
    }
    for resource in mocks.resources:
        if resource.typ not in kept:
            assert not mocks.registration(resource).protect, resource.name


def test_the_network_spans_the_zones_with_nat_as_configured_and_tagged_subnets(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, settings, mocks = stack
    vpc = one(mocks, "aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == settings.vpc_cidr
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True
    subnets = mocks.of_type("aws:ec2/subnet:Subnet")
    zones = settings.availability_zones
    assert len(zones) == (3 if name == "prod" else 2)
    cluster_tag = f"kubernetes.io/cluster/gpu-model-platform-{name}"
    for kind, cidrs, role_tag in (
        ("public", settings.public_subnet_cidrs, "kubernetes.io/role/elb"),
        ("private", settings.private_subnet_cidrs, "kubernetes.io/role/internal-elb"),
    ):
        of_kind = [s.inputs for s in subnets if f"-{kind}-" in s.name]
        assert [s["availabilityZone"] for s in of_kind] == zones
        assert [s["cidrBlock"] for s in of_kind] == cidrs
        for subnet in of_kind:
            assert subnet["tags"][role_tag] == "1"
            assert subnet["tags"][cluster_tag] == "shared"
            assert subnet["mapPublicIpOnLaunch"] is False
    nat = mocks.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nat) == (len(zones) if settings.nat_gateway_per_zone else 1)
    assert len(nat) == (3 if name == "prod" else 1)
    # Every private subnet's default route leaves through a NAT gateway, never the internet
    # gateway.
    private_routes = [
        r.inputs for r in mocks.of_type("aws:ec2/route:Route") if "-private-" in r.name
    ]
    assert len(private_routes) == len(zones)
    for route in private_routes:
        assert route["destinationCidrBlock"] == "0.0.0.0/0"
        assert "natGatewayId" in route and "gatewayId" not in route
    if settings.nat_gateway_per_zone:
        assert len({r["natGatewayId"] for r in private_routes}) == len(zones)


def test_every_aws_resource_goes_through_the_one_explicit_provider_of_the_stack_account(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, settings, mocks = stack
    provider = one(mocks, "pulumi:providers:aws")
    assert provider.inputs["region"] == settings.aws_region
    assert json.loads(provider.inputs["allowedAccountIds"]) == [settings.aws_account_id]
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags == {
        "project": "gpu-model-platform",
        "environment": name,
        "pulumi-stack": name,
        "managed-by": "pulumi",
    }
    for resource in mocks.resources:
        if resource.typ.startswith("aws:"):
            assert "::aws-aws::" in (resource.provider or ""), resource.name
    for call in mocks.calls:
        # helm.v3.Chart renders through the stack's Kubernetes provider, like every object.
        expected = "::aws-eks-kubernetes::" if call.token == HELM_TEMPLATE else "::aws-aws::"
        assert expected in (call.provider or ""), call.token


def test_every_kubernetes_object_goes_through_one_provider_built_from_the_cluster(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, _, mocks = stack
    provider = one(mocks, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    (cluster,) = kubeconfig["clusters"]
    assert cluster["name"] == f"gpu-model-platform-{name}"
    assert cluster["cluster"]["server"].startswith("https://")
    assert cluster["cluster"]["certificate-authority-data"]
    (user,) = kubeconfig["users"]
    assert user["user"]["exec"]["command"] == "aws"
    assert "get-token" in user["user"]["exec"]["args"]
    assert "token" not in user["user"]  # nothing long-lived in the kubeconfig or in state
    associations = {
        mocks.registration(a).urn
        for a in mocks.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    assert associations <= set(mocks.registration(provider).dependencies)
    for resource in mocks.resources:
        # helm.v3.Chart is a component (no provider); the objects it registers have one.
        if resource.typ.startswith("kubernetes:") and resource.custom:
            assert "::aws-eks-kubernetes::" in (resource.provider or ""), resource.name


def test_serving_stacks_use_the_ecr_repositories_and_wait_for_nodes_and_gpus(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, _, mocks = stack
    services = {r.name: r for r in mocks.of_type("gpu-model-platform:serving:ModelService")}
    assert set(services) == MODELS
    urns = {(r.typ, r.name): mocks.registration(r).urn for r in mocks.resources}
    for service in services.values():
        dependencies = set(mocks.registration(service).dependencies)
        for group in mocks.of_type("aws:eks/nodeGroup:NodeGroup"):
            assert urns[(group.typ, group.name)] in dependencies, service.name
        chart = device_plugin_chart(mocks)
        assert urns[(chart.typ, chart.name)] in dependencies, service.name
    host = f"{account(mocks)}.dkr.ecr.eu-west-1.amazonaws.com"
    for deployment in mocks.of_type("kubernetes:apps/v1:Deployment"):
        model = deployment.name.removesuffix("-stable")
        image = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith(f"{host}/gpu-model-platform-{name}/{model}:v"), image
        # The content-digest tag with its serving base, known at preview; IMMUTABLE repositories
        # make it a pin.
        assert "@" not in image, image
        assert re.fullmatch(r"v\d+-[0-9a-f]{16}-tfs[0-9.]+(-gpu)?", image.rsplit(":", 1)[1]), image
    for image in mocks.of_type("docker:index/image:Image"):
        assert image.inputs["imageName"].startswith(f"{host}/gpu-model-platform-{name}/")
        assert image.inputs["registry"]["value"]["server"] == host


def test_the_device_plugin_chart_may_come_from_a_directory(tmp_path: Path) -> None:
    # devicePluginChart naming a directory that holds the pinned chart: the chart is taken from
    # there as it is (its version was checked), with no repository.
    directory = tmp_path / device_plugin.CHART
    directory.mkdir()
    (directory / "Chart.yaml").write_text(f"name: {device_plugin.CHART}\nversion: 0.18.2\n")
    mocks = run_program(stack_config("dev", devicePluginChart=str(directory)), stack="dev")
    (chart,) = [
        r
        for r in mocks.of_type("kubernetes:helm.sh/v4:Chart")
        if r.inputs["chart"] == str(directory)
    ]
    assert "version" not in chart.inputs and "repositoryOpts" not in chart.inputs
    assert chart.inputs["namespace"] == NODE_AGENTS_NAMESPACE


def test_every_resource_has_a_component_parent(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    _, _, mocks = stack
    top_level = {
        "gpu-model-platform:aws:AwsCluster",
        "gpu-model-platform:target:PlatformNamespaces",
        "gpu-model-platform:aws:NvidiaDevicePlugin",
        "gpu-model-platform:serving:ModelService",
        "gpu-model-platform:serving:GatedImageAdmission",
        "gpu-model-platform:monitoring:MonitoringStack",
        "gpu-model-platform:autoscaling:KedaAutoscaling",
    }
    for resource in mocks.resources:
        parent = mocks.registration(resource).parent
        if resource.typ in top_level:
            assert parent.split("::")[-2] == "pulumi:pulumi:Stack", resource.name
        else:
            assert parent.split("::")[-2].split("$")[-1].startswith("gpu-model-platform:"), (
                f"{resource.typ} {resource.name}: {parent}"
            )


def test_resource_counts(stack: tuple[str, AwsSettings, RecordingMocks]) -> None:
    name, settings, mocks = stack
    counts = Counter(r.typ for r in mocks.resources)
    zones = len(settings.availability_zones)
    assert counts["aws:ec2/subnet:Subnet"] == 2 * zones
    assert counts["aws:eks/nodeGroup:NodeGroup"] == 1 + len(settings.gpu_node_groups)
    assert counts["aws:ecr/repository:Repository"] == len(MODELS)
    # The device plugin and KEDA (helm.v4), kube-prometheus-stack and the DCGM exporter
    # (helm.v3).
    assert counts["kubernetes:helm.sh/v4:Chart"] == 2
    assert counts["kubernetes:helm.sh/v3:Chart"] == 2
    assert counts["pulumi:providers:kubernetes"] == 1
    assert counts["pulumi:providers:aws"] == 1
    # Monitoring adds 23: its component, 10 operator CRDs, 2 charts, the Grafana password and
    # Secret, and per model a component with its ServiceMonitor, PrometheusRule and dashboard.
    # Autoscaling adds 8: its component, 6 KEDA CRDs and the KEDA chart, and digits' stable
    # track gets a ScaledObject in place of an HPA. The models namespace's GPU ResourceQuota adds
    # 1, gated-image admission 3 (its component, the policy and the binding), the node-agents
    # namespace 1.
    assert counts["kubernetes:keda.sh/v1alpha1:ScaledObject"] == 1
    assert counts["kubernetes:core/v1:ResourceQuota"] == 1
    assert counts["kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"] == 1
    # The pull-through cache adds 11: per upstream a rule and a creation template, the role ECR
    # creates cached repositories with and its policy, and the node role's policy to use them.
    upstreams = len(mirrors.PULL_THROUGH_UPSTREAMS)
    assert counts["aws:ecr/pullThroughCacheRule:PullThroughCacheRule"] == upstreams
    assert counts["aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"] == upstreams
    assert sum(counts.values()) == {"dev": 122, "prod": 133}[name]


def test_the_device_plugin_left_the_cluster_component_as_a_move(
    stack: tuple[str, AwsSettings, RecordingMocks],
) -> None:
    name, _, mocks = stack
    (component,) = mocks.of_type("gpu-model-platform:aws:NvidiaDevicePlugin")
    registration = mocks.registration(component)
    assert registration.parent.split("::")[-2] == "pulumi:pulumi:Stack"
    # Aliased to where it was, the child of the AWS cluster component under each (parent, own)
    # type pair it had: the engine moves the component's state instead of replacing it.
    stack_prefix = f"urn:pulumi:{name}::gpu-model-platform::"
    assert sorted(registration.aliases) == sorted(
        (
            device_plugin.FORMER_NAME,
            f"gpu-model-platform:{own}",
            f"{stack_prefix}gpu-model-platform:{parent}::{device_plugin.FORMER_PARENT}",
        )
        for parent, own in device_plugin.FORMER_TYPES
    )
    # (The engine's URN of a top-level component has no pulumi:pulumi:Stack in its type, the
    # mock monitor's has: the aliases are written for the engine.)
    # Monitoring and autoscaling (chart pods) wait for it too.
    for typ in (
        "gpu-model-platform:monitoring:MonitoringStack",
        "gpu-model-platform:autoscaling:KedaAutoscaling",
    ):
        chart = mocks.registration(device_plugin_chart(mocks)).urn
        assert chart in mocks.registration(one(mocks, typ)).dependencies, typ
