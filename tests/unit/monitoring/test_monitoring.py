"""The monitoring platform under mocks: charts pinned and skipped when no source is set, CRDs with
one owner, the Grafana password generated once, and per-model objects on every stack."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from components.facts.gpu import gpu_node_affinity, gpu_toleration
from components.facts.versions import KEDA
from components.monitoring import values
from components.monitoring.component import as_the_api_server_stores
from components.monitoring.generated_password import ALPHABET, PasswordProvider
from components.settings import charts
from components.settings.charts import load_values
from components.settings.load import ConfigError, parse_settings
from components.settings.monitoring import PrometheusResources
from tests.support.mocks import RecordingMocks, run_program, stack_config

HELM_TEMPLATE = "kubernetes:helm:template"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
MODELS = ("digits", "iris")


def monitoring_crds(mocks: RecordingMocks) -> list[Any]:
    """The prometheus-operator CRDs (KEDA's are components.autoscaling's)."""
    return [r for r in mocks.of_type(CRD) if r.inputs["metadata"]["name"].endswith(".coreos.com")]


def monitoring_charts(mocks: RecordingMocks) -> dict[str, Any]:
    """What each monitoring chart is rendered with: helm.v3.Chart's `helm template` invoke."""
    rendered = [
        json.loads(call.args["jsonOpts"]) for call in mocks.calls if call.token == HELM_TEMPLATE
    ]
    return {
        opts["release_name"]: opts
        for opts in rendered
        if opts["release_name"] in (charts.KUBE_PROMETHEUS_STACK.name, charts.DCGM_EXPORTER.name)
    }


