"""Folk model 3 (seed 001): bidirectional LSTM x8 -> Conv1D -> multi-head self-attention.

    8 x BiLSTM(256), dropout 0.5 between layers -> Conv1D(256, 3, relu) -> Dropout(0.5) ->
    LayerNorm -> MultiHeadAttention(8 heads) + residual -> LayerNorm -> last time step ->
    Dense(256, relu) -> Dropout(0.5) -> Dense softmax;  Adam 1e-4, 20 epochs, batch 100.

The report's "linear transformation followed by dropout" reads the attended sequence; we take
its last time step (the window's next-symbol position). Key size per head: 256 / 8 = 32.
"""

from __future__ import annotations

import keras

from midigen_tf.models import folk_layers as fl

FAMILY = "folk-lstm-mha"
PIPELINE = fl.PIPELINE

PRESETS = {
    "lstm-mha": fl.preset(
        layers=8, units=256, rnn_dropout=0.5, conv_filters=256, kernel_size=3, heads=8,
        dense_units=256, dropout=0.5, learning_rate=1e-4, epochs=20, batch_size=100),
}


def build_model(config: dict) -> keras.Model:
    inputs = fl.symbol_input(config)
    x = fl.recurrent_stack(inputs, config, "lstm", return_last_sequences=True)
    filters = int(config["conv_filters"])
    x = keras.layers.Conv1D(filters, int(config["kernel_size"]), padding="same",
                            activation="relu", name="conv")(x)
    x = keras.layers.Dropout(config["dropout"], name="conv_dropout")(x)
    x = keras.layers.LayerNormalization(name="conv_norm")(x)
    heads = int(config["heads"])
    attended = keras.layers.MultiHeadAttention(heads, max(1, filters // heads), dropout=0.0,
                                               name="attention")(x, x)
    x = keras.layers.Add(name="residual")([x, attended])
    x = keras.layers.LayerNormalization(name="attention_norm")(x)
    x = fl.LastStep(name="last_step")(x)
    x = keras.layers.Dense(int(config["dense_units"]), activation="relu", name="dense")(x)
    x = keras.layers.Dropout(config["dropout"], name="dense_dropout")(x)
    return fl.classifier(inputs, x, config, "lstm-mha")
