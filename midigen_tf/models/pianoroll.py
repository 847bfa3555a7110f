"""Piano-roll LSTM (seed 004): 50 frames of 256 bits in, the next frame out (multi-label).

The report's table: binary cross-entropy, Adam, window 50 (5 s), hidden size 512, 160,000
samples per epoch; loss, accuracy, false positives and false negatives reported per epoch
(those figures: ``midigen_tf/references.py``).
``pos_weight`` > 1 is the report's to-do "a loss penalising false negatives": binary
cross-entropy whose positive (note-on) terms weigh ``pos_weight`` times more.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from midigen_tf.data.pianoroll import FRAME_SECONDS, N_FEATURES

FAMILY = "pianoroll"
PIPELINE = "pianoroll"

_BASE: dict[str, Any] = {
    "sequence_length": 50,       # frames in (5 s at 0.1 s per frame)
    "frame_seconds": FRAME_SECONDS,
    "units": [512],              # "hidden size 512": one LSTM layer
    "dropout": 0.0,              # between stacked LSTM layers (none in the report)
    "learning_rate": 0.001,      # Adam's default
    "pos_weight": 1.0,           # 1.0 = plain binary cross-entropy (the report)
    "samples_per_epoch": 160000,
    "val_samples": 16000,        # cap on validation windows per epoch (evenly spread)
    "epochs": 20,
    "batch_size": 128,           # not in the report; the classic pipeline's value
}

PRESETS: dict[str, dict[str, Any]] = {
    "pianoroll": dict(_BASE),
    # the report's to-do: false negatives cost 10x (about the ratio of off to on cells / 4)
    "pianoroll-fn": dict(_BASE, pos_weight=10.0),
    # a few seconds per epoch on a laptop: for trying the pipeline and for tests
    "pianoroll-tiny": dict(_BASE, units=[32], samples_per_epoch=2048, val_samples=512,
                           epochs=2, batch_size=64),
}

@keras.saving.register_keras_serializable(package="midigen")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy with the positive terms weighted: ``-(w y log p + (1-y) log(1-p))``.

    With ``pos_weight=1`` it is Keras' binary cross-entropy (same clipping, and the same
    logits shortcut when the prediction comes straight out of a sigmoid).
    """

    def __init__(self, pos_weight: float = 1.0, name: str = "weighted_bce",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pos_weight = float(pos_weight)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        logits = getattr(y_pred, "_keras_logits", None)
        if logits is not None:  # stable: log(sigmoid(x)) = -softplus(-x)
            log_p, log_not_p = -ops.softplus(-logits), -ops.softplus(logits)
        else:
            eps = keras.config.epsilon()
            p = ops.clip(y_pred, eps, 1.0 - eps)
            log_p, log_not_p = ops.log(p), ops.log(1.0 - p)
        terms = self.pos_weight * y_true * log_p + (1.0 - y_true) * log_not_p
        return -ops.mean(terms, axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


def make_loss(pos_weight: float) -> keras.losses.Loss:
    if pos_weight == 1.0:
        return keras.losses.BinaryCrossentropy(name="binary_crossentropy")
    return WeightedBinaryCrossentropy(pos_weight, name="weighted_bce")


def make_metrics() -> list[keras.metrics.Metric]:
    """Per-epoch accuracy and counts of wrong cells at threshold 0.5 (as the report)."""
    return [keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.FalsePositives(name="false_positives"),
            keras.metrics.FalseNegatives(name="false_negatives")]


def build_model(config: dict[str, Any]) -> keras.Model:
    """``LSTM(512)`` over ``(50, 256)`` frames -> ``Dense(256, sigmoid)``, compiled."""
    units = list(config["units"])
    frames = keras.Input((config["sequence_length"], N_FEATURES), name="frames")
    x = frames
    for i, n in enumerate(units):
        last = i == len(units) - 1
        x = keras.layers.LSTM(n, return_sequences=not last, name=f"lstm_{i + 1}")(x)
        if not last and config["dropout"]:
            x = keras.layers.Dropout(config["dropout"], name=f"dropout_{i + 1}")(x)
    out = keras.layers.Dense(N_FEATURES, activation="sigmoid", name="next_frame")(x)
    model = keras.Model(frames, out, name="pianoroll_lstm")
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]),
                  loss=make_loss(float(config["pos_weight"])), metrics=make_metrics())
    return model


def lstm_layers(model: keras.Model) -> list[keras.layers.LSTM]:
    """The model's LSTM layers, in order, by name."""
    layers, i = [], 1
    while any(layer.name == f"lstm_{i}" for layer in model.layers):
        layers.append(model.get_layer(f"lstm_{i}"))
        i += 1
    return layers

