"""The NVIDIA device plugin's chart as dev and prod deploy it, rendered for real and judged by the
pack through the engine: every finding on its objects is one the stack's policy config exempts by
name, and every exemption of those objects is found.

Under mocks no chart renders, so the render is the engine's: the NvidiaDevicePlugin component in a
small program (tests/support/device_plugin_program) whose render-mode Kubernetes provider expands
the pinned chart from the directory at CHART_DIR with our values, previewed with the pack, once
with the stack's config as it is and once with its exemptions taken out (which shows what they
cover)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.engine_events import steps
from components.aws import device_plugin
from components.facts import gpu
from components.facts.namespaces import NODE_AGENTS_NAMESPACE
from components.facts.versions import NVIDIA_DEVICE_PLUGIN
from components.settings.charts import local_chart_problem
from components.target.cluster import DEVICE_PLUGIN
from policies.docs import environment_config
from policies.kube import resource_id
from policies.support import EXEMPTIONS_KEY
from tests.support.engine import ROOT
from tests.support.parity import EngineVerdicts, PackPreview

PROGRAM = ROOT / "tests" / "support" / "device_plugin_program"
# The pinned chart, unpacked outside the project (it is never copied in).
CHART_DIR = ROOT.parent / "shared" / "charts" / NVIDIA_DEVICE_PLUGIN.name
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
PLUGIN = f"DaemonSet {NODE_AGENTS_NAMESPACE}/{DEVICE_PLUGIN}"
MPS = f"DaemonSet {NODE_AGENTS_NAMESPACE}/{DEVICE_PLUGIN}-mps-control-daemon"

CHART_PROBLEM = local_chart_problem(str(CHART_DIR), NVIDIA_DEVICE_PLUGIN, ROOT)
pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(CHART_PROBLEM is not None, reason=f"no pinned chart: {CHART_PROBLEM}"),
]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackPreview]:
    preview = PackPreview(
        PROGRAM, Path(tmp_path_factory.mktemp("device-plugin")), {"PYTHONPATH": str(ROOT)}
    )
    preview.stack.pulumi("config", "set", "chartDirectory", str(CHART_DIR))
    yield preview


def without_exemptions(config: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**rule, EXEMPTIONS_KEY: []} if isinstance(rule, dict) else rule
        for name, rule in config.items()
    }


def chart_objects(verdicts: EngineVerdicts) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Exemption id -> (URN, type, inputs) of every Kubernetes object the chart rendered."""
    return {
        resource_id(step.type, step.new): (step.urn, step.type, step.new)
        for step in steps(verdicts.events)
        if step.new is not None and "$kubernetes:helm.sh/v4:Chart$" in step.urn
    }


def findings_on(
    verdicts: EngineVerdicts, objects: dict[str, tuple[str, str, dict[str, Any]]]
) -> set[tuple[str, str, str]]:
    """(rule, object, finding) of every finding the engine reported on the chart's objects."""
    ids = {urn: object_id for object_id, (urn, _, _) in objects.items()}
    return {
        (rule, ids[urn], finding)
        for (rule, urn), found in verdicts.by_resource.items()
        if urn in ids
        for finding in found
    }


@pytest.fixture(scope="module", params=["dev", "prod"])
def environment(request: pytest.FixtureRequest) -> str:
    environment: str = request.param
    return environment


@pytest.fixture(scope="module")
def raw(program: PackPreview, environment: str) -> EngineVerdicts:
    """The pack at the stack's settings, without any exemption."""
    config = without_exemptions(environment_config(environment))
    return program.preview_with_pack(f"{environment}-raw", config)


def test_the_chart_renders_two_daemonsets_on_gpu_nodes_in_node_agents(
    raw: EngineVerdicts,
) -> None:
    objects = chart_objects(raw)
    # No ConfigMap, ServiceAccount or RBAC (no config file, no MIG strategy, GFD and NFD off).
    assert set(objects) == {PLUGIN, MPS}, raw.output[-3000:]
    assert {typ for _, typ, _ in objects.values()} == {DAEMONSET}
    values = device_plugin.chart_values()
    for object_id, (_, _, daemonset) in objects.items():
        assert daemonset["metadata"]["namespace"] == NODE_AGENTS_NAMESPACE
        pod = daemonset["spec"]["template"]["spec"]
        # GPU placement from components/facts/gpu.py: every GPU node, its taint tolerated.
        assert pod["affinity"] == gpu.gpu_node_affinity(), object_id
        assert pod["tolerations"] == [gpu.gpu_toleration()], object_id
        assert pod["priorityClassName"] == values["priorityClassName"]
        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert (
                container["image"]
                == f"nvcr.io/nvidia/k8s-device-plugin:v{NVIDIA_DEVICE_PLUGIN.version}"
            )
            assert container["resources"] == values["resources"], container["name"]
    mps = objects[MPS][2]["spec"]["template"]["spec"]
    # The MPS daemon runs only where GPU Feature Discovery (off) labels a node MPS-capable, and
    # without the host's PID namespace.
    assert mps["nodeSelector"] == {"nvidia.com/mps.capable": "true"}
    assert "hostPID" not in mps


def test_every_finding_on_the_chart_is_exempt_by_name_and_every_exemption_is_found(
    program: PackPreview, raw: EngineVerdicts, environment: str
) -> None:
    config = environment_config(environment)
    objects = chart_objects(raw)
    found = findings_on(raw, objects)
    listed = {
        (rule, exemption["resource"], finding)
        for rule, settings in config.items()
        if isinstance(settings, dict)
        for exemption in settings.get(EXEMPTIONS_KEY, [])
        if exemption["resource"] in objects
        for finding in exemption["findings"]
    }
    assert found, raw.output[-3000:]  # a pack that never ran would pass vacuously
    assert sorted(found - listed) == [], "found, not exempt"
    assert sorted(listed - found) == [], "exempt, not found"
    # No exemption names a device-plugin object the chart does not render.
    named = {
        exemption["resource"]
        for settings in config.values()
        if isinstance(settings, dict)
        for exemption in settings.get(EXEMPTIONS_KEY, [])
        if exemption["resource"].startswith(f"DaemonSet {NODE_AGENTS_NAMESPACE}/{DEVICE_PLUGIN}")
    }
    assert named == set(objects)
    # And the pack as the stack runs it, exemptions applied, reports nothing on the chart: no
    # finding left, no stale exemption.
    applied = program.preview_with_pack(environment, config)
    assert findings_on(applied, chart_objects(applied)) == set(), applied.output[-3000:]
    print(
        f"{environment}: {len(found)} findings on {len(objects)} objects, all exempt; "
        f"previews {raw.seconds:.1f}s and {applied.seconds:.1f}s"
    )
