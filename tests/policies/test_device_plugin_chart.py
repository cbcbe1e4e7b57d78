"""The NVIDIA device plugin's chart objects against the pack on dev and prod: every finding is one
the stack's policy config exempts by name, and every exemption of those objects is found.

The objects are the chart's as its templates render them with our values (tests/support/
device_plugin_chart.py: transcribed, since no helm runs under mocks); the last test holds that
transcription's host access to the templates' text."""

from __future__ import annotations

import pytest

from components.aws import device_plugin
from components.facts.namespaces import NODE_AGENTS_NAMESPACE
from components.target.cluster import DEVICE_PLUGIN
from policies.rules import ALL
from policies.support import EXEMPTIONS_KEY, resource_id
from tests.support.device_plugin_chart import CHART_DIR, rendered
from tests.support.policy_config import findings, rule_settings

OBJECTS = rendered(DEVICE_PLUGIN, NODE_AGENTS_NAMESPACE)
IDS = {resource_id(typ, obj) for typ, obj in OBJECTS}

pytestmark = pytest.mark.skipif(
    not (CHART_DIR / "Chart.yaml").is_file(), reason=f"the pinned chart is not at {CHART_DIR}"
)


def test_the_chart_renders_two_daemonsets_in_the_node_agents_namespace() -> None:
    assert {
        "DaemonSet node-agents/nvidia-device-plugin",
        "DaemonSet node-agents/nvidia-device-plugin-mps-control-daemon",
    } == IDS
    plugin = OBJECTS[0][1]["spec"]["template"]["spec"]
    # GPU placement from components/facts/gpu.py, through the values.
    values = device_plugin.chart_values()
    assert plugin["affinity"] == values["affinity"]
    assert plugin["tolerations"] == values["tolerations"]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_its_findings_are_exactly_the_listed_exemptions(environment: str) -> None:
    for rule in ALL:
        if rule.stack_level:
            continue
        config = rule_settings(rule, environment)
        listed = {
            (e["resource"], finding): e["reason"]
            for e in config[EXEMPTIONS_KEY]
            if e["resource"] in IDS
            for finding in e["findings"]
        }
        found = set()
        for typ, obj in OBJECTS:
            raw = rule.check(typ, obj, config, *((False,) if rule.reads_protect else ()))
            found |= {(resource_id(typ, obj), finding) for finding in raw}
            # With the exemptions applied, nothing is left and none is stale.
            assert findings(rule, typ, obj, config, False) == [], (rule.name, typ)
        assert found == set(listed), rule.name
        assert all(len(reason) >= 10 for reason in listed.values()), rule.name


def test_the_transcription_keeps_to_the_templates() -> None:
    templates = CHART_DIR / "templates"
    plugin_template = (templates / "daemonset-device-plugin.yml").read_text()
    mps_template = (templates / "daemonset-mps-control-daemon.yml").read_text()
    (_, plugin), (_, mps) = OBJECTS
    for obj, template in ((plugin, plugin_template), (mps, mps_template)):
        pod = obj["spec"]["template"]["spec"]
        for volume in pod["volumes"]:
            assert f"- name: {volume['name']}" in template, volume
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert f"name: {container['name']}" in template, container["name"]
        # Every hostPath volume of the template is transcribed.
        assert template.count("hostPath:") == len(pod["volumes"]) + (
            1 if obj is plugin else 0  # driver-root, only with nvidiaDriverRoot set (not ours)
        )
    assert mps_template.count("privileged: true") == 2
    assert "hostPID" not in mps["spec"]["template"]["spec"]
    assert "{{- if .Values.mps.enableHostPID }}" in mps_template
