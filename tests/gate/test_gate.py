"""The model gate with real TensorFlow: the shipped SavedModels, fixture models that must fail, and
the pure checks. Fixture models are constant functions (tests/gate/fixtures), so nothing here trains
for longer than a second; each export still starts a fresh interpreter, as the gate always does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import yaml

from commands.gate import (
    MODELS_DIR,
    SERVING_SIGNATURE,
    WARMUP_BATCH_SIZES,
    ExposedTensor,
    GateError,
    accuracy,
    gate_model,
    load_spec,
    load_train_module,
    main,
    metric_failures,
    read_warmup,
    request_failures,
    request_inputs,
    signature_failures,
    warmup_failures,
    warmup_log,
)
from components.catalog.gate_record import (
    gate_record_path,
    read_record,
    savedmodel_dir,
    warmup_path,
)
from components.catalog.spec import Signature

# commands.gate imports TensorFlow: even its pure tests pay that import, so all are marked.
pytestmark = pytest.mark.gate

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = "fixture"


def fixture_model(models_dir: Path, **train_params: Any) -> Path:
    """A model folder named `fixture` whose only version is exported with these train params."""
    model_dir = models_dir / FIXTURE
    model_dir.mkdir(parents=True)
    spec = yaml.safe_load((FIXTURES / "model.yaml").read_text())
    spec["versions"][0]["train"] = train_params
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(FIXTURES / "constant_model.py", model_dir / "train.py")
    return model_dir


# The shipped models, as committed.


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_shipped_savedmodels_pass_and_reproduce_their_committed_records(
    name: str, tmp_path: Path
) -> None:
    # Gated in a copy, so the test never rewrites the records it checks against.
    model_dir = tmp_path / name
    shutil.copytree(MODELS_DIR / name, model_dir, ignore=shutil.ignore_patterns("gate"))
    declared = [version.id for version in load_spec(model_dir).versions]

    outcomes = gate_model(model_dir)

    assert [outcome.record.version for outcome in outcomes] == declared
    for outcome in outcomes:
        assert outcome.train_seconds is None, "a shipped SavedModel was trained again"
        assert outcome.record.passed, outcome.record.failures
        committed = read_record(gate_record_path(MODELS_DIR / name, outcome.record.version))
        assert outcome.record.digest == committed.digest
        # Timings differ from run to run; everything else is reproduced exactly.
        assert outcome.record.model_copy(update={"startup": None}) == committed.model_copy(
            update={"startup": None}
        )
        for startup in (outcome.record.startup, committed.startup):
            assert startup is not None
            assert startup.load_seconds > 0 and startup.warmup_seconds > 0
            assert startup.warmup_requests == len(WARMUP_BATCH_SIZES)
            assert 0 < startup.steady_inference_ms <= startup.first_inference_ms


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_the_warmup_file_round_trips_and_every_request_replays_against_the_signature(
    name: str,
) -> None:
    model_dir = MODELS_DIR / name
    spec = load_spec(model_dir)
    [(input_name, input_spec)] = spec.signature.inputs.items()
    [(output_name, output_spec)] = spec.signature.outputs.items()
    _, _, x_held_out, _ = load_train_module(model_dir / "train.py").load_data(
        spec.gate.held_out_fraction, spec.gate.seed
    )
    for version in spec.versions:
        directory = savedmodel_dir(model_dir, version.id)
        serve = tf.saved_model.load(str(directory)).signatures[SERVING_SIGNATURE]

        logs = read_warmup(directory)

        assert len(logs) == len(WARMUP_BATCH_SIZES)
        for log, batch in zip(logs, WARMUP_BATCH_SIZES, strict=True):
            request = log.predict_log.request
            assert (request.model_spec.name, request.model_spec.signature_name) == (
                name,
                SERVING_SIGNATURE,
            )
            [(sent_name, sent)] = request_inputs(log).items()
            assert sent_name == input_name
            assert sent.dtype.name == input_spec.dtype
            np.testing.assert_array_equal(sent, x_held_out[:batch].astype(input_spec.dtype))
            answer = serve(**{input_name: tf.constant(sent)})[output_name]
            assert answer.shape.as_list() == [batch, *output_spec.shape[1:]]
        assert warmup_failures(directory, spec, serve) == []


def test_a_warmup_request_unlike_the_signature_fails_the_gate(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path)
    [first] = gate_model(model_dir)
    spec = load_spec(model_dir)
    samples = np.ones((2, 4), np.float32)
    bad = [
        warmup_log(spec, {"features": samples.astype(np.float64)}),
        warmup_log(spec, {"features": np.ones((2, 5), np.float32)}),
        warmup_log(spec, {"measurements": samples}),
        warmup_log(spec, {"features": samples}),
    ]
    with tf.io.TFRecordWriter(str(warmup_path(savedmodel_dir(model_dir, 1)))) as writer:
        for log in bad:
            writer.write(log)

    [second] = gate_model(model_dir)

    assert second.record.digest != first.record.digest, "the warmup file is outside the digest"
    assert not second.record.passed and second.record.startup is None
    where = "assets.extra/tf_serving_warmup_requests"
    assert second.record.failures[:4] == [
        f"{where}: request 0: inputs.features: dtype float64, expected float32",
        f"{where}: request 1: inputs.features: shape [2, 5], expected [-1, 4]",
        f"{where}: request 2: inputs: missing input 'features'",
        f"{where}: request 2: inputs: unexpected input 'measurements', which model.yaml does "
        "not declare",
    ]


def test_a_corrupt_warmup_file_fails_the_gate(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path)
    gate_model(model_dir)
    warmup_path(savedmodel_dir(model_dir, 1)).write_bytes(b"not a TFRecord")

    [outcome] = gate_model(model_dir)

    assert outcome.record.failures[0].startswith(
        "assets.extra/tf_serving_warmup_requests: not a TFRecord of PredictionLogs: "
    )


# Fixture models that must fail.


def test_a_signature_unlike_the_spec_fails_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = fixture_model(tmp_path, input_dtype="float64")

    assert main([FIXTURE, "--models-dir", str(tmp_path)]) == 1

    record = read_record(gate_record_path(model_dir, 1))
    assert not record.passed
    assert record.failures == [
        "signature.inputs.features: dtype float64, expected float32",
        "accuracy: not measured, the signature does not match",
    ]
    assert record.digest.startswith("sha256:")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:3] == [FIXTURE, "v1", "FAIL"]
    assert printed[1].strip() == record.failures[0]


def test_a_model_below_its_threshold_fails_with_the_accuracy_message(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path)

    [outcome] = gate_model(model_dir)

    assert outcome.train_seconds is not None
    assert not outcome.record.passed
    assert outcome.record.value == pytest.approx(1 / 3)
    assert outcome.record.failures == [
        "accuracy 0.333 is below the threshold 0.900 on 45 held-out examples"
    ]
    assert read_record(gate_record_path(model_dir, 1)) == outcome.record


def test_retraining_writes_byte_identical_files(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path)
    [first] = gate_model(model_dir)

    [second] = gate_model(model_dir, retrain=True)

    assert second.train_seconds is not None
    assert second.record.digest == first.record.digest


def test_a_failed_training_leaves_no_savedmodel_and_no_record(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path, fail=True)

    with pytest.raises(RuntimeError, match="fails on purpose"):
        gate_model(model_dir)

    assert not savedmodel_dir(model_dir, 1).exists()
    assert list(savedmodel_dir(model_dir, 1).parent.iterdir()) == [], "a partial export was left"
    assert not gate_record_path(model_dir, 1).exists()


def test_a_spec_error_names_the_file_and_the_field(tmp_path: Path) -> None:
    model_dir = fixture_model(tmp_path)
    spec = yaml.safe_load((model_dir / "model.yaml").read_text())
    spec["gate"]["threshold"] = 1.5
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec))

    with pytest.raises(GateError, match=r"fixture/model\.yaml: gate\.threshold: ") as raised:
        load_spec(model_dir)
    assert "less than or equal to 1" in str(raised.value)


# Pure checks: plain data, no TensorFlow objects.

IRIS_SIGNATURE = Signature.model_validate(
    {
        "inputs": {"features": {"dtype": "float32", "shape": [-1, 4]}},
        "outputs": {"probabilities": {"dtype": "float32", "shape": [-1, 3]}},
    }
)
FEATURES = ExposedTensor(dtype="float32", shape=(None, 4))
PROBABILITIES = {"probabilities": ExposedTensor(dtype="float32", shape=(None, 3))}


def test_a_signature_exactly_as_declared_has_no_failures() -> None:
    assert signature_failures(IRIS_SIGNATURE, {"features": FEATURES}, PROBABILITIES) == []


def test_a_missing_input_is_named() -> None:
    assert signature_failures(IRIS_SIGNATURE, {}, PROBABILITIES) == [
        "signature.inputs: missing 'features'"
    ]


def test_an_extra_input_is_named() -> None:
    inputs = {"features": FEATURES, "mask": ExposedTensor(dtype="bool", shape=(None, 4))}
    assert signature_failures(IRIS_SIGNATURE, inputs, PROBABILITIES) == [
        "signature.inputs: unexpected 'mask', which model.yaml does not declare"
    ]


def test_a_missing_output_is_named() -> None:
    assert signature_failures(IRIS_SIGNATURE, {"features": FEATURES}, {}) == [
        "signature.outputs: missing 'probabilities'"
    ]


def test_a_different_dtype_is_named_with_the_expected_one() -> None:
    inputs = {"features": ExposedTensor(dtype="float64", shape=(None, 4))}
    assert signature_failures(IRIS_SIGNATURE, inputs, PROBABILITIES) == [
        "signature.inputs.features: dtype float64, expected float32"
    ]


def test_a_different_rank_is_named_with_the_expected_shape() -> None:
    outputs = {"probabilities": ExposedTensor(dtype="float32", shape=(None, 3, 1))}
    assert signature_failures(IRIS_SIGNATURE, {"features": FEATURES}, outputs) == [
        "signature.outputs.probabilities: shape [-1, 3, 1] has rank 3, expected rank 2 [-1, 3]"
    ]


def test_an_unknown_rank_is_a_failure() -> None:
    inputs = {"features": ExposedTensor(dtype="float32", shape=None)}
    assert signature_failures(IRIS_SIGNATURE, inputs, PROBABILITIES) == [
        "signature.inputs.features: shape of unknown rank, expected [-1, 4]"
    ]


@pytest.mark.parametrize(
    ("shape", "shown"),
    [((None, 5), "[-1, 5]"), ((32, 4), "[32, 4]"), ((None, None), "[-1, -1]")],
    ids=["fixed-size-differs", "fixed-where-any-size", "any-size-where-fixed"],
)
def test_a_different_dimension_is_named_with_the_expected_shape(
    shape: tuple[int | None, ...], shown: str
) -> None:
    inputs = {"features": ExposedTensor(dtype="float32", shape=shape)}
    assert signature_failures(IRIS_SIGNATURE, inputs, PROBABILITIES) == [
        f"signature.inputs.features: shape {shown}, expected [-1, 4]"
    ]


def test_a_request_of_any_batch_size_matches_a_dimension_of_any_size() -> None:
    inputs = IRIS_SIGNATURE.inputs
    assert request_failures("r", inputs, {"features": ExposedTensor("float32", (7, 4))}) == []
    assert request_failures("r", inputs, {"features": ExposedTensor("float32", (4,))}) == [
        "r.features: shape [4], expected [-1, 4]"
    ]


def test_accuracy_compares_the_most_probable_class_with_the_label() -> None:
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(probabilities, np.array([1, 0, 0, 0])) == 0.75


def test_accuracy_refuses_predictions_that_do_not_match_the_labels() -> None:
    with pytest.raises(ValueError, match="2 predictions for 3 labels"):
        accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 0, 0]))


def test_the_threshold_itself_passes_and_anything_below_fails() -> None:
    assert metric_failures("accuracy", 0.9, 0.9, 45) == []
    assert metric_failures("accuracy", 0.62, 0.9, 45) == [
        "accuracy 0.620 is below the threshold 0.900 on 45 held-out examples"
    ]
