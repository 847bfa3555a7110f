"""Every family generates through the one engine (``generate.generate_steps``) and, for the same
seed and options, writes what its own loop wrote before (issue 12). Each reference below is
that old loop, copied here as it was, run on a tiny untrained model."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import melody_notes
from midigen_tf import registry
from midigen_tf.bundle import Bundle
from midigen_tf.data import folk
from midigen_tf.data import notetable as nt
from midigen_tf.generate import (Engine, generate_steps, generate_tokens, one_hot_encoding,
                                  sampler, scalar_encoding)
from midigen_tf.pipelines.base import GenerateOptions
from midigen_tf.sampling import choose

SAMPLE = {"temperature": 1.0, "top_k": None, "top_p": None}
ARGMAX = {"temperature": None, "top_k": None, "top_p": None}


def varied(rows) -> bool:
    """The test means something: more than two distinct steps (ids, frames, values) occur."""
    rows = np.asarray(rows)
    return len(np.unique(rows.reshape(rows.shape[0] * rows.shape[1], -1), axis=0)) > 2


# --- classic (seed 003) ------------------------------------------------------------------------

def old_generate_tokens(model, windows, n, encode, rng, temperature=None, top_k=None,
                        top_p=None, engine="windowed"):
    """``generate.generate_tokens`` before issue 12 (its chunked argmax / per-step sampling)."""
    runner = Engine(model, encode, engine, kernel="layers")  # the engine before issue 14
    state = runner.start(windows)
    out = np.empty((len(windows), n), dtype=np.int64)
    argmax = temperature is None and top_k is None and top_p is None
    done = 0
    while done < n:
        if argmax:
            size = min(64, n - done)
            out[:, done:done + size], state = runner.run_argmax(state, size)
        else:
            size = 1
            out[:, done] = choose(state[0].numpy(), rng, temperature, top_k, top_p)
            if done + 1 < n:
                state = runner.push(state, out[:, done])
        done += size
    return out


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.parametrize("sampling", [ARGMAX, {"temperature": 1.5, "top_k": 5, "top_p": 0.9}])
@pytest.mark.slow
def test_classic_tokens_equal_the_old_loop(engine, sampling):
    v, length = 17, 5
    config = registry.make_config("lstm", {"units": [8, 8, 8], "sequence_length": length,
                                           "dense_units": 8})
    config["n_vocab"] = v
    model = registry.build_model(config)
    windows = np.random.default_rng(0).integers(0, v, (2, length))
    old = old_generate_tokens(model, windows, 20, scalar_encoding(v), np.random.default_rng(4),
                              engine=engine, **sampling)
    new = generate_tokens(model, windows, 20, scalar_encoding(v), np.random.default_rng(4),
                          engine=engine, **sampling)
    np.testing.assert_array_equal(new, old)
    if sampling["temperature"]:
        assert varied(new)


# --- seq2seq (seed 002) ------------------------------------------------------------------------

class OldEncoderDecoderSteps:
    """``pipelines.pseudonotes.EncoderDecoderSteps`` before issue 12."""

    def __init__(self, encoder, decoder, period):
        import keras
        import tensorflow as tf

        self.period, self.calls, self.states = int(period), 0, None
        one_hot_ids = one_hot_encoding(int(decoder.outputs[0].shape[-1]))
        self._encode = tf.function(lambda ids: encoder(one_hot_ids(ids), training=False))
        self._decode = tf.function(lambda ids, *s: decoder([one_hot_ids(ids), *s], training=False))
        self.tensor = keras.ops.convert_to_tensor

    def __call__(self, window):
        if self.states is None or (self.period and self.calls % self.period == 0):
            self.states = list(self._encode(self.tensor(window)))
        probs, *self.states = self._decode(self.tensor(window[:, -1:]), *self.states)
        self.calls += 1
        return np.asarray(probs)[:, -1]


def old_autoregress(predict, windows, n, rng, temperature=None, top_k=None, top_p=None):
    """``generate.autoregress`` before issue 12."""
    window = np.array(windows, dtype=np.int64, copy=True)
    out = np.empty((window.shape[0], n), dtype=np.int64)
    for step in range(n):
        nxt = choose(predict(window), rng, temperature, top_k, top_p)
        out[:, step] = nxt
        window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
    return out


@pytest.mark.parametrize("period", [0, 3])
@pytest.mark.parametrize("sampling", [ARGMAX, SAMPLE])
def test_seq2seq_tokens_equal_the_old_loop(period, sampling):
    from midigen_tf.models import seq2seq
    from midigen_tf.steppers import EncoderDecoderStepper

    v = 13
    config = registry.make_config("seq2seq-small", {"units": [8, 8], "input_length": 6,
                                                    "output_length": 3, "n_vocab": v})
    model = seq2seq.build_model(config)
    primers = np.random.default_rng(1).integers(0, v, (2, 6))
    old = old_autoregress(OldEncoderDecoderSteps(*seq2seq.inference_models(model), period),
                          primers, 16, np.random.default_rng(2), **sampling)
    stepper = EncoderDecoderStepper(*seq2seq.inference_models(model), period)
    new = generate_steps(stepper, primers, 16, sampler(np.random.default_rng(2), **sampling))
    np.testing.assert_array_equal(new, old)
    if sampling["temperature"]:
        assert varied(new)


# --- piano roll (seed 004) ---------------------------------------------------------------------

def old_generate_rolls(model, bundle, options):
    """``pipelines.pianoroll.generate_rolls`` + ``_step_function`` before issue 12."""
    import tensorflow as tf

    from midigen_tf.pipelines import pianoroll as pr

    opts = pr.generation_options(options)
    count, window = int(options.num_outputs), int(bundle.config["sequence_length"])
    rng = np.random.default_rng(options.seed)
    rolls = np.zeros((count, window + int(options.n), 256), np.uint8)
    rolls[:, :window] = pr.primer_windows(bundle, options, count, rng)
    chooser = pr.FrameChooser(opts, options, count, rng)
    chooser.previous = rolls[:, window - 1, :128] > 0
    if options.engine == "stateful":
        cells = [model.get_layer(f"lstm_{i + 1}").cell for i in range(len(bundle.config["units"]))]
        dense = model.get_layer("next_frame")

        @tf.function
        def step(x, states):
            new = []
            for cell, state in zip(cells, states):
                x, state = cell(x, list(state), training=False)
                new.append(list(state))
            return dense(x), new

        states = [[tf.zeros((count, c.units)), tf.zeros((count, c.units))] for c in cells]
        for t in range(window):
            probs, states = step(tf.constant(rolls[:, t].astype(np.float32)), states)
        for t in range(window, rolls.shape[1]):
            rolls[:, t] = chooser(probs.numpy())
            probs, states = step(tf.constant(rolls[:, t].astype(np.float32)), states)
        return rolls
    for t in range(window, rolls.shape[1]):
        rolls[:, t] = chooser(model.predict_on_batch(rolls[:, t - window:t].astype(np.float32)))
    return rolls


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.parametrize("mode", [{"mode": "threshold", "threshold": 0.5},
                                  {"mode": "sample", "max_silence": 3, "max_hold": 5}])
def test_piano_roll_frames_equal_the_old_loop(tmp_path, engine, mode):
    from midigen_tf.pipelines import pianoroll as pr

    config = registry.make_config("pianoroll-tiny", {"units": [8, 6], "sequence_length": 6})
    model = registry.build_model(config)
    primers = (np.random.default_rng(1).random((4, 6, 256)) < 0.05).astype(np.uint8)
    np.save(tmp_path / f"{pr.PRIMERS}.npy", primers)
    bundle = Bundle(config=config, path=tmp_path / "weights.json")
    options = GenerateOptions(n=12, seed=3, engine=engine, num_outputs=2, extra=mode,
                              temperature=1.0 if mode["mode"] == "sample" else None,
                              kernel="layers")  # the old loop's maths to the last bit
    old = old_generate_rolls(model, bundle, options)
    new = pr.generate_rolls(model, bundle, options)
    np.testing.assert_array_equal(new, old)
    assert varied(new[:, 6:])


# --- MAESTRO autoregressive (seed 000) ---------------------------------------------------------

def old_autoregress_notes(model, notes, config, options, rng, count):
    """``pipelines.notetable._autoregress`` before issue 12."""
    length = int(config["sequence_length"])
    name = "pitch" if nt.classifies(config) else config["target"]
    ends = np.flatnonzero(nt.positions_in_file(notes["file"]) >= length - 1)
    picks = ends[rng.integers(0, len(ends), size=count)]
    x = nt.note_features(notes, picks[:, None] + np.arange(-length + 1, 1), config)
    col, out = config["features"].index(name), np.empty((count, options.n))
    for step in range(options.n):
        p = np.asarray(model.predict_on_batch(x))
        if nt.classifies(config):
            value = choose(p, rng, options.temperature, options.top_k, options.top_p)
            feature = value / 127.0
        else:
            value, feature = p[:, 0] * nt.feature_scale(name, config), np.clip(p[:, 0], 0.0, 1.0)
        out[:, step] = value
        new = x[:, -1:, :].copy()
        new[:, 0, col] = feature
        x = np.concatenate([x[:, 1:], new], axis=1)
    return out


@pytest.mark.parametrize("preset, temperature", [
    ("maestro-pitch", 1.0), ("maestro-pitch", None), ("maestro-regression", None)])
def test_maestro_autoregressive_notes_equal_the_old_loop(preset, temperature):
    """The old loop was windowed only (``--engine stateful`` is new here)."""
    from midigen_tf.pipelines import notetable as pipeline

    config = registry.make_config(preset, {"units": [8, 8], "sequence_length": 5,
                                           "generate_mode": "autoregressive"})
    model = registry.build_model(config)
    notes = nt.to_table(melody_notes(30, seed=2))
    options = GenerateOptions(n=10, seed=5, num_outputs=2, temperature=temperature, kernel="layers")
    old = old_autoregress_notes(model, notes, config, options, np.random.default_rng(5), 2)
    new = pipeline._autoregress(model, notes, config, options, np.random.default_rng(5), 2)
    if temperature is None and preset == "maestro-regression":  # float values fed back: the
        np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-5)  # graph sums another way
    else:  # pitches: the same tokens
        np.testing.assert_array_equal(new, old)
    assert varied(new)


# --- folk next-symbol models (seed 001) --------------------------------------------------------

def old_next_symbol_steps(engine, windows, n, index, rng, sampling, seeded):
    """``pipelines.folk._next_symbol_steps`` before issue 12."""
    delim = index[folk.DELIM]
    pitch_ids = np.array([i for s, i in index.items() if s.isdigit()])
    other_ids = np.array([i for s, i in index.items() if not s.isdigit()])
    k = len(windows)
    out = np.full((k, n), delim, dtype=np.int64)
    started = np.full(k, seeded)
    done = np.zeros(k, dtype=bool)
    state = engine.start(windows)
    for t in range(n):
        probs = np.array(state[0], dtype=np.float64)
        probs[np.ix_(~started, other_ids)] = 0.0
        nxt = choose(probs / probs.sum(axis=1, keepdims=True), rng, **sampling)
        nxt = np.where(done, delim, nxt)
        out[:, t] = nxt
        started |= np.isin(nxt, pitch_ids)
        done |= nxt == delim
        if done.all() or t + 1 == n:
            break
        state = engine.push(state, nxt)
    return out


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.parametrize("seed_melody", ["", "60 _ 62 _"])
def test_folk_melody_symbols_equal_the_old_loop(tmp_path, engine, seed_melody):
    from midigen_tf.pipelines import folk as pipeline

    mapping = folk.make_mapping(["55", "57", "60", "62", "64", "65", "67"])
    config = registry.make_config("melody-lstm", {"units": [8], "sequence_length": 6,
                                                  "n_vocab": len(mapping)})
    model = registry.build_model(config)
    bundle = Bundle(config=config, vocab=mapping, path=tmp_path / "weights.json")
    options = GenerateOptions(n=24, seed=7, engine=engine, num_outputs=3, kernel="layers",
                              extra={"seed": seed_melody} if seed_melody else {})
    windows, seed, index, sampling, rng = pipeline.start_windows(bundle, options)
    assert sampling == {**SAMPLE, "temperature": 0.3}  # the preset's own temperature
    sampling = SAMPLE  # hotter: more variety for an untrained model
    old = old_next_symbol_steps(Engine(model, one_hot_encoding(len(mapping)), engine,
                                       kernel="layers"), windows,
                                24, index, np.random.default_rng(7), sampling, bool(seed))
    pick = pipeline.MelodyPick(index, np.random.default_rng(7), sampling, bool(seed), 3)
    new = generate_steps(Engine(model, one_hot_encoding(len(mapping)), engine), windows, 24, pick)
    new = np.pad(new, ((0, 0), (0, 24 - new.shape[1])), constant_values=index[folk.DELIM])
    np.testing.assert_array_equal(new, old)
    assert varied(new)
