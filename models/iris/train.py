"""Iris: the data split and the training of one version, called by the gate (commands/gate.py) only.

The served model takes the four raw measurements in centimetres (sepal length, sepal width, petal
length, petal width): standardisation is a layer inside the model, fitted on the training split,
so clients send what they measure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

FEATURES = 4
CLASSES = 3
BATCH_SIZE = 16


def load_data(
    held_out_fraction: float, seed: int
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]
]:
    """(x_train, y_train, x_held_out, y_held_out): float32 [n, 4] measurements, int class ids."""
    features, labels = load_iris(return_X_y=True)
    x_train, x_held_out, y_train, y_held_out = train_test_split(
        features.astype(np.float32),
        labels.astype(np.int64),
        test_size=held_out_fraction,
        random_state=seed,
        stratify=labels,
    )
    return x_train, y_train, x_held_out, y_held_out


def build_model(x_train: npt.NDArray[np.float32], hidden_units: int) -> keras.Model:
    normalize = keras.layers.Normalization(name="standardize")
    normalize.adapt(x_train)
    return keras.Sequential(
        [
            keras.Input(shape=(FEATURES,), name="features"),
            normalize,
            keras.layers.Dense(hidden_units, activation="relu", name="hidden"),
            keras.layers.Dense(CLASSES, activation="softmax", name="probabilities"),
        ],
        name="iris",
    )


def export(
    params: dict[str, Any],
    x_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    seed: int,
    export_dir: Path,
) -> None:
    """Train with the version's params (hidden_units, epochs, learning_rate); save a SavedModel."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(x_train, int(params["hidden_units"]))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(params["learning_rate"])),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x_train, y_train, epochs=int(params["epochs"]), batch_size=BATCH_SIZE, verbose=0)
    # Only the model's variables are saved (not the optimizer's), in the model's own order, so the
    # same training gives the same bytes; keras.export.ExportArchive orders them anew on each run.
    serving = tf.Module()
    serving.model_variables = list(model.variables)
    serving.serve = tf.function(
        lambda features: {"probabilities": model(features, training=False)},
        input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="features")],
    )
    tf.saved_model.save(serving, str(export_dir), signatures={"serving_default": serving.serve})
