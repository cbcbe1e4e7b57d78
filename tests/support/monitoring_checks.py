"""Checks of monitoring objects shared by the unit and integration tests: the pinned CRDs' schemas,
promtool (Prometheus's own parser) and Grafana's dashboard model."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from components.monitoring.crds import CrdLoader, crd_files
from toolchain.promtool import ensure_promtool

KIND_PLURALS = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}
# Grafana's built-in variables in panel queries, and what Prometheus sees in their place.
GRAFANA_VARIABLES = {"$__rate_interval": "5m"}


def _strict(schema: Any) -> Any:
    """The CRD's structural schema, refusing unknown fields (the API server would prune them)."""
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        closed = not schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and "additionalProperties" not in schema and closed:
            strict["additionalProperties"] = False
        if isinstance(schema.get("pattern"), str) and "(?i)" in schema["pattern"]:
            # Go's regexp takes flags anywhere, Python's only at the start.
            strict["pattern"] = "(?i)" + schema["pattern"].replace("(?i)", "")
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    document = yaml.load(crd_files()[KIND_PLURALS[kind]].read_text(), Loader=CrdLoader)
    (version,) = [v for v in document["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


def validate_custom_resource(document: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when the object does not fit the pinned CRD."""
    assert document["apiVersion"] == "monitoring.coreos.com/v1"
    jsonschema.validate(document, crd_schema(document["kind"]))


def promtool_check_rules(
    groups: list[dict[str, Any]], workdir: Path
) -> subprocess.CompletedProcess[str]:
    rules = workdir / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return subprocess.run(
        [str(ensure_promtool()), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_rules_parse(groups: list[dict[str, Any]], workdir: Path) -> None:
    result = promtool_check_rules(groups, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group["rules"]) for group in groups)
    assert f"SUCCESS: {count} rules found" in result.stdout, result.stdout


def as_prometheus_query(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    leftover = re.findall(r"\$\{?\w+", expr)
    if leftover:
        pytest.fail(f"unknown Grafana variables {leftover} in {expr}")
    return expr


def dashboard_recording_rules(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel query as a recording rule, so promtool parses it like an alert's expression."""
    rules = [
        {
            "record": f"dashboard:panel_{panel['id']}_{target['refId'].lower()}",
            "expr": as_prometheus_query(target["expr"]),
        }
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]
    return [{"name": f"dashboard-{dashboard['uid']}", "rules": rules}]


def _lost_keys(original: Any, decoded: Any, path: str = "") -> list[str]:
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [path or "."]
        lost = [f"{path}.{key}" for key in original if key not in decoded]
        for key in original.keys() & decoded.keys():
            lost += _lost_keys(original[key], decoded[key], f"{path}.{key}")
        return lost
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [path]
        return [
            k
            for n, (a, b) in enumerate(zip(original, decoded, strict=True))
            for k in _lost_keys(a, b, f"{path}[{n}]")
        ]
    return [] if original == decoded else [f"{path} ({original!r} became {decoded!r})"]


def dashboard_problems(dashboard: dict[str, Any]) -> list[str]:
    """What Grafana's dashboard model (grafana-foundation-sdk, generated from Grafana's schemas)
    does not know or would change, plus the rules the model cannot express."""
    register_default_plugins()
    decoded = json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))
    problems = [
        f"not in Grafana's dashboard schema: {key}" for key in _lost_keys(dashboard, decoded)
    ]
    uid = dashboard.get("uid", "")
    if not 8 <= len(uid) <= 40:
        problems.append(f"uid {uid!r} is not 8 to 40 characters")
    ids = [panel["id"] for panel in dashboard["panels"]]
    if len(set(ids)) != len(ids):
        problems.append(f"panel ids repeat: {ids}")
    for panel in dashboard["panels"]:
        if not panel["targets"]:
            problems.append(f"panel {panel['title']!r} has no query")
        for target in panel["targets"]:
            if not target.get("expr"):
                problems.append(f"panel {panel['title']!r} query {target['refId']} is empty")
    return problems


def selects(selector: dict[str, Any] | None, object_labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector matches `object_labels`. An empty selector ({})
    selects everything; an absent one (None) nothing, as the operator reads its selectors."""
    if selector is None:
        return False
    if not all(object_labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value = object_labels.get(expression["key"])
        operator, values = expression["operator"], expression.get("values") or []
        holds = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }[operator]
        if not holds:
            return False
    return True
