"""The classic note/chord LSTM classifier of seed 003 (and the public original it copies).

    LSTM(216, recurrent_dropout=0.3, return_sequences) -> LSTM(316, return_sequences,
    recurrent_dropout=0.3) -> LSTM(316) -> BatchNorm -> Dropout(0.3) -> Dense(256) -> relu ->
    BatchNorm -> Dropout(0.3) -> Dense(n_vocab) -> softmax;  rmsprop, 36 epochs, batch 128.

Input: one scalar per step, ``index / n_vocab``, shape ``(batch, sequence_length, 1)``.
The loss is the sparse form of ``categorical_crossentropy`` (integer targets): the same
number, without a one-hot target matrix. The layer order matches the original exactly, so
Keras 2 ``.hdf5`` files written by the original scripts load into this model.
"""

from __future__ import annotations

import keras

from midigen_tf.config import choice
from midigen_tf.models.fast_lstm import FastLSTM

FAMILY = "lstm"
PIPELINE = "notes"

_COMMON = {
    "recurrent_dropout": 0.3,
    "dropout": 0.3,
    "dense_units": 256,
    "optimizer": "rmsprop",
    "learning_rate": 0.001,
    "batch_size": 128,
    "part_mode": "all",  # "faithful": the report's parts[0] (loses files with music21 10.5)
    "offset_step": 0.5,  # quarter lengths between generated events (create_midi)
    "n_vocab": None,  # set from the data
    "hold_out_every": 0,  # N: leave every N-th file (sorted) out of training, as `evaluate` does
    # Speed options (docs/performance.md). The defaults are the report's float32 maths.
    "precision": "float32",  # "mixed_bfloat16": bf16 compute, float32 weights (changes numerics)
    "jit_compile": False,  # XLA-compile the train step (same float32 maths, other fusion)
    "unroll": False,  # unroll the LSTM time loop in the graph (same maths)
    # "auto": FastLSTM (same maths, own loop + gradient) where no GPU is visible, Keras's own
    # layer (cuDNN) on a GPU; "keras" / "fast" name one of them.
    "lstm_impl": "auto",
}

PRECISIONS = ("float32", "mixed_bfloat16")
LSTM_IMPLS = {"keras": keras.layers.LSTM, "fast": FastLSTM}
IMPL_CHOICES = ("auto", *LSTM_IMPLS)

PRESETS = {
    "lstm": {**_COMMON, "units": [216, 316, 316], "sequence_length": 100, "epochs": 36},
    "lstm-alt": {**_COMMON, "units": [250, 350, 350], "sequence_length": 120, "epochs": 16},
    "lstm-512": {**_COMMON, "units": [512, 512, 512], "sequence_length": 100, "epochs": 200},
}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})


def resolve_impl(name: str) -> str:
    """``"keras"`` or ``"fast"`` for an ``lstm_impl`` value: ``"auto"`` is the fast layer on CPU
    (measured 1.4-1.7x Keras's on 2-core CPUs, docs/performance.md) and Keras's layer where a GPU
    is visible (cuDNN; the fast layer was never measured faster there)."""
    if name != "auto":
        return name
    import tensorflow as tf

    return "keras" if tf.config.list_physical_devices("GPU") else "fast"


def lstm_class(config: dict) -> type:
    """The LSTM layer class of ``config["lstm_impl"]`` (both give the same maths and weights)."""
    return LSTM_IMPLS[resolve_impl(choice(config, "lstm_impl", IMPL_CHOICES, "keras"))]


def build_model(config: dict, inputs=None) -> keras.Model:
    """The compiled stack; ``inputs(policy)`` gives the layers before the first LSTM (default:
    the report's scalar input), so other input encodings reuse the same stack."""
    units = list(config["units"])
    n_vocab = config["n_vocab"]
    if not n_vocab:
        raise ValueError("config['n_vocab'] is not set: prepare the data first")
    precision = choice(config, "precision", PRECISIONS, "float32")
    policy = keras.DTypePolicy(precision)
    lstm = lstm_class(config)
    layers = (inputs(policy) if inputs is not None
              else [keras.Input((config["sequence_length"], 1), name="notes")])
    for i, u in enumerate(units):
        layers.append(lstm(
            u, return_sequences=i < len(units) - 1, name=f"lstm_{i + 1}",
            unroll=bool(config.get("unroll", False)), dtype=policy,
            recurrent_dropout=config["recurrent_dropout"] if i < len(units) - 1 else 0.0))
    layers += [
        keras.layers.BatchNormalization(name="bn_1", dtype=policy),
        keras.layers.Dropout(config["dropout"], name="dropout_1", dtype=policy),
        keras.layers.Dense(config["dense_units"], name="dense_1", dtype=policy),
        keras.layers.Activation("relu", name="relu", dtype=policy),
        keras.layers.BatchNormalization(name="bn_2", dtype=policy),
        keras.layers.Dropout(config["dropout"], name="dropout_2", dtype=policy),
        keras.layers.Dense(n_vocab, name="logits", dtype=policy),
        keras.layers.Activation("softmax", name="softmax", dtype="float32"),
    ]
    model = keras.Sequential(layers, name=config.get("preset", FAMILY))
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=make_optimizer(config["optimizer"], config["learning_rate"]),
                  jit_compile=bool(config.get("jit_compile", False)))
    return model
