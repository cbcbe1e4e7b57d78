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
from pydantic import ValidationError

from components.catalog.folders import model_names
from components.catalog.gate_record import (
    MAX_RECORD_BYTES,
    WARMUP_FILE,
    StartupMeasurement,
    content_digest,
    gate_record_path,
    parse_record,
    savedmodel_dir,
    spec_mismatches,
    warmup_path,
)
from components.catalog.spec import ModelSpec
from components.facts.gpu import GpuType
from components.facts.yaml_input import InputError, load_yaml, read_bounded

SPEC_FILE = "model.yaml"
# The shipped specs are about 1 KB; a spec a hundred times that is a mistake, not a model.
MAX_SPEC_BYTES = 64 * 1024


class CatalogError(pulumi.RunError):
    """One or more model folders cannot deploy; the message lists each problem by file and field."""


@dataclass(frozen=True)
class CatalogEntry:
    spec: ModelSpec
    directory: Path
    digests: dict[int, str]
    """Content digest of each served version's SavedModel, as verified against its gate record."""
    startup: dict[int, StartupMeasurement]
    """The gate's measured load and warmup of each served version: its probe budgets' basis."""
    gated: dict[int, str]
    """Content digest of every declared version whose gate passed and whose files are unchanged,
    served or not: the images the models namespace admits (components.serving.admission), so a
    rollback to an earlier gated version is admitted before the stack rolls it out."""


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_spec(text: str, source: str) -> tuple[ModelSpec | None, list[str]]:
    try:
        raw = load_yaml(text, source)
    except InputError as error:
        return None, [str(error)]
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


@dataclass(frozen=True)
class GatedVersion:
    digest: str
    startup: StartupMeasurement


def verify_gate(
    model_dir: Path, spec: ModelSpec, version: int, relative_to: Path
) -> tuple[GatedVersion | None, list[str]]:
    """A version that passed its gate under the spec as it is today and is unchanged since, or
    the problems."""
    record_path = gate_record_path(model_dir, version)
    files = savedmodel_dir(model_dir, version)
    shown_record = record_path.relative_to(relative_to)
    rerun = f"run `make models MODEL={model_dir.name}`"
    if not record_path.is_file():
        return None, [f"{shown_record}: no gate record for version {version}; {rerun}"]
    try:
        record = parse_record(read_bounded(record_path, MAX_RECORD_BYTES, str(shown_record)))
    except InputError as error:
        return None, [str(error)]
    except (ValidationError, ValueError) as error:
        return None, [f"{shown_record}: unreadable gate record ({error}); {rerun}"]
    if record.model != model_dir.name or record.version != version:
        return None, [
            f"{shown_record}: record is for {record.model} version {record.version}, "
            f"not {model_dir.name} version {version}"
        ]
    if not record.passed:
        reasons = "; ".join(record.failures) or f"{record.gate.metric} {record.value}"
        return None, [f"{shown_record}: version {version} failed its gate: {reasons}"]
    mismatches = spec_mismatches(record, spec, version)
    if mismatches:
        return None, [
            f"{shown_record}: {mismatch}; the record does not vouch for the spec as it is, {rerun}"
            for mismatch in mismatches
        ]
    if not files.is_dir():
        return None, [f"{files.relative_to(relative_to)}: SavedModel of version {version} missing"]
    # A record from before the gate wrote warmup files and measured startup: its pods would
    # start cold and its probes would have no measured basis.
    if not warmup_path(files).is_file():
        return None, [
            f"{files.relative_to(relative_to)}/{WARMUP_FILE}: missing, so TF Serving would "
            f"serve version {version} cold; {rerun}"
        ]
    if record.startup is None:
        return None, [
            f"{shown_record}: startup: missing, the gate measures load and warmup time; {rerun}"
        ]
    digest = content_digest(files)
    if digest != record.digest:
        return None, [
            f"{files.relative_to(relative_to)}: files changed since the gate passed (digest "
            f"{digest[:19]}… is not the recorded {record.digest[:19]}…); {rerun}"
        ]
    return GatedVersion(digest, record.startup), []


def symlinks_under(folder: Path, relative_to: Path) -> list[str]:
    """Every symlink in a model folder, as a problem: digests and review see the link, not its
    target, and a link can reach outside the repository."""
    return [
        f"{path.relative_to(relative_to)}: is a symlink; files under models/ must be regular "
        "files in the tree"
        for path in sorted(folder.rglob("*"))
        if path.is_symlink()
    ]


def load_catalog(
    models_root: Path,
    max_gpus_per_pod: int,
    node_gpu_types: Collection[GpuType] | None = None,
    *,
    only: Collection[str] | None = None,
) -> list[CatalogEntry]:
    """Every deployable model under models_root, in name order; CatalogError lists all problems.
    `node_gpu_types` as for stack_problems; `only`: just the models of those folder names (a
    name without a folder is no problem, and no entry)."""
    project = models_root.parent
    entries: list[CatalogEntry] = []
    problems: list[str] = []
    folders = [
        models_root / name for name in model_names(models_root) if only is None or name in only
    ]
    for folder in folders:
        spec_path = folder / SPEC_FILE
        source = str(spec_path.relative_to(project))
        if folder.is_symlink():
            problems.append(
                f"{folder.relative_to(project)}: is a symlink; a model is a folder in the tree"
            )
            continue
        links = symlinks_under(folder, project)
        if links:
            problems += links
            continue
        if not spec_path.is_file():
            problems.append(f"{source}: missing; every folder under models/ is a model")
            continue
        try:
            text = read_bounded(spec_path, MAX_SPEC_BYTES, source)
        except InputError as error:
            problems.append(str(error))
            continue
        spec, spec_problems = parse_spec(text, source)
        if spec is None:
            problems += spec_problems
            continue
        if spec.name != folder.name:
            problems.append(f"{source}: name: {spec.name!r} must match its folder {folder.name!r}")
            continue
        model_problems = stack_problems(spec, source, max_gpus_per_pod, node_gpu_types)
        digests: dict[int, str] = {}
        startup: dict[int, StartupMeasurement] = {}
        for version in spec.served_versions:
            gated, gate_problems = verify_gate(folder, spec, version, project)
            model_problems += gate_problems
            if gated is not None:
                digests[version] = gated.digest
                startup[version] = gated.startup
        admitted = dict(digests)
        for declared in spec.versions:
            if declared.id not in admitted:
                # Not served: a problem here only keeps the version out of the allow-list.
                other, _ = verify_gate(folder, spec, declared.id, project)
                if other is not None:
                    admitted[declared.id] = other.digest
        if model_problems:
            problems += model_problems
        else:
            entries.append(
                CatalogEntry(
                    spec=spec,
                    directory=folder,
                    digests=digests,
                    startup=startup,
                    gated=dict(sorted(admitted.items())),
                )
            )
    if problems:
        raise CatalogError(
            "models cannot deploy; nothing was changed:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return entries
