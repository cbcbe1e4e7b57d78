"""The pure builders behind the AWS components: policies, subnets, node groups, kubeconfig,
device-plugin values and registry names, without the Pulumi runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.aws import device_plugin, iam
from components.aws.eks import kubeconfig, oidc_issuer, role_name_of
from components.aws.network import nat_zone_indexes, subnet_tags
from components.aws.node_groups import gpu_group_spec
from components.aws.registry import lifecycle_policy, repository_name
from components.facts import gpu
from components.facts.mirrors import ecr_registry_host
from components.settings.aws import GpuNodeGroup


def test_node_groups_take_the_gpu_taint_in_the_eks_spelling() -> None:
    assert gpu.gpu_node_group_taint() == {
        "key": gpu.GPU_TAINT_KEY,
        "value": gpu.GPU_TAINT_VALUE,
        "effect": "NO_SCHEDULE",
    }
    assert gpu.gpu_taint()["effect"] == "NoSchedule"


def test_the_gpu_type_of_an_instance_comes_from_its_family() -> None:
    assert gpu.gpu_type_of_instance("g5.2xlarge") == "a10g"
    assert gpu.gpu_type_of_instance("p4d.24xlarge") == "a100"
    with pytest.raises(KeyError):
        gpu.gpu_type_of_instance("m6i.large")


def test_a_gpu_group_spec_labels_and_taints_from_components_gpu() -> None:
    group = GpuNodeGroup.model_validate(
        {
            "name": "l4",
            "instanceTypes": ["g6.xlarge", "g6.2xlarge"],
            "minSize": 1,
            "desiredSize": 2,
            "maxSize": 3,
            "diskSizeGib": 100,
        }
    )
    spec = gpu_group_spec(group)
    assert spec.name == "gpu-l4"
    assert spec.ami_type == gpu.GPU_AMI_TYPE
    assert spec.labels == gpu.gpu_node_labels("l4")
    assert spec.taints == [gpu.gpu_node_group_taint()]
    assert (spec.min_size, spec.desired_size, spec.max_size) == (1, 2, 3)


def test_kubeconfig_execs_aws_eks_get_token_and_holds_no_credential() -> None:
    config = json.loads(kubeconfig("c", "https://api.example", "Q0E=", "eu-west-1"))
    assert config["current-context"] == "c"
    assert config["clusters"][0]["cluster"] == {
        "server": "https://api.example",
        "certificate-authority-data": "Q0E=",
    }
    execution = config["users"][0]["user"]["exec"]
    assert execution["command"] == "aws"
    assert execution["args"][:4] == ["eks", "get-token", "--cluster-name", "c"]
    assert execution["args"][execution["args"].index("--region") + 1] == "eu-west-1"
    assert set(config["users"][0]["user"]) == {"exec"}


def test_the_oidc_issuer_must_be_reported() -> None:
    with pytest.raises(ValueError, match="no OIDC issuer"):
        oidc_issuer([])


def test_admin_role_names_make_stable_resource_names() -> None:
    assert role_name_of("arn:aws:iam::111122223333:role/team/platform-admin") == (
        "team-platform-admin"
    )


def test_the_device_plugin_values_file_leaves_placement_to_components_gpu() -> None:
    raw = yaml.safe_load(device_plugin.VALUES_FILE.read_text())
    assert not set(raw) & set(gpu.PLACEMENT_KEYS)
    values = device_plugin.chart_values()
    assert values["tolerations"] == [gpu.gpu_toleration()]
    assert values["affinity"] == gpu.gpu_node_affinity()
    assert values["gfd"] == {"enabled": False} and values["nfd"] == {"enabled": False}
    assert values["priorityClassName"] == "system-node-critical"


def test_a_values_file_that_sets_placement_is_refused(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("tolerations: [{operator: Exists}]\n")
    with pytest.raises(ValueError, match="sets tolerations: placement comes from"):
        device_plugin.chart_values(values)


def test_registry_host_is_known_before_any_repository_exists() -> None:
    assert ecr_registry_host("111122223333", "eu-west-1") == (
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert ecr_registry_host("111122223333", "cn-north-1") == (
        "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn"
    )
    assert repository_name("gpu-model-platform-dev", "iris") == "gpu-model-platform-dev/iris"


def test_lifecycle_policy_keeps_the_newest_images() -> None:
    (rule,) = lifecycle_policy(7)["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 7,
    }
    assert rule["action"] == {"type": "expire"}


def test_nat_gateways_one_or_one_per_zone() -> None:
    assert nat_zone_indexes(3, per_zone=True) == [0, 1, 2]
    assert nat_zone_indexes(3, per_zone=False) == [0, 0, 0]


def test_subnet_tags_select_the_load_balancer_kind() -> None:
    assert subnet_tags("p", True, "c") == {
        "Name": "p",
        "kubernetes.io/role/elb": "1",
        "kubernetes.io/cluster/c": "shared",
    }
    assert subnet_tags("q", False, "c")["kubernetes.io/role/internal-elb"] == "1"


def test_irsa_trust_is_for_one_service_account_of_one_issuer() -> None:
    document = iam.irsa_trust_policy(
        "arn:aws:iam::1:oidc-provider/oidc.example/id/X", "https://oidc.example/id/X", "ns", "sa"
    )
    (statement,) = document["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        "oidc.example/id/X:sub": "system:serviceaccount:ns:sa",
        "oidc.example/id/X:aud": "sts.amazonaws.com",
    }


def test_key_policy_names_every_action_and_adds_users_with_their_actions_only() -> None:
    document = iam.kms_key_policy("arn:aws:iam::1:root", {"Use": ("arn:r", ("kms:Decrypt",))})
    assert all("*" not in action for action in iam.actions_of(document))
    use = document["Statement"][-1]
    assert (use["Sid"], use["Principal"], use["Action"]) == (
        "Use",
        {"AWS": "arn:r"},
        ["kms:Decrypt"],
    )


def test_partitions_follow_the_region() -> None:
    assert iam.partition_of("eu-west-1") == "aws"
    assert iam.partition_of("cn-north-1") == "aws-cn"
    assert iam.partition_of("us-gov-west-1") == "aws-us-gov"
    assert iam.managed_policy_arn("aws-cn", "X") == "arn:aws-cn:iam::aws:policy/X"
