"""The model gate: every declared version of a model is trained if missing, then checked.

Usage: python -m tools.gate [NAME ...] [--retrain]

For each version in models/<name>/model.yaml the gate makes sure models/<name>/savedmodel/<v>/
exists (training it with the model's train.py when missing, or always with --retrain), loads it,
checks that its `serving_default` signature is exactly the one the spec declares and that its
metric on the held-out split reaches the spec's threshold, and writes models/<name>/gate/<v>.json
with the content digest of the files it checked. The Pulumi program deploys a version only if that
record passed and the digest still matches; it never imports TensorFlow, this program is the one
that does (and the only importer of the models' train.py).

Exit status: 0 if every version passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import tensorflow as tf
from tensorflow.core.protobuf import fingerprint_pb2

from components.catalog import parse_spec
from components.gate_record import (
    GateRecord,
    content_digest,
    gate_record_path,
    savedmodel_dir,
    write_record,
)
from components.modelspec import ModelSpec, Signature, TensorSpec, Version

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SPEC_FILE = "model.yaml"
TRAIN_FILE = "train.py"
SERVING_SIGNATURE = "serving_default"
FINGERPRINT_FILE = "fingerprint.pb"
# "sha256:" and 12 hex digits: enough to tell versions apart in the printed lines.
DIGEST_PREFIX_LENGTH = 19


class GateError(Exception):
    """A model folder cannot be gated at all (bad spec, no train.py); the message names the file."""


@dataclass(frozen=True)
class ExposedTensor:
    """One tensor of a SavedModel signature as plain data.

    `shape` holds None for a dimension of any size (the spec writes -1), and is None itself when
    even the rank is unknown.
    """

    dtype: str
    shape: tuple[int | None, ...] | None


@dataclass(frozen=True)
class VersionOutcome:
    record: GateRecord
    train_seconds: float | None
    """None when the existing SavedModel was gated without training."""
    gate_seconds: float


# Pure checks: plain data in, failure messages out (each names the field and what was expected).


def format_shape(shape: Sequence[int | None]) -> str:
    """A shape in the spec's notation: [-1, 4] for any batch size and 4 features."""
    return "[" + ", ".join("-1" if dim is None or dim == -1 else str(dim) for dim in shape) + "]"


def tensor_failures(
    field: str, expected: Mapping[str, TensorSpec], exposed: Mapping[str, ExposedTensor]
) -> list[str]:
    """Differences between the declared tensors and those a signature exposes, under `field`."""
    failures = [f"{field}: missing {name!r}" for name in expected if name not in exposed]
    failures += [
        f"{field}: unexpected {name!r}, which model.yaml does not declare"
        for name in exposed
        if name not in expected
    ]
    for name, spec in expected.items():
        tensor = exposed.get(name)
        if tensor is None:
            continue
        where = f"{field}.{name}"
        if tensor.dtype != spec.dtype:
            failures.append(f"{where}: dtype {tensor.dtype}, expected {spec.dtype}")
        wanted = format_shape(spec.shape)
        if tensor.shape is None:
            failures.append(f"{where}: shape of unknown rank, expected {wanted}")
        elif len(tensor.shape) != len(spec.shape):
            failures.append(
                f"{where}: shape {format_shape(tensor.shape)} has rank {len(tensor.shape)}, "
                f"expected rank {len(spec.shape)} {wanted}"
            )
        elif tensor.shape != tuple(None if dim == -1 else dim for dim in spec.shape):
            failures.append(f"{where}: shape {format_shape(tensor.shape)}, expected {wanted}")
    return failures


def signature_failures(
    expected: Signature,
    inputs: Mapping[str, ExposedTensor],
    outputs: Mapping[str, ExposedTensor],
) -> list[str]:
    """Everything in which a signature's inputs and outputs differ from the spec's."""
    return tensor_failures("signature.inputs", expected.inputs, inputs) + tensor_failures(
        "signature.outputs", expected.outputs, outputs
    )


