"""Seed 000's Keras regression stack over note windows, layer for layer:

``LSTM(256, return_sequences) -> Dropout(0.3) -> LSTM(256, return_sequences) -> Dropout(0.3)
-> LSTM(128) -> Dense(64) -> Dropout(0.3) -> Dense(1)``, ``loss="mean_squared_error"``, Adam.

It predicts one value of the next note (``target``: its pitch by default, normalised like the
features) from a window of ``sequence_length`` notes.
"""

from __future__ import annotations

import keras

from midigen_tf.models import maestro

FAMILY = "maestro-regression"
PIPELINE = maestro.PIPELINE
PRESETS = {
    FAMILY: maestro.defaults(
        target="pitch", units=[256, 256, 128], dense_units=64, dropout=0.3),
}


def build_model(config):
    inputs = maestro.notes_input(config)
    reg = maestro.regularizer(config)
    dropout = float(config["dropout"])
    x = maestro.lstm_stack(inputs, config, reg)
    if config["dense_units"]:
        x = keras.layers.Dense(int(config["dense_units"]), kernel_regularizer=reg, name="dense")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout_dense")(x)
    return maestro.regressor(inputs, x, config, reg, "maestro_regression")
