"""Stack configuration: read once, validated once, before any resource exists.

Defaults live in Pulumi.yaml (`config:`), which the engine merges under the stack's own file, so
the model below declares types and rules only. A bad value stops the program with one message
that names the stack file, the key and what is expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from components.types import DnsLabel, Environment, ImageRegistry, ProjectPath

PROJECT = "gpu-model-platform"


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. A RunError ends the program with the message alone, no trace."""


class PlatformSettings(BaseModel):
    """The stack configuration of the project namespace, by its Pulumi.yaml key names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    kubeconfig: str
    kube_context: str = Field(alias="kubeContext")
    render_directory: ProjectPath = Field(alias="renderDirectory")
    platform_namespace: DnsLabel = Field(alias="platformNamespace")
    models_namespace: DnsLabel = Field(alias="modelsNamespace")
    max_gpus_per_pod: int = Field(alias="maxGpusPerPod", ge=0, le=16)
    image_registry: ImageRegistry = Field(alias="imageRegistry")
    build_images: bool = Field(alias="buildImages")

    @model_validator(mode="after")
    def _check(self) -> PlatformSettings:
        if self.platform_namespace == self.models_namespace:
            raise ValueError(
                "platformNamespace and modelsNamespace must differ: models get their own "
                "namespace so that their policies and quotas do not reach platform services"
            )
        if self.kubeconfig and not Path(self.kubeconfig).expanduser().is_file():
            raise ValueError(f"kubeconfig {self.kubeconfig!r} is not a file")
        if self.kube_context and not self.kubeconfig:
            raise ValueError("kubeContext is set but kubeconfig is empty")
        return self

    @property
    def renders_manifests(self) -> bool:
        """No cluster given: every Kubernetes object is written to render_directory instead."""
        return not self.kubeconfig


def _decode(value: Any) -> Any:
    # The engine hands over every value as a string; arrays and objects arrive as JSON.
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_of(error_loc: tuple[int | str, ...]) -> str:
    path = ".".join(str(part) for part in error_loc)
    return f"{PROJECT}:{path}" if path else PROJECT


def parse_settings(values: Mapping[str, Any], source: str) -> PlatformSettings:
    """Validate the project's config values (keys without the project prefix) from `source`."""
    try:
        return PlatformSettings.model_validate({k: _decode(v) for k, v in values.items()})
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown key (declared keys are listed in Pulumi.yaml `config:`)"
            elif problem["type"] == "missing":
                message = "missing; declare it with a default in Pulumi.yaml `config:`"
            lines.append(f"  {_key_of(problem['loc'])}: {message}")
        raise ConfigError(
            f"invalid stack configuration in {source}:\n" + "\n".join(lines)
        ) from None


def project_config_values() -> dict[str, Any]:
    """This project's config values as the engine passed them, keyed without the project prefix."""
    merged = {**get_config_env(), **CONFIG.get()}
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in merged.items() if key.startswith(prefix)}


def load_settings() -> PlatformSettings:
    return parse_settings(project_config_values(), source=f"Pulumi.{pulumi.get_stack()}.yaml")
