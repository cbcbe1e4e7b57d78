"""Which stack holds which model (issue #19, docs/fleet-scale.md).

Every environment has one platform stack (`local`, `dev`, `prod`): the cluster, registry,
namespaces, monitoring charts, CRDs and the admission allow-list, and every model not assigned
elsewhere. A fleet too large for one stack moves its models into **models stacks**, listed in
`stacks/<platform stack>.yaml`:

    modelStacks:
      vision: [iris, digits]      # stack local.models-vision deploys these two

A models stack is named `<platform stack>.models-<name>` and runs the same program with the
platform stack's config file (`--config-file Pulumi.<platform stack>.yaml`): one home for every
setting. No file, or an empty one, is the one-stack layout. The file is read here, validated once,
and every problem is reported naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError

from components.facts.types import DnsLabel
from components.facts.yaml_input import InputError, load_yaml, read_bounded
from components.settings.base import NestedModel

STACKS_DIRECTORY = "stacks"
MODELS_STACK_MARK = ".models-"
# The balance measured in docs/fleet-scale.md (section 3): a stack's fixed cost per engine run
# against its checkpoint's growth per model; about ten models a stack bounds both.
DEFAULT_MAX_MODELS_PER_STACK = 10
MAX_FILE_BYTES = 256 * 1024


class FleetStacksError(Exception):
    """The models stacks file cannot be used; the message names the file and each field. Not a
    pulumi.RunError, so that the commands reading the file (commands/fleet.py, run on every `make
    preview`) need not import the SDK: __main__.py turns it into one for the engine."""


def _unique(models: list[str]) -> list[str]:
    seen: set[str] = set()
    for model in models:
        if model in seen:
            raise ValueError(f"{model!r} is listed twice")
        seen.add(model)
    return models


class FleetStacksFile(NestedModel):
    """`stacks/<platform stack>.yaml`."""

    model_stacks: dict[DnsLabel, Annotated[list[str], AfterValidator(_unique)]] = Field(
        default_factory=dict
    )
    """Each models stack's name (a DNS label) and the models it deploys."""
    max_models_per_stack: int = Field(default=DEFAULT_MAX_MODELS_PER_STACK, ge=1)


@dataclass(frozen=True)
class StackRole:
    """What a stack is: the platform stack of its environment, or one of its models stacks."""

    platform: str
    """The platform stack's name (the stack itself when it is the platform)."""
    models_stack: str | None = None
    """The models stack's name in `stacks/<platform>.yaml`; None for the platform stack."""

    @property
    def stack(self) -> str:
        if self.models_stack is None:
            return self.platform
        return models_stack_name(self.platform, self.models_stack)


def models_stack_name(platform: str, name: str) -> str:
    return f"{platform}{MODELS_STACK_MARK}{name}"


def stack_role(stack: str) -> StackRole:
    """The role of the stack named `stack`: `<platform>.models-<name>` is a models stack."""
    platform, mark, name = stack.rpartition(MODELS_STACK_MARK)
    if not mark or not platform or not name:
        return StackRole(platform=stack)
    return StackRole(platform=platform, models_stack=name)


@dataclass(frozen=True)
class FleetStacks:
    """The validated assignment of one platform stack's models to its models stacks."""

    source: str
    """The file it came from (relative to the project), for messages."""
    models_stacks: Mapping[str, tuple[str, ...]]
    """Each models stack's name and its models, in the file's order."""
    max_models_per_stack: int = DEFAULT_MAX_MODELS_PER_STACK

    def models_of(self, role: StackRole) -> frozenset[str] | None:
        """The models `role`'s stack deploys, or None: the platform stack deploys every model
        not assigned to a models stack."""
        if role.models_stack is None:
            return None
        if role.models_stack not in self.models_stacks:
            listed = ", ".join(sorted(self.models_stacks)) or "none"
            raise FleetStacksError(
                f"{self.source}: modelStacks has no {role.models_stack!r}, so stack "
                f"{role.stack} deploys nothing (the models stacks listed: {listed})"
            )
        return frozenset(self.models_stacks[role.models_stack])

    @property
    def assigned(self) -> frozenset[str]:
        return frozenset(model for models in self.models_stacks.values() for model in models)

    def held_by(self, role: StackRole, models: Collection[str]) -> list[str]:
        """Of `models`, in their order, those `role`'s stack deploys."""
        mine = self.models_of(role)
        if mine is None:
            return [model for model in models if model not in self.assigned]
        return [model for model in models if model in mine]


def fleet_stacks_path(project: Path, platform: str) -> Path:
    return project / STACKS_DIRECTORY / f"{platform}.yaml"


def _location(loc: tuple[int | str, ...]) -> str:
    keys = {"model_stacks": "modelStacks", "max_models_per_stack": "maxModelsPerStack"}
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + keys.get(part, part)
    return text or "(the file)"


def parse_fleet_stacks(text: str, source: str, models: Collection[str]) -> FleetStacks:
    """The assignment in `text` (the contents of `source`), checked against the project's
    `models`: each listed model exists, none is in two stacks, no stack over its limit."""
    try:
        document = load_yaml(text, source)
    except InputError as error:
        raise FleetStacksError(str(error)) from None
    if document is None:
        document = {}
    try:
        parsed = FleetStacksFile.model_validate(document)
    except ValidationError as error:
        lines = [
            f"  {_location(problem['loc'])}: {problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        ]
        raise FleetStacksError(f"invalid {source}:\n" + "\n".join(lines)) from None
    problems: list[str] = []
    first_stack: dict[str, str] = {}
    for name, listed in parsed.model_stacks.items():
        if len(listed) > parsed.max_models_per_stack:
            problems.append(
                f"modelStacks.{name}: {len(listed)} models, over maxModelsPerStack "
                f"({parsed.max_models_per_stack}); split it into another models stack"
            )
        if not listed:
            problems.append(f"modelStacks.{name}: no models; remove the stack instead")
        for index, model in enumerate(listed):
            where = f"modelStacks.{name}[{index}]"
            if model not in models:
                problems.append(f"{where}: no model {model!r} under models/")
            elif model in first_stack:
                problems.append(
                    f"{where}: {model!r} is already in modelStacks.{first_stack[model]}; a model "
                    "lives in exactly one stack"
                )
            else:
                first_stack[model] = name
    if problems:
        raise FleetStacksError(f"invalid {source}:\n" + "\n".join(f"  {p}" for p in problems))
    return FleetStacks(
        source=source,
        models_stacks={name: tuple(listed) for name, listed in parsed.model_stacks.items()},
        max_models_per_stack=parsed.max_models_per_stack,
    )


def load_fleet_stacks(project: Path, platform: str, models: Collection[str]) -> FleetStacks:
    """The assignment of `platform`'s stack; no file is the one-stack layout."""
    path = fleet_stacks_path(project, platform)
    source = str(path.relative_to(project))
    if not path.exists():
        return FleetStacks(source=source, models_stacks={})
    try:
        text = read_bounded(path, MAX_FILE_BYTES, source)
    except InputError as error:
        raise FleetStacksError(str(error)) from None
    return parse_fleet_stacks(text, source, models)
