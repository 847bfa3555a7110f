"""Seed 000's "improved" fully connected regressor over note features.

The report's ``ImprovedModel(hidden_layers=[1024, 512, 256], dropout_rate=0.3, activation)``:
each hidden layer is Linear -> BatchNorm -> activation (relu / leaky_relu / elu / swish) ->
Dropout, then Linear(1); trained with MSE, Adam lr 5e-4, weight decay 1e-4, early stopping
patience 15, up to 300 epochs. Its 10 input features are here the pitches of the 10 notes
before the target (``sequence_length`` x ``features``, flattened).
"""

from __future__ import annotations

import keras

from midigen_tf.config import choice
from midigen_tf.models import maestro

FAMILY = "maestro-mlp"
PIPELINE = maestro.PIPELINE
PRESETS = {
    FAMILY: maestro.defaults(
        sequence_length=10, features=["pitch"], target="pitch", hidden_layers=[1024, 512, 256],
        activation="relu", dropout=0.3, learning_rate=5e-4, weight_decay=1e-4, patience=15,
        epochs=300),
}


def build_model(config):
    choice(config, "activation", maestro.ACTIVATIONS, "relu")
    inputs = maestro.notes_input(config)
    reg = maestro.regularizer(config)
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, n in enumerate(config["hidden_layers"]):
        x = keras.layers.Dense(int(n), kernel_regularizer=reg, name=f"fc_{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i + 1}")(x)
        x = maestro.activation_layer(config["activation"], f"{config['activation']}_{i + 1}")(x)
        if config["dropout"]:
            x = keras.layers.Dropout(float(config["dropout"]), name=f"dropout_{i + 1}")(x)
    return maestro.regressor(inputs, x, config, reg, "maestro_mlp")
