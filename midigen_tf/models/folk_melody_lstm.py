"""Folk model 5 (seed 001): the Keras melody baseline the report started from.

    Input(None, n_vocab) -> LSTM(256) -> Dropout(0.2) -> Dense softmax;
    sparse categorical cross-entropy, Adam 1e-3, batch 64, 50 epochs; songs transposed to
    C major / A minor; generation samples with temperature 0.3 and stops at ``/``.

The input accepts windows of any length, as the tutorial's ``Input(shape=(None, vocab))``.
"""

from __future__ import annotations

import keras

from midigen_tf.models import folk_layers as fl

FAMILY = "folk-melody-lstm"
PIPELINE = fl.PIPELINE

PRESETS = {
    "melody-lstm": fl.preset(units=[256], dropout=0.2, learning_rate=1e-3, epochs=50,
                             batch_size=64, transpose="c-a", temperature=0.3),
}


def build_model(config: dict) -> keras.Model:
    if not config.get("n_vocab"):
        raise ValueError("config['n_vocab'] is not set: prepare the data first")
    inputs = keras.Input((None, int(config["n_vocab"])), name="symbols")
    x = inputs
    units = list(config["units"])
    for i, u in enumerate(units):
        x = keras.layers.LSTM(int(u), return_sequences=i < len(units) - 1, name=f"lstm_{i + 1}")(x)
    x = keras.layers.Dropout(config["dropout"], name="dropout")(x)
    return fl.classifier(inputs, x, config, "melody-lstm")
