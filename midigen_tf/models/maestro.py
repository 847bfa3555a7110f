"""What the three MAESTRO families (seed 000) share: defaults, the optimiser, weight decay and
the pitch one-hot layer (the trainer prints the parameter counts; the report's early stopping
and learning-rate schedule are the ``notetable`` pipeline's ``callbacks`` hook).

The families themselves are ``maestro_pitch.py``, ``maestro_regression.py`` and
``maestro_mlp.py``; all three train on the ``notetable`` pipeline, whose input is a window of
``sequence_length`` notes x ``len(features)`` normalised note features (see
``pipelines/notetable.py``).
"""

from __future__ import annotations

from typing import Any

import keras

PIPELINE = "notetable"

# Data and split: the report's note-level 80/10/10 split with random_state 42.
DATA_DEFAULTS: dict[str, Any] = {
    "sequence_length": 50,  # the report's example window ("if the sequence length is 50 notes")
    "features": ["pitch", "velocity", "duration", "step"],
    "time_scale": 4.0,  # seconds: duration and step are clipped to it and divided by it
    "split": "note",  # note (the report's, leaks) | file | csv (maestro-v*.csv split column)
    "split_fractions": [0.8, 0.1, 0.1],
    "split_seed": 42,
    "samples_per_epoch": 0,  # 0: every training window each epoch; else a fresh random subset
    "max_test_samples": 0,  # 0: the whole test split after training
    "primer_notes": 20000,  # notes kept beside the weights for generation
}
# The report's train_model(): Adam 1e-3, weight decay 1e-5, ReduceLROnPlateau(0.5, 5),
# early stopping patience 10, 200 epochs (the MLP preset takes its "improved" values).
TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 200,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "weight_decay": 1e-5,
    "patience": 10,
    "lr_factor": 0.5,
    "lr_patience": 5,
    "restore_best_weights": False,
}
# From predictions to sound (generate): the report's min-max scaling to MIDI 60-71, note names,
# 0.5 s sine waves at 44.1 kHz. "test" mode predicts the test split's notes (actual vs predicted);
# "autoregressive" feeds each prediction back.
SOUND_DEFAULTS: dict[str, Any] = {
    "generate_mode": "test",
    "scale": "minmax",  # minmax (the report) | clip (round, clip to the range) | none
    "midi_low": 60,
    "midi_high": 71,
    "note_seconds": 0.5,
    "sample_rate": 44100,
    "fade_ms": 0.0,
    "velocity": 80,
}

ACTIVATIONS = {"relu": "relu", "leaky_relu": "leaky_relu", "elu": "elu", "swish": "silu"}


def defaults(**overrides: Any) -> dict[str, Any]:
    """A full preset: the shared defaults updated with the family's own keys and values."""
    return {**DATA_DEFAULTS, **TRAIN_DEFAULTS, **SOUND_DEFAULTS, **overrides}


def regularizer(config: dict[str, Any]):
    """PyTorch's ``Adam(weight_decay=wd)`` adds ``wd * w`` to each gradient: an L2 penalty of
    ``wd / 2 * ||w||^2`` on the kernels (``None`` when ``weight_decay`` is 0)."""
    wd = float(config.get("weight_decay") or 0.0)
    return keras.regularizers.L2(wd / 2) if wd > 0 else None


def optimizer(config: dict[str, Any]):
    return keras.optimizers.Adam(learning_rate=float(config["learning_rate"]))


def lstm_stack(x, config: dict[str, Any], reg):
    """``LSTM(n)`` for each ``n`` of ``config["units"]`` (the last returns only its last step),
    with ``Dropout(config["dropout"])`` between them."""
    dropout = float(config["dropout"])
    units = list(config["units"])
    for i, n in enumerate(units):
        last = i == len(units) - 1
        x = keras.layers.LSTM(int(n), return_sequences=not last, kernel_regularizer=reg,
                              recurrent_regularizer=reg, name=f"lstm_{i + 1}")(x)
        if dropout and not last:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(x)
    return x


def regressor(inputs, x, config: dict[str, Any], reg, name: str):
    """``Dense(1)`` on ``x``: the compiled MSE model predicting one value of the next note."""
    outputs = keras.layers.Dense(1, kernel_regularizer=reg, name="output")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer=optimizer(config), loss="mean_squared_error", metrics=["mae"])
    return model


def notes_input(config: dict[str, Any]):
    return keras.Input(shape=(int(config["sequence_length"]), len(config["features"])), name="notes")


def activation_layer(name: str, layer_name: str):
    """relu / leaky_relu (slope 0.01, PyTorch's default) / elu / swish (= SiLU)."""
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.01, name=layer_name)
    return keras.layers.Activation(ACTIVATIONS[name], name=layer_name)


@keras.saving.register_keras_serializable(package="midigen")
class PitchOneHot(keras.layers.Layer):
    """Replace the normalised pitch column (``pitch / 127``) of a note window by its 128-way
    one-hot code, keeping the other feature columns: the report's ``input_size = 128``."""

    acts_per_step = True  # each time step on its own: the stateful engine may step through it

    def __init__(self, column: int = 0, depth: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.column = int(column)
        self.depth = int(depth)

    def call(self, x):
        pitch = keras.ops.cast(keras.ops.round(x[..., self.column] * (self.depth - 1)), "int32")
        onehot = keras.ops.one_hot(pitch, self.depth, dtype=x.dtype)
        rest = keras.ops.concatenate([x[..., : self.column], x[..., self.column + 1:]], axis=-1)
        return keras.ops.concatenate([onehot, rest], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] - 1 + self.depth)

    def get_config(self):
        return {**super().get_config(), "column": self.column, "depth": self.depth}

