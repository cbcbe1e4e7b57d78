"""The gate's verdict on one SavedModel version, and the content digest that ties it to the files.

The gate (tools/gate.py, the only code that imports TensorFlow) writes a record per version; the
Pulumi program reads it and recomputes the digest, so a version deploys only if it passed and its
files are byte for byte the ones that passed. Everything here is plain Python: previews stay fast.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

SAVEDMODEL_FOLDER = "savedmodel"
GATE_FOLDER = "gate"


class GateRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: int
    digest: str
    metric: str
    value: float
    threshold: float
    passed: bool
    failures: list[str] = []
    tensorflow: str


def savedmodel_dir(model_dir: Path, version: int) -> Path:
    """TF Serving's layout: <model base path>/<version>/saved_model.pb."""
    return model_dir / SAVEDMODEL_FOLDER / str(version)


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
    path.write_text(json.dumps(record.model_dump(), indent=2, sort_keys=True) + "\n")


def read_record(path: Path) -> GateRecord:
    return GateRecord.model_validate_json(path.read_text())
