"""Folk model 2 (seed 001): a fully connected variational autoencoder of symbol windows.

    encoder: flatten -> fc1 relu -> fc2 relu -> dropout1 -> fc21 (mean), fc22 (log variance)
    z = mean + exp(log_var / 2) * eps   (the ``Reparameterize`` layer, which adds beta * KLD)
    decoder: fc3 relu -> fc4 relu -> dropout2 -> fc5 sigmoid -> reshape (window, vocabulary)
    loss: BCE (summed over the window) + beta * KLD; Xavier-uniform init;
    Adam 0.005, learning rate x0.1 every 10 epochs.

The report gives no widths, latent size, dropout, batch or epochs: ours are 512/256, 64,
0.2, 100 and 30 (so the step decay shows twice). Generation decodes samples of z (see the
folk pipeline); ``encoder``/``decoder`` rebuild both halves from the trained layers.
"""

from __future__ import annotations

from functools import partial

import keras

from midigen_tf.models import folk_layers as fl

FAMILY = "folk-vae"
PIPELINE = "folk_vae"

PRESETS = {
    "vae": fl.preset(hidden_units=[512, 256], latent_dim=64, dropout=0.2, beta=1.0,
                     learning_rate=0.005, lr_decay=0.1, lr_decay_every=10, epochs=30,
                     batch_size=100),
}

INIT = "glorot_uniform"  # Xavier uniform


def _dense(units: int, name: str, activation=None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation, kernel_initializer=INIT,
                              bias_initializer="zeros", name=name)


def build_model(config: dict) -> keras.Model:
    inputs = fl.symbol_input(config)
    seq_len, n_vocab = int(config["sequence_length"]), int(config["n_vocab"])
    h1, h2 = config["hidden_units"]
    latent = int(config["latent_dim"])
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = _dense(h1, "fc1", "relu")(x)
    x = _dense(h2, "fc2", "relu")(x)
    x = keras.layers.Dropout(config["dropout"], name="dropout1")(x)
    mean = _dense(latent, "fc21")(x)
    log_var = _dense(latent, "fc22")(x)
    z = fl.Reparameterize(config["beta"], name="reparameterize")([mean, log_var])
    outputs = _decode(z, config, h1, h2, seq_len * n_vocab, (seq_len, n_vocab))
    model = keras.Model(inputs, outputs, name=config.get("preset", "vae"))
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]),
                  loss=fl.summed_binary_crossentropy)
    return model


def _decode(z, config, h1, h2, flat, shape, layers: dict | None = None):
    """The decoder applied to ``z``: new layers, or the trained ones in ``layers``."""
    get = (layers or {}).get
    x = (get("fc3") or _dense(h2, "fc3", "relu"))(z)
    x = (get("fc4") or _dense(h1, "fc4", "relu"))(x)
    x = (get("dropout2") or keras.layers.Dropout(config["dropout"], name="dropout2"))(x)
    x = (get("fc5") or _dense(flat, "fc5", "sigmoid"))(x)
    return (get("reconstruction") or keras.layers.Reshape(shape, name="reconstruction"))(x)


def encoder(model: keras.Model) -> keras.Model:
    """window -> (mean, log variance), sharing the trained layers."""
    return keras.Model(model.input, [model.get_layer("fc21").output,
                                      model.get_layer("fc22").output], name="encoder")


def decoder(model: keras.Model, config: dict) -> keras.Model:
    """z -> reconstructed window probabilities, sharing the trained layers."""
    z = keras.Input((int(config["latent_dim"]),), name="z")
    names = ("fc3", "fc4", "dropout2", "fc5", "reconstruction")
    out = _decode(z, config, None, None, None, None, {n: model.get_layer(n) for n in names})
    return keras.Model(z, out, name="decoder")


def _step_decay(epoch: int, lr: float, *, initial: float, factor: float, every: int) -> float:
    return float(initial * factor ** (epoch // every))


def callbacks(config: dict) -> list:
    """The report's StepLR: learning rate x ``lr_decay`` every ``lr_decay_every`` epochs."""
    schedule = partial(_step_decay, initial=float(config["learning_rate"]),
                       factor=float(config["lr_decay"]), every=int(config["lr_decay_every"]))
    return [keras.callbacks.LearningRateScheduler(schedule)]
