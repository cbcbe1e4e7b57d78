"""Validated domain types shared by every settings model (stack config now, model specs later)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator

from components.facts.gpu import GPU_TYPE_BY_INSTANCE_FAMILY

Environment = Literal["local", "dev", "prod"]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns1123_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: at most 63 characters of lowercase letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"{value!r} must be a non-empty path relative to the project, without '..'"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns1123_label)]

# A model's name becomes the name of each of its objects, `<model>-<kind>`, and the value of its
# labels. The strictest of those is its Service, `<model>-serving`: Service names are DNS-1035
# labels (a letter first, 63 characters at most), so the name must be one too and leave room for
# the suffix. tests/unit/serving/test_serving.py checks every object of a name this long against
# the API server's rules.
LONGEST_OBJECT_SUFFIX = "-serving"
DNS1035_LABEL_LIMIT = 63
MAX_MODEL_NAME_LENGTH = DNS1035_LABEL_LIMIT - len(LONGEST_OBJECT_SUFFIX)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _model_name(value: str) -> str:
    if not _DNS1035_LABEL.match(value):
        raise ValueError(
            f"{value!r} cannot name the model's Service {value + LONGEST_OBJECT_SUFFIX!r}, which "
            "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter "
            "and ending with a letter or digit"
        )
    if len(value) > MAX_MODEL_NAME_LENGTH:
        raise ValueError(
            f"{value!r} is {len(value)} characters; at most {MAX_MODEL_NAME_LENGTH}, so that its "
            f"Service {value + LONGEST_OBJECT_SUFFIX!r} stays within the {DNS1035_LABEL_LIMIT} "
            "characters of a DNS-1035 label"
        )
    return value


ModelName = Annotated[str, AfterValidator(_model_name)]
"""A Kubernetes object name that must also be a DNS label: namespaces, services, models."""

ProjectPath = Annotated[str, AfterValidator(_relative_path)]
"""A path inside the project folder, kept relative so state does not depend on the clone's path."""

_KUBERNETES_RELEASE = re.compile(r"^1\.[0-9]{1,2}\.[0-9]{1,3}$")


def _kubernetes_release(value: str) -> str:
    if not _KUBERNETES_RELEASE.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes release such as '1.33.13'")
    return value


KubernetesRelease = Annotated[str, AfterValidator(_kubernetes_release)]
"""A Kubernetes release, major.minor.patch, as Helm's kubeVersion checks compare it."""

_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")


def _cpu_quantity(value: str) -> str:
    if not _CPU.match(value) or _cpu_millicores(value) == 0:
        raise ValueError(f"{value!r} is not a CPU quantity such as '500m' or '2'")
    return value


def _memory_quantity(value: str) -> str:
    if not _MEMORY.match(value) or int(value[:-2]) == 0:
        raise ValueError(f"{value!r} is not a memory quantity such as '512Mi' or '2Gi'")
    return value


def _cpu_millicores(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else round(float(value) * 1000)


CpuQuantity = Annotated[str, AfterValidator(_cpu_quantity)]
"""A Kubernetes CPU quantity in cores ('2', '1.5') or millicores ('500m')."""

MemoryQuantity = Annotated[str, AfterValidator(_memory_quantity)]
"""A Kubernetes memory quantity in binary units ('512Mi', '2Gi')."""

_REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)


def _image_registry(value: str) -> str:
    if not _REGISTRY.match(value):
        raise ValueError(
            f"{value!r} is not an image repository prefix such as 'registry.local:5000/team' or "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com'"
        )
    return value


ImageRegistry = Annotated[str, AfterValidator(_image_registry)]
"""Host (and optional port and path) that model images are pushed to and pulled from."""

# --- AWS ---------------------------------------------------------------------------------------

_AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
_AVAILABILITY_ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$")
_IAM_ROLE_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
)
# ECR reads pull-through credentials only from secrets named ecr-pullthroughcache/...
# (components/facts/mirrors.py); Secrets Manager appends six random characters to the name.
_PULL_THROUGH_SECRET_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:secret:"
    r"ecr-pullthroughcache/[A-Za-z0-9/_+=.@-]+$"
)
_INSTANCE_TYPE = re.compile(r"^([a-z][a-z0-9-]*)\.([a-z0-9]+)$")


