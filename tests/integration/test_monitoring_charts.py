"""The monitoring charts for real on `local`: the pinned kube-prometheus-stack and dcgm-exporter
charts (from ../shared/charts, beside the clone) rendered by the engine with the policy pack,
and what they render wired to ours: Prometheus selects our ServiceMonitors and PrometheusRules,
Grafana's sidecar loads our dashboards, Alertmanager carries alertRoutes, DCGM's series carry
the pod labels our GPU alerts select on; a second preview plans no change.

Figures (objects per chart, times) go to build/monitoring-figures.json."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from commands.policy_report import build_report
from components.facts import labels
from components.facts.mirrors import UPSTREAM_BY_HOST
from components.monitoring.crds import CrdLoader
from components.monitoring.scrape import GPU_MEMORY_USED_MIB, GPU_UTIL
from components.monitoring.values import GRAFANA_ADMIN_SECRET as ADMIN
from policies.kube import resource_id
from policies.rules import ALL
from policies.rules.kubernetes.image_provenance import RULE as IMAGE_PROVENANCE
from tests.support.engine import ROOT, SKIP_CHECKPOINTS, LocalStack
from tests.support.monitoring_checks import selects
from tests.support.policy_config import findings, rule_settings

pytestmark = pytest.mark.engine

SHARED_CHARTS = ROOT.parent / "shared" / "charts"
ROUTES = [
    {"name": "ml-oncall", "matchers": ['severity="critical"'], "webhookUrl": "https://pager/x"},
]
FIGURES = ROOT / "build" / "monitoring-figures.json"


def pack() -> list[str]:
    config = ROOT / "policies" / "config" / "local.json"
    return ["--policy-pack", str(ROOT / "policies"), "--policy-pack-config", str(config)]


@pytest.fixture(scope="module")
def charted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    if not (SHARED_CHARTS / "kube-prometheus-stack" / "Chart.yaml").is_file():
        pytest.skip(f"the pinned charts are not beside the clone ({SHARED_CHARTS})")
    stack = LocalStack.create(tmp_path_factory.mktemp("charts"))
    # The Grafana password's dynamic provider runs in the project's virtualenv (Pulumi.yaml
    # runtime options), as it does in a clone after `make`.
    (stack.project / ".venv").symlink_to((ROOT / ".venv").resolve())
    stack_file = stack.project / "Pulumi.local.yaml"
    settings = yaml.safe_load(stack_file.read_text()) or {}
    settings.setdefault("config", {}).update(
        {
            "gpu-model-platform:chartsDirectory": str(SHARED_CHARTS),
            "gpu-model-platform:alertRoutes": ROUTES,
        }
    )
    stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    figures: dict[str, Any] = {}
    start = time.monotonic()
    events, output, status = stack.preview_events(*pack())
    figures["previewSeconds"] = round(time.monotonic() - start, 1)
    assert status == 0, output
    config = json.loads((ROOT / "policies" / "config" / "local.json").read_text())
    figures["policy"] = build_report(events, "local", config)
    start = time.monotonic()
    # With a checkpoint after every step, 153 resources took 569 s at a load average of 12;
    # what is checked here is the objects, not the state's history (engine.SKIP_CHECKPOINTS).
    stack.pulumi("up", "--yes", "--skip-preview", *pack(), timeout=1800, extra_env=SKIP_CHECKPOINTS)
    figures["upSeconds"] = round(time.monotonic() - start, 1)
    start = time.monotonic()
    second = stack.preview("--expect-no-changes", *pack(), check=False)
    figures["secondPreviewSeconds"] = round(time.monotonic() - start, 1)
    figures["secondPreviewExit"] = second.returncode
    figures["secondPreview"] = second.stdout[-2000:] + second.stderr[-2000:]
    yield stack, figures
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    figures.pop("policy")
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")


def documents(stack: LocalStack) -> list[dict[str, Any]]:
    found = []
    for path in sorted(stack.manifests.rglob("*.yaml")):
        # The CRDs hold YAML 1.1's `=` tag, which only CrdLoader reads as text.
        found += [d for d in yaml.load_all(path.read_text(), Loader=CrdLoader) if d]
    return found


def one(docs: list[dict[str, Any]], kind: str, name_part: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and name_part in d["metadata"]["name"]]
    return found


def test_chart_objects_pass_the_pack_with_only_the_listed_exemptions(
    charted: tuple[LocalStack, dict[str, Any]],
) -> None:
    stack, figures = charted
    report = figures["policy"]
    assert report["violations"] == [] and report["passed"]
    exempt = report["exemptions"]
    assert exempt and all(e["reason"] for e in exempt)
    resources = stack.state()["deployment"]["resources"]
    charts = {
        r["urn"]: r["urn"].rsplit("::", 1)[-1] for r in resources if r["type"].endswith("v3:Chart")
    }
    per_chart = {
        name: Counter(r["type"].rsplit(":", 1)[-1] for r in resources if r.get("parent") == urn)
        for urn, name in charts.items()
    }
    figures["objectsPerChart"] = {name: sum(kinds.values()) for name, kinds in per_chart.items()}
    figures["kindsPerChart"] = {name: dict(sorted(k.items())) for name, k in per_chart.items()}
    assert set(per_chart) == {"kube-prometheus-stack", "dcgm-exporter"}
    # One owner per CRD: the ten operator CRDs are the monitoring stack's, KEDA's six the
    # autoscaling component's, none comes from a chart.
    crds = [r for r in resources if r["type"].endswith("CustomResourceDefinition")]
    owners = Counter(r["parent"].split("::")[2].rsplit("$", 1)[-1] for r in crds)
    assert owners == {
        "gpu-model-platform:monitoring:MonitoringStack": 10,
        "gpu-model-platform:autoscaling:KedaAutoscaling": 6,
    }
    assert all("CustomResourceDefinition" not in kinds for kinds in per_chart.values())


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_dev_and_prod_exempt_the_same_chart_findings_as_local(
    charted: tuple[LocalStack, dict[str, Any]], environment: str
) -> None:
    """dev and prod render these charts at the same versions and values but for the image
    registries, and only on EKS (under mocks no chart object exists): each resource rule, at that
    stack's settings and exemptions, on the chart objects rendered here with the upstream
    registries. What remains is image-provenance on exactly the images whose upstream ECR caches
    (components/facts/mirrors.py), which dev and prod pull through their cache
    (tests/unit/monitoring/test_chart_images.py checks those values); nvcr.io's DCGM image is
    exempt by name in the pack config. Not shown here: the charts rendered with dev/prod values."""
    stack, _ = charted
    resources = stack.state()["deployment"]["resources"]
    found: dict[tuple[str, str], list[str]] = {}
    for rule in ALL:
        if rule.stack_level:
            continue
        config = rule_settings(rule, environment)
        for r in resources:
            if "helm.sh/v3:Chart" not in r.get("parent", ""):
                continue
            kept = findings(rule, r["type"], r["inputs"], config, False)
            if kept:
                found[(rule.name, resource_id(r["type"], r["inputs"]))] = kept
    assert {rule for rule, _ in found} == {"image-provenance"}, found
    images = {
        finding.split(" image ", 1)[1].split(" ", 1)[0]
        for kept in found.values()
        for finding in kept
    }
    hosts = {image.split("/", 1)[0] for image in images}
    assert hosts and hosts <= set(UPSTREAM_BY_HOST), images
    assert ("image-provenance", "DaemonSet node-agents/dcgm-exporter") not in found
    exempt = rule_settings(IMAGE_PROVENANCE, environment)["exemptions"]
    # Beside DCGM's, only the NVIDIA device plugin's (dev/prod only, not among these charts; its
    # exemptions are held to its real render by tests/policies/test_device_plugin_chart.py).
    assert sorted(e["resource"] for e in exempt) == [
        "DaemonSet node-agents/dcgm-exporter",
        "DaemonSet node-agents/nvidia-device-plugin",
        "DaemonSet node-agents/nvidia-device-plugin-mps-control-daemon",
    ]
    assert all(e["reason"] for e in exempt)


def test_a_second_preview_plans_no_change(charted: tuple[LocalStack, dict[str, Any]]) -> None:
    _, figures = charted
    assert figures["secondPreviewExit"] == 0, figures["secondPreview"]


def test_prometheus_selects_our_service_monitors_and_rules(
    charted: tuple[LocalStack, dict[str, Any]],
) -> None:
    stack, _ = charted
    docs = documents(stack)
    prometheus = one(docs, "Prometheus", "kube-prometheus-stack")["spec"]
    namespaces = {
        d["metadata"]["name"]: d["metadata"].get("labels", {})
        for d in docs
        if d["kind"] == "Namespace"
    }
    for kind, selector, namespace_selector in (
        ("ServiceMonitor", "serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
        ("PrometheusRule", "ruleSelector", "ruleNamespaceSelector"),
    ):
        ours = [
            d
            for d in docs
            if d["kind"] == kind and labels.MODEL_LABEL in d["metadata"].get("labels", {})
        ]
        assert {d["metadata"]["labels"][labels.MODEL_LABEL] for d in ours} == {"iris", "digits"}
        for found in ours:
            assert selects(prometheus.get(selector), found["metadata"]["labels"]), (kind, found)
            namespace = namespaces[found["metadata"]["namespace"]]
            assert selects(prometheus.get(namespace_selector), namespace), (kind, namespace)
    # The DCGM exporter's ServiceMonitor too, in the node agents' namespace.
    dcgm = one(docs, "ServiceMonitor", "dcgm-exporter")
    assert selects(prometheus.get("serviceMonitorSelector"), dcgm["metadata"].get("labels", {}))


def test_grafana_sidecar_loads_our_dashboards(charted: tuple[LocalStack, dict[str, Any]]) -> None:
    stack, _ = charted
    docs = documents(stack)
    grafana = one(docs, "Deployment", "grafana")["spec"]["template"]["spec"]
    (sidecar,) = [c for c in grafana["containers"] if c["name"] == "grafana-sc-dashboard"]
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    dashboards = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")
    ]
    assert {d["metadata"]["labels"][labels.MODEL_LABEL] for d in dashboards} == {"iris", "digits"}
    for dashboard in dashboards:
        assert dashboard["metadata"]["labels"][env["LABEL"]] == env["LABEL_VALUE"]
    assert env["NAMESPACE"] == "ALL"


def test_alertmanager_carries_the_alert_routes(charted: tuple[LocalStack, dict[str, Any]]) -> None:
    stack, _ = charted
    secret = one(documents(stack), "Secret", "alertmanager-kube-prometheus-stack-alertmanager")
    config = yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))
    routes = config["route"]["routes"]
    assert {"receiver": "ml-oncall", "matchers": ['severity="critical"']} in routes
    (receiver,) = [r for r in config["receivers"] if r["name"] == "ml-oncall"]
    assert receiver["webhook_configs"][0]["url"] == "https://pager/x"


def test_dcgm_series_carry_the_pod_labels_our_gpu_alerts_select_on(
    charted: tuple[LocalStack, dict[str, Any]],
) -> None:
    stack, _ = charted
    docs = documents(stack)
    daemonset = one(docs, "DaemonSet", "dcgm-exporter")
    (exporter,) = daemonset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in exporter["env"]}
    # Kubernetes mode: each GPU's series get the namespace, pod and container using it...
    assert env["DCGM_EXPORTER_KUBERNETES"] == "true"
    # ...and Prometheus keeps them as they are (no exported_ prefix).
    (endpoint,) = one(docs, "ServiceMonitor", "dcgm-exporter")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    counters = one(docs, "ConfigMap", "exporter-metrics-config-map")["data"]
    csv = "\n".join(counters.values())
    for series in (GPU_UTIL, GPU_MEMORY_USED_MIB):
        assert f"{series}," in csv, series


def test_render_mode_writes_no_grafana_password(charted: tuple[LocalStack, dict[str, Any]]) -> None:
    """The manifests are plain-text files: Grafana names its admin Secret, which is created out
    of band (README, Monitoring), and no file holds it."""
    stack, _ = charted
    docs = documents(stack)
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == ADMIN]
    grafana = one(docs, "Deployment", "grafana")["spec"]["template"]["spec"]
    (container,) = [c for c in grafana["containers"] if c["name"] == "grafana"]
    named = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert ADMIN in named, container["env"]
