"""The policy report's exemptions: each one the config grants is listed with its reason, and the
summary counts only those whose object the preview holds."""

from __future__ import annotations

from typing import Any

from commands.policy_report import build_report, summary

EXEMPT = {
    "resource": "DaemonSet node-agents/dcgm-exporter",
    "findings": ["dcgm-exporter/exporter: runs as UID 0"],
    "reason": "DCGM's profiling counters need root",
}
ABSENT = {
    "resource": "Deployment gpu-platform/gone",
    "findings": ["gone: a finding", "gone: another"],
    "reason": "an object this preview does not hold",
}
CONFIG = {"all": "mandatory", "pod-security": {"exemptions": [EXEMPT, ABSENT]}}


def pre_event(typ: str, name: str, namespace: str) -> dict[str, Any]:
    inputs = {"metadata": {"name": name, "namespace": namespace}}
    return {
        "resourcePreEvent": {
            "metadata": {"op": "create", "type": typ, "new": {"inputs": inputs}, "old": None}
        }
    }


EVENTS = [
    pre_event("kubernetes:apps/v1:DaemonSet", "dcgm-exporter", "node-agents"),
    {
        "policyAnalyzeSummaryEvent": {
            "policyPackName": "gpu-model-platform",
            "policyPackVersion": "0.0.1",
            "passed": ["pod-security"],
        }
    },
]


def test_every_granted_exemption_is_in_the_report_marked_if_its_object_was_previewed() -> None:
    report = build_report(EVENTS, "local", CONFIG)
    assert report["exemptions"] == [
        {"policy": "pod-security", **EXEMPT, "inPreview": True},
        {"policy": "pod-security", **ABSENT, "inPreview": False},
    ]
    assert report["passed"] is True


def test_the_summary_counts_only_the_exemptions_of_previewed_objects() -> None:
    lines = summary(build_report(EVENTS, "local", CONFIG)).splitlines()
    assert lines[1:] == [
        "  exempt by the pack's config: 1 findings in 1 exemptions, on 1 objects",
        "  [exempt] pod-security (DaemonSet node-agents/dcgm-exporter): 1 finding(s): "
        "DCGM's profiling counters need root",
        "  1 exemptions of the pack's config name objects not in this preview",
    ]
