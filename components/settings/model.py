"""The stack configuration model, by Pulumi.yaml key names, and the rules that depend on the
environment (which keys apply, what AWS requires), checked once the values have their types.

Defaults live in Pulumi.yaml (`config:`), which the engine merges under the stack's own file, so
the model declares types and rules only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.facts.gpu import GpuType
from components.facts.types import (
    AvailabilityZone,
    AwsAccountId,
    AwsRegion,
    DnsLabel,
    Environment,
    IamRoleArn,
    ImageRegistry,
    Ipv4Cidr,
    KubernetesRelease,
    ProjectPath,
)
from components.facts.versions import KEDA, KUBERNETES_RELEASE
from components.settings.aws import (
    AWS_ONLY,
    REQUIRED_ON_AWS,
    GpuNodeGroup,
    LogRetentionDays,
    SystemNodeGroup,
    network_problems,
)
from components.settings.base import Problem
from components.settings.charts import (
    DCGM_EXPORTER,
    KUBE_PROMETHEUS_STACK,
    ChartPin,
    is_remote,
    local_chart_problem,
)
from components.settings.monitoring import AlertRoute, PrometheusDuration, PrometheusResources


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
    gpu_budget: int = Field(alias="gpuBudget", ge=0, le=4096)
    image_registry: ImageRegistry = Field(alias="imageRegistry")
    build_images: bool = Field(alias="buildImages")
    rollout_timeout_seconds: int = Field(alias="rolloutTimeoutSeconds", ge=30, le=7200)

    # Monitoring: chart sources (settings/charts.py), Prometheus and Alertmanager settings.
    prometheus_stack_chart: str = Field(alias="prometheusStackChart")
    dcgm_exporter_chart: str = Field(alias="dcgmExporterChart")
    charts_directory: str = Field(alias="chartsDirectory")
    kubernetes_version: KubernetesRelease | None = Field(alias="kubernetesVersion")
    prometheus_retention: PrometheusDuration = Field(alias="prometheusRetention")
    prometheus_resources: PrometheusResources = Field(alias="prometheusResources")
    alert_routes: list[AlertRoute] = Field(alias="alertRoutes")

    # Autoscaling through KEDA (components/autoscaling): its chart source and Prometheus.
    keda_chart: str = Field(alias="kedaChart")
    autoscaling_prometheus_url: str = Field(
        alias="autoscalingPrometheusUrl", pattern=r"^$|^https?://\S+$"
    )

    # AWS (dev and prod). Each defaults to its empty value in Pulumi.yaml, meaning "not set":
    # `local` refuses them when set, dev and prod require the ones without a meaningful empty
    # value (see environment_problems).
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
    control_plane_log_retention_days: LogRetentionDays | None = Field(
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
        "kubernetes_version",
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
    def chart_kubernetes_version(self) -> str:
        """The version charts are rendered for: the setting, or the platform's pinned release."""
        return self.kubernetes_version or KUBERNETES_RELEASE

    def chart_source(self, pin: ChartPin) -> str:
        """Where `pin` comes from: its key, else chartsDirectory when the chart is there, else ""
        (skipped on local; dev and prod require the key)."""
        field = next(field for field, chart in CHART_KEYS.items() if chart == pin)
        configured: str = getattr(self, field)
        if configured or self.on_aws or pin not in DIRECTORY_CHARTS:
            return configured
        candidate = Path(self.charts_directory) / pin.name
        return candidate.as_posix() if (Path.cwd() / candidate / "Chart.yaml").is_file() else ""

    @property
    def on_aws(self) -> bool:
        return self.environment != "local"

    @property
    def node_gpu_types(self) -> set[GpuType] | None:
        """GPU types this stack's node groups run; None on local, whose cluster is not ours."""
        if not self.on_aws:
            return None
        return {group.gpu_type for group in self.gpu_node_groups}


# renderDirectory and imageRegistry are local-only too, but they have real defaults (local needs
# them), so dev and prod cannot tell them from unset and ignore them: no provider renders there,
# and images go to the stack's ECR repositories.
LOCAL_ONLY = ("kubeconfig", "kube_context")

# Each chart source key and the chart it must hold.
CHART_KEYS = {
    "prometheus_stack_chart": KUBE_PROMETHEUS_STACK,
    "dcgm_exporter_chart": DCGM_EXPORTER,
    "keda_chart": KEDA,
}
# The charts an empty key takes from chartsDirectory on local: the monitoring stack's, which
# helm.v3.Chart renders for the stack's Kubernetes version (components/monitoring/component.py).
# KEDA's key stays explicit: helm.v4.Chart (components/autoscaling) renders without a cluster for
# Kubernetes 1.20, which its chart refuses (environment_problems).
DIRECTORY_CHARTS = (KUBE_PROMETHEUS_STACK, DCGM_EXPORTER)


def _key(field: str) -> str:
    return PlatformSettings.model_fields[field].alias or field


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != ""


def _chart_problems(settings: PlatformSettings) -> Iterator[Problem]:
    project = Path.cwd()  # the engine runs the program in the project folder
    for field, pin in CHART_KEYS.items():
        source = settings.chart_source(pin)
        if source and not getattr(settings, field):
            # Taken from chartsDirectory: a wrong chart there is that key's problem.
            problem = local_chart_problem(source, pin, project)
            if problem:
                yield ("chartsDirectory",), problem
            continue
        if not source:
            if settings.on_aws:
                yield (
                    (_key(field),),
                    f"required on {settings.environment}: monitoring and autoscaling are part "
                    f"of the platform there; set it to {pin.repository} or a directory holding "
                    f"{pin.name} {pin.version}",
                )
            continue
        problem = None if is_remote(source) else local_chart_problem(source, pin, project)
        if problem:
            yield (_key(field),), problem


def environment_problems(settings: PlatformSettings) -> list[Problem]:
    """Rules that depend on the environment: which keys apply, and how AWS settings fit together."""
    charts = list(_chart_problems(settings))
    if settings.keda_chart and settings.renders_manifests and not settings.on_aws:
        # Helm renders without a cluster as if for Kubernetes 1.20; the chart refuses that.
        charts.append(
            (
                (_key("keda_chart"),),
                f"needs a cluster (kubeconfig): rendered without one, Helm assumes Kubernetes "
                f"1.20 and the {KEDA.name} chart requires 1.23 or later. Remove it to render "
                "manifests (KEDA's CRDs and the ScaledObjects are rendered either way)",
            )
        )
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
    problems: list[Problem] = charts + [
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
    problems += network_problems(settings)
    names: set[str] = set()
    for index, group in enumerate(settings.gpu_node_groups):
        if group.name in names:
            problems.append((("gpuNodeGroups", index, "name"), f"{group.name!r} is used twice"))
        names.add(group.name)
    return problems
