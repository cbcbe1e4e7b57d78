"""Every model's alerts proven by `promtool test rules` (tests/support/alert_cases.py): each fires
just above its threshold once its `for:` window has passed, with the model's labels and
annotations, and stays silent just below; a rule mutated without its spec fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.catalog.load import load_catalog
from components.catalog.spec import ModelSpec
from components.monitoring.alerts import rule_groups
from tests.support.alert_cases import EXPECTED, promtool_test_rules
from tests.support.mocks import ROOT

# Runs a tool built from its Go module (make test builds it first; make unit leaves it out).
pytestmark = pytest.mark.gobuild

NAMESPACE = "models"
MODELS = ("iris", "digits")


@pytest.fixture(scope="module")
def specs() -> dict[str, ModelSpec]:
    return {entry.spec.name: entry.spec for entry in load_catalog(ROOT / "models", 1, None)}


@pytest.mark.parametrize("model", MODELS)
def test_each_alert_fires_above_its_threshold_after_its_window_and_not_below(
    specs: dict[str, ModelSpec], model: str, tmp_path: Path
) -> None:
    spec = specs[model]
    result, count = promtool_test_rules(spec, NAMESPACE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {rule["alert"] for group in rule_groups(spec, NAMESPACE) for rule in group["rules"]}
    # Two cases (above, below) per alert, and every alert the model has is covered.
    assert count == 2 * len(alerts)
    assert alerts <= EXPECTED.keys()
    assert ("ModelGpuSaturated" in alerts) is spec.uses_gpus


def _mutated(spec: ModelSpec, alert: str, change: str) -> list[dict[str, Any]]:
    groups = rule_groups(spec, NAMESPACE)
    (rule,) = [r for g in groups for r in g["rules"] if r["alert"] == alert]
    if change == "threshold":
        # The comparison's constant, off by one.
        number = re.search(r"(==|[<>]) ([0-9.e-]+)$", rule["expr"])
        assert number, rule["expr"]
        value = float(number.group(2))
        bumped = value + 1 if value >= 1 else value * 2
        rule["expr"] = rule["expr"][: number.start(2)] + f"{bumped:g}"
    elif change == "window":
        minutes = int(rule["for"].removesuffix("m").removesuffix("h")) * (
            60 if rule["for"].endswith("h") else 1
        )
        rule["for"] = f"{minutes + 2}m"
    elif change == "severity":
        rule["labels"]["severity"] = "info" if rule["labels"]["severity"] != "info" else "warning"
    return groups


MUTATIONS = [
    (model, alert, change)
    for model in MODELS
    for alert in EXPECTED
    if model == "digits" or not alert.startswith("ModelGpu")
    for change in ("threshold", "window", "severity")
]


@pytest.mark.parametrize(("model", "alert", "change"), MUTATIONS)
def test_a_rule_changed_without_its_spec_fails(
    specs: dict[str, ModelSpec], model: str, alert: str, change: str, tmp_path: Path
) -> None:
    spec = specs[model]
    result, _ = promtool_test_rules(spec, NAMESPACE, tmp_path, _mutated(spec, alert, change))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout + result.stderr
    assert alert in result.stdout + result.stderr
