"""Every model folder under models/, validated and checked against its gate before anything deploys.

All folders are read first and every problem of every model is reported together, naming the file
and the field, before the program registers a single resource: a bad model stops the preview and
nothing, of that model or any other, is touched.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pulumi
import yaml
from pydantic import ValidationError

from components.gate_record import content_digest, gate_record_path, read_record, savedmodel_dir
from components.gpu import GpuType
from components.modelspec import ModelSpec

SPEC_FILE = "model.yaml"
# libyaml's loader when PyYAML was built with it (its wheels are): the pure-Python one spends about
# 30 ms on one model.yaml, which at a few hundred models is most of the program's own time.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(pulumi.RunError):
    """One or more model folders cannot deploy; the message lists each problem by file and field."""


@dataclass(frozen=True)
class CatalogEntry:
    spec: ModelSpec
    directory: Path
    digests: dict[int, str]
    """Content digest of each served version's SavedModel, as verified against its gate record."""


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_spec(text: str, source: str) -> tuple[ModelSpec | None, list[str]]:
    try:
        raw = yaml.load(text, Loader=YamlLoader)
    except yaml.YAMLError as error:
        return None, [f"{source}: not valid YAML: {error}"]
    if not isinstance(raw, dict):
        return None, [f"{source}: expected a mapping of fields, got {type(raw).__name__}"]
    try:
        return ModelSpec.model_validate(raw), []
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            where = _location(problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{source}: {where + ': ' if where else ''}{message}")
        return None, problems


def stack_problems(
    spec: ModelSpec,
    source: str,
    max_gpus_per_pod: int,
    node_gpu_types: Collection[GpuType] | None = None,
) -> list[str]:
    """Rules that depend on the stack the model deploys to. `node_gpu_types`: the GPU types of
    the stack's node groups, or None where the program does not own the nodes (local)."""
    problems = []
    if spec.resources.gpus > max_gpus_per_pod:
        problems.append(
            f"{source}: resources.gpus: {spec.resources.gpus} GPUs per pod, but this stack allows "
            f"at most {max_gpus_per_pod} (stack config maxGpusPerPod)"
        )
    accepted = spec.resources.gpu_types
    if spec.uses_gpus and node_gpu_types is not None and not set(accepted) & set(node_gpu_types):
        problems.append(
            f"{source}: resources.gpu_types: none of {', '.join(accepted)} runs in this stack's "
            f"GPU node groups ({', '.join(sorted(node_gpu_types)) or 'none'}; stack config "
            "gpuNodeGroups), so its pods could never be scheduled"
        )
    return problems


def verify_gate(model_dir: Path, version: int, relative_to: Path) -> tuple[str | None, list[str]]:
    """The digest of a version that passed its gate and is unchanged since, or the problems."""
    record_path = gate_record_path(model_dir, version)
    files = savedmodel_dir(model_dir, version)
    shown_record = record_path.relative_to(relative_to)
    rerun = f"run `make models MODEL={model_dir.name}`"
    if not record_path.is_file():
        return None, [f"{shown_record}: no gate record for version {version}; {rerun}"]
    try:
        record = read_record(record_path)
    except (ValidationError, ValueError) as error:
        return None, [f"{shown_record}: unreadable gate record ({error}); {rerun}"]
    if record.model != model_dir.name or record.version != version:
        return None, [
            f"{shown_record}: record is for {record.model} version {record.version}, "
            f"not {model_dir.name} version {version}"
        ]
    if not record.passed:
        reasons = "; ".join(record.failures) or f"{record.metric} {record.value}"
        return None, [f"{shown_record}: version {version} failed its gate: {reasons}"]
    if not files.is_dir():
        return None, [f"{files.relative_to(relative_to)}: SavedModel of version {version} missing"]
    digest = content_digest(files)
    if digest != record.digest:
        return None, [
            f"{files.relative_to(relative_to)}: files changed since the gate passed (digest "
            f"{digest[:19]}… is not the recorded {record.digest[:19]}…); {rerun}"
        ]
    return digest, []


def load_catalog(
    models_root: Path, max_gpus_per_pod: int, node_gpu_types: Collection[GpuType] | None = None
) -> list[CatalogEntry]:
    """Every deployable model under models_root, in name order; CatalogError lists all problems.
    `node_gpu_types` as for stack_problems."""
    project = models_root.parent
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    folders = sorted(
        path for path in models_root.iterdir() if path.is_dir() and path.name[0] not in "._"
    )
    for folder in folders:
        spec_path = folder / SPEC_FILE
        source = str(spec_path.relative_to(project))
        if not spec_path.is_file():
            problems.append(f"{source}: missing; every folder under models/ is a model")
            continue
        spec, spec_problems = parse_spec(spec_path.read_text(), source)
        if spec is None:
            problems += spec_problems
            continue
        if spec.name != folder.name:
            problems.append(f"{source}: name: {spec.name!r} must match its folder {folder.name!r}")
            continue
        model_problems = stack_problems(spec, source, max_gpus_per_pod, node_gpu_types)
        digests: dict[int, str] = {}
        for version in spec.served_versions:
            digest, gate_problems = verify_gate(folder, version, project)
            model_problems += gate_problems
            if digest is not None:
                digests[version] = digest
        if model_problems:
            problems += model_problems
        else:
            entries.append(CatalogEntry(spec=spec, directory=folder, digests=digests))
    if problems:
        raise CatalogError(
            "models cannot deploy; nothing was changed:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return entries
