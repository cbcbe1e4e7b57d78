"""Validated domain types shared by every settings model (stack config now, model specs later)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator

Environment = Literal["local", "dev", "prod"]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns1123_label(value: str) -> str:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: at most 63 characters of lowercase letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"{value!r} must be a non-empty path relative to the project, without '..'"
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns1123_label)]
"""A Kubernetes object name that must also be a DNS label: namespaces, services, models."""

ProjectPath = Annotated[str, AfterValidator(_relative_path)]
"""A path inside the project folder, kept relative so state does not depend on the clone's path."""

_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")


def _cpu_quantity(value: str) -> str:
    if not _CPU.match(value) or _cpu_millicores(value) == 0:
        raise ValueError(f"{value!r} is not a CPU quantity such as '500m' or '2'")
    return value


def _memory_quantity(value: str) -> str:
    if not _MEMORY.match(value) or int(value[:-2]) == 0:
        raise ValueError(f"{value!r} is not a memory quantity such as '512Mi' or '2Gi'")
    return value


def _cpu_millicores(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else round(float(value) * 1000)


CpuQuantity = Annotated[str, AfterValidator(_cpu_quantity)]
"""A Kubernetes CPU quantity in cores ('2', '1.5') or millicores ('500m')."""

MemoryQuantity = Annotated[str, AfterValidator(_memory_quantity)]
"""A Kubernetes memory quantity in binary units ('512Mi', '2Gi')."""

_REGISTRY = re.compile(
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)


def _image_registry(value: str) -> str:
    if not _REGISTRY.match(value):
        raise ValueError(
            f"{value!r} is not an image repository prefix such as 'registry.local:5000/team' or "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com'"
        )
    return value


ImageRegistry = Annotated[str, AfterValidator(_image_registry)]
"""Host (and optional port and path) that model images are pushed to and pulled from."""
