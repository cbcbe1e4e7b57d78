"""The `local` stack with the real engine: preview, up, schema-valid manifests, no perpetual diff,
a clean destroy, and a bad config value that stops everything without touching what is deployed."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import outputs
from components.cluster import KUBERNETES_VERSION
from tests.engine import LocalStack, copy_repository
from tests.monitoring_checks import (
    assert_rules_parse,
    dashboard_problems,
    dashboard_recording_rules,
    validate_custom_resource,
)
from tools.operator_crds import PROMETHEUS_OPERATOR_VERSION

pytestmark = pytest.mark.engine

MODELS = ("digits", "iris")
SERVING_OBJECTS = (
    ("ServiceAccount", "serving"),
    ("ConfigMap", "tfserving"),
    ("Deployment", "stable"),
    ("HorizontalPodAutoscaler", "stable"),
    ("Service", "serving"),
    ("PodDisruptionBudget", "serving"),
    ("NetworkPolicy", "serving"),
)
MONITORING_OBJECTS = (
    ("ServiceMonitor", "serving"),
    ("PrometheusRule", "slo"),
    ("ConfigMap", "dashboard"),
)
# Without chart sources (the local default) only the CRDs of the kinds the models use.
OPERATOR_CRDS = ("prometheusrules.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com")
# The stack, the cluster component and its provider, the namespaces component and two namespaces,
# the monitoring component and its CRDs, then per model its serving component and objects and its
# monitoring component and objects.
COMPONENTS = 3 + len(MODELS) * 2
RENDERED = 2 + len(OPERATOR_CRDS) + len(MODELS) * (len(SERVING_OBJECTS) + len(MONITORING_OBJECTS))
EXPECTED_RESOURCES = 1 + COMPONENTS + 1 + RENDERED


def user_env() -> dict[str, str]:
    """The environment of a user's shell: `make` must choose the backend, passphrase and Python."""
    dropped = {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_PYTHON_CMD", "MAKEFLAGS"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack.create(tmp_path_factory.mktemp("local"))
    preview = stack.preview()
    assert f"+ {EXPECTED_RESOURCES} to create" in preview.stdout, preview.stdout
    stack.up()
    yield stack


def rendered(stack: LocalStack) -> dict[str, dict[str, Any]]:
    documents = {}
    for path in sorted(stack.manifests.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents[str(path.relative_to(stack.manifests))] = document
    return documents


def stable_name(document: dict[str, Any]) -> str:
    """The object's name, less the random suffix Pulumi gives the unnamed (immutable) ConfigMaps."""
    name: str = document["metadata"]["name"]
    return re.sub(r"-[a-z0-9]{8}$", "", name) if document["kind"] == "ConfigMap" else name


def test_up_renders_the_namespaces_and_both_models_and_exports_them(deployed: LocalStack) -> None:
    kinds = sorted((d["kind"], stable_name(d)) for d in rendered(deployed).values())
    assert kinds == sorted(
        [("Namespace", "gpu-platform"), ("Namespace", "models")]
        + [("CustomResourceDefinition", name) for name in OPERATOR_CRDS]
        + [
            (kind, f"{model}-{suffix}")
            for model in MODELS
            for kind, suffix in SERVING_OBJECTS + MONITORING_OBJECTS
        ]
    )
    exported = deployed.outputs()
    assert exported[outputs.CLUSTER_MODE] == "render"
    assert exported[outputs.RENDER_DIRECTORY] == "build/manifests/local"
    assert exported[outputs.NAMESPACES] == {"platform": "gpu-platform", "models": "models"}
    assert exported[outputs.MODELS]["iris"]["versions"] == {"stable": 2}
    assert exported[outputs.MODELS]["digits"]["versions"] == {"stable": 1}
    assert exported[outputs.MODELS]["iris"]["images"]["stable"].startswith(
        "registry.local:5000/gpu-model-platform/iris:v2-"
    )


def test_every_rendered_manifest_is_valid_against_the_kubernetes_schema(
    deployed: LocalStack,
) -> None:
    documents = rendered(deployed)
    assert documents
    for path, document in documents.items():
        if document["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # not Kubernetes' own kinds: checked against their CRDs below
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path}: {error.message}")


def test_both_models_render_their_service_monitor_rules_and_dashboard(
    deployed: LocalStack, tmp_path: Path
) -> None:
    by_kind: dict[tuple[str, str], dict[str, Any]] = {
        (d["kind"], stable_name(d)): d for d in rendered(deployed).values()
    }
    for model in MODELS:
        monitor = by_kind[("ServiceMonitor", f"{model}-serving")]
        rule = by_kind[("PrometheusRule", f"{model}-slo")]
        for document in (monitor, rule):
            validate_custom_resource(document)
        assert_rules_parse(rule["spec"]["groups"], tmp_path)
        config_map = by_kind[("ConfigMap", f"{model}-dashboard")]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (dashboard_json,) = config_map["data"].values()
        dashboard = json.loads(dashboard_json)
        assert dashboard_problems(dashboard) == []
        assert_rules_parse(dashboard_recording_rules(dashboard), tmp_path)
    crds = [d for d in rendered(deployed).values() if d["kind"] == "CustomResourceDefinition"]
    versions = {d["metadata"]["annotations"]["operator.prometheus.io/version"] for d in crds}
    assert versions == {PROMETHEUS_OPERATOR_VERSION.removeprefix("v")}


def test_preview_says_the_monitoring_charts_are_skipped(deployed: LocalStack) -> None:
    output = deployed.preview().stdout
    assert "prometheusStackChart is not set, so the kube-prometheus-stack chart" in output
    assert "dcgmExporterChart is not set, so the dcgm-exporter chart" in output


def test_schema_validation_rejects_an_unknown_field() -> None:
    # The check above can fail: strict mode refuses what the API server would drop silently.
    bad = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labelz": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_second_preview_after_up_shows_no_changes(deployed: LocalStack) -> None:
    result = deployed.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_config_value_fails_preview_and_up_and_changes_nothing(
    tmp_path: Path,
) -> None:
    stack = LocalStack.create(tmp_path)
    stack.up()
    before_state = stack.resource_urns()
    before_files = {p: p.read_bytes() for p in stack.manifests.rglob("*.yaml")}

    stack.pulumi("config", "set", "platformNamespace", "Platform_NS")
    for command in (stack.preview, stack.up):
        result = command(check=False)
        assert result.returncode != 0
        assert "invalid stack configuration in Pulumi.local.yaml:" in result.stdout
        assert "gpu-model-platform:platformNamespace: 'Platform_NS' is not a DNS-1123 label" in (
            result.stdout
        )
        assert "Traceback" not in result.stdout + result.stderr

    assert stack.resource_urns() == before_state
    assert {p: p.read_bytes() for p in stack.manifests.rglob("*.yaml")} == before_files


def test_destroy_leaves_the_stack_and_the_render_folder_empty(tmp_path: Path) -> None:
    stack = LocalStack.create(tmp_path)
    stack.up()
    assert list(stack.manifests.rglob("*.yaml"))
    stack.pulumi("destroy", "--yes", "--skip-preview")
    assert stack.resource_urns() == []
    assert list(stack.manifests.rglob("*.yaml")) == []


def test_make_up_twice_on_a_copy_of_the_repository(tmp_path: Path) -> None:
    """The README's main command renders the manifests; run again, it changes nothing."""
    clone = copy_repository(tmp_path / "clone")
    env = user_env()

    first = subprocess.run(["make", "up"], cwd=clone, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    names = {p.name for p in (clone / "build/manifests/local").rglob("*.yaml")}
    assert len(names) == RENDERED, names
    assert {
        "v1-namespace-default-models.yaml",
        "apps_v1-deployment-models-iris-stable.yaml",
    } <= names
    assert (clone / ".pulumi-state").is_dir()

    second = subprocess.run(["make", "up"], cwd=clone, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{EXPECTED_RESOURCES} unchanged" in second.stdout, second.stdout
    assert "to create" not in second.stdout and "created" not in second.stdout
