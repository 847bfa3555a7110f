"""Seed 000's next-pitch classifier: a window of notes -> LSTM 2 x 256 -> softmax over 128 pitches.

The report's PyTorch ``MusicGeneratorLSTM(input_size=128, hidden_size=256, num_layers=2,
output_size=128)``: the pitch enters one-hot (128 wide), the last time step's output goes through
a linear layer and a softmax. Other note features, if listed in ``features``, are appended to
the one-hot code. Trained with sparse categorical cross-entropy (targets are MIDI numbers).
"""

from __future__ import annotations

import keras

from midigen_tf.errors import MidigenError
from midigen_tf.models import maestro

FAMILY = "maestro-pitch"
PIPELINE = maestro.PIPELINE
PRESETS = {
    FAMILY: maestro.defaults(
        features=["pitch"], units=[256, 256], dropout=0.0,
        generate_mode="autoregressive", scale="none"),
}


def build_model(config):
    if "pitch" not in config["features"]:
        raise MidigenError("maestro-pitch needs 'pitch' among its features",
                           hint='--set features=["pitch"]')
    inputs = maestro.notes_input(config)
    x = maestro.PitchOneHot(column=config["features"].index("pitch"), name="pitch_onehot")(inputs)
    reg = maestro.regularizer(config)
    x = maestro.lstm_stack(x, config, reg)
    x = keras.layers.Dense(128, kernel_regularizer=reg, name="fc")(x)
    outputs = keras.layers.Softmax(name="softmax")(x)
    model = keras.Model(inputs, outputs, name="maestro_pitch")
    model.compile(optimizer=maestro.optimizer(config), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
