"""Every version pin of the platform, in one place.

A pin that pip reads (the Pulumi SDK, providers and policy SDK) is also written in
requirements.txt, which pip needs; tests/unit/toolchain/test_toolchain.py holds the two equal.
The reasons behind each pin are next to it: change one only together with what it must agree with.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Pulumi ------------------------------------------------------------------------------------
# The Python SDK the program runs (requirements.txt `pulumi==`).
PULUMI_SDK = "3.260.0"
# The CLI is pinned apart from the SDK. From 3.2xx on, the CLI runs Python policy packs through the
# language host's RunPlugin, which the only language host the module proxy here can build
# (LANGUAGE_HOST_SDK below) lacks; 3.215.0 still starts them through the
# `pulumi-analyzer-policy-python` shim. The engine protocol between CLI and SDK is versioned and
# feature-checked, and 3.260 registers resources several times faster.
PULUMI_CLI = "3.215.0"
# The Python language host became its own nested module in pulumi 3.80, of which the proxy holds no
# version; v3.79.0 is the newest still inside `sdk/v3`. It speaks the same LanguageRuntime protocol.
LANGUAGE_HOST_SDK = "3.79.0"
# The Kubernetes provider and its SDK (requirements.txt `pulumi-kubernetes==`).
PULUMI_KUBERNETES = "4.25.0"
# Its Go module `provider/v4` has no tags of its own: the proxy knows it by the pseudo-version of
# the release tag's commit (v4.25.0 is commit f47bc2d6), and refuses bare commit hashes.
KUBERNETES_PROVIDER_PSEUDO_VERSIONS = {
    "4.25.0": "v4.0.0-20260115033456-f47bc2d6f199",
}
PULUMI_AWS = "7.29.0"
PULUMI_DOCKER = "5.0.0"
PULUMI_POLICY = "1.21.0"

# --- Kubernetes --------------------------------------------------------------------------------
# The minor version the platform targets: EKS runs it, the simulated cluster runs it, manifests are
# validated against its schema and Pod Security labels name it.
KUBERNETES_VERSION = "1.33"
# The simulated cluster's release of it, and the etcd and KWOK built with it.
KUBERNETES_RELEASE = "1.33.13"
# The etcd release Kubernetes 1.33 is tested with (its go.mod requires the 3.5.21 client).
ETCD_VERSION = "v3.5.21"
# etcd's v2 client module numbers its releases v2.3<minor><patch>: v2.305.21 ships with v3.5.21.
ETCD_CLIENT_V2_VERSION = "v2.305.21"
# KWOK built against the Kubernetes 1.33 client libraries.
KWOK_VERSION = "v0.7.0"
# metrics-server, the resource-metrics API (metrics.k8s.io) the HPA controller reads: built on the
# Kubernetes 0.33 libraries, the plane's minor; fed by KWOK's simulated resource usage.
METRICS_SERVER_VERSION = "v0.8.0"


# --- Helm charts -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartPin:
    name: str
    version: str
    repository: str
    """Where the chart is published, for docs and errors; stack config says where to get it."""


# kube-prometheus-stack 77.14.0 is the last release deploying prometheus-operator v0.85.0
# (77.0.0 to 77.14.0 do; 78.0.0 moves to v0.86.0), the operator whose CRDs PROMETHEUS_OPERATOR
# pins: the CRDs, the operator reading them and our objects must agree. It deploys Prometheus
# v3.6.0, whose promtool checks our rules.
KUBE_PROMETHEUS_STACK = ChartPin(
    name="kube-prometheus-stack",
    version="77.14.0",
    repository="https://prometheus-community.github.io/helm-charts",
)
# dcgm-exporter 4.8.2 deploys the exporter image 4.5.3-4.8.2 (DCGM 4.5.3).
DCGM_EXPORTER = ChartPin(
    name="dcgm-exporter",
    version="4.8.2",
    repository="https://nvidia.github.io/dcgm-exporter/helm-charts",
)
NVIDIA_DEVICE_PLUGIN = ChartPin(
    name="nvidia-device-plugin",
    version="0.18.2",
    repository="https://nvidia.github.io/k8s-device-plugin",
)

# KEDA 2.20.2: the chart and the operator share the version. Its CRDs come from the operator's Go
# module at the same tag (KEDA_MODULE_VERSION), installed by us, never by the chart.
KEDA = ChartPin(
    name="keda",
    version="2.20.2",
    repository="https://kedacore.github.io/charts",
)
KEDA_MODULE_VERSION = "v2.20.2"

# --- Monitoring --------------------------------------------------------------------------------
# The operator version kube-prometheus-stack's pinned chart deploys: its CRDs are the stack's.
PROMETHEUS_OPERATOR = "v0.85.0"
# Prometheus v3.6.0, the version kube-prometheus-stack 77.14.0 deploys. Prometheus 3 publishes its
# Go module as v0.3XX.Y for release 3.XX.Y.
PROMETHEUS_RELEASE = "3.6.0"
PROMETHEUS_MODULE_VERSION = "v0.306.0"
# Alertmanager v0.28.1, the image kube-prometheus-stack 77.14.0 deploys
# (alertmanager.alertmanagerSpec.image.tag); amtool, built from the same module, checks our
# Alertmanager config and its routes.
ALERTMANAGER_VERSION = "v0.28.1"

# --- Serving -----------------------------------------------------------------------------------
# TF Serving: the base of every model image (the -gpu variant for models with GPUs).
TF_SERVING_IMAGE = "tensorflow/serving"
TF_SERVING_VERSION = "2.18.0"

# --- Developer tools ---------------------------------------------------------------------------
ACTIONLINT_VERSION = "1.7.12"
