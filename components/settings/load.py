"""Reading the stack configuration: the values the engine passed, the ones the stack set validated
into PlatformSettings (LocalSettings or AwsSettings), or one ConfigError that names the stack file,
each key and what is expected there.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env
from pydantic import ValidationError

from components.facts.yaml_input import load_yaml
from components.settings.base import Location, Problem
from components.settings.model import (
    AWS_KEYS,
    ENVIRONMENT_ERROR,
    LOCAL_KEYS,
    SETTINGS,
    PlatformSettings,
    environment_problems,
    misplaced_key,
    missing_key,
)

PROJECT = "gpu-model-platform"
# Config namespaces a stack file may use besides the project's own: the engine's (`pulumi:`) and
# the Docker provider's, whose default provider builds the images. Every AWS and Kubernetes
# resource names an explicit provider configured from project keys, so an `aws:` or `kubernetes:`
# key would be ignored; it is refused like a mistyped namespace, which would be ignored too.
OTHER_NAMESPACES = ("pulumi", "docker")

# Where "not set" is decided, once. The engine passes every key Pulumi.yaml declares, its default
# filled in where the stack file sets none; and a declared key needs a default, or the engine stops
# every stack that leaves it out ("Stack 'local' is missing configuration value ..."), so dropping
# the AWS keys' defaults would make local set them. Instead each AWS key defaults to its empty
# value, a placeholder that stack_values removes: the models see only what a stack set, so
# LocalSettings refuses any AWS key left and AwsSettings types its keys without None. Empty values
# as the engine passes them (strings; arrays and objects decoded) and as YAML gives them (tests);
# 0 covers False.
NOT_SET: tuple[Any, ...] = ("", "0", "false", 0, [], {})
# Local keys with real defaults (local needs them): dev and prod cannot tell them from unset, so
# they ignore them (nothing renders there, and images go to the stack's ECR repositories).
IGNORED_ON_AWS = ("renderDirectory", "imageRegistry")


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. A RunError ends the program with the message alone, no trace."""


def _decode(value: Any) -> Any:
    # The engine hands over every value as a string; arrays and objects arrive as JSON.
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_of(error_loc: Location) -> str:
    path = ".".join(str(part) for part in error_loc)
    return f"{PROJECT}:{path}" if path else PROJECT


def _config_error(source: str, problems: list[Problem]) -> ConfigError:
    lines = [f"  {_key_of(where)}: {message}" for where, message in problems]
    return ConfigError(f"invalid stack configuration in {source}:\n" + "\n".join(lines))


def stack_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Of the merged, decoded `values`, those the stack set that its environment reads or refuses:
    without AWS keys holding their empty value, and on dev and prod without the local keys left
    empty or ignored there."""
    on_aws = values.get("environment") != "local"

    def unset(key: str, value: Any) -> bool:
        if key in AWS_KEYS:
            return value in NOT_SET
        return on_aws and key in LOCAL_KEYS and (value in NOT_SET or key in IGNORED_ON_AWS)

    return {key: value for key, value in values.items() if not unset(key, value)}


def _validation_problems(error: ValidationError, environment: str) -> list[Problem]:
    problems: list[Problem] = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        # The union picks a model by environment; errors within it are located under that tag.
        where: Location = problem["loc"][1:]
        if problem["type"] in ("union_tag_invalid", "union_tag_not_found"):
            where, message = ("environment",), ENVIRONMENT_ERROR
        top_level = len(where) == 1
        key = str(where[0]) if where else ""
        if problem["type"] == "extra_forbidden":
            message = (
                (
                    misplaced_key(key, environment)
                    or "unknown key (declared keys are listed in Pulumi.yaml `config:`)"
                )
                if top_level
                else "unknown field"
            )
        elif problem["type"] == "missing":
            message = (
                (
                    missing_key(key, environment)
                    or "missing; declare it with a default in Pulumi.yaml `config:`"
                )
                if top_level
                else "missing"
            )
        problems.append((where, message))
    return problems


def parse_settings(values: Mapping[str, Any], source: str) -> PlatformSettings:
    """Validate the project's config values (keys without the project prefix) from `source`."""
    decoded = {key: _decode(value) for key, value in values.items()}
    try:
        settings = SETTINGS.validate_python(stack_values(decoded))
    except ValidationError as error:
        problems = _validation_problems(error, str(decoded.get("environment")))
        raise _config_error(source, problems) from None
    problems = environment_problems(settings)
    if problems:
        raise _config_error(source, problems)
    return settings


def engine_config() -> dict[str, Any]:
    """Every config value the engine passed, keyed `namespace:key`."""
    return {**get_config_env(), **CONFIG.get()}


def project_config_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """This project's config values, keyed without the project prefix."""
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


def namespace_problems(keys: Collection[str], source: str) -> ConfigError | None:
    """Keys under a namespace nothing reads (a typo such as `gpu-model-platfrom:`, or a provider
    whose resources all take explicit providers): they would be ignored without a word."""
    unknown = sorted(
        key for key in keys if key.partition(":")[0] not in (PROJECT, *OTHER_NAMESPACES)
    )
    if not unknown:
        return None
    known = ", ".join(f"{namespace}:" for namespace in (PROJECT, *OTHER_NAMESPACES))
    lines = [
        f"  {key}: unknown namespace {key.partition(':')[0]!r}; nothing reads it (the namespaces "
        f"read are {known})"
        for key in unknown
    ]
    return ConfigError(f"invalid stack configuration in {source}:\n" + "\n".join(lines))


def load_settings(source: str | None = None) -> PlatformSettings:
    """The stack's settings; `source` names the file they come from in messages (by default the
    stack's own, Pulumi.<stack>.yaml; a models stack runs with its platform stack's)."""
    source = source or f"Pulumi.{pulumi.get_stack()}.yaml"
    config = engine_config()
    error = namespace_problems(config, source)
    if error is not None:
        raise error
    return parse_settings(project_config_values(config), source=source)


def platform_settings(project: Path, platform: str) -> PlatformSettings:
    """The platform stack's settings as the engine would hand them to its program (and to its
    models stacks, which run with its config file): Pulumi.yaml's defaults under its stack file."""
    declared = load_yaml((project / "Pulumi.yaml").read_text(), "Pulumi.yaml") or {}
    values = {
        key: spec["default"]
        for key, spec in (declared.get("config") or {}).items()
        if isinstance(spec, Mapping) and "default" in spec
    }
    source = f"Pulumi.{platform}.yaml"
    stack_file = load_yaml((project / source).read_text(), source) or {}
    for key, value in (stack_file.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT:
            values[name] = value
    return parse_settings(values, source)
