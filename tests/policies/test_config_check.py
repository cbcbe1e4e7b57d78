"""Each stack's policy config against the pack's schemas: the shipped files pass, and each kind of
mistake the CLI would let through is named with the file, the policy and the setting."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from policies.config_check import SUPPORTED_KEYWORDS, check_file, main
from policies.rules import ALL
from tests.support.mocks import ROOT

LOCAL = json.loads((ROOT / "policies/config/local.json").read_text())


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_the_shipped_configs_are_valid(stack: str) -> None:
    assert check_file(ROOT / f"policies/config/{stack}.json") == []


def keywords(schema: Mapping[str, Any]) -> set[str]:
    """Every JSON Schema keyword in `schema`, nested ones (items, properties) included."""
    found = set(schema)
    if "items" in schema:
        found |= keywords(schema["items"])
    for nested in schema.get("properties", {}).values():
        found |= keywords(nested)
    return found


def test_every_rule_setting_uses_only_the_keywords_checked() -> None:
    for rule in ALL:
        for key, schema in rule.schema().items():
            assert keywords(schema) <= SUPPORTED_KEYWORDS, f"{rule.name}.{key}: {sorted(schema)}"


# A well-formed exemption; the cases below break one field each.
EXEMPTION = {"resource": "Deployment a/b", "findings": ["b: a finding"], "reason": "ten chars+"}


def written(tmp_path: Path, config: Any) -> Path:
    path = tmp_path / "local.json"
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"gpu-budget": {"gpuBudget": -3}},
            "gpu-budget.gpuBudget: -3 is below the minimum 0",
        ),
        (
            {"gpu-budget": {"gpuBugdet": 2}},
            "gpu-budget.gpuBugdet: unknown setting (the policy's settings: fleetPeakGpus, "
            "gpuBudget, gpuCapacity)",
        ),
        ({"gpu-resorces": {"maxGpusPerPod": 1}}, "gpu-resorces: no such policy in the pack"),
        (
            {"image-pull-policy": {"allowedPolicies": ["Always", "Sometimes"]}},
            'image-pull-policy.allowedPolicies[1]: "Sometimes" is not one of '
            '["Always", "IfNotPresent", "Never"]',
        ),
        ({"gpu-budget": {"gpuBudget": "8"}}, 'gpu-budget.gpuBudget: "8" is not of type integer'),
        ({"gpu-budget": {"gpuBudget": True}}, "gpu-budget.gpuBudget: true is not of type integer"),
        ({"probes": "mandtory"}, 'probes: "mandtory" is not one of'),
        ({"all": "strict"}, 'all: "strict" is not one of'),
        (
            {"image-provenance": {"allowedRegistries": ["ok", 5]}},
            "image-provenance.allowedRegistries[1]: 5 is not of type string",
        ),
        (
            {"probes": {"exemptions": [{"resource": "Deployment a/b", "findings": ["x"]}]}},
            "probes.exemptions[0]: reason is required",
        ),
        (
            {"probes": {"exemptions": [{**EXEMPTION, "reason": "because"}]}},
            'probes.exemptions[0].reason: "because" is shorter than 10 characters',
        ),
        (
            {"probes": {"exemptions": [{**EXEMPTION, "findings": []}]}},
            "probes.exemptions[0].findings: has 0 items, fewer than 1",
        ),
        (
            {"probes": {"exemptions": [{**EXEMPTION, "resource": "a/b"}]}},
            'probes.exemptions[0].resource: "a/b" does not match',
        ),
        (
            {"probes": {"exemptions": [{**EXEMPTION, "reasons": "a second reason"}]}},
            "probes.exemptions[0].reasons: unknown key (allowed: resource, findings, reason)",
        ),
        (
            {"gpu-budget": {"exemptions": [EXEMPTION]}},
            "gpu-budget.exemptions: unknown setting",
        ),
    ],
)
def test_a_mistake_is_named_with_the_file_policy_and_setting(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    path = written(tmp_path, {**LOCAL, **change})
    problems = check_file(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {problem}"), problems


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path, '{"all": "mandatory", "all": "advisory"}')
    assert check_file(path) == [
        f"{path}: not valid JSON: duplicate key 'all'; the second would silently replace the first"
    ]


def test_the_command_fails_with_one_error_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, {**LOCAL, "gpu-budget": {"gpuBudget": -1, "gpuCapacity": -2}})
    assert main([str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: invalid policy config: {path}: gpu-budget.gpuBudget: -1 is below the minimum 0",
        f"error: invalid policy config: {path}: gpu-budget.gpuCapacity: -2 is below the minimum -1",
    ]