def _aws_account_id(value: str) -> str:
    if not re.fullmatch(r"[0-9]{12}", value):
        raise ValueError(f"{value!r} is not an AWS account ID (12 digits)")
    return value


def _aws_region(value: str) -> str:
    if not _AWS_REGION.match(value):
        raise ValueError(f"{value!r} is not an AWS region such as 'eu-west-1'")
    return value


def _availability_zone(value: str) -> str:
    if not _AVAILABILITY_ZONE.match(value):
        raise ValueError(f"{value!r} is not an availability zone such as 'eu-west-1a'")
    return value


def _ipv4_network(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(
            f"{value!r} is not an IPv4 network in CIDR notation such as '10.0.0.0/16' ({error})"
        ) from None
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; write it as '{network}'")
    return value


def _iam_role_arn(value: str) -> str:
    if not _IAM_ROLE_ARN.match(value):
        raise ValueError(
            f"{value!r} is not an IAM role ARN such as 'arn:aws:iam::111122223333:role/admin'"
        )
    return value


def _pull_through_secret_arn(value: str) -> str:
    if not _PULL_THROUGH_SECRET_ARN.match(value):
        raise ValueError(
            f"{value!r} is not the ARN of a Secrets Manager secret named ecr-pullthroughcache/..., "
            "such as 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
            "ecr-pullthroughcache/docker-hub-AbCdEf' (ECR reads upstream credentials from no "
            "other secret)"
        )
    return value


def instance_family(instance_type: str) -> str:
    """'g5.xlarge' -> 'g5'."""
    return instance_type.partition(".")[0]


def _instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise ValueError(f"{value!r} is not an EC2 instance type such as 'm6i.large'")
    return value


def _gpu_instance_type(value: str) -> str:
    family = instance_family(_instance_type(value))
    if family not in GPU_TYPE_BY_INSTANCE_FAMILY:
        raise ValueError(
            f"{value!r} is not on the GPU instance allow-list (families: "
            f"{', '.join(GPU_TYPE_BY_INSTANCE_FAMILY)}); a GPU node group needs NVIDIA GPU "
            "instances"
        )
    return value


def _system_instance_type(value: str) -> str:
    family = instance_family(_instance_type(value))
    if family in GPU_TYPE_BY_INSTANCE_FAMILY:
        raise ValueError(
            f"{value!r} is a GPU instance type; the system group runs CPU workloads, GPUs go in "
            "gpuNodeGroups"
        )
    if family not in SYSTEM_INSTANCE_FAMILIES:
        raise ValueError(
            f"{value!r} is not on the system instance allow-list (families: "
            f"{', '.join(SYSTEM_INSTANCE_FAMILIES)})"
        )
    return value


# x86_64 general-purpose and compute families for the system node group (the AMI type is x86_64).
SYSTEM_INSTANCE_FAMILIES = ("m5", "m6i", "m6a", "m7i", "m7a", "c6i", "c6a", "c7i", "c7a")

AwsAccountId = Annotated[str, AfterValidator(_aws_account_id)]
AwsRegion = Annotated[str, AfterValidator(_aws_region)]
AvailabilityZone = Annotated[str, AfterValidator(_availability_zone)]
Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_network)]
"""An IPv4 network in CIDR notation with its host bits zero: '10.0.0.0/16', not '10.0.0.1/16'."""
IamRoleArn = Annotated[str, AfterValidator(_iam_role_arn)]
PullThroughSecretArn = Annotated[str, AfterValidator(_pull_through_secret_arn)]
"""A Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/."""
GpuInstanceType = Annotated[str, AfterValidator(_gpu_instance_type)]
"""An EC2 instance type of a GPU family in components.facts.gpu.GPU_TYPE_BY_INSTANCE_FAMILY."""
SystemInstanceType = Annotated[str, AfterValidator(_system_instance_type)]
"""An EC2 instance type of a CPU family in SYSTEM_INSTANCE_FAMILIES."""
