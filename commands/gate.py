"""The model gate: every declared version of a model is trained if missing, then checked.

Usage: python -m commands.gate [NAME ...] [--retrain]

For each version in models/<name>/model.yaml the gate makes sure models/<name>/savedmodel/<v>/
exists (training it with the model's train.py when missing, or always with --retrain), loads it,
writes TF Serving's warmup file into it when missing (assets.extra/tf_serving_warmup_requests:
PredictionLogs of held-out samples), checks that its `serving_default` signature is exactly the
one the spec declares, replays every warmup request against it, checks that its metric on the
held-out split reaches the spec's threshold, measures in a fresh interpreter how long it takes to
load and warm up and how fast it answers, and writes models/<name>/gate/<v>.json with the content
digest of the files it checked (the warmup file included), those measurements, and the spec's
gate, signature and training parameters it checked them under. The Pulumi program deploys a
version only if that record passed, the digest still matches and the record agrees with the spec
as it is then; it never imports TensorFlow, this program is the one that does (and the only
importer of the models' train.py).

Exit status: 0 if every version passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import platform
import shutil
import statistics
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

# tensorflow-serving-api, installed without its dependencies (requirements-models-nodeps.txt):
# it requires the `tensorflow` distribution, which our `tensorflow-cpu` provides under another name.
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from components.catalog.gate_record import (
    WARMUP_FILE,
    GateRecord,
    StartupMeasurement,
    content_digest,
    gate_record_path,
    savedmodel_dir,
    warmup_path,
    write_record,
)
from components.catalog.load import parse_spec
from components.catalog.spec import ModelSpec, Signature, TensorSpec, Version

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
SPEC_FILE = "model.yaml"
TRAIN_FILE = "train.py"
SERVING_SIGNATURE = "serving_default"
FINGERPRINT_FILE = "fingerprint.pb"
# "sha256:" and 12 hex digits: enough to tell versions apart in the printed lines.
DIGEST_PREFIX_LENGTH = 19
# One warmup request per batch size, from the first held-out samples: batch 1 is what a single
# client sends, 8 exercises a batched kernel. Nine samples keep the file to a few KB.
WARMUP_BATCH_SIZES = (1, 8)
# Batch-of-one requests timed after warmup; the median is the steady latency.
STEADY_RUNS = 50


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


def _name_and_dtype_failures(
    where: str,
    expected: Mapping[str, TensorSpec],
    got: Mapping[str, ExposedTensor],
    noun: str,
) -> tuple[list[str], list[tuple[str, TensorSpec, ExposedTensor]]]:
    """What a signature and a warmup request are checked for alike: names missing or undeclared,
    and dtypes; with the (field, spec, tensor) triples present on both sides, for their shapes."""
    failures = [f"{where}: missing {noun}{name!r}" for name in expected if name not in got]
    failures += [
        f"{where}: unexpected {noun}{name!r}, which model.yaml does not declare"
        for name in got
        if name not in expected
    ]
    present = [
        (f"{where}.{name}", spec, got[name]) for name, spec in expected.items() if name in got
    ]
    failures += [
        f"{field}: dtype {tensor.dtype}, expected {spec.dtype}"
        for field, spec, tensor in present
        if tensor.dtype != spec.dtype
    ]
    return failures, present


def tensor_failures(
    field: str, expected: Mapping[str, TensorSpec], exposed: Mapping[str, ExposedTensor]
) -> list[str]:
    """Differences between the declared tensors and those a signature exposes, under `field`."""
    failures, present = _name_and_dtype_failures(field, expected, exposed, "")
    for where, spec, tensor in present:
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


def request_failures(
    where: str, expected: Mapping[str, TensorSpec], sent: Mapping[str, ExposedTensor]
) -> list[str]:
    """Differences between one warmup request's tensors and the inputs the spec declares.

    Unlike a signature, a request has concrete sizes: a dimension the spec writes -1 takes any.
    """
    failures, present = _name_and_dtype_failures(where, expected, sent, "input ")
    for field, spec, tensor in present:
        shape = tensor.shape or ()
        if len(shape) != len(spec.shape) or any(
            want != -1 and got != want for got, want in zip(shape, spec.shape, strict=False)
        ):
            failures.append(
                f"{field}: shape {format_shape(shape)}, expected {format_shape(spec.shape)}"
            )
    return failures


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


def warmup_log(spec: ModelSpec, inputs: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """One PredictionLog of TF Serving's warmup file: a Predict request to serving_default."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=spec.name, signature_name=SERVING_SIGNATURE)
    )
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    # Deterministic bytes: the file is part of the content digest, so regating must not move it.
    serialized: bytes = log.SerializeToString(deterministic=True)
    return serialized


def write_warmup(directory: Path, spec: ModelSpec, x_held_out: npt.NDArray[Any]) -> None:
    """TF Serving's warmup file from the first held-out samples, in the spec's input dtype."""
    [(input_name, input_spec)] = spec.signature.inputs.items()
    samples = np.asarray(x_held_out).astype(input_spec.dtype)
    path = warmup_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in WARMUP_BATCH_SIZES:
            writer.write(warmup_log(spec, {input_name: samples[:batch]}))


def read_warmup(directory: Path) -> list[prediction_log_pb2.PredictionLog]:
    """Every record of the version's warmup file, parsed; raises on a file that is not one."""
    return [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(str(warmup_path(directory)))
    ]


def request_inputs(log: prediction_log_pb2.PredictionLog) -> dict[str, npt.NDArray[Any]]:
    return {name: tf.make_ndarray(proto) for name, proto in log.predict_log.request.inputs.items()}


