"""The AWS network of a dev or prod stack: a VPC over the stack's availability zones, a public and a
private subnet in each, and NAT gateways (one, or one per zone) for the private subnets' egress.

Nodes and the control plane's interfaces live in the private subnets; the public subnets hold only
NAT gateways and internet-facing load balancers. Both carry the tags EKS load balancers select
subnets by.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings.model import AwsSettings
from components.tokens import renamed, type_token

# Subnet tags read by EKS's service controller and the AWS Load Balancer Controller.
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster_name: str) -> str:
    return f"kubernetes.io/cluster/{cluster_name}"


def subnet_tags(name: str, public: bool, cluster_name: str) -> dict[str, str]:
    """Tags of a subnet: its name, the load-balancer role, and the cluster that may use it."""
    return {
        "Name": name,
        PUBLIC_ELB_TAG if public else INTERNAL_ELB_TAG: "1",
        cluster_tag(cluster_name): "shared",
    }


def nat_zone_indexes(zone_count: int, per_zone: bool) -> list[int]:
    """For each zone, the index of the zone whose NAT gateway its private subnet routes through."""
    return list(range(zone_count)) if per_zone else [0] * zone_count


@dataclass(frozen=True)
class NetworkArgs:
    cluster_name: str
    """The EKS cluster the subnets are tagged for."""
    zones: list[str]
    vpc_cidr: str
    public_subnet_cidrs: list[str]
    """One per zone, in the order of `zones`."""
    private_subnet_cidrs: list[str]
    """One per zone, in the order of `zones`."""
    nat_gateway_per_zone: bool
    """One NAT gateway per zone, or a single one in the first zone."""

    @classmethod
    def from_settings(cls, settings: AwsSettings, cluster_name: str) -> NetworkArgs:
        return cls(
            cluster_name=cluster_name,
            zones=list(settings.availability_zones),
            vpc_cidr=settings.vpc_cidr,
            public_subnet_cidrs=list(settings.public_subnet_cidrs),
            private_subnet_cidrs=list(settings.private_subnet_cidrs),
            nat_gateway_per_zone=settings.nat_gateway_per_zone,
        )


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    nat_gateway_count: int

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("aws", Network), name, None, renamed(opts, "network:Vpc"))
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            # EKS needs both for its private endpoint and for nodes to register.
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": args.cluster_name},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": args.cluster_name}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            tags={"Name": f"{args.cluster_name}-public"},
            opts=child,
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )

        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        for zone, public_cidr, private_cidr in zip(
            args.zones, args.public_subnet_cidrs, args.private_subnet_cidrs, strict=True
        ):
            public_subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=public_cidr,
                # Nothing launched here needs a public address of its own: NAT gateways get an
                # Elastic IP, load balancers their own.
                map_public_ip_on_launch=False,
                tags=subnet_tags(f"{args.cluster_name}-public-{zone}", True, args.cluster_name),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=public_subnet.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            public.append(public_subnet)
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{zone}",
                    vpc_id=vpc.id,
                    availability_zone=zone,
                    cidr_block=private_cidr,
                    map_public_ip_on_launch=False,
                    tags=subnet_tags(
                        f"{args.cluster_name}-private-{zone}", False, args.cluster_name
                    ),
                    opts=child,
                )
            )

        nat_for_zone = nat_zone_indexes(len(args.zones), args.nat_gateway_per_zone)
        nat_gateways: dict[int, aws.ec2.NatGateway] = {}
        for index in sorted(set(nat_for_zone)):
            zone = args.zones[index]
            address = aws.ec2.Eip(
                f"{name}-nat-{zone}",
                domain="vpc",
                tags={"Name": f"{args.cluster_name}-nat-{zone}"},
                opts=child,
            )
            nat_gateways[index] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=address.id,
                subnet_id=public[index].id,
                tags={"Name": f"{args.cluster_name}-nat-{zone}"},
                # A NAT gateway forwards through the internet gateway, which must exist first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
            )
        for index, (zone, subnet) in enumerate(zip(args.zones, private, strict=True)):
            routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                tags={"Name": f"{args.cluster_name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.Route(
                f"{name}-private-{zone}-default",
                route_table_id=routes.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_gateways[nat_for_zone[index]].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )

        self.vpc_id = vpc.id
        self.public_subnet_ids = [subnet.id for subnet in public]
        self.private_subnet_ids = [subnet.id for subnet in private]
        self.nat_gateway_count = len(nat_gateways)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "natGatewayCount": self.nat_gateway_count,
            }
        )
