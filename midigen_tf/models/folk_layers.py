"""What the five folk-melody families (seed 001) share: data settings, input, custom layers.

Every folk model reads a one-hot window ``(sequence_length, n_vocab)`` of time-step symbols
(see ``data/folk.py``); the next-symbol models end in a softmax trained with sparse
categorical cross-entropy (PyTorch's ``CrossEntropyLoss`` over class indices, as the report).
"""

from __future__ import annotations

import keras
from keras import ops

from midigen_tf.data.folk import ACCEPTABLE_DURATIONS

PIPELINE = "folk"

DATA_DEFAULTS = {
    "sequence_length": 64,  # stride-1 windows of 64 sixteenths
    "time_step": 0.25,  # quarter lengths per symbol (a sixteenth)
    "acceptable_durations": list(ACCEPTABLE_DURATIONS),
    "transpose": "all",  # "none" | "c-a" (C major / A minor) | "all" (12 keys, the report)
    "max_songs": 0,  # read only the first N tunes (0 = all): short runs
    "validation_split": 0.1,  # fraction of songs held out (used when the CLI gives none)
    "windows_per_epoch": 0,  # 0 = every window each epoch; N = a fresh random N per epoch
    "temperature": 1.0,  # generation default when no --temperature/--top-k/--top-p is given
    "n_vocab": None,  # set from the data
}


def preset(**settings) -> dict:
    return {**DATA_DEFAULTS, **settings}


def symbol_input(config: dict) -> keras.KerasTensor:
    n_vocab = config.get("n_vocab")
    if not n_vocab:
        raise ValueError("config['n_vocab'] is not set: prepare the data first")
    return keras.Input((int(config["sequence_length"]), int(n_vocab)), name="symbols")


def output_layer(config: dict) -> keras.layers.Dense:
    return keras.layers.Dense(int(config["n_vocab"]), activation="softmax", name="output")


def compile_classifier(model: keras.Model, config: dict) -> keras.Model:
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def classifier(inputs, x, config: dict, name: str) -> keras.Model:
    """The softmax over the vocabulary on ``x``, as a compiled model (named after the preset,
    else ``name``)."""
    model = keras.Model(inputs, output_layer(config)(x), name=config.get("preset", name))
    return compile_classifier(model, config)


def recurrent_stack(x, config: dict, cell: str, return_last_sequences: bool):
    """``layers`` bidirectional GRU/LSTM layers with Dropout between them (PyTorch's
    ``nn.GRU(num_layers, dropout, bidirectional=True)``: dropout on every layer's output but
    the last)."""
    rnn = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    n = int(config["layers"])
    for i in range(n):
        last = i == n - 1
        x = keras.layers.Bidirectional(
            rnn(int(config["units"]), return_sequences=return_last_sequences or not last,
                name=f"{cell}_{i + 1}"), name=f"bi{cell}_{i + 1}")(x)
        if not last:
            x = keras.layers.Dropout(config["rnn_dropout"], name=f"{cell}_dropout_{i + 1}")(x)
    return x


@keras.saving.register_keras_serializable(package="midigen")
class AdditiveAttention(keras.layers.Layer):
    """The report's attention: ``scores = query_fc(tanh(attention_fc(x) + value_fc(x)))``,
    softmax over time, then the attention-weighted sum of ``x`` over time."""

    attends_over_time = True  # the generation engine cannot step through it (stepwise.py)

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.attention_fc = keras.layers.Dense(self.units, name="attention_fc")
        self.value_fc = keras.layers.Dense(self.units, name="value_fc")
        self.query_fc = keras.layers.Dense(1, name="query_fc")

    def build(self, input_shape):
        self.attention_fc.build(input_shape)
        self.value_fc.build(input_shape)
        self.query_fc.build((*input_shape[:-1], self.units))
        super().build(input_shape)

    def call(self, x):
        scores = self.query_fc(ops.tanh(self.attention_fc(x) + self.value_fc(x)))  # (B, T, 1)
        weights = ops.softmax(scores, axis=1)
        return ops.sum(x * weights, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="midigen")
class LastStep(keras.layers.Layer):
    """``x[:, -1, :]``: the last time step of a sequence."""

    def call(self, x):
        return x[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="midigen")
class Reparameterize(keras.layers.Layer):
    """``z = mu + exp(log_var / 2) * eps`` (eps ~ N(0, I)); adds ``beta * KLD`` as a loss,
    so a plain ``fit`` trains the VAE. KLD is summed over the latent dimensions and
    averaged over the batch, like the reconstruction loss."""

    def __init__(self, beta: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mu, log_var = inputs
        kld = -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)
        self.add_loss(self.beta * ops.mean(kld))
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}


@keras.saving.register_keras_serializable(package="midigen")
def summed_binary_crossentropy(y_true, y_pred):
    """BCE summed over every element of a sample (PyTorch ``reduction="sum"`` per sample)."""
    bce = keras.losses.binary_crossentropy(y_true, y_pred)  # mean over the last axis
    return ops.sum(bce, axis=-1) * ops.cast(ops.shape(y_pred)[-1], bce.dtype)
