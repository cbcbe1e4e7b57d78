"""The stack configuration models, by Pulumi.yaml key names: what every stack sets, then a
discriminated union on `environment` of what local (LocalSettings) and AWS (AwsSettings, dev and
prod) set besides, and the rules across keys checked once the values have their types.

Defaults live in Pulumi.yaml (`config:`), which the engine merges under the stack's own file, so
the models declare types and rules only. Each model holds only the keys of its environment: a key
of the other one is refused, and on AWS every required key is there and typed without None.
components.settings.load decides, once, which of the merged values a stack set.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from components.facts.gpu import GpuType
from components.facts.mirrors import ecr_registry_host
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
    PullThroughSecretArn,
)
from components.facts.versions import KEDA, KUBERNETES_RELEASE, NVIDIA_DEVICE_PLUGIN
from components.settings.aws import (
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


class StackSettings(BaseModel):
    """What every stack sets, whatever its environment, by its Pulumi.yaml key names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment  # the union's tag; LocalSettings and AwsSettings narrow it
    platform_namespace: DnsLabel = Field(alias="platformNamespace")
    models_namespace: DnsLabel = Field(alias="modelsNamespace")
    max_gpus_per_pod: int = Field(alias="maxGpusPerPod", ge=0, le=16)
    gpu_budget: int = Field(alias="gpuBudget", ge=0, le=4096)
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

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # Pulumi.yaml's default "" means "the release the platform pins" (chart_kubernetes_version).
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_stack(self) -> StackSettings:
        if self.platform_namespace == self.models_namespace:
            raise ValueError(
                "platformNamespace and modelsNamespace must differ: models get their own "
                "namespace so that their policies and quotas do not reach platform services"
            )
        names = [route.name for route in self.alert_routes]
        if len(set(names)) != len(names) or "null" in names:
            raise ValueError(f"alertRoutes: names must be unique and not 'null', got {names}")
        return self

    @property
    def on_aws(self) -> bool:
        return self.environment != "local"

    @property
    def chart_image_registry(self) -> str | None:
        """The registry whose pull-through cache the charts' images come through; None: their
        upstream registries."""
        return None

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


class LocalSettings(StackSettings):
    """local: an existing cluster from a kubeconfig, or none and every object rendered."""

    environment: Literal["local"]
    kubeconfig: str
    kube_context: str = Field(alias="kubeContext")
    render_directory: ProjectPath = Field(alias="renderDirectory")
    image_registry: ImageRegistry = Field(alias="imageRegistry")

    @model_validator(mode="after")
    def _check_local(self) -> LocalSettings:
        if self.kubeconfig and not Path(self.kubeconfig).expanduser().is_file():
            raise ValueError(f"kubeconfig {self.kubeconfig!r} is not a file")
        if self.kube_context and not self.kubeconfig:
            raise ValueError("kubeContext is set but kubeconfig is empty")
        return self

    @property
    def renders_manifests(self) -> bool:
        """No cluster given: every Kubernetes object is written to render_directory instead."""
        return not self.kubeconfig

    @property
    def node_gpu_types(self) -> None:
        """None: local's cluster is not ours, so which GPU types it runs is not known."""
        return None


class AwsSettings(StackSettings):
    """dev and prod: their own EKS cluster, GPU node groups and ECR repositories on AWS. Every
    key without a default is required; the four with one are optional, as Pulumi.yaml says."""

    environment: Literal["dev", "prod"]
    aws_account_id: AwsAccountId = Field(alias="awsAccountId")
    aws_region: AwsRegion = Field(alias="awsRegion")
    availability_zones: list[AvailabilityZone] = Field(alias="availabilityZones")
    vpc_cidr: Ipv4Cidr = Field(alias="vpcCidr")
    public_subnet_cidrs: list[Ipv4Cidr] = Field(alias="publicSubnetCidrs")
    private_subnet_cidrs: list[Ipv4Cidr] = Field(alias="privateSubnetCidrs")
    # Optional: not set (components/settings/load.py drops Pulumi.yaml's empty placeholder), a
    # single NAT gateway, EKS's own service range, and no public endpoint for the API.
    nat_gateway_per_zone: bool = Field(False, alias="natGatewayPerZone")
    service_cidr: Ipv4Cidr | None = Field(None, alias="serviceCidr")
    endpoint_public_access_cidrs: list[Ipv4Cidr] = Field([], alias="endpointPublicAccessCidrs")
    cluster_admin_roles: list[IamRoleArn] = Field(alias="clusterAdminRoles")
    system_node_group: SystemNodeGroup = Field(alias="systemNodeGroup")
    gpu_node_groups: list[GpuNodeGroup] = Field(alias="gpuNodeGroups")
    image_versions_kept: int = Field(alias="imageVersionsKept", ge=2, le=1000)
    control_plane_log_retention_days: LogRetentionDays = Field(alias="controlPlaneLogRetentionDays")
    # Required: Grafana's image is on Docker Hub and KEDA's on ghcr.io (kedaChart is required
    # here), and ECR caches either only with credentials (components/facts/mirrors.py).
    docker_hub_credential_arn: PullThroughSecretArn = Field(alias="dockerHubCredentialArn")
    github_credential_arn: PullThroughSecretArn = Field(alias="githubCredentialArn")
    # Optional: where the NVIDIA device plugin's chart comes from (components/aws/device_plugin.py);
    # not set (Pulumi.yaml's empty placeholder), NVIDIA's repository, the chart's home.
    device_plugin_chart: str = Field(NVIDIA_DEVICE_PLUGIN.repository, alias="devicePluginChart")

    @property
    def chart_image_registry(self) -> str:
        """This stack's ECR registry: its pull-through cache serves the charts' images."""
        return ecr_registry_host(self.aws_account_id, self.aws_region)

    @property
    def node_gpu_types(self) -> set[GpuType]:
        """GPU types this stack's node groups run."""
        return {group.gpu_type for group in self.gpu_node_groups}


