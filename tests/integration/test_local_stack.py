"""The `local` stack with the real engine: preview, up, schema-valid manifests, no perpetual diff,
a clean destroy, and a bad config value that stops everything without touching what is deployed."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import outputs
from components.facts.versions import KUBERNETES_VERSION, PROMETHEUS_OPERATOR
from components.serving.admission import POLICY_NAME
from tests.support.engine import LocalStack, copy_repository, run_make, user_env
from tests.support.keda import validate_scaled_object
from tests.support.monitoring_checks import (
    assert_rules_parse,
    dashboard_problems,
    dashboard_recording_rules,
    validate_custom_resource,
)

pytestmark = pytest.mark.engine

MODELS = ("digits", "iris")
SERVING_OBJECTS = (
    ("ServiceAccount", "serving"),
    ("ConfigMap", "tfserving"),
    ("Deployment", "stable"),
    ("Service", "serving"),
    ("PodDisruptionBudget", "serving"),
    ("NetworkPolicy", "serving"),
)
# iris scales on CPU through its HPA; digits on its request rate through KEDA.
AUTOSCALERS = {"iris": "HorizontalPodAutoscaler", "digits": "ScaledObject"}
KEDA_CRDS = (
    "cloudeventsources.eventing.keda.sh",
    "clustercloudeventsources.eventing.keda.sh",
    "clustertriggerauthentications.keda.sh",
    "scaledjobs.keda.sh",
    "scaledobjects.keda.sh",
    "triggerauthentications.keda.sh",
)
MONITORING_OBJECTS = (
    ("ServiceMonitor", "serving"),
    ("PrometheusRule", "slo"),
    ("ConfigMap", "dashboard"),
)
# Without chart sources (the local default) only the CRDs of the kinds the models use.
OPERATOR_CRDS = ("prometheusrules.monitoring.coreos.com", "servicemonitors.monitoring.coreos.com")
# The stack, the cluster component and its provider, the namespaces component, three namespaces
# (platform, models, node agents) and the models namespace's GPU quota, the gated-image admission
# component with its policy and binding, the monitoring component and its CRDs, the autoscaling
# component and KEDA's CRDs, then per model its serving component and objects (an autoscaler each)
# and its monitoring component and objects.
COMPONENTS = 5 + len(MODELS) * 2
RENDERED = (
    6
    + len(OPERATOR_CRDS)
    + len(KEDA_CRDS)
    + len(MODELS) * (len(SERVING_OBJECTS) + 1 + len(MONITORING_OBJECTS))
)
EXPECTED_RESOURCES = 1 + COMPONENTS + 1 + RENDERED


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
        [
            ("Namespace", "gpu-platform"),
            ("Namespace", "models"),
            ("Namespace", "node-agents"),
            ("ResourceQuota", "gpu-quota"),
        ]
        + [
            ("ValidatingAdmissionPolicy", POLICY_NAME),
            ("ValidatingAdmissionPolicyBinding", POLICY_NAME),
        ]
        + [("CustomResourceDefinition", name) for name in OPERATOR_CRDS + KEDA_CRDS]
        + [
            (kind, f"{model}-{suffix}")
            for model in MODELS
            for kind, suffix in SERVING_OBJECTS + MONITORING_OBJECTS
        ]
        + [(kind, f"{model}-stable") for model, kind in AUTOSCALERS.items()]
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
        if document["apiVersion"] == "keda.sh/v1alpha1":
            validate_scaled_object(document)
            continue
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
    crds = [
        d
        for d in rendered(deployed).values()
        if d["kind"] == "CustomResourceDefinition" and d["spec"]["group"] == "monitoring.coreos.com"
    ]
    versions = {d["metadata"]["annotations"]["operator.prometheus.io/version"] for d in crds}
    assert versions == {PROMETHEUS_OPERATOR.removeprefix("v")}


def test_preview_says_the_monitoring_charts_are_skipped(deployed: LocalStack) -> None:
    output = deployed.preview().stdout
    assert "prometheusStackChart is not set and chartsDirectory holds no kube-prometheus" in output
    assert "dcgmExporterChart is not set and chartsDirectory holds no dcgm-exporter" in output
    assert "kedaChart is not set, so the keda chart (2.20.2) is skipped" in output


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

    first = run_make(clone, "up", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    names = {p.name for p in (clone / "build/manifests/local").rglob("*.yaml")}
    assert len(names) == RENDERED, names
    assert {
        "v1-namespace-default-models.yaml",
        "apps_v1-deployment-models-iris-stable.yaml",
    } <= names
    assert (clone / ".pulumi-state").is_dir()

    second = run_make(clone, "up", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{EXPECTED_RESOURCES} unchanged" in second.stdout, second.stdout
    assert "to create" not in second.stdout and "created" not in second.stdout


def test_make_preview_needs_no_go_once_set_up(tmp_path: Path) -> None:
    """The program only reads files: with the toolchain and CRDs cached and `go` off PATH, the
    preview a user or CI runs works."""
    clone = copy_repository(tmp_path / "clone")
    env = user_env()
    # Every folder holding a `go` leaves PATH (the setup's own bin folder is prepended by make).
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env["PATH"].split(os.pathsep)
        if entry and not (Path(entry) / "go").exists()
    )
    assert shutil.which("go", path=env["PATH"]) is None, env["PATH"]
    preview = run_make(clone, "preview", "STACK=local", env=env)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert f"## Preview of `local`: {EXPECTED_RESOURCES} to create" in preview.stdout


def test_a_preview_the_cli_refuses_reads_as_failed_never_as_the_last_run(tmp_path: Path) -> None:
    """A config value of the wrong type stops the CLI before the engine: make exits non-zero, the
    terminal shows the CLI's message, and the summary says failed, not an older run's "no
    changes"."""
    clone = copy_repository(tmp_path / "clone")
    env = user_env()
    first = run_make(clone, "preview", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    stack_file = clone / "Pulumi.local.yaml"
    stack_file.write_text(
        stack_file.read_text() + "config:\n  gpu-model-platform:maxGpusPerPod: many\n"
    )
    failed = run_make(clone, "preview", env=env)
    assert failed.returncode != 0
    message = "configuration key 'maxGpusPerPod' must be of type 'integer'"
    assert message in failed.stderr, failed.stderr
    summary = (clone / "build/preview-summary-local.md").read_text()
    assert "## Preview of `local` failed before the engine ran" in summary
    assert message in summary and "to create" not in summary, summary
    assert not (clone / "build/policy-report-local.json").exists()


def test_a_mistyped_stack_is_refused_not_created(tmp_path: Path) -> None:
    clone = copy_repository(tmp_path / "clone")
    result = run_make(clone, "preview", "STACK=lcoal")
    assert result.returncode != 0
    assert "STACK=lcoal: there is no Pulumi.lcoal.yaml; the stacks are: dev local prod" in (
        result.stderr
    )
    assert not (clone / ".pulumi-state/.pulumi/stacks/gpu-model-platform/lcoal.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "  gpu-model-platfrom:maxGpusPerPod: 2\n",
            "gpu-model-platfrom:maxGpusPerPod: unknown namespace 'gpu-model-platfrom'; nothing "
            "reads it (the namespaces read are gpu-model-platform:, pulumi:, docker:)",
        ),
        (
            "  gpu-model-platform:maxGpusPerPod: 1\n  gpu-model-platform:maxGpusPerPod: 2\n",
            'line {second}: mapping key "gpu-model-platform:maxGpusPerPod" already defined at '
            "line {first}",
        ),
    ],
)
def test_a_stack_file_typo_is_refused_not_ignored(tmp_path: Path, extra: str, message: str) -> None:
    """A key under a mistyped namespace (the program refuses it) and a key written twice (the
    CLI refuses it, naming both lines) stop the preview; neither falls back to a default."""
    stack = LocalStack.create(tmp_path)
    stack_file = stack.project / "Pulumi.local.yaml"
    before = stack_file.read_text()
    stack_file.write_text(before + "config:\n" + extra)
    first = len(before.splitlines()) + 2
    message = message.format(first=first, second=first + 1)
    result = stack.preview(check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_bad_policy_config_fails_make_preview_and_up_naming_the_file(tmp_path: Path) -> None:
    """A negative budget and a misspelt setting, which the CLI lets through as defaults: make
    exits non-zero before the engine runs, the terminal names file, policy and setting, and the
    summary says failed."""
    clone = copy_repository(tmp_path / "clone")
    config_file = clone / "policies/config/local.json"
    config = json.loads(config_file.read_text())
    config["gpu-budget"] = {"gpuBudget": -3, "gpuBugdet": 2}
    config_file.write_text(json.dumps(config))
    expected = [
        "error: invalid policy config: policies/config/local.json: gpu-budget.gpuBudget: -3 is "
        "below the minimum 0",
        "error: invalid policy config: policies/config/local.json: gpu-budget.gpuBugdet: unknown "
        "setting (the policy's settings: fleetPeakGpus, gpuBudget, gpuCapacity)",
    ]
    env = user_env()
    preview = run_make(clone, "preview", env=env)
    assert preview.returncode != 0
    for line in expected:
        assert line in preview.stderr, preview.stderr
    summary = (clone / "build/preview-summary-local.md").read_text()
    assert "## Preview of `local` failed before the engine ran" in summary, summary
    assert all(line.removeprefix("error: ") in summary for line in expected), summary
    up = run_make(clone, "up", env=env)
    assert up.returncode != 0
    assert expected[0] in up.stderr, up.stderr
    assert not (clone / "build/manifests/local").exists()


def test_make_drift_in_render_mode_says_there_is_no_cluster_and_succeeds(tmp_path: Path) -> None:
    """Rendering has no cluster to refresh from: a refresh would read every object as unreachable
    (it used to fail with the provider's advice to drop them all from state)."""
    clone = copy_repository(tmp_path / "clone")
    env = user_env()
    up = run_make(clone, "up", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "--refresh" not in up.stdout
    drift = run_make(clone, "drift", env=env)
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert (
        "[drift] local renders manifests to files (no kubeconfig): there is no cluster to refresh "
        "from, so nothing can have drifted"
    ) in drift.stdout
    assert "PULUMI_K8S_DELETE_UNREACHABLE" not in drift.stdout + drift.stderr
