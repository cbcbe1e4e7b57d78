"""Stack configuration: read once, validated once, before any resource exists.

Defaults live in Pulumi.yaml (`config:`), which the engine merges under the stack's own file, so
the model below declares types and rules only. A bad value stops the program with one message
that names the stack file, the key and what is expected.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.charts import DCGM_EXPORTER, KUBE_PROMETHEUS_STACK, is_remote, local_chart_problem
from components.gpu import GPU_TYPE_BY_INSTANCE_FAMILY, GpuType, gpu_type_of_instance
from components.types import (
    AvailabilityZone,
    AwsAccountId,
    AwsRegion,
    CpuQuantity,
    DnsLabel,
    Environment,
    GpuInstanceType,
    IamRoleArn,
    ImageRegistry,
    Ipv4Cidr,
    MemoryQuantity,
    ProjectPath,
    SystemInstanceType,
)

PROJECT = "gpu-model-platform"


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. A RunError ends the program with the message alone, no trace."""


# Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{days} is not a CloudWatch retention period: {LOG_RETENTION_DAYS}")
    return days


class _NodeGroup(BaseModel):
    """Sizes shared by every managed node group. Nested keys are camelCase, like the stack files."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    min_size: int = Field(ge=0, le=100)
    desired_size: int = Field(ge=0, le=100)
    max_size: int = Field(ge=1, le=100)
    disk_size_gib: int = Field(ge=20, le=2000, description="Root volume; GPU images are large")

    def _check_sizes(self) -> None:
        if self.min_size > self.max_size:
            raise ValueError(f"minSize ({self.min_size}) is greater than maxSize ({self.max_size})")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"desiredSize ({self.desired_size}) must lie between minSize ({self.min_size}) "
                f"and maxSize ({self.max_size})"
            )


class SystemNodeGroup(_NodeGroup):
    """The CPU group: cluster add-ons (CoreDNS), platform services and CPU models."""

    instance_types: list[SystemInstanceType] = Field(max_length=10)

    @model_validator(mode="after")
    def _check(self) -> SystemNodeGroup:
        if not self.instance_types:
            raise ValueError("instanceTypes is empty: list at least one CPU instance type")
        self._check_sizes()
        return self


class GpuNodeGroup(_NodeGroup):
    """A GPU group: every instance type carries the same GPU, which becomes its gpu-type label."""

    name: DnsLabel = Field(max_length=20)
    instance_types: list[GpuInstanceType] = Field(max_length=10)

    @model_validator(mode="after")
    def _check(self) -> GpuNodeGroup:
        if not self.instance_types:
            raise ValueError(
                "instanceTypes is empty: a GPU node group needs at least one GPU instance type "
                f"(families: {', '.join(GPU_TYPE_BY_INSTANCE_FAMILY)})"
            )
        kinds = {gpu_type_of_instance(t) for t in self.instance_types}
        if len(kinds) > 1:
            raise ValueError(
                f"instanceTypes mix GPU types ({', '.join(sorted(kinds))}); a group's nodes carry "
                "one gpu-type label, so put each GPU type in a group of its own"
            )
        self._check_sizes()
        return self

    @property
    def gpu_type(self) -> GpuType:
        return gpu_type_of_instance(self.instance_types[0])


# Prometheus durations as retention takes them: one or more <number><unit>, e.g. 15d or 1w3d.
_PROMETHEUS_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
# An Alertmanager matcher: label, operator, quoted value.
_MATCHER = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"]*"$')


def _prometheus_duration(value: str) -> str:
    if not _PROMETHEUS_DURATION.match(value):
        raise ValueError(f"{value!r} is not a Prometheus duration such as '15d' or '12h'")
    return value


def _matcher(value: str) -> str:
    if not _MATCHER.match(value):
        raise ValueError(f"{value!r} is not an Alertmanager matcher such as 'team=\"ml\"'")
    return value


class _Camel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class PrometheusResources(_Camel):
    """Requests of the Prometheus server; memory is its limit too (it is killed, not throttled)."""

    cpu: CpuQuantity
    memory: MemoryQuantity


class AlertRoute(_Camel):
    """Alerts matching every matcher go to a webhook (Slack, PagerDuty, an on-call bridge)."""

    name: DnsLabel
    matchers: list[Annotated[str, AfterValidator(_matcher)]] = Field(min_length=1)
    webhook_url: str = Field(pattern=r"^https?://[^\s]+$")


class PlatformSettings(BaseModel):
    """The stack configuration of the project namespace, by its Pulumi.yaml key names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    kubeconfig: str
    kube_context: str = Field(alias="kubeContext")
    render_directory: ProjectPath = Field(alias="renderDirectory")
    platform_namespace: DnsLabel = Field(alias="platformNamespace")
    models_namespace: DnsLabel = Field(alias="modelsNamespace")
    max_gpus_per_pod: int = Field(alias="maxGpusPerPod", ge=0, le=16)
    image_registry: ImageRegistry = Field(alias="imageRegistry")
    build_images: bool = Field(alias="buildImages")
    rollout_timeout_seconds: int = Field(alias="rolloutTimeoutSeconds", ge=30, le=7200)

    # Monitoring: chart sources (components/charts.py), Prometheus and Alertmanager settings.
    prometheus_stack_chart: str = Field(alias="prometheusStackChart")
    dcgm_exporter_chart: str = Field(alias="dcgmExporterChart")
    prometheus_retention: Annotated[str, AfterValidator(_prometheus_duration)] = Field(
        alias="prometheusRetention"
    )
    prometheus_resources: PrometheusResources = Field(alias="prometheusResources")
    alert_routes: list[AlertRoute] = Field(alias="alertRoutes")

    # AWS (dev and prod). Each defaults to its empty value in Pulumi.yaml, meaning "not set":
    # `local` refuses them when set, dev and prod require the ones without a meaningful empty
    # value (see _environment_problems).
    aws_account_id: AwsAccountId | None = Field(alias="awsAccountId")
    aws_region: AwsRegion | None = Field(alias="awsRegion")
    availability_zones: list[AvailabilityZone] = Field(alias="availabilityZones")
    vpc_cidr: Ipv4Cidr | None = Field(alias="vpcCidr")
    public_subnet_cidrs: list[Ipv4Cidr] = Field(alias="publicSubnetCidrs")
    private_subnet_cidrs: list[Ipv4Cidr] = Field(alias="privateSubnetCidrs")
    nat_gateway_per_zone: bool = Field(alias="natGatewayPerZone")
    service_cidr: Ipv4Cidr | None = Field(alias="serviceCidr")
    endpoint_public_access_cidrs: list[Ipv4Cidr] = Field(alias="endpointPublicAccessCidrs")
    cluster_admin_roles: list[IamRoleArn] = Field(alias="clusterAdminRoles")
    system_node_group: SystemNodeGroup | None = Field(alias="systemNodeGroup")
    gpu_node_groups: list[GpuNodeGroup] = Field(alias="gpuNodeGroups")
    image_versions_kept: Annotated[int, Field(ge=2, le=1000)] | None = Field(
        alias="imageVersionsKept"
    )
    control_plane_log_retention_days: Annotated[int, AfterValidator(_log_retention)] | None = Field(
        alias="controlPlaneLogRetentionDays"
    )

    @field_validator(
        "aws_account_id",
        "aws_region",
        "vpc_cidr",
        "service_cidr",
        "system_node_group",
        "image_versions_kept",
        "control_plane_log_retention_days",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # Pulumi.yaml's defaults for these are "", {} and 0: "not set".
        return None if isinstance(value, str | dict | int) and value in ("", "0", 0, {}) else value

    @model_validator(mode="after")
    def _check(self) -> PlatformSettings:
        if self.platform_namespace == self.models_namespace:
            raise ValueError(
                "platformNamespace and modelsNamespace must differ: models get their own "
                "namespace so that their policies and quotas do not reach platform services"
            )
        if self.kubeconfig and not Path(self.kubeconfig).expanduser().is_file():
            raise ValueError(f"kubeconfig {self.kubeconfig!r} is not a file")
        if self.kube_context and not self.kubeconfig:
            raise ValueError("kubeContext is set but kubeconfig is empty")
        names = [route.name for route in self.alert_routes]
        if len(set(names)) != len(names) or "null" in names:
            raise ValueError(f"alertRoutes: names must be unique and not 'null', got {names}")
        return self

    @property
    def renders_manifests(self) -> bool:
        """No cluster given: every Kubernetes object is written to render_directory instead."""
        return not self.kubeconfig

    @property
    def on_aws(self) -> bool:
        return self.environment != "local"

    @property
    def node_gpu_types(self) -> set[GpuType] | None:
        """GPU types this stack's node groups run; None on local, whose cluster is not ours."""
        if not self.on_aws:
            return None
        return {group.gpu_type for group in self.gpu_node_groups}


def _decode(value: Any) -> Any:
    # The engine hands over every value as a string; arrays and objects arrive as JSON.
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_of(error_loc: tuple[int | str, ...]) -> str:
    path = ".".join(str(part) for part in error_loc)
    return f"{PROJECT}:{path}" if path else PROJECT


Location = tuple[int | str, ...]
"""Where a problem is: a key of Pulumi.yaml, then indexes and nested keys within its value."""

# Keys that only mean something on AWS (dev, prod), and keys that only mean something on local.
AWS_ONLY = (
    "aws_account_id",
    "aws_region",
    "availability_zones",
    "vpc_cidr",
    "public_subnet_cidrs",
    "private_subnet_cidrs",
    "nat_gateway_per_zone",
    "service_cidr",
    "endpoint_public_access_cidrs",
    "cluster_admin_roles",
    "system_node_group",
    "gpu_node_groups",
    "image_versions_kept",
    "control_plane_log_retention_days",
)
REQUIRED_ON_AWS = tuple(
    key
    for key in AWS_ONLY
    if key not in ("nat_gateway_per_zone", "service_cidr", "endpoint_public_access_cidrs")
)
# renderDirectory and imageRegistry are local-only too, but they have real defaults (local needs
# them), so dev and prod cannot tell them from unset and ignore them: no provider renders there,
# and images go to the stack's ECR repositories.
LOCAL_ONLY = ("kubeconfig", "kube_context")
MIN_ZONES = {"dev": 2, "prod": 3}

# EKS: the service CIDR must lie in a private range and be /12 to /24; the VPC /16 to /28.
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def _key(field: str) -> str:
    return PlatformSettings.model_fields[field].alias or field


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != ""


def _network_problems(settings: PlatformSettings) -> Iterator[tuple[Location, str]]:
    region, zones = settings.aws_region, settings.availability_zones
    assert settings.vpc_cidr is not None  # required on AWS, checked before
    least = MIN_ZONES[settings.environment]
    if len(set(zones)) < least:
        yield (
            ("availabilityZones",),
            f"{settings.environment} spans at least {least} distinct availability zones, got "
            f"{len(set(zones))}",
        )
    for index, zone in enumerate(zones):
        if region and not zone.startswith(region):
            yield ("availabilityZones", index), f"{zone!r} is not a zone of awsRegion {region!r}"
    if settings.environment == "prod" and not settings.nat_gateway_per_zone:
        yield (
            ("natGatewayPerZone",),
            "prod runs one NAT gateway per zone, so that losing a zone does not cut the others' "
            "egress; set it to true",
        )

    vpc = ipaddress.IPv4Network(settings.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        yield ("vpcCidr",), f"{vpc} is /{vpc.prefixlen}; a VPC is /16 to /28"
    seen: list[tuple[Location, ipaddress.IPv4Network]] = []
    for field in ("public_subnet_cidrs", "private_subnet_cidrs"):
        cidrs: list[str] = getattr(settings, field)
        if len(cidrs) != len(zones):
            yield (
                (_key(field),),
                f"one subnet per availability zone: {len(zones)} zones, {len(cidrs)} CIDRs",
            )
        for index, cidr in enumerate(cidrs):
            where: Location = (_key(field), index)
            subnet = ipaddress.IPv4Network(cidr)
            if not subnet.subnet_of(vpc):
                yield where, f"{subnet} is outside vpcCidr {vpc}"
            for other_where, other in seen:
                if subnet.overlaps(other):
                    yield where, f"{subnet} overlaps {_shown(other_where)} {other}"
            seen.append((where, subnet))

    if settings.service_cidr is not None:
        service = ipaddress.IPv4Network(settings.service_cidr)
        if service.overlaps(vpc):
            yield ("serviceCidr",), f"{service} overlaps vpcCidr {vpc}"
        if not 12 <= service.prefixlen <= 24 or not any(
            service.subnet_of(r) for r in _PRIVATE_RANGES
        ):
            yield (
                ("serviceCidr",),
                f"{service} must be /12 to /24 within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
            )
    for index, cidr in enumerate(settings.endpoint_public_access_cidrs):
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            yield (
                ("endpointPublicAccessCidrs", index),
                f"{cidr} opens the Kubernetes API to the whole internet; list the networks that "
                "need it, or none to keep the endpoint private",
            )


def _shown(where: Location) -> str:
    key, *rest = where
    return f"{key}" + "".join(f"[{part}]" for part in rest)


# Each chart source key and the chart it must hold.
CHART_KEYS = {"prometheus_stack_chart": KUBE_PROMETHEUS_STACK, "dcgm_exporter_chart": DCGM_EXPORTER}


def _chart_problems(settings: PlatformSettings) -> Iterator[tuple[Location, str]]:
    project = Path.cwd()  # the engine runs the program in the project folder
    for field, pin in CHART_KEYS.items():
        source: str = getattr(settings, field)
        if not source:
            if settings.on_aws:
                yield (
                    (_key(field),),
                    f"required on {settings.environment}: monitoring is part of the platform "
                    f"there; set it to {pin.repository} or a directory holding {pin.name} "
                    f"{pin.version}",
                )
            continue
        problem = None if is_remote(source) else local_chart_problem(source, pin, project)
        if problem:
            yield (_key(field),), problem


def _environment_problems(settings: PlatformSettings) -> list[tuple[Location, str]]:
    """Rules that depend on the environment: which keys apply, and how AWS settings fit together."""
    charts = list(_chart_problems(settings))
    if not settings.on_aws:
        return charts + [
            (
                (_key(field),),
                "applies to dev and prod (AWS) only; local runs on an existing cluster or renders "
                "manifests, where it would do nothing. Remove it from this stack file",
            )
            for field in AWS_ONLY
            if _is_set(getattr(settings, field))
        ]
    problems: list[tuple[Location, str]] = charts + [
        (
            (_key(field),),
            f"local only; {settings.environment} reaches its EKS cluster through the kubeconfig "
            "the program builds. Remove it from this stack file",
        )
        for field in LOCAL_ONLY
        if getattr(settings, field)
    ]
    missing = [field for field in REQUIRED_ON_AWS if not _is_set(getattr(settings, field))]
    problems += [
        ((_key(field),), f"required on {settings.environment} (AWS); set it in this stack file")
        for field in missing
    ]
    if missing:
        return problems
    problems += _network_problems(settings)
    names: set[str] = set()
    for index, group in enumerate(settings.gpu_node_groups):
        if group.name in names:
            problems.append((("gpuNodeGroups", index, "name"), f"{group.name!r} is used twice"))
        names.add(group.name)
    return problems


def _config_error(source: str, problems: list[tuple[Location, str]]) -> ConfigError:
    lines = [f"  {_key_of(where)}: {message}" for where, message in problems]
    return ConfigError(f"invalid stack configuration in {source}:\n" + "\n".join(lines))


def parse_settings(values: Mapping[str, Any], source: str) -> PlatformSettings:
    """Validate the project's config values (keys without the project prefix) from `source`."""
    try:
        settings = PlatformSettings.model_validate({k: _decode(v) for k, v in values.items()})
    except ValidationError as error:
        problems: list[tuple[Location, str]] = []
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            top_level = len(problem["loc"]) == 1
            if problem["type"] == "extra_forbidden":
                message = (
                    "unknown key (declared keys are listed in Pulumi.yaml `config:`)"
                    if top_level
                    else "unknown field"
                )
            elif problem["type"] == "missing":
                message = (
                    "missing; declare it with a default in Pulumi.yaml `config:`"
                    if top_level
                    else "missing"
                )
            problems.append((problem["loc"], message))
        raise _config_error(source, problems) from None
    problems = _environment_problems(settings)
    if problems:
        raise _config_error(source, problems)
    return settings


def project_config_values() -> dict[str, Any]:
    """This project's config values as the engine passed them, keyed without the project prefix."""
    merged = {**get_config_env(), **CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}


def load_settings() -> PlatformSettings:
    return parse_settings(project_config_values(), source=f"Pulumi.{pulumi.get_stack()}.yaml")
