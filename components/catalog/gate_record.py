"""The gate's verdict on one SavedModel version, and what ties it to the files and the spec.

The gate (commands/gate.py, the only code that imports TensorFlow) writes a record per version; the
Pulumi program reads it, recomputes the digest and compares the record with the spec as it is
today, so a version deploys only if it passed, its files are byte for byte the ones that passed,
and it passed under the gate, signature and training parameters the spec states now. Everything
here is plain Python: previews stay fast.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from components.catalog.spec import Gate, ModelSpec, Signature

SAVEDMODEL_FOLDER = "savedmodel"
GATE_FOLDER = "gate"
# A record is a few hundred bytes; anything much larger is not one the gate wrote.
MAX_RECORD_BYTES = 64 * 1024
# TF Serving replays the PredictionLogs in this file, inside the version's folder, before it
# reports the version available; the gate writes it, so the content digest covers it.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


class StartupMeasurement(BaseModel):
    """How long the version took to become ready on the gate's machine, in a fresh interpreter.

    Its own block of the record (`startup`): the probe budgets of components.serving.startup are
    derived from it, and a cold start is reviewable as numbers beside the digest.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    load_seconds: float
    """tf.saved_model.load of the version's folder."""
    warmup_seconds: float
    """Replaying every request of the warmup file once, as TF Serving does before it serves."""
    warmup_requests: int
    first_inference_ms: float
    """The first warmup request: what the first real request would pay without warmup."""
    steady_inference_ms: float
    """Median of `steady_runs` batch-of-one requests after warmup."""
    steady_runs: int
    measured_on: str
    """The gate machine's CPU model: the figures hold for it, not for a cluster node."""

    @property
    def ready_seconds(self) -> float:
        """Load and warmup: the time from start to serving that the gate measured."""
        return self.load_seconds + self.warmup_seconds


class GateRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: int
    digest: str
    gate: Gate
    """The spec's gate (metric, threshold, held-out split, seed) the version was measured under."""
    signature: Signature
    """The signature the SavedModel was checked against."""
    train: dict[str, Any]
    """The training parameters of the version in the spec when it was gated."""
    value: float
    """The gate metric measured on the held-out split."""
    passed: bool
    failures: list[str] = []
    tensorflow: str
    startup: StartupMeasurement | None = None
    """None when the version failed before it could be measured (and in pre-#18 records)."""


def savedmodel_dir(model_dir: Path, version: int) -> Path:
    """TF Serving's layout: <model base path>/<version>/saved_model.pb."""
    return model_dir / SAVEDMODEL_FOLDER / str(version)


def warmup_path(directory: Path) -> Path:
    """The warmup file of the SavedModel in `directory`."""
    return directory / WARMUP_FILE


def gate_record_path(model_dir: Path, version: int) -> Path:
    return model_dir / GATE_FOLDER / f"{version}.json"


def content_digest(directory: Path) -> str:
    """sha256 over each file's relative path and content, in path order: renames change it too."""
    outer = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        inner = hashlib.sha256(path.read_bytes()).hexdigest()
        outer.update(f"{path.relative_to(directory).as_posix()}\0{inner}\n".encode())
    return f"sha256:{outer.hexdigest()}"


def write_record(path: Path, record: GateRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")


def parse_record(text: str) -> GateRecord:
    return GateRecord.model_validate_json(text)


def read_record(path: Path) -> GateRecord:
    return parse_record(path.read_text())


def _differences(field: str, recorded: Any, today: Any) -> list[tuple[str, Any, Any]]:
    """(dotted field, recorded value, today's value) of every leaf where the two differ."""
    if isinstance(recorded, dict) and isinstance(today, dict):
        found = []
        for key in sorted(set(recorded) | set(today), key=str):
            found += _differences(f"{field}.{key}", recorded.get(key), today.get(key))
        return found
    return [] if recorded == today else [(field, recorded, today)]


def spec_mismatches(record: GateRecord, spec: ModelSpec, version: int) -> list[str]:
    """How the record disagrees with the spec today, one line per field, or [] when it agrees.

    A record is evidence only for the gate, signature and training it was produced under: a
    threshold raised, a signature or training parameter changed since, or a metric below
    today's threshold (however the record came to say so) all mean the version was not gated
    as the spec now asks.
    """
    declared = next(v for v in spec.versions if v.id == version)
    recorded = {
        "gate": record.gate.model_dump(mode="json"),
        "signature": record.signature.model_dump(mode="json"),
        "train": record.train,
    }
    today = {
        "gate": spec.gate.model_dump(mode="json"),
        "signature": spec.signature.model_dump(mode="json"),
        "train": json.loads(json.dumps(declared.train)),
    }
    problems = []
    for part in recorded:
        field = f"versions[id={version}].train" if part == "train" else part
        for where, was, now in _differences(field, recorded[part], today[part]):
            problems.append(
                f"{where}: gated with {json.dumps(was)}, but model.yaml says {json.dumps(now)}"
            )
    if record.value < spec.gate.threshold:
        problems.append(
            f"value: {spec.gate.metric} {record.value} is below the threshold "
            f"{spec.gate.threshold} of model.yaml gate.threshold"
        )
    return problems
