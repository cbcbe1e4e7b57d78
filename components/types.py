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
