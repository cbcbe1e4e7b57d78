"""What the tests share: the stack config as the engine would merge it, and Pulumi mocks."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import PROJECT

ROOT = Path(__file__).resolve().parent.parent


def declared_config() -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    return dict(project["config"])


def stack_config(stack: str, **overrides: Any) -> dict[str, Any]:
    """Pulumi.yaml defaults under the values of Pulumi.<stack>.yaml, as the engine merges them."""
    values = {key: spec["default"] for key, spec in declared_config().items()}
    stack_file = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            values[name] = value
    values.update(overrides)
    return values


def _as_engine_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs back as outputs and records every resource the program registers."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            # What the registry answers after a push: the tag pinned to its manifest digest.
            outputs["repoDigest"] = f"{args.inputs['imageName']}@sha256:mock"
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]


def use_mocks(
    config: dict[str, Any], stack: str = "local", mocks: RecordingMocks | None = None
) -> RecordingMocks:
    mocks = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": _as_engine_string(value) for key, value in config.items()}
    )
    return mocks


def run_program(
    config: dict[str, Any], stack: str = "local", mocks: RecordingMocks | None = None
) -> RecordingMocks:
    """Run __main__.py under mocks with the given project config and wait for every resource."""
    mocks = use_mocks(config, stack, mocks)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> None:
        runpy.run_path(str(ROOT / "__main__.py"))

    _run()
    return mocks
