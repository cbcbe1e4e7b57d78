"""Digits: the data split and the training of one version, called by the gate (commands/gate.py).

The served model takes 8x8 single-channel images with grey levels scaled to [0, 1] (0 is the
background); scikit-learn's copy of the data has levels 0 to 16, so load_data divides by 16.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SIDE = 8
CLASSES = 10
MAX_GREY_LEVEL = 16.0
BATCH_SIZE = 32


def load_data(
    held_out_fraction: float, seed: int
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]
]:
    """(x_train, y_train, x_held_out, y_held_out): float32 [n, 8, 8, 1] images, int class ids."""
    digits = load_digits()
    images = (digits.images / MAX_GREY_LEVEL).astype(np.float32)[..., np.newaxis]
    x_train, x_held_out, y_train, y_held_out = train_test_split(
        images,
        digits.target.astype(np.int64),
        test_size=held_out_fraction,
        random_state=seed,
        stratify=digits.target,
    )
    return x_train, y_train, x_held_out, y_held_out


def build_model(filters: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(SIDE, SIDE, 1), name="images"),
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(CLASSES, activation="softmax", name="probabilities"),
        ],
        name="digits",
    )


def export(
    params: dict[str, Any],
    x_train: npt.NDArray[np.float32],
    y_train: npt.NDArray[np.int64],
    seed: int,
    export_dir: Path,
) -> None:
    """Train with the version's params (filters, epochs, learning_rate); save a SavedModel."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model(int(params["filters"]))
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
        lambda images: {"probabilities": model(images, training=False)},
        input_signature=[tf.TensorSpec([None, SIDE, SIDE, 1], tf.float32, name="images")],
    )
    tf.saved_model.save(serving, str(export_dir), signatures={"serving_default": serving.serve})
