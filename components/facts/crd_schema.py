"""What the stack keeps of an upstream CRD: everything but the prose of its schema.

The prometheus-operator and KEDA CRDs are 2.7 MB of JSON, three quarters of it `description`
strings (the field docs `kubectl explain` prints). Pulumi keeps every object three times in state
(inputs, outputs and the outputs' copy of the inputs), and the file and S3 backends rewrite the
whole state after every step of an update, so those docs were 8 of the 11 MB of a `local` stack's
state with the charts and most of what each step of `make up` wrote. Validation, defaulting, pruning
and printer columns come from the rest of the schema, which is kept as upstream wrote it; the field
docs stay in the upstream CRD files and in the operators' API references.
"""

from __future__ import annotations

from typing import Any

DESCRIPTION = "description"


def without_descriptions(schema: Any) -> Any:
    """`schema` (an OpenAPI v3 schema) with every `description` string removed, at any depth.
    Only string values go: a property *named* `description` is a schema (a mapping) and stays."""
    if isinstance(schema, dict):
        return {
            key: without_descriptions(value)
            for key, value in schema.items()
            if not (key == DESCRIPTION and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [without_descriptions(item) for item in schema]
    return schema


def stored_crd_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A CRD's spec as the stack installs it: each version's openAPIV3Schema without its prose,
    the rest (group, names, scope, versions, conversion, printer columns) untouched."""
    versions = []
    for version in spec["versions"]:
        schema = version.get("schema", {}).get("openAPIV3Schema")
        if schema is not None:
            version = {
                **version,
                "schema": {**version["schema"], "openAPIV3Schema": without_descriptions(schema)},
            }
        versions.append(version)
    return {**spec, "versions": versions}
