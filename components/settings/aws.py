"""AWS settings (dev and prod): node groups, the keys only AWS reads, and how the network fits."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, model_validator

from components.facts.gpu import GPU_TYPE_BY_INSTANCE_FAMILY, GpuType, gpu_type_of_instance
from components.facts.types import DnsLabel, GpuInstanceType, SystemInstanceType
from components.settings.base import Location, NestedModel, Problem

if TYPE_CHECKING:
    from components.settings.model import AwsSettings

# Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"{days} is not a CloudWatch retention period: {LOG_RETENTION_DAYS}")
    return days


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]


class _NodeGroup(NestedModel):
    """Sizes shared by every managed node group."""

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


MIN_ZONES = {"dev": 2, "prod": 3}

# EKS: the service CIDR must lie in a private range and be /12 to /24; the VPC /16 to /28.
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def network_problems(settings: AwsSettings) -> Iterator[Problem]:
    """Zones, NAT, VPC, subnets, service range and API endpoint."""
    region, zones = settings.aws_region, settings.availability_zones
    least = MIN_ZONES[settings.environment]
    if len(set(zones)) < least:
        yield (
            ("availabilityZones",),
            f"{settings.environment} spans at least {least} distinct availability zones, got "
            f"{len(set(zones))}",
        )
    for index, zone in enumerate(zones):
        if not zone.startswith(region):
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
    subnets = {
        "publicSubnetCidrs": settings.public_subnet_cidrs,
        "privateSubnetCidrs": settings.private_subnet_cidrs,
    }
    for key, cidrs in subnets.items():
        if len(cidrs) != len(zones):
            yield (
                (key,),
                f"one subnet per availability zone: {len(zones)} zones, {len(cidrs)} CIDRs",
            )
        for index, cidr in enumerate(cidrs):
            where: Location = (key, index)
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
