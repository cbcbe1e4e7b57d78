"""Alertmanager's config from each stack's alertRoutes, checked by amtool at the version the chart
deploys: it loads, and an alert of each severity of each model reaches the receiver the stack
config names (first matching route, else "null"); a route changed in the config but not here
fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.catalog.load import load_catalog
from components.facts.versions import ALERTMANAGER_VERSION
from components.monitoring.alerts import alerts
from components.monitoring.values import alertmanager_config
from components.settings.load import parse_settings
from tests.support.alertmanager_checks import amtool, check_config, routes_to, write_config
from tests.support.mocks import ROOT, stack_config

# Runs a tool built from its Go module (make test builds it first; make unit leaves it out).
pytestmark = pytest.mark.gobuild

ROUTES = [
    {"name": "ml-oncall", "matchers": ['severity="critical"'], "webhookUrl": "https://pager/x"},
    {"name": "ml-team", "matchers": ['severity=~"warning|info"'], "webhookUrl": "https://chat/y"},
]
SEVERITIES = ("critical", "warning", "info")
# The pinned charts, unpacked beside the clone (in CI, ../shared/charts), never in it.
SHARED_CHARTS = ROOT.parent / "shared" / "charts"


def expected_receiver(routes: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """First route whose every matcher holds, as the stack config reads; "null" otherwise."""
    for route in routes:
        holds = True
        for matcher in route["matchers"]:
            found = re.match(r'^(\w+)\s*(=~|!~|!=|=)\s*"(.*)"$', matcher)
            assert found, matcher
            name, operator, value = found.groups()
            actual = labels.get(name, "")
            matched = (
                re.fullmatch(value, actual) is not None if "~" in operator else actual == value
            )
            holds = holds and (matched if operator in ("=", "=~") else not matched)
        if holds:
            return str(route["name"])
    return "null"


def cases(routes: list[dict[str, Any]]) -> list[tuple[dict[str, str], str]]:
    found = []
    for entry in load_catalog(ROOT / "models", 1, None):
        for alert in alerts(entry.spec, "models"):
            labels = {
                "alertname": alert.name,
                "severity": alert.severity,
                "model": entry.spec.name,
                "owner": entry.spec.owner,
                "namespace": "models",
            }
            found.append((labels, expected_receiver(routes, labels)))
    return found


@pytest.mark.parametrize(
    ("stack", "routes"),
    [("local", None), ("dev", None), ("prod", None), ("local", ROUTES)],
    ids=["local", "dev", "prod", "local-with-routes"],
)
def test_each_severity_reaches_the_receiver_the_stack_config_names(
    stack: str, routes: list[dict[str, Any]] | None, tmp_path: Path
) -> None:
    overrides = {} if routes is None else {"alertRoutes": routes}
    config_values = stack_config(stack, **overrides)
    settings = parse_settings(config_values, f"Pulumi.{stack}.yaml")
    path = write_config(alertmanager_config(list(settings.alert_routes)), tmp_path)
    checked = check_config(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout, checked.stdout
    severities = set()
    for labels, receiver in cases(config_values["alertRoutes"]):
        result = routes_to(path, labels, receiver)
        assert result.returncode == 0, f"{labels} -> {receiver}: {result.stdout}{result.stderr}"
        severities.add(labels["severity"])
    assert severities == set(SEVERITIES)
    watchdog = routes_to(path, {"alertname": "Watchdog", "severity": "none"}, "null")
    assert watchdog.returncode == 0, watchdog.stdout + watchdog.stderr


def test_a_route_that_sends_elsewhere_fails(tmp_path: Path) -> None:
    settings = parse_settings(stack_config("local", alertRoutes=ROUTES), "Pulumi.local.yaml")
    config = alertmanager_config(list(settings.alert_routes))
    # Critical alerts sent to the team's chat instead of the pager.
    config["route"]["routes"][1]["receiver"] = "ml-team"
    path = write_config(config, tmp_path)
    assert check_config(path).returncode == 0
    labels = {"alertname": "ModelNoReadyReplicas", "severity": "critical", "model": "iris"}
    result = routes_to(path, labels, expected_receiver(ROUTES, labels))
    assert result.returncode != 0, result.stdout
    assert "ml-team" in result.stdout + result.stderr


def test_check_config_refuses_a_route_to_an_undeclared_receiver(tmp_path: Path) -> None:
    settings = parse_settings(stack_config("local", alertRoutes=ROUTES), "Pulumi.local.yaml")
    config = alertmanager_config(list(settings.alert_routes))
    config["receivers"] = [r for r in config["receivers"] if r["name"] != "ml-oncall"]
    result = check_config(write_config(config, tmp_path))
    assert result.returncode != 0
    assert "ml-oncall" in result.stdout + result.stderr


def test_amtool_is_built_at_the_alertmanager_version_the_pinned_chart_deploys() -> None:
    values_file = SHARED_CHARTS / "kube-prometheus-stack" / "values.yaml"
    if not values_file.is_file():
        pytest.skip(f"the pinned charts are not beside the clone ({values_file} is missing)")
    chart_values = yaml.safe_load(values_file.read_text())
    image = chart_values["alertmanager"]["alertmanagerSpec"]["image"]
    assert image["tag"] == ALERTMANAGER_VERSION
    assert amtool("--version").stdout.startswith(f"amtool, version {ALERTMANAGER_VERSION[1:]} ")
