"""A stack's policy config (policies/config/<stack>.json) checked against each policy's schema.

The CLI checks only the types of the settings a schema declares, so a misspelt policy or setting
is ignored and the default applies, and a negative budget passes as "not checked"; a policy named
without an enforcement level fails with `invalid enforcement level ""` and no file named.
`python -m policies.config_check FILE` (run by `make preview`, `up` and `drift` before the
engine) refuses all of these, each naming the file, the policy and the setting.

Exit status: 0 when the file is valid, 2 otherwise.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policies.rules import ALL
from policies.support import Rule

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
ENFORCEMENT_KEY = "enforcementLevel"
ALL_POLICIES = "all"
# The JSON Schema keywords the rules' settings use, and so the ones checked here; a rule using
# another would have it silently ignored, so tests/policies/test_config_check.py refuses that.
# The object keywords, pattern and the length minimums are those of the exemptions every resource
# rule takes (policies/support.py).
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "items",
        "minimum",
        "enum",
        "default",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "pattern",
        "minItems",
        "minLength",
    }
)
# A config file is a few hundred bytes.
MAX_CONFIG_BYTES = 64 * 1024

_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def value_problems(where: str, value: Any, schema: Mapping[str, Any]) -> list[str]:
    """How `value` breaks the part of JSON Schema the rules use (SUPPORTED_KEYWORDS)."""
    wanted = schema["type"]
    # JSON's true is not an integer, though Python's bool is an int.
    is_bool_as_number = isinstance(value, bool) and wanted != "boolean"
    if is_bool_as_number or not isinstance(value, _JSON_TYPES[wanted]):
        return [f"{where}: {json.dumps(value)} is not of type {wanted}"]
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{where}: {json.dumps(value)} is below the minimum {schema['minimum']}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {json.dumps(value)} is not one of {json.dumps(schema['enum'])}"]
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        return [f"{where}: {json.dumps(value)} does not match {schema['pattern']}"]
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        return [f"{where}: {json.dumps(value)} is shorter than {schema['minLength']} characters"]
    if isinstance(value, list) and len(value) < schema.get("minItems", 0):
        return [f"{where}: has {len(value)} items, fewer than {schema['minItems']}"]
    if isinstance(value, dict):
        return _object_problems(where, value, schema)
    if isinstance(value, list) and "items" in schema:
        found: list[str] = []
        for index, item in enumerate(value):
            found += value_problems(f"{where}[{index}]", item, schema["items"])
        return found
    return []


def _object_problems(where: str, value: dict[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = schema.get("required", ())
    found = [f"{where}: {key} is required" for key in required if key not in value]
    for key, item in value.items():
        if key in properties:
            found += value_problems(f"{where}.{key}", item, properties[key])
        elif schema.get("additionalProperties", True) is False:
            found.append(f"{where}.{key}: unknown key (allowed: {', '.join(properties)})")
    return found


def config_problems(config: Any, rules: Sequence[Rule] = ALL) -> list[str]:
    """Every problem of a parsed config file, without the file's name."""
    if not isinstance(config, dict):
        return [f"expected an object of policy names, got {type(config).__name__}"]
    by_name = {rule.name: rule for rule in rules}
    known = ", ".join(sorted(by_name))
    problems = []
    for name, setting in config.items():
        if name == ALL_POLICIES:
            if setting not in ENFORCEMENT_LEVELS:
                problems.append(f"all: {json.dumps(setting)} is not one of {ENFORCEMENT_LEVELS}")
            continue
        rule = by_name.get(name)
        if rule is None:
            problems.append(f"{name}: no such policy in the pack (policies: {known})")
            continue
        if isinstance(setting, str):
            if setting not in ENFORCEMENT_LEVELS:
                problems.append(f"{name}: {json.dumps(setting)} is not one of {ENFORCEMENT_LEVELS}")
            continue
        if not isinstance(setting, dict):
            problems.append(f"{name}: expected an enforcement level or an object of settings")
            continue
        for key, value in setting.items():
            where = f"{name}.{key}"
            if key == ENFORCEMENT_KEY:
                if value not in ENFORCEMENT_LEVELS:
                    problems.append(
                        f"{where}: {json.dumps(value)} is not one of {ENFORCEMENT_LEVELS}"
                    )
            elif key not in rule.schema():
                settings = ", ".join(sorted(rule.schema())) or "none"
                problems.append(f"{where}: unknown setting (the policy's settings: {settings})")
            else:
                problems += value_problems(where, value, rule.schema()[key])
    return problems


def check_file(path: Path) -> list[str]:
    """Every problem of the config file at `path`, each line starting with its name."""
    if path.is_symlink() or not path.is_file():
        return [f"{path}: missing or not a regular file"]
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        return [f"{path}: {size} bytes, over the limit of {MAX_CONFIG_BYTES} bytes"]
    try:
        config = json.loads(path.read_text(), object_pairs_hook=_refuse_duplicates)
    except ValueError as error:
        return [f"{path}: not valid JSON: {error}"]
    return [f"{path}: {problem}" for problem in config_problems(config)]


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}; the second would silently replace the first")
        seen[key] = value
    return seen


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 1:
        print(
            "usage: python -m policies.config_check policies/config/<stack>.json", file=sys.stderr
        )
        return 2
    problems = check_file(Path(args[0]))
    # One `error:` line per problem: the preview summary quotes the CLI's error lines, these too.
    for problem in problems:
        print(f"error: invalid policy config: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
