"""Each model's monitoring objects: valid against the pinned prometheus-operator CRDs, every PromQL
expression parsed by promtool, and a dashboard Grafana's dashboard model accepts."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from components.catalog.load import load_catalog
from components.catalog.spec import ModelSpec
from components.facts import labels
from components.monitoring import alerts, scrape
from components.monitoring import dashboard as grafana
from components.serving import builders as serving
from tests.support.mocks import ROOT
from tests.support.monitoring_checks import (
    assert_rules_parse,
    dashboard_problems,
    dashboard_recording_rules,
    promtool_check_rules,
    validate_custom_resource,
)

NAMESPACE = "models"
CPU_ALERTS = [
    "ModelLatencyP99AboveSlo",
    "ModelErrorRateAboveSlo",
    "ModelNoReadyReplicas",
    "ModelContainerOomKilled",
]
GPU_ALERTS = [*CPU_ALERTS, "ModelGpuSaturated", "ModelGpuIdle"]


def shipped() -> dict[str, ModelSpec]:
    return {entry.spec.name: entry.spec for entry in load_catalog(ROOT / "models", 1, None)}


@pytest.fixture(scope="module")
def specs() -> dict[str, ModelSpec]:
    return shipped()


@pytest.mark.parametrize("model", ["iris", "digits"])
def test_service_monitor_scrapes_the_models_rest_port_at_tf_servings_metrics_path(
    specs: dict[str, ModelSpec], model: str
) -> None:
    spec = specs[model]
    monitor = scrape.service_monitor(spec, NAMESPACE)
    validate_custom_resource(monitor)
    service = serving.service(spec, NAMESPACE)
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    port_names = [port["name"] for port in service["spec"]["ports"]]
    assert endpoint["port"] in port_names and endpoint["path"] == serving.METRICS_PATH
    assert monitor["metadata"]["labels"][labels.MODEL_LABEL] == model


@pytest.mark.gobuild  # promtool, built from its Go module on first use
@pytest.mark.parametrize("model", ["iris", "digits"])
def test_prometheus_rule_fits_the_pinned_crd_and_promtool_parses_every_alert(
    specs: dict[str, ModelSpec], model: str, tmp_path: Path
) -> None:
    rule = alerts.prometheus_rule(specs[model], NAMESPACE)
    validate_custom_resource(rule)
    assert_rules_parse(rule["spec"]["groups"], tmp_path)


def test_schema_check_rejects_a_misspelled_field(specs: dict[str, ModelSpec]) -> None:
    monitor = scrape.service_monitor(specs["iris"], NAMESPACE)
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate_custom_resource(monitor)


@pytest.mark.gobuild  # promtool, built from its Go module on first use
def test_promtool_rejects_a_broken_expression(specs: dict[str, ModelSpec], tmp_path: Path) -> None:
    groups = alerts.rule_groups(specs["iris"], NAMESPACE)
    groups[0]["rules"][0]["expr"] = "sum(rate(:tensorflow:serving:request_count[5m]) > "
    result = promtool_check_rules(groups, tmp_path)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_cpu_models_get_the_slo_alerts_and_gpu_models_the_gpu_alerts_too(
    specs: dict[str, ModelSpec],
) -> None:
    assert [a.name for a in alerts.alerts(specs["iris"], NAMESPACE)] == CPU_ALERTS
    assert [a.name for a in alerts.alerts(specs["digits"], NAMESPACE)] == GPU_ALERTS


def test_alert_thresholds_come_from_the_spec_in_the_metrics_units(
    specs: dict[str, ModelSpec],
) -> None:
    spec = specs["iris"].model_copy(
        update={
            "slo": specs["iris"].slo.model_copy(update={"p99_latency_ms": 75, "error_rate": 0.02})
        }
    )
    by_name = {alert.name: alert for alert in alerts.alerts(spec, NAMESPACE)}
    latency = by_name["ModelLatencyP99AboveSlo"].expr
    # TF Serving records microseconds: the quantile is divided into milliseconds, then compared.
    assert "histogram_quantile(0.99," in latency and latency.endswith("/ 1000 > 75")
    assert by_name["ModelErrorRateAboveSlo"].expr.endswith(" > 0.02")
    rule = by_name["ModelLatencyP99AboveSlo"].rule(spec)
    assert rule["labels"] == {"severity": "critical", "model": "iris", "owner": spec.owner}


def test_a_canary_is_watched_and_starting_one_changes_no_monitoring_object(
    specs: dict[str, ModelSpec],
) -> None:
    spec = ModelSpec.model_validate(
        {
            **specs["iris"].model_dump(),
            "serving": {"active": 2, "canary": {"version": 1, "percent": 50}},
            "replicas": {"min": 2, "max": 6},
        }
    )
    replicas = {a.name: a for a in alerts.alerts(spec, NAMESPACE)}["ModelNoReadyReplicas"]
    assert 'deployment=~"iris-stable|iris-canary"' in replicas.expr
    without = specs["iris"].model_copy(update={"replicas": spec.replicas})
    assert alerts.prometheus_rule(spec, NAMESPACE) == alerts.prometheus_rule(without, NAMESPACE)
    assert grafana.dashboard(spec, NAMESPACE) == grafana.dashboard(without, NAMESPACE)


@pytest.mark.gobuild  # promtool, built from its Go module on first use
@pytest.mark.parametrize("model", ["iris", "digits"])
def test_dashboard_is_valid_grafana_json_and_promtool_parses_every_panel_query(
    specs: dict[str, ModelSpec], model: str, tmp_path: Path
) -> None:
    spec = specs[model]
    config_map = grafana.dashboard_config_map(spec, NAMESPACE)
    assert config_map["metadata"]["labels"][labels.DASHBOARD_LABEL] == labels.DASHBOARD_LABEL_VALUE
    dashboard = json.loads(config_map["data"][grafana.dashboard_file(spec)])
    assert dashboard_problems(dashboard) == []
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert titles[:4] == [
        "Requests per second by status",
        "Latency percentiles",
        "Server error ratio",
        "Ready replicas",
    ]
    assert ("GPU utilisation" in titles) == spec.uses_gpus
    assert ("GPU memory used" in titles) == spec.uses_gpus
    assert_rules_parse(dashboard_recording_rules(dashboard), tmp_path)


def test_dashboard_check_catches_a_field_grafana_does_not_know(
    specs: dict[str, ModelSpec],
) -> None:
    dashboard = grafana.dashboard(specs["iris"], NAMESPACE)
    dashboard["panels"][0]["options"]["legend"]["placment"] = "bottom"
    dashboard["graphTooltipp"] = 1
    assert dashboard_problems(dashboard) == [
        "not in Grafana's dashboard schema: .graphTooltipp",
        "not in Grafana's dashboard schema: .panels[0].options.legend.placment",
    ]


def test_latency_panel_marks_the_slo_target(specs: dict[str, ModelSpec]) -> None:
    dashboard = grafana.dashboard(specs["iris"], NAMESPACE)
    (latency,) = [p for p in dashboard["panels"] if p["title"] == "Latency percentiles"]
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": specs["iris"].slo.p99_latency_ms}
    assert [t["legendFormat"] for t in latency["targets"]] == [
        "p50 {{gpu_model_platform_track}}",
        "p90 {{gpu_model_platform_track}}",
        "p99 {{gpu_model_platform_track}}",
    ]


def test_dashboard_json_is_compact_and_stable(specs: dict[str, ModelSpec]) -> None:
    # The engine keeps this text three times in state and rewrites the state after every step:
    # no indentation (a third more bytes), and keys sorted so that rebuilding it plans no change.
    spec = specs["digits"]
    text = grafana.dashboard_config_map(spec, NAMESPACE)["data"][grafana.dashboard_file(spec)]
    assert "\n" not in text
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    assert (
        text == grafana.dashboard_config_map(spec, NAMESPACE)["data"][grafana.dashboard_file(spec)]
    )
