"""The CRDs the stack installs are upstream's less the schema's prose (facts/crd_schema.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from components.autoscaling.crds import crd_bodies as keda_crd_bodies
from components.autoscaling.crds import crd_files as keda_crd_files
from components.facts.crd_schema import stored_crd_spec, without_descriptions
from components.monitoring.crds import OPERATOR_CRD_PLURALS, CrdLoader, crd_files
from components.monitoring.crds import crd_bodies as operator_crd_bodies


def paths(node: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf of `node` with its path (list items under "[]")."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*at, key))
    elif isinstance(node, list):
        for item in node:
            yield from paths(item, (*at, "[]"))
    else:
        yield at, node


def upstream_specs() -> dict[str, dict[str, Any]]:
    files = [*crd_files(OPERATOR_CRD_PLURALS).values(), *keda_crd_files()]
    documents = [yaml.load(path.read_text(), Loader=CrdLoader) for path in files]
    return {document["metadata"]["name"]: document["spec"] for document in documents}


def installed_specs() -> dict[str, dict[str, Any]]:
    bodies = [*operator_crd_bodies(OPERATOR_CRD_PLURALS).values(), *keda_crd_bodies().values()]
    return {body["metadata"]["name"]: body["spec"] for body in bodies}


def test_description_strings_go_and_a_property_named_description_stays() -> None:
    schema = {
        "description": "a thing",
        "type": "object",
        "properties": {
            "description": {"description": "the field called description", "type": "string"},
            "items": {"type": "array", "items": {"description": "x", "type": "integer"}},
        },
        "anyOf": [{"description": "y", "required": ["items"]}],
    }
    assert without_descriptions(schema) == {
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "items": {"type": "array", "items": {"type": "integer"}},
        },
        "anyOf": [{"required": ["items"]}],
    }


def test_only_the_openapi_schemas_lose_their_prose() -> None:
    spec: dict[str, Any] = {
        "group": "example.com",
        "versions": [
            {
                "name": "v1",
                "additionalPrinterColumns": [{"name": "Age", "description": "kept"}],
                "schema": {"openAPIV3Schema": {"description": "gone", "type": "object"}},
            },
            {"name": "v2"},
        ],
    }
    stored = stored_crd_spec(spec)
    assert stored["versions"][0]["schema"] == {"openAPIV3Schema": {"type": "object"}}
    columns = stored["versions"][0]["additionalPrinterColumns"]
    assert columns == [{"name": "Age", "description": "kept"}]
    assert stored["versions"][1] == {"name": "v2"}
    assert spec["versions"][0]["schema"]["openAPIV3Schema"]["description"] == "gone"  # not mutated


def test_installed_crds_are_upstream_less_every_description_string_and_nothing_else() -> None:
    upstream, installed = upstream_specs(), installed_specs()
    assert installed.keys() == upstream.keys()
    for name, spec in upstream.items():
        kept = [
            (path, value)
            for path, value in paths(spec)
            if not (
                path[-1] == "description" and isinstance(value, str) and "openAPIV3Schema" in path
            )
        ]
        assert list(paths(installed[name])) == kept, name
    # AlertmanagerConfig has receivers' fields named `description`: they are schema, kept.
    receivers = installed["alertmanagerconfigs.monitoring.coreos.com"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]["properties"]["spec"]["properties"]["receivers"]["items"]["properties"]
    assert receivers["pagerdutyConfigs"]["items"]["properties"]["description"]["type"] == "string"


def test_the_crds_are_a_quarter_of_their_upstream_size() -> None:
    size = {
        label: sum(len(json.dumps(spec)) for spec in specs.values())
        for label, specs in (("upstream", upstream_specs()), ("installed", installed_specs()))
    }
    assert size["installed"] < 0.3 * size["upstream"], size