class PasswordMocks(RecordingMocks):
    """Also answers for the dynamic password resource, as its provider would."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == "pulumi-python:dynamic:Resource":
            outputs = {**outputs, "result": "generated-by-the-provider"}
        return resource_id, outputs


def fake_chart(directory: Path, pin: charts.ChartPin) -> Path:
    directory.mkdir(parents=True)
    (directory / "Chart.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v2", "name": pin.name, "version": pin.version})
    )
    return directory


def test_local_without_chart_sources_warns_and_still_registers_each_models_monitoring(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        mocks = run_program(stack_config("local", chartsDirectory="no/charts/here"))
    assert monitoring_charts(mocks) == {}
    assert mocks.of_type("pulumi-python:dynamic:Resource") == []
    warnings = [r.getMessage() for r in caplog.records if "monitoring:" in r.getMessage()]
    assert len(warnings) == 2
    assert (
        "prometheusStackChart is not set and chartsDirectory holds no kube-prometheus-stack chart"
        in warnings[0]
    )
    assert "dcgmExporterChart is not set and chartsDirectory holds no dcgm-exporter" in warnings[1]
    # Only the CRDs of the kinds the models use.
    crds = sorted(r.inputs["metadata"]["name"] for r in monitoring_crds(mocks))
    assert crds == [
        "prometheusrules.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
    ]
    for kind in ("ServiceMonitor", "PrometheusRule"):
        found = mocks.of_type(f"kubernetes:monitoring.coreos.com/v1:{kind}")
        assert sorted(
            r.inputs["metadata"]["labels"]["gpu-model-platform/model"] for r in found
        ) == [*MODELS]
    dashboards = [
        r for r in mocks.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("-dashboard")
    ]
    assert sorted(r.inputs["metadata"]["name"] for r in dashboards) == [
        "digits-dashboard",
        "iris-dashboard",
    ]


def test_models_monitoring_waits_for_the_crds() -> None:
    mocks = run_program(stack_config("local"))
    crd_urns = {mocks.registration(r).urn for r in monitoring_crds(mocks)}
    for component in mocks.of_type("gpu-model-platform:monitoring:ModelMonitoring"):
        assert crd_urns <= set(mocks.registration(component).dependencies), component.name


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_aws_stacks_deploy_both_pinned_charts_from_their_repositories(environment: str) -> None:
    mocks = run_program(stack_config(environment), stack=environment, mocks=PasswordMocks())
    found = monitoring_charts(mocks)
    stack = found["kube-prometheus-stack"]
    assert (stack["chart"], stack["version"]) == ("kube-prometheus-stack", "77.14.0")
    assert stack["fetch_opts"] == {"repo": charts.KUBE_PROMETHEUS_STACK.repository}
    assert stack["namespace"] == "gpu-platform" and stack["skip_crd_rendering"] is True
    # Rendered for the pinned release and the operator's API versions, never Helm's v1.20.
    assert stack["kube_version"] == "1.33.13"
    assert "monitoring.coreos.com/v1/ServiceMonitor" in stack["api_versions"]
    values = stack["values"]
    assert values["crds"] == {"enabled": False}
    spec = values["prometheus"]["prometheusSpec"]
    expected = {"dev": ("15d", "500m", "2Gi"), "prod": ("30d", "1", "4Gi")}[environment]
    assert (spec["retention"], spec["resources"]["requests"]["cpu"]) == expected[:2]
    assert spec["resources"]["limits"] == {"memory": expected[2]}
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert values["alertmanager"]["enabled"] is True
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "node-agents"
    (secret,) = mocks.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["namespace"] == "gpu-platform"
    assert values["grafana"]["admin"]["existingSecret"] == secret.inputs["metadata"]["name"]
    # The engine receives the password wrapped as a secret: encrypted in state, hidden in output.
    wrapped = secret.inputs["stringData"]
    assert wrapped[rpc._special_sig_key] == rpc._special_secret_sig
    assert wrapped["value"] == {
        "admin-user": "admin",
        "admin-password": "generated-by-the-provider",
    }
    dcgm = found["dcgm-exporter"]
    assert (dcgm["version"], dcgm["namespace"]) == ("4.8.2", "node-agents")
    assert dcgm["values"]["tolerations"] == [gpu_toleration()]
    assert dcgm["values"]["affinity"] == gpu_node_affinity()
    assert dcgm["values"]["serviceMonitor"]["honorLabels"] is True
    # With the operator deployed, every CRD it reads; none from the chart (skipCrds).
    assert len(monitoring_crds(mocks)) == 10


def test_grafana_admin_password_is_generated_once_and_kept_secret() -> None:
    mocks = run_program(stack_config("dev"), stack="dev")
    (password,) = mocks.of_type("pulumi-python:dynamic:Resource")
    assert password.inputs["length"] == values.GRAFANA_PASSWORD_LENGTH
    provider = PasswordProvider()
    created = provider.create({"length": 32})
    assert created.outs is not None
    value = created.outs["result"]
    assert len(value) == 32 and set(value) <= set(ALPHABET)
    assert provider.create({"length": 32}).outs != created.outs
    # Same inputs on the next run: no diff, so the stored password stays.
    assert provider.diff("id", created.outs, {"length": 32, "result": None}).changes is False
    assert provider.diff("id", created.outs, {"length": 40, "result": None}).replaces == ["length"]


def test_alert_routes_from_config_become_alertmanager_routes_and_receivers() -> None:
    routes = [
        {"name": "ml-oncall", "matchers": ['severity="critical"'], "webhookUrl": "https://h/x"},
        {
            "name": "ml-team",
            "matchers": ['team="ml"', 'severity=~"warning|info"'],
            "webhookUrl": "http://y",
        },
    ]
    settings = parse_settings(stack_config("local", alertRoutes=routes), "test")
    config = values.alertmanager_config(list(settings.alert_routes))
    assert [r["receiver"] for r in config["route"]["routes"]] == ["null", "ml-oncall", "ml-team"]
    assert config["route"]["routes"][2]["matchers"] == ['team="ml"', 'severity=~"warning|info"']
    assert config["receivers"][1] == {
        "name": "ml-oncall",
        "webhook_configs": [{"url": "https://h/x", "send_resolved": True}],
    }


def test_local_chart_directory_at_the_pinned_version_is_used(tmp_path: Path) -> None:
    directory = fake_chart(tmp_path / "kps", charts.KUBE_PROMETHEUS_STACK)
    settings = parse_settings(stack_config("local", prometheusStackChart=str(directory)), "test")
    source = charts.chart_source(settings.prometheus_stack_chart, charts.KUBE_PROMETHEUS_STACK)
    assert source == charts.ChartSource(str(directory), None, None)
    relative = charts.chart_source("vendor/charts/kps", charts.KUBE_PROMETHEUS_STACK)
    assert relative.chart == "./vendor/charts/kps"
    oci = charts.chart_source("oci://registry.example/charts", charts.DCGM_EXPORTER)
    assert oci == charts.ChartSource("oci://registry.example/charts/dcgm-exporter", "4.8.2", None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no/such/dir", "is neither a Helm repository URL"),
        ("WRONG_VERSION", "is kube-prometheus-stack 76.0.0; the platform pins"),
    ],
)
def test_bad_chart_source_names_the_key(tmp_path: Path, value: str, message: str) -> None:
    if value == "WRONG_VERSION":
        pin = charts.ChartPin("kube-prometheus-stack", "76.0.0", "")
        value = str(fake_chart(tmp_path / "old", pin))
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", prometheusStackChart=value), "Pulumi.local.yaml")
    text = str(error.value)
    assert "invalid stack configuration in Pulumi.local.yaml" in text
    assert "gpu-model-platform:prometheusStackChart:" in text and message in text


def test_local_takes_a_chart_left_empty_from_the_charts_directory(tmp_path: Path) -> None:
    fake_chart(tmp_path / "kube-prometheus-stack", charts.KUBE_PROMETHEUS_STACK)
    settings = parse_settings(stack_config("local", chartsDirectory=str(tmp_path)), "test")
    assert (
        settings.chart_source(charts.KUBE_PROMETHEUS_STACK) == f"{tmp_path}/kube-prometheus-stack"
    )
    # Not there: skipped, as before.
    assert settings.chart_source(charts.DCGM_EXPORTER) == ""
    # KEDA's key stays explicit: its helm.v4.Chart cannot render for the stack's version.
    fake_chart(tmp_path / "keda", KEDA)
    settings = parse_settings(stack_config("local", chartsDirectory=str(tmp_path)), "test")
    assert settings.chart_source(KEDA) == ""
    assert settings.chart_kubernetes_version == "1.33.13"
    # A chart of another version there is refused, naming chartsDirectory.
    fake_chart(tmp_path / "dcgm-exporter", charts.ChartPin("dcgm-exporter", "3.0.0", ""))
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", chartsDirectory=str(tmp_path)), "Pulumi.local.yaml")
    assert "gpu-model-platform:chartsDirectory:" in str(error.value)
    assert "is dcgm-exporter 3.0.0; the platform pins dcgm-exporter 4.8.2" in str(error.value)


def test_kubernetes_version_is_validated() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", kubernetesVersion="v1.33"), "Pulumi.local.yaml")
    assert "gpu-model-platform:kubernetesVersion: 'v1.33' is not a Kubernetes release" in str(
        error.value
    )


def test_dev_and_prod_require_both_chart_sources() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("dev", dcgmExporterChart=""), "Pulumi.dev.yaml")
    assert "gpu-model-platform:dcgmExporterChart: required on dev" in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("prometheusRetention", "15 days", "is not a Prometheus duration"),
        ("prometheusResources", {"cpu": "lots", "memory": "2Gi"}, "is not a CPU quantity"),
        (
            "alertRoutes",
            [{"name": "x", "matchers": ["severity: critical"], "webhookUrl": "https://h"}],
            "is not an Alertmanager matcher",
        ),
        (
            "alertRoutes",
            [{"name": "null", "matchers": ['a="b"'], "webhookUrl": "https://h"}],
            "names must be unique and not 'null'",
        ),
    ],
)
def test_bad_monitoring_settings_are_named(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", **{key: value}), "Pulumi.local.yaml")
    assert message in str(error.value)


def test_values_files_leave_config_owned_keys_to_the_code(tmp_path: Path) -> None:
    clashing = tmp_path / "values.yaml"
    clashing.write_text("prometheus:\n  prometheusSpec:\n    retention: 1d\n")
    with pytest.raises(ValueError, match=r"sets prometheus\.prometheusSpec\.retention"):
        load_values(clashing, values.PROMETHEUS_STACK_OWNED, values.OWNER)
    # The shipped files pass.
    values.prometheus_stack_values(
        "15d", PrometheusResources(cpu="1", memory="1Gi"), [], "s", "node-agents"
    )
    values.dcgm_exporter_values()


@pytest.mark.parametrize("on_cluster", [False, True])
def test_grafana_password_is_never_rendered_to_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, on_cluster: bool
) -> None:
    """Render mode writes every object to files in plain text: there, no password is generated
    and no Secret rendered, Grafana still names the Secret and the log says how to create it. On
    a cluster the password is generated and kept, encrypted, in state."""
    chart = fake_chart(tmp_path / "kps", charts.KUBE_PROMETHEUS_STACK)
    overrides: dict[str, Any] = {"prometheusStackChart": str(chart)}
    if on_cluster:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
        overrides["kubeconfig"] = str(kubeconfig)
    with caplog.at_level(logging.INFO):
        mocks = run_program(stack_config("local", **overrides), mocks=PasswordMocks())
    grafana = monitoring_charts(mocks)["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == values.GRAFANA_ADMIN_SECRET
    secrets = [
        r
        for r in mocks.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == values.GRAFANA_ADMIN_SECRET
    ]
    passwords = mocks.of_type("pulumi-python:dynamic:Resource")
    told = [r.getMessage() for r in caplog.records if "admin Secret" in r.getMessage()]
    if on_cluster:
        assert len(secrets) == 1 and len(passwords) == 1 and told == []
    else:
        assert secrets == [] and passwords == []
        (message,) = told
        assert "kubectl create secret generic grafana-admin -n gpu-platform" in message


def test_an_empty_rules_list_is_dropped_as_the_api_server_drops_it() -> None:
    role: dict[str, Any] = {"kind": "Role", "metadata": {"name": "r"}, "rules": []}
    as_the_api_server_stores(role, pulumi.ResourceOptions())
    assert role == {"kind": "Role", "metadata": {"name": "r"}}
    granted = {"kind": "ClusterRole", "rules": [{"verbs": ["get"]}]}
    as_the_api_server_stores(granted, pulumi.ResourceOptions())
    assert granted["rules"] == [{"verbs": ["get"]}]
    other: dict[str, Any] = {"kind": "ConfigMap", "rules": []}
    as_the_api_server_stores(other, pulumi.ResourceOptions())
    assert other == {"kind": "ConfigMap", "rules": []}