PlatformSettings = Annotated[LocalSettings | AwsSettings, Field(discriminator="environment")]
"""The stack configuration of the project namespace: LocalSettings or AwsSettings by environment."""
SETTINGS: TypeAdapter[PlatformSettings] = TypeAdapter(PlatformSettings)

_ENVIRONMENTS = [repr(name) for name in get_args(Environment)]
ENVIRONMENT_ERROR = f"Input should be {', '.join(_ENVIRONMENTS[:-1])} or {_ENVIRONMENTS[-1]}"
"""What an unknown environment is told, worded as pydantic words a Literal's error."""


def _keys(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(field.alias or name for name, field in model.model_fields.items())


KEYS = _keys(LocalSettings) | _keys(AwsSettings)
"""Every key the models read: exactly those Pulumi.yaml declares."""
# Keys only one environment reads; a stack of the other refuses them when set.
LOCAL_KEYS = _keys(LocalSettings) - _keys(AwsSettings)
AWS_KEYS = _keys(AwsSettings) - _keys(LocalSettings)


def misplaced_key(key: str, environment: str) -> str | None:
    """Why a stack of `environment` refuses `key`, a key of the other environment; None for a key
    neither reads."""
    if key in AWS_KEYS:
        return (
            "applies to dev and prod (AWS) only; local runs on an existing cluster or renders "
            "manifests, where it would do nothing. Remove it from this stack file"
        )
    if key in LOCAL_KEYS:
        return (
            f"local only; {environment} reaches its EKS cluster through the kubeconfig the "
            "program builds. Remove it from this stack file"
        )
    return None


def missing_key(key: str, environment: str) -> str | None:
    """What to do about a required key of `environment` that the stack does not set; None for a
    key every stack gets from Pulumi.yaml."""
    if key in AWS_KEYS:
        return f"required on {environment} (AWS); set it in this stack file"
    return None


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
    return StackSettings.model_fields[field].alias or field


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


def _device_plugin_chart_problems(settings: AwsSettings) -> Iterator[Problem]:
    """A directory must hold the pinned chart; a repository URL is taken as it is."""
    source = settings.device_plugin_chart
    problem = (
        None if is_remote(source) else local_chart_problem(source, NVIDIA_DEVICE_PLUGIN, Path.cwd())
    )
    if problem:
        yield (
            (AwsSettings.model_fields["device_plugin_chart"].alias or "devicePluginChart",),
            problem,
        )


def environment_problems(settings: PlatformSettings) -> list[Problem]:
    """Rules across keys that depend on the environment: charts, and how AWS settings fit."""
    problems = list(_chart_problems(settings))
    if isinstance(settings, LocalSettings):
        if settings.keda_chart and settings.renders_manifests:
            # Helm renders without a cluster as if for Kubernetes 1.20; the chart refuses that.
            problems.append(
                (
                    (_key("keda_chart"),),
                    f"needs a cluster (kubeconfig): rendered without one, Helm assumes Kubernetes "
                    f"1.20 and the {KEDA.name} chart requires 1.23 or later. Remove it to render "
                    "manifests (KEDA's CRDs and the ScaledObjects are rendered either way)",
                )
            )
        return problems
    problems += _device_plugin_chart_problems(settings)
    problems += network_problems(settings)
    for field in ("docker_hub_credential_arn", "github_credential_arn"):
        arn = getattr(settings, field)
        region, account = arn.split(":")[3:5]
        if (region, account) != (settings.aws_region, settings.aws_account_id):
            problems.append(
                (
                    (AwsSettings.model_fields[field].alias or field,),
                    f"the secret is in {region} of account {account}; ECR reads pull-through "
                    f"credentials from its own region and account only ({settings.aws_region}, "
                    f"{settings.aws_account_id})",
                )
            )
    names: set[str] = set()
    for index, group in enumerate(settings.gpu_node_groups):
        if group.name in names:
            problems.append((("gpuNodeGroups", index, "name"), f"{group.name!r} is used twice"))
        names.add(group.name)
    return problems
