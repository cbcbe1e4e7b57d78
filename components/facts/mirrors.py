"""Which upstream registries ECR can cache for dev and prod, and under which repository prefix.

ECR pull-through cache rules (checked 2026-12-03 in the ECR user guide) support ECR Public,
Docker Hub, GitHub and GitLab container registries, registry.k8s.io, Quay and Azure; Docker Hub,
GitHub and GitLab need credentials in a Secrets Manager secret named `ecr-pullthroughcache/...`.
nvcr.io is not supported: images from there have no cache and the pack names them as exemptions
(policies/config/{dev,prod}.json).

An image `quay.io/prometheus/prometheus:v3` is pulled on dev/prod as
`<account>.dkr.ecr.<region>.amazonaws.com/quay/prometheus/prometheus:v3`: the rule's prefix
replaces the upstream host; the rest of the reference is unchanged. The prefixes are
registry-wide (one set per account and region), so one dev or prod stack per account and region
owns them, as Pulumi.dev.yaml and Pulumi.prod.yaml (two accounts) have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CREDENTIAL_SECRET_PREFIX = "ecr-pullthroughcache/"
"""ECR reads upstream credentials only from Secrets Manager secrets whose name starts so."""


@dataclass(frozen=True)
class Upstream:
    host: str
    """The registry as the charts write it in their image references."""
    url: str
    """What the pull-through cache rule is given as upstream_registry_url."""
    prefix: str
    """ECR repository prefix of the cache: 2 to 30 characters, unique in the registry."""
    credential_key: str | None
    """Pulumi.yaml key naming the credentials' secret ARN, for upstreams that need one."""


DOCKER_HUB = Upstream("docker.io", "registry-1.docker.io", "docker-hub", "dockerHubCredentialArn")
GITHUB = Upstream("ghcr.io", "ghcr.io", "ghcr", "githubCredentialArn")
K8S = Upstream("registry.k8s.io", "registry.k8s.io", "k8s", None)
QUAY = Upstream("quay.io", "quay.io", "quay", None)

PULL_THROUGH_UPSTREAMS: tuple[Upstream, ...] = (DOCKER_HUB, GITHUB, K8S, QUAY)
"""The upstreams the pinned charts pull from that ECR can cache; one rule each."""
UPSTREAM_BY_HOST = {upstream.host: upstream for upstream in PULL_THROUGH_UPSTREAMS}
NOT_CACHEABLE = ("nvcr.io",)
"""Upstreams the charts use that ECR pull-through does not support."""


def cached_registry(registry_host: str, upstream: Upstream) -> str:
    """'111122223333.dkr.ecr.eu-west-1.amazonaws.com', QUAY -> '.../quay': what a chart's
    `image.registry` becomes on dev and prod."""
    return f"{registry_host}/{upstream.prefix}"


def ecr_registry_host(account_id: str, region: str) -> str:
    """ECR's registry host, known before any repository exists, so image references (and the
    image-provenance policy that reads them) are known at preview."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"


# Every image block (a mapping with `registry` and `repository`) of the pinned charts' values.yaml,
# subcharts under their name, by the upstream it names; tests/unit/monitoring/test_chart_images.py
# checks this against the charts in ../shared/charts, so a chart bump that adds one fails there.
# dcgm-exporter and nvidia-device-plugin name nvcr.io in `image.repository`: left as they are.
# Docker Hub's official images would need `library/` in their path through the cache; the only one
# the charts name without it (crds.upgradeJob busybox) is in UNUSED_IMAGE_BLOCKS.
CHART_IMAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "kube-prometheus-stack": (
        ("alertmanager.alertmanagerSpec.image", "quay.io"),
        ("prometheusOperator.admissionWebhooks.deployment.image", "quay.io"),
        ("prometheusOperator.admissionWebhooks.patch.image", "registry.k8s.io"),
        ("prometheusOperator.image", "quay.io"),
        ("prometheusOperator.prometheusConfigReloader.image", "quay.io"),
        ("prometheusOperator.thanosImage", "quay.io"),
        ("prometheus.prometheusSpec.image", "quay.io"),
        ("thanosRuler.thanosRulerSpec.image", "quay.io"),
        ("grafana.image", "docker.io"),
        ("grafana.testFramework.image", "docker.io"),
        ("grafana.downloadDashboardsImage", "docker.io"),
        ("grafana.initChownData.image", "docker.io"),
        ("grafana.sidecar.image", "quay.io"),
        ("grafana.imageRenderer.image", "docker.io"),
        ("kube-state-metrics.image", "registry.k8s.io"),
        ("kube-state-metrics.kubeRBACProxy.image", "quay.io"),
        ("prometheus-node-exporter.image", "quay.io"),
        ("prometheus-node-exporter.kubeRBACProxy.image", "quay.io"),
        ("prometheus-windows-exporter.image", "ghcr.io"),
    ),
    "keda": (
        ("image.keda", "ghcr.io"),
        ("image.metricsApiServer", "ghcr.io"),
        ("image.webhooks", "ghcr.io"),
    ),
}
UNUSED_IMAGE_BLOCKS = {
    ("kube-prometheus-stack", "crds.upgradeJob.image.busybox"): "the crds subchart is off",
    ("kube-prometheus-stack", "crds.upgradeJob.image.kubectl"): "the crds subchart is off",
}
"""Image blocks of the charts left out of CHART_IMAGES, and why: they render no container."""


def cached_image_values(chart: str, registry_host: str) -> dict[str, Any]:
    """The values that point every image block of `chart` at its upstream's cache in the ECR
    registry `registry_host`, nested as the chart reads them."""
    values: dict[str, Any] = {}
    for path, host in CHART_IMAGES[chart]:
        block: dict[str, Any] = values
        for part in path.split("."):
            block = block.setdefault(part, {})
        block["registry"] = cached_registry(registry_host, UPSTREAM_BY_HOST[host])
    return values
