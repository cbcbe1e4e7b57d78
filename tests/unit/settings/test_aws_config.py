"""AWS stack configuration: the shipped dev and prod files are valid and differ where they should,
and each bad input is refused with the stack file and key, before any resource is registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.catalog.load import CatalogError, load_catalog
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.load import NOT_SET, ConfigError, parse_settings
from components.settings.model import AWS_KEYS, AwsSettings, PlatformSettings
from tests.support.mocks import ROOT, RecordingMocks, declared_config, run_program, stack_config

GPU_GROUP = {
    "name": "a10g",
    "instanceTypes": ["g5.xlarge"],
    "minSize": 1,
    "desiredSize": 1,
    "maxSize": 2,
    "diskSizeGib": 100,
}


def settings_of(stack: str, **overrides: Any) -> PlatformSettings:
    return parse_settings(stack_config(stack, **overrides), f"Pulumi.{stack}.yaml")


def aws_settings_of(stack: str, **overrides: Any) -> AwsSettings:
    settings = settings_of(stack, **overrides)
    assert isinstance(settings, AwsSettings), settings
    return settings


def refusal(stack: str, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        settings_of(stack, **overrides)
    message = str(raised.value)
    assert message.startswith(f"invalid stack configuration in Pulumi.{stack}.yaml:\n"), message
    return message


def gpu_group(**changes: Any) -> list[dict[str, Any]]:
    return [{**GPU_GROUP, **changes}]


def test_dev_and_prod_stack_files_are_valid() -> None:
    dev, prod = aws_settings_of("dev"), aws_settings_of("prod")
    assert (dev.environment, prod.environment) == ("dev", "prod")
    for settings in (dev, prod):
        assert settings.on_aws and settings.aws_region == "eu-west-1"
        assert settings.system_node_group is not None
        assert settings.gpu_node_groups and settings.cluster_admin_roles
        assert settings.build_images


def test_prod_differs_from_dev_where_it_should() -> None:
    dev, prod = aws_settings_of("dev"), aws_settings_of("prod")
    assert (len(dev.availability_zones), len(prod.availability_zones)) == (2, 3)
    assert (dev.nat_gateway_per_zone, prod.nat_gateway_per_zone) == (False, True)
    assert prod.system_node_group.min_size > dev.system_node_group.min_size
    assert prod.system_node_group.min_size >= len(prod.availability_zones)
    assert sum(g.min_size for g in prod.gpu_node_groups) > sum(
        g.min_size for g in dev.gpu_node_groups
    )
    assert prod.image_versions_kept > dev.image_versions_kept
    assert prod.control_plane_log_retention_days > dev.control_plane_log_retention_days
    assert dev.aws_account_id != prod.aws_account_id


def test_every_aws_key_is_declared_empty_so_local_can_tell_it_is_unset() -> None:
    declared = declared_config()
    for key in AWS_KEYS:
        assert declared[key]["default"] in NOT_SET, key
        assert declared[key]["description"].startswith("AWS only"), key


def test_the_shipped_models_fit_the_gpu_node_groups_of_both_stacks() -> None:
    for stack in ("dev", "prod"):
        settings = settings_of(stack)
        catalog = load_catalog(ROOT / "models", settings.max_gpus_per_pod, settings.node_gpu_types)
        assert [entry.spec.name for entry in catalog] == ["digits", "iris"]


@pytest.mark.parametrize(
    ("stack", "overrides", "key", "expected"),
    [
        # The allow-lists, and GPU groups without GPU instances.
        (
            "dev",
            {"gpuNodeGroups": gpu_group(instanceTypes=["g5.xlarge", "m6i.large"])},
            "gpuNodeGroups.0.instanceTypes.1",
            "'m6i.large' is not on the GPU instance allow-list",
        ),
        (
            "dev",
            {"gpuNodeGroups": gpu_group(instanceTypes=["p3.2xlarge"])},
            "gpuNodeGroups.0.instanceTypes.0",
            "'p3.2xlarge' is not on the GPU instance allow-list",
        ),
        (
            "dev",
            {"gpuNodeGroups": gpu_group(instanceTypes=[])},
            "gpuNodeGroups.0",
            "a GPU node group needs at least one GPU instance type",
        ),
        (
            "dev",
            {"gpuNodeGroups": gpu_group(instanceTypes=["g5.xlarge", "g6.xlarge"])},
            "gpuNodeGroups.0",
            "instanceTypes mix GPU types (a10g, l4)",
        ),
        ("dev", {"gpuNodeGroups": []}, "gpuNodeGroups", "required on dev (AWS)"),
        (
            "prod",
            {
                "systemNodeGroup": {
                    "instanceTypes": ["t3.large"],
                    "minSize": 3,
                    "desiredSize": 3,
                    "maxSize": 3,
                    "diskSizeGib": 50,
                }
            },
            "systemNodeGroup.instanceTypes.0",
            "'t3.large' is not on the system instance allow-list",
        ),
        (
            "prod",
            {
                "systemNodeGroup": {
                    "instanceTypes": ["g5.xlarge"],
                    "minSize": 3,
                    "desiredSize": 3,
                    "maxSize": 3,
                    "diskSizeGib": 50,
                }
            },
            "systemNodeGroup.instanceTypes.0",
            "is a GPU instance type",
        ),
        (
            "dev",
            {"gpuNodeGroups": gpu_group(instanceTypes=["xlarge"])},
            "gpuNodeGroups.0.instanceTypes.0",
            "is not an EC2 instance type",
        ),
        # Sizes.
        (
            "dev",
            {"gpuNodeGroups": gpu_group(minSize=3, desiredSize=3, maxSize=2)},
            "gpuNodeGroups.0",
            "minSize (3) is greater than maxSize (2)",
        ),
        (
            "dev",
            {"gpuNodeGroups": gpu_group(minSize=1, desiredSize=4, maxSize=2)},
            "gpuNodeGroups.0",
            "desiredSize (4) must lie between minSize (1) and maxSize (2)",
        ),
        ("dev", {"gpuNodeGroups": gpu_group(maxSize=0)}, "gpuNodeGroups.0.maxSize", "greater"),
        ("dev", {"gpuNodeGroups": gpu_group(maxSise=3)}, "gpuNodeGroups.0.maxSise", "unknown"),
        ("dev", {"gpuNodeGroups": [GPU_GROUP, GPU_GROUP]}, "gpuNodeGroups.1.name", "used twice"),
        # CIDRs: overlapping, outside the VPC, one per zone, the service range.
        (
            "dev",
            {"privateSubnetCidrs": ["10.20.64.0/18", "10.20.0.0/20"]},
            "privateSubnetCidrs.1",
            "10.20.0.0/20 overlaps publicSubnetCidrs[0] 10.20.0.0/22",
        ),
        (
            "dev",
            {"publicSubnetCidrs": ["10.20.0.0/22", "10.20.0.0/23"]},
            "publicSubnetCidrs.1",
            "overlaps publicSubnetCidrs[0]",
        ),
        (
            "dev",
            {"privateSubnetCidrs": ["10.20.64.0/18", "10.21.0.0/18"]},
            "privateSubnetCidrs.1",
            "10.21.0.0/18 is outside vpcCidr 10.20.0.0/16",
        ),
        (
            "dev",
            {"publicSubnetCidrs": ["10.20.0.0/22"]},
            "publicSubnetCidrs",
            "one subnet per availability zone: 2 zones, 1 CIDRs",
        ),
        ("dev", {"serviceCidr": "10.20.0.0/16"}, "serviceCidr", "overlaps vpcCidr 10.20.0.0/16"),
        ("dev", {"serviceCidr": "100.64.0.0/16"}, "serviceCidr", "must be /12 to /24 within"),
        ("dev", {"vpcCidr": "10.20.0.1/16"}, "vpcCidr", "is not an IPv4 network in CIDR"),
        ("dev", {"vpcCidr": "10.0.0.0/8"}, "vpcCidr", "a VPC is /16 to /28"),
        # The API endpoint.
        (
            "dev",
            {"endpointPublicAccessCidrs": ["0.0.0.0/0"]},
            "endpointPublicAccessCidrs.0",
            "opens the Kubernetes API to the whole internet",
        ),
        # Zones, NAT, region, account, admins.
        (
            "prod",
            {
                "availabilityZones": ["eu-west-1a", "eu-west-1b"],
                "publicSubnetCidrs": ["10.30.0.0/22", "10.30.4.0/22"],
                "privateSubnetCidrs": ["10.30.64.0/19", "10.30.96.0/19"],
            },
            "availabilityZones",
            "prod spans at least 3 distinct availability zones, got 2",
        ),
        ("prod", {"natGatewayPerZone": False}, "natGatewayPerZone", "one NAT gateway per zone"),
        (
            "dev",
            {"availabilityZones": ["eu-west-1a", "eu-central-1b"]},
            "availabilityZones.1",
            "'eu-central-1b' is not a zone of awsRegion 'eu-west-1'",
        ),
        ("dev", {"awsRegion": "Ireland"}, "awsRegion", "is not an AWS region"),
        ("dev", {"awsRegion": ""}, "awsRegion", "required on dev (AWS)"),
        ("dev", {"awsAccountId": "1234"}, "awsAccountId", "is not an AWS account ID"),
        ("dev", {"clusterAdminRoles": []}, "clusterAdminRoles", "required on dev (AWS)"),
        (
            "dev",
            {"clusterAdminRoles": ["arn:aws:iam::111122223333:user/alice"]},
            "clusterAdminRoles.0",
            "is not an IAM role ARN",
        ),
        # Registry and logs.
        ("dev", {"imageVersionsKept": 1}, "imageVersionsKept", "greater than or equal to 2"),
        ("dev", {"imageVersionsKept": 0}, "imageVersionsKept", "required on dev (AWS)"),
        (
            "prod",
            {"controlPlaneLogRetentionDays": 42},
            "controlPlaneLogRetentionDays",
            "42 is not a CloudWatch retention period",
        ),
        # Pull-through cache credentials.
        ("dev", {"dockerHubCredentialArn": ""}, "dockerHubCredentialArn", "required on dev (AWS)"),
        ("prod", {"githubCredentialArn": ""}, "githubCredentialArn", "required on prod (AWS)"),
        (
            "dev",
            {
                "dockerHubCredentialArn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
                "dockerhub-AbCdEf"
            },
            "dockerHubCredentialArn",
            "is not the ARN of a Secrets Manager secret named ecr-pullthroughcache/",
        ),
        (
            "prod",
            {
                "githubCredentialArn": "arn:aws:secretsmanager:eu-central-1:444455556666:secret:"
                "ecr-pullthroughcache/ghcr-AbCdEf"
            },
            "githubCredentialArn",
            "the secret is in eu-central-1 of account 444455556666; ECR reads pull-through",
        ),
        # The device plugin's chart: a repository URL, or a directory holding the pinned chart.
        ("dev", {"devicePluginChart": "no/such/dir"}, "devicePluginChart", "nor a chart directory"),
        # Keys of the other environment.
        ("dev", {"kubeconfig": "/etc/hosts"}, "kubeconfig", "local only"),
        ("local", {"awsRegion": "eu-west-1"}, "awsRegion", "applies to dev and prod (AWS) only"),
        ("local", {"gpuNodeGroups": [GPU_GROUP]}, "gpuNodeGroups", "applies to dev and prod"),
        ("local", {"natGatewayPerZone": True}, "natGatewayPerZone", "applies to dev and prod"),
        (
            "local",
            {"devicePluginChart": "https://nvidia.github.io/k8s-device-plugin"},
            "devicePluginChart",
            "applies to dev and prod",
        ),
    ],
)
def test_bad_aws_input_is_named_with_file_and_key(
    stack: str, overrides: dict[str, Any], key: str, expected: str
) -> None:
    message = refusal(stack, **overrides)
    assert f"  gpu-model-platform:{key}: " in message, message
    assert expected in message, message


def test_the_device_plugin_chart_is_nvidias_repository_unless_set(tmp_path: Path) -> None:
    # Not set (Pulumi.yaml's empty placeholder): NVIDIA's repository, the pinned chart's home.
    assert aws_settings_of("dev").device_plugin_chart == NVIDIA_DEVICE_PLUGIN.repository
    chart = tmp_path / "nvidia-device-plugin"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: nvidia-device-plugin\nversion: 0.18.2\n")
    assert aws_settings_of("prod", devicePluginChart=str(chart)).device_plugin_chart == str(chart)
    # A directory holding another version is refused, naming the key and both versions.
    (chart / "Chart.yaml").write_text("name: nvidia-device-plugin\nversion: 0.17.0\n")
    message = refusal("prod", devicePluginChart=str(chart))
    assert (
        f"  gpu-model-platform:devicePluginChart: {chart / 'Chart.yaml'} is nvidia-device-plugin "
        "0.17.0; the platform pins nvidia-device-plugin 0.18.2"
    ) in message, message


def test_every_problem_is_reported_at_once() -> None:
    message = refusal(
        "prod",
        natGatewayPerZone=False,
        endpointPublicAccessCidrs=["0.0.0.0/0"],
        serviceCidr="10.30.0.0/16",
    )
    for key in ("natGatewayPerZone", "endpointPublicAccessCidrs.0", "serviceCidr"):
        assert f"gpu-model-platform:{key}: " in message, message


def test_a_gpu_model_no_node_group_can_run_is_refused() -> None:
    # digits accepts t4, a10g and l4: a stack with only A100 nodes could never schedule it.
    settings = settings_of(
        "dev", gpuNodeGroups=gpu_group(name="a100", instanceTypes=["p4d.24xlarge"])
    )
    with pytest.raises(
        CatalogError, match=r"models/digits/model.yaml: resources.gpu_types: none of"
    ):
        load_catalog(ROOT / "models", settings.max_gpus_per_pod, settings.node_gpu_types)


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("dev", {"gpuNodeGroups": gpu_group(instanceTypes=["m6i.large"])}),
        ("prod", {"privateSubnetCidrs": ["10.30.0.0/19", "10.30.96.0/19", "10.30.128.0/19"]}),
        ("dev", {"gpuNodeGroups": gpu_group(name="a100", instanceTypes=["p4d.24xlarge"])}),
    ],
)
def test_program_stops_before_registering_any_resource_on_bad_aws_input(
    stack: str, overrides: dict[str, Any]
) -> None:
    mocks = RecordingMocks()
    with pytest.raises((ConfigError, CatalogError), match=rf"Pulumi.{stack}.yaml|models/digits"):
        run_program(stack_config(stack, **overrides), stack=stack, mocks=mocks)
    assert mocks.resources == []
