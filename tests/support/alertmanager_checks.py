"""Alertmanager's config as the stack generates it, checked by amtool built from the Alertmanager
module at the chart's version (toolchain/amtool.py): `check-config`, and `config routes test`
asserting which receiver an alert with given labels reaches."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from toolchain.amtool import ensure_amtool


def write_config(config: dict[str, Any], workdir: Path) -> Path:
    path = workdir / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ensure_amtool()), *args], capture_output=True, text=True, timeout=120
    )


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return amtool("check-config", str(path))


def routes_to(
    path: Path, labels: dict[str, str], receiver: str
) -> subprocess.CompletedProcess[str]:
    """Exit 0 only when an alert with `labels` reaches exactly `receiver`."""
    return amtool(
        "config",
        "routes",
        "test",
        f"--config.file={path}",
        f"--verify.receivers={receiver}",
        *(f"{key}={value}" for key, value in labels.items()),
    )
