"""KedaAutoscaling under mocks: the KEDA chart pinned, deployed from its repository on dev and
prod with the values the code owns, skipped with a warning on local, and refused where Helm
cannot render it; the triggers' Prometheus from config."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from components.autoscaling import values
from components.settings.load import ConfigError, parse_settings
from tests.support.keda import CHART
from tests.support.mocks import run_program, stack_config

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_aws_stacks_deploy_the_pinned_keda_chart_without_its_crds(environment: str) -> None:
    mocks = run_program(stack_config(environment), stack=environment)
    (chart,) = [r for r in mocks.of_type(CHART_TYPE) if r.name == "keda"]
    inputs = chart.inputs
    assert (inputs["chart"], inputs["version"]) == ("keda", "2.20.2")
    assert inputs["repositoryOpts"] == {"repo": "https://kedacore.github.io/charts"}
    assert inputs["namespace"] == "gpu-platform"
    assert inputs["values"]["crds"] == {"install": False}
    assert inputs["values"]["watchNamespace"] == "models"
    (scaled,) = mocks.of_type(SCALED_OBJECT)
    trigger = scaled.inputs["spec"]["triggers"][0]["metadata"]
    assert trigger["serverAddress"] == (
        "http://kube-prometheus-stack-prometheus.gpu-platform.svc:9090"
    )


def test_local_without_the_chart_warns_and_still_registers_the_scaled_objects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        mocks = run_program(stack_config("local", autoscalingPrometheusUrl="http://127.0.0.1:9"))
    assert [r for r in mocks.of_type(CHART_TYPE) if r.name == "keda"] == []
    warnings = [r.getMessage() for r in caplog.records if "autoscaling:" in r.getMessage()]
    assert warnings == [values.skipped_warning("kedaChart")]
    (scaled,) = mocks.of_type(SCALED_OBJECT)
    assert scaled.inputs["spec"]["triggers"][0]["metadata"]["serverAddress"] == "http://127.0.0.1:9"


def test_the_chart_without_a_cluster_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", kedaChart=str(CHART)), "Pulumi.local.yaml")
    assert (
        "gpu-model-platform:kedaChart: needs a cluster (kubeconfig): rendered without one, Helm "
        "assumes Kubernetes 1.20 and the keda chart requires 1.23 or later"
    ) in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("kedaChart", "no/such/dir", "is neither a Helm repository URL"),
        ("autoscalingPrometheusUrl", "prometheus:9090", "String should match pattern"),
    ],
)
def test_bad_autoscaling_settings_are_named(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(stack_config("local", **{key: value}), "Pulumi.local.yaml")
    assert f"gpu-model-platform:{key}:" in str(error.value) and message in str(error.value)


def test_the_values_file_leaves_the_owned_keys_to_the_code(tmp_path: Path) -> None:
    bad = tmp_path / "keda-values.yaml"
    bad.write_text("crds:\n  install: true\n")
    with pytest.raises(ValueError, match=r"sets crds\.install: components/autoscaling/values\.py"):
        values.keda_values("models", values_file=bad)
