"""The pack run by the real engine on previews of the local stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from commands.engine_events import read_events
from commands.policy_report import build_report, summary
from policies.rules import ALL
from tests.support.engine import ROOT, LocalStack, copy_model

pytestmark = pytest.mark.engine


def pack(environment: str) -> list[str]:
    return [
        "--policy-pack",
        str(ROOT / "policies"),
        "--policy-pack-config",
        str(ROOT / "policies" / "config" / f"{environment}.json"),
    ]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    yield LocalStack.create(tmp_path)


def add_greedy_model(stack: LocalStack) -> None:
    """A copy of digits that passes its gate and model.yaml validation, but asks for 128Gi."""
    resources = yaml.safe_load((ROOT / "models/digits/model.yaml").read_text())["resources"]
    copy_model(stack, "digits", "greedy", resources={**resources, "memory": "128Gi"})


VIOLATION = "greedy-stable/tfserving: memory limit 128Gi is over the ceiling 64Gi"
STREAMING = {"PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "1"}


def test_the_shipped_models_pass_the_pack(stack: LocalStack) -> None:
    result = stack.preview(*pack("local"))
    assert "✅ gpu-model-platform" in result.stdout, result.stdout


def test_a_model_breaking_a_mandatory_rule_fails_preview_and_up_with_nothing_deployed(
    stack: LocalStack,
) -> None:
    add_greedy_model(stack)
    preview = stack.preview(*pack("local"), check=False)
    assert preview.returncode != 0
    assert "[mandatory] [severity: high]  container-resources" in preview.stdout, preview.stdout
    assert VIOLATION in preview.stdout

    up = stack.pulumi("up", "--yes", *pack("local"), check=False)
    assert up.returncode != 0
    assert VIOLATION in up.stdout
    assert stack.resource_urns() == []
    assert not stack.manifests.exists() or not list(stack.manifests.rglob("*.yaml"))


def test_in_dev_the_same_violation_is_advisory(stack: LocalStack) -> None:
    add_greedy_model(stack)
    preview = stack.preview(*pack("dev"), check=False)
    assert preview.returncode == 0, preview.stdout
    assert "[advisory] [severity: high]  container-resources" in preview.stdout, preview.stdout


def test_a_preview_yields_a_machine_readable_report_and_a_summary(stack: LocalStack) -> None:
    add_greedy_model(stack)
    events = stack.pulumi(
        "preview", "--json", *pack("local"), check=False, extra_env=STREAMING
    ).stdout.splitlines()
    report = build_report(read_events(events), "local")
    assert report["passed"] is False
    assert report["mandatoryViolations"] == 1 and report["advisoryViolations"] == 0
    (violation,) = report["violations"]
    assert violation == {
        "policy": "container-resources",
        "severity": "high",
        "enforcement": "mandatory",
        "resource": violation["resource"],
        "message": VIOLATION,
    }
    assert violation["resource"].endswith("kubernetes:apps/v1:Deployment::greedy-stable")
    assert len(report["policies"]) == len(ALL)
    assert summary(report).splitlines() == [
        f"policies (local): gpu-model-platform@0.0.1, {len(ALL)} policies: 1 mandatory and 0 "
        "advisory violations",
        f"  [mandatory/high] container-resources (greedy-stable): {VIOLATION}",
    ]