def accuracy(
    probabilities: npt.NDArray[np.floating[Any]], labels: npt.NDArray[np.integer[Any]]
) -> float:
    """Share of examples whose most probable class is the label."""
    if len(probabilities) != len(labels) or len(labels) == 0:
        raise ValueError(f"{len(probabilities)} predictions for {len(labels)} labels")
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def metric_failures(metric: str, value: float, threshold: float, examples: int) -> list[str]:
    if value >= threshold:
        return []
    return [
        f"{metric} {value:.3f} is below the threshold {threshold:.3f} "
        f"on {examples} held-out examples"
    ]


# I/O: model folders, training in a fresh interpreter, TensorFlow.


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_spec(model_dir: Path) -> ModelSpec:
    spec_path = model_dir / SPEC_FILE
    # The same validation and messages as the Pulumi program's catalog.
    spec, problems = parse_spec(spec_path.read_text(), shown(spec_path))
    if spec is None:
        raise GateError("\n".join(problems))
    if spec.name != model_dir.name:
        # Records are found by folder name, so a record under another name would never be read.
        raise GateError(
            f"{shown(spec_path)}: name: {spec.name!r} must match its folder {model_dir.name!r}"
        )
    return spec


def load_train_module(train_path: Path) -> ModuleType:
    """The model's train.py, imported from its path: models/ is folders of files, not a package."""
    if not train_path.is_file():
        raise GateError(f"{shown(train_path)}: missing; it provides load_data() and export()")
    module_spec = importlib.util.spec_from_file_location(
        f"gate_train_{train_path.parent.name}", train_path
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    missing = [
        name for name in ("load_data", "export") if not callable(getattr(module, name, None))
    ]
    if missing:
        raise GateError(f"{shown(train_path)}: does not define {', '.join(missing)}()")
    return module


def export_version(
    train_path: Path, params: dict[str, Any], held_out_fraction: float, seed: int, export_dir: Path
) -> None:
    """Load the training split and export one version; runs in a fresh interpreter."""
    train = load_train_module(train_path)
    x_train, y_train, _, _ = train.load_data(held_out_fraction, seed)
    train.export(params, x_train, y_train, seed, export_dir)


def clear_fingerprint_uuid(export_dir: Path) -> None:
    """Drop the random uuid TensorFlow writes into fingerprint.pb.

    It is the only part of a SavedModel that differs between two exports of the same training;
    cleared, the content digest identifies the model itself. The fingerprint's hashes stay.
    """
    path = export_dir / FINGERPRINT_FILE
    if not path.is_file():
        return
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))


def train_version(model_dir: Path, version: Version, spec: ModelSpec) -> None:
    """Export a version into a scratch folder and move it into place only once it is complete."""
    target = savedmodel_dir(model_dir, version.id)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same filesystem as the target, so the final rename is atomic.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{version.id}-partial-") as tmp:
        staged = Path(tmp) / str(version.id)
        # A fresh interpreter per export: TensorFlow and Keras number their functions and layers
        # per process, and those names end up in saved_model.pb, so training in this process
        # would make a version's bytes depend on what else was trained before it.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            fresh.submit(
                export_version,
                model_dir / TRAIN_FILE,
                version.train,
                spec.gate.held_out_fraction,
                spec.gate.seed,
                staged,
            ).result()
        clear_fingerprint_uuid(staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)


def exposed_tensors(tensor_specs: Mapping[str, Any]) -> dict[str, ExposedTensor]:
    """tf.TensorSpec values as plain data."""
    return {
        name: ExposedTensor(
            dtype=tensor_spec.dtype.name,
            shape=None if tensor_spec.shape.rank is None else tuple(tensor_spec.shape.as_list()),
        )
        for name, tensor_spec in tensor_specs.items()
    }


