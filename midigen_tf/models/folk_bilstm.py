"""Folk model 4 (seed 001): two stacked bidirectional LSTMs with dropout after each.

    BiLSTM(256, sequences) -> Dropout(0.2) -> BiLSTM(256) -> Dropout(0.2) -> Dense softmax.

The report gives the layout, not the numbers: units, dropout, learning rate, epochs and batch
come from the Keras tutorial it ported (NUM_UNITS=[256], dropout 0.2, Adam 1e-3, 50 epochs,
batch 64). Its songs were not transposed ("bypassing of transposition"): ``transpose=none``.
"""

from __future__ import annotations

import keras

from midigen_tf.models import folk_layers as fl

FAMILY = "folk-bilstm"
PIPELINE = fl.PIPELINE

PRESETS = {
    "bilstm": fl.preset(layers=2, units=256, dropout=0.2, learning_rate=1e-3, epochs=50,
                        batch_size=64, transpose="none"),
}


def build_model(config: dict) -> keras.Model:
    inputs = fl.symbol_input(config)
    x = inputs
    n = int(config["layers"])
    for i in range(n):
        x = keras.layers.Bidirectional(
            keras.layers.LSTM(int(config["units"]), return_sequences=i < n - 1, name=f"lstm_{i + 1}"),
            name=f"bilstm_{i + 1}")(x)
        x = keras.layers.Dropout(config["dropout"], name=f"dropout_{i + 1}")(x)
    return fl.classifier(inputs, x, config, "bilstm")
