"""The folk VAE's pipeline (seed 001, model 2): the folk data as ``(x, x)`` windows; generation
decodes whole melodies from samples of the latent z (it has no next step to carry state over).

Everything else (tunes, split, symbols, seed melody, output files) is the folk pipeline's.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from midigen_tf.data import folk as folk_data
from midigen_tf.pipelines import folk
from midigen_tf.pipelines.base import Capabilities, DataSource, GenerateOptions, Pipeline, Prepared

def prepare(config: dict, source: DataSource) -> Prepared:
    return folk.prepare(config, source, autoencode=True)


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    """Decode melodies from z (around the seed's encoding, if a seed is given)."""
    from midigen_tf.models import folk_vae

    windows, seed, index, sampling, rng = folk.start_windows(bundle, options)
    rows = _vae_steps(folk_vae.encoder(model), folk_vae.decoder(model, bundle.config), windows,
                      options.n, index, rng, sampling, folk.one_hot(len(index)), bool(seed))
    return folk.write_melodies(rows, [], bundle, options)


def _vae_steps(enc, dec, windows, n, index, rng, sampling, encode_x, seeded):
    """Decode samples of z, a window at a time: z ~ N(0, I) (or around the seed's encoding),
    then around the encoding of the window just generated (a walk in the latent space).
    The melody is what is decoded (with a seed, a variation of it, not its continuation); it
    starts at its first pitch (leading ``/``, ``_``, ``r`` are dropped) and stops at ``/``."""
    from midigen_tf.sampling import choose

    delim = index[folk_data.DELIM]
    non_pitch = {i for s, i in index.items() if not s.isdigit()}
    k, seq_len = windows.shape
    mean, log_var = (np.asarray(a) for a in enc(encode_x(windows), training=False))
    if not seeded:
        mean, log_var = np.zeros_like(mean), np.zeros_like(log_var)
    rows: list[list[int]] = [[] for _ in range(k)]
    done = np.zeros(k, dtype=bool)
    while not done.all() and min(len(r) for r in rows) < n:
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        probs = np.asarray(dec(z.astype(np.float32), training=False), dtype=np.float64)
        probs = np.clip(probs, 1e-9, None)
        flat = probs.reshape(k * seq_len, -1)
        ids = choose(flat / flat.sum(axis=1, keepdims=True), rng, **sampling).reshape(k, seq_len)
        for r in range(k):
            for i in ids[r]:
                if done[r] or len(rows[r]) >= n:
                    break
                if not rows[r] and i in non_pitch:
                    continue
                if i == delim:
                    done[r] = True
                rows[r].append(int(i))
        mean, log_var = (np.asarray(a) for a in enc(encode_x(ids), training=False))
    return [r or [delim] for r in rows]


def _step_decay(epoch: int, lr: float, *, initial: float, factor: float, every: int) -> float:
    return float(initial * factor ** (epoch // every))


def step_decay_callbacks(config: dict) -> list:
    """The VAE report's StepLR: learning rate x ``lr_decay`` every ``lr_decay_every`` epochs
    (when the config has those settings)."""
    import keras

    if not config.get("lr_decay_every"):
        return []
    schedule = partial(_step_decay, initial=float(config["learning_rate"]),
                       factor=float(config["lr_decay"]), every=int(config["lr_decay_every"]))
    return [keras.callbacks.LearningRateScheduler(schedule)]


PIPELINE = Pipeline(name="folk_vae", prepare=prepare, generate=generate,
                    default_data=folk.DEFAULT_DATA, after_training=folk.after_training,
                    callbacks=step_decay_callbacks, capabilities=Capabilities(
                        stateful="a VAE decodes whole melodies from a latent sample, with no "
                                 "step-by-step state to carry"))