def evaluate(
    directory: Path,
    spec: ModelSpec,
    x_held_out: npt.NDArray[Any],
    y_held_out: npt.NDArray[np.integer[Any]],
) -> tuple[float, list[str]]:
    """The metric on the held-out split and every failure; the value is 0.0 when not measured."""
    try:
        loaded = tf.saved_model.load(str(directory))
    except Exception as error:  # TensorFlow raises many kinds; any of them means a bad SavedModel.
        return 0.0, [f"savedmodel: cannot be loaded: {error}"]
    if SERVING_SIGNATURE not in loaded.signatures:
        return 0.0, [
            f"signatures: missing {SERVING_SIGNATURE!r} (has {sorted(loaded.signatures) or 'none'})"
        ]
    serve = loaded.signatures[SERVING_SIGNATURE]
    _, input_specs = serve.structured_input_signature
    failures = signature_failures(
        spec.signature, exposed_tensors(input_specs), exposed_tensors(serve.structured_outputs)
    )
    if len(spec.signature.inputs) != 1:
        failures.append(
            f"signature.inputs: the gate feeds load_data()'s one input array, but model.yaml "
            f"declares {len(spec.signature.inputs)} inputs"
        )
    if failures:
        return 0.0, [*failures, f"{spec.gate.metric}: not measured, the signature does not match"]
    input_name = next(iter(spec.signature.inputs))
    output_name = next(iter(spec.signature.outputs))
    probabilities = serve(**{input_name: tf.constant(x_held_out)})[output_name].numpy()
    value = accuracy(probabilities, y_held_out)
    return value, metric_failures(spec.gate.metric, value, spec.gate.threshold, len(y_held_out))


def gate_model(model_dir: Path, retrain: bool = False) -> list[VersionOutcome]:
    """Train what is missing (or everything, with retrain), gate every version, write records."""
    spec = load_spec(model_dir)
    train = load_train_module(model_dir / TRAIN_FILE)
    _, _, x_held_out, y_held_out = train.load_data(spec.gate.held_out_fraction, spec.gate.seed)
    outcomes = []
    for version in spec.versions:
        directory = savedmodel_dir(model_dir, version.id)
        train_seconds = None
        if retrain or not directory.exists():
            started = time.perf_counter()
            train_version(model_dir, version, spec)
            train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        digest = content_digest(directory)
        value, failures = evaluate(directory, spec, x_held_out, y_held_out)
        record = GateRecord(
            model=spec.name,
            version=version.id,
            digest=digest,
            metric=spec.gate.metric,
            value=value,
            threshold=spec.gate.threshold,
            passed=not failures,
            failures=failures,
            tensorflow=tf.__version__,
        )
        write_record(gate_record_path(model_dir, version.id), record)
        outcomes.append(VersionOutcome(record, train_seconds, time.perf_counter() - started))
    return outcomes


def outcome_lines(outcome: VersionOutcome) -> list[str]:
    record = outcome.record
    trained = "-" if outcome.train_seconds is None else f"{outcome.train_seconds:.1f}s"
    summary = (
        f"{record.model:<8} v{record.version:<3} {'PASS' if record.passed else 'FAIL'}  "
        f"{record.metric} {record.value:.3f} (threshold {record.threshold:.3f})  "
        f"{record.digest[:DIGEST_PREFIX_LENGTH]}  train {trained}  gate {outcome.gate_seconds:.1f}s"
    )
    return [summary, *(f"    {failure}" for failure in record.failures)]


def model_dirs(models_dir: Path, names: Sequence[str]) -> list[Path]:
    """The named model folders, or every folder with a model.yaml; unknown names raise GateError."""
    if not names:
        return sorted(path.parent for path in models_dir.glob(f"*/{SPEC_FILE}"))
    unknown = [name for name in names if not (models_dir / name / SPEC_FILE).is_file()]
    if unknown:
        raise GateError(f"no {SPEC_FILE} under {shown(models_dir)}/ for: {', '.join(unknown)}")
    return [models_dir / name for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.gate",
        description="Train missing SavedModels, then gate every declared version of each model.",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="models to gate (default: every model folder)"
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train every version again, even if it exists"
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=MODELS_DIR,
        help="folder of model folders (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        folders = model_dirs(args.models_dir, args.names)
    except GateError as error:
        parser.error(str(error))
    all_passed = True
    for folder in folders:
        try:
            outcomes = gate_model(folder, retrain=args.retrain)
        except GateError as error:
            print(f"{folder.name:<8} FAIL  {error}", flush=True)
            all_passed = False
            continue
        for outcome in outcomes:
            print("\n".join(outcome_lines(outcome)), flush=True)
            all_passed = all_passed and outcome.record.passed
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