def warmup_failures(directory: Path, spec: ModelSpec, serve: Any) -> list[str]:
    """Every warmup request checked against the spec's signature and run through `serve`.

    TF Serving refuses to load a version whose warmup fails, so a bad request fails the gate.
    """
    where = WARMUP_FILE
    if not warmup_path(directory).is_file():
        return [f"{where}: missing"]
    try:
        logs = read_warmup(directory)
    except Exception as error:  # a corrupt TFRecord or proto: TensorFlow and protobuf errors vary
        return [f"{where}: not a TFRecord of PredictionLogs: {error}"]
    if not logs:
        return [f"{where}: holds no requests"]
    failures = []
    for index, log in enumerate(logs):
        at = f"{where}: request {index}"
        if log.WhichOneof("log_type") != "predict_log":
            failures.append(f"{at}: a {log.WhichOneof('log_type')}, expected a predict_log")
            continue
        # model_spec.name is not checked: TF Serving replays warmup against the version it is
        # loading whatever name the request gives, so a model folder copied under a new name
        # keeps valid warmup files.
        model_spec = log.predict_log.request.model_spec
        if model_spec.signature_name not in ("", SERVING_SIGNATURE):
            failures.append(
                f"{at}: model_spec.signature_name {model_spec.signature_name!r}, "
                f"expected {SERVING_SIGNATURE!r}"
            )
        inputs = request_inputs(log)
        sent = {
            name: ExposedTensor(dtype=tf.as_dtype(array.dtype).name, shape=array.shape)
            for name, array in inputs.items()
        }
        mismatches = request_failures(f"{at}: inputs", spec.signature.inputs, sent)
        if mismatches:
            failures += mismatches
            continue
        try:
            answer = serve(**{name: tf.constant(array) for name, array in inputs.items()})
        except Exception as error:  # what TF Serving would refuse at load
            failures.append(f"{at}: the SavedModel refused it: {error}".splitlines()[0])
            continue
        missing = sorted(set(spec.signature.outputs) - set(answer))
        if missing:
            failures.append(f"{at}: answer lacks outputs {', '.join(missing)}")
    return failures


def cpu_model() -> str:
    """The CPU the measurements ran on, as /proc/cpuinfo names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_startup(directory: Path) -> StartupMeasurement:
    """Load, warm up and time the version; runs in a fresh interpreter, as a new pod starts.

    TensorFlow's import is not timed (TF Serving's binary has no such step); the rest is what a
    TF Serving replica does before it reports ready: load the SavedModel, replay the warmup file.
    """
    started = time.perf_counter()
    loaded = tf.saved_model.load(str(directory))
    serve = loaded.signatures[SERVING_SIGNATURE]
    load_seconds = time.perf_counter() - started

    started = time.perf_counter()
    requests = [
        {name: tf.constant(array) for name, array in request_inputs(log).items()}
        for log in read_warmup(directory)
    ]
    latencies = []
    for request in requests:
        sent = time.perf_counter()
        serve(**request)
        latencies.append(time.perf_counter() - sent)
    warmup_seconds = time.perf_counter() - started

    steady = []
    for _ in range(STEADY_RUNS):
        sent = time.perf_counter()
        serve(**requests[0])
        steady.append(time.perf_counter() - sent)
    return StartupMeasurement(
        load_seconds=round(load_seconds, 4),
        warmup_seconds=round(warmup_seconds, 4),
        warmup_requests=len(requests),
        first_inference_ms=round(latencies[0] * 1000, 3),
        steady_inference_ms=round(statistics.median(steady) * 1000, 3),
        steady_runs=STEADY_RUNS,
        measured_on=cpu_model(),
    )


def measure_in_fresh_interpreter(directory: Path) -> StartupMeasurement:
    # In this process TensorFlow has already loaded the version (and others): the second load
    # of a graph is faster than a pod's first, so the figures come from a new interpreter.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
        return fresh.submit(measure_startup, directory).result()


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
    failures = warmup_failures(directory, spec, serve)
    return value, failures + metric_failures(
        spec.gate.metric, value, spec.gate.threshold, len(y_held_out)
    )


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
        if directory.is_dir() and not warmup_path(directory).exists():
            # Written once, like the SavedModel itself; afterwards it is checked, never rewritten,
            # so a warmup file edited by hand is replayed as it is and fails if it is wrong.
            write_warmup(directory, spec, x_held_out)
        digest = content_digest(directory)
        value, failures = evaluate(directory, spec, x_held_out, y_held_out)
        startup = None if failures else measure_in_fresh_interpreter(directory)
        record = GateRecord(
            model=spec.name,
            version=version.id,
            digest=digest,
            gate=spec.gate,
            signature=spec.signature,
            train=version.train,
            value=value,
            passed=not failures,
            failures=failures,
            tensorflow=tf.__version__,
            startup=startup,
        )
        write_record(gate_record_path(model_dir, version.id), record)
        outcomes.append(VersionOutcome(record, train_seconds, time.perf_counter() - started))
    return outcomes


def outcome_lines(outcome: VersionOutcome) -> list[str]:
    record = outcome.record
    trained = "-" if outcome.train_seconds is None else f"{outcome.train_seconds:.1f}s"
    summary = (
        f"{record.model:<8} v{record.version:<3} {'PASS' if record.passed else 'FAIL'}  "
        f"{record.gate.metric} {record.value:.3f} (threshold {record.gate.threshold:.3f})  "
        f"{record.digest[:DIGEST_PREFIX_LENGTH]}  train {trained}  gate {outcome.gate_seconds:.1f}s"
    )
    if record.startup is not None:
        startup = record.startup
        summary += (
            f"  load {startup.load_seconds:.2f}s warmup {startup.warmup_seconds:.2f}s "
            f"first {startup.first_inference_ms:.1f}ms steady {startup.steady_inference_ms:.2f}ms"
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
        prog="python -m commands.gate",
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
