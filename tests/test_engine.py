"""Generation engines and training-speed options: the fast paths keep the maths."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from midigen_tf import registry
from midigen_tf.errors import MidigenError
from midigen_tf.generate import (Engine, generate_tokens, one_hot_encoding,
                                  scalar_encoding)

V, L = 29, 6


def tiny_config(**overrides) -> dict:
    config = registry.make_config("lstm", {"units": [12, 10, 8], "sequence_length": L,
                                           "dense_units": 16, **overrides})
    config["n_vocab"] = V
    return config


def scramble(model, seed: int = 1):
    """Random weights with batch norm calibrated on random windows, so argmax moves between
    tokens (a fresh or naively randomised model repeats one token forever)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        scale = 5.0 if w.path.endswith("lstm_1/lstm_cell/kernel") else 1.0 / np.sqrt(w.shape[0])
        w.assign(rng.normal(0.0, scale, w.shape).astype("float32"))
    x = (rng.integers(0, V, (256, L)).astype("float32") / V)[..., None]
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            h = keras.Model(model.inputs, layer.input).predict(x, verbose=0)
            layer.set_weights([np.ones(h.shape[1]), np.zeros(h.shape[1]), h.mean(0), h.var(0) + 1e-6])
    return model


@pytest.fixture(scope="module")
def model():
    return scramble(registry.build_model(tiny_config()))


@pytest.fixture(scope="module")
def windows():
    return np.random.default_rng(1).integers(0, V, (2, L))


def naive_loop(model, windows, n):
    """The original predict.py: model.predict on the window, argmax, slide by one."""
    window, out = windows.copy(), []
    for _ in range(n):
        probs = model.predict((window.astype(np.float32) / np.float32(V))[..., None], verbose=0)
        nxt = probs.argmax(axis=-1)
        out.append(nxt)
        window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
    return np.stack(out, axis=1)


def compiled_call(model):
    """``model(x, training=False)`` as a traced function returning numpy."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: fn(tf.convert_to_tensor(x)).numpy()


def recompute_fn(model):
    """``history (K, T) -> probabilities`` from zero state over all of it, same weights."""
    full = registry.build_model(tiny_config(sequence_length=None))  # any length
    full.set_weights(model.get_weights())
    call = compiled_call(full)
    return lambda history: call((history.astype(np.float32) / np.float32(V))[..., None])


@pytest.mark.parametrize("pipelined", [True, False])
@pytest.mark.slow
def test_windowed_gives_the_naive_loops_tokens(model, windows, pipelined):
    n = 12
    runner = Engine(model, scalar_encoding(V), "windowed", pipelined=pipelined)
    assert runner.mode == ("pipelined" if pipelined else "full")
    ours = generate_tokens(model, windows, n, scalar_encoding(V), runner=runner)
    naive = naive_loop(model, windows, n)
    assert len(set(naive.ravel())) > 2  # the test model does not just repeat one token
    np.testing.assert_array_equal(ours, naive)


def test_pipelined_window_probabilities_equal_a_fresh_window_pass(model, windows):
    """Each pipelined prediction is a zero-state pass over exactly the last L tokens."""
    runner = Engine(model, scalar_encoding(V), "windowed")
    state = runner.start(windows)
    history = windows.copy()
    for t in range(L + 3):  # past L: every staggered copy has been restarted at least once
        np.testing.assert_allclose(state[0].numpy(), model.predict(
            (history[:, -L:].astype(np.float32) / V)[..., None], verbose=0), rtol=1e-4, atol=1e-6)
        nxt = (history[:, -1] * 7 + t) % V  # any continuation, not only argmax
        state = runner.push(state, nxt)
        history = np.concatenate([history, nxt[:, None]], axis=1)


@pytest.mark.slow
def test_windowed_batch_rows_equal_single_runs(model, windows):
    batch = generate_tokens(model, windows, 8, scalar_encoding(V))
    for row, window in zip(batch, windows):
        np.testing.assert_array_equal(row, generate_tokens(model, window[None], 8, scalar_encoding(V))[0])


def test_stateful_equals_full_history_recompute_within_the_window(model, windows):
    engine = Engine(model, scalar_encoding(V), "stateful")
    ids = generate_tokens(model, windows, L, scalar_encoding(V), engine="stateful", runner=engine)
    state, recompute = engine.start(windows), recompute_fn(model)
    for t in range(L):
        history = np.concatenate([windows, ids[:, :t]], axis=1)
        expected = recompute(history)
        np.testing.assert_allclose(state[0].numpy(), expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(ids[:, t], expected.argmax(axis=-1))
        state = engine.push(state, ids[:, t])


def test_stateful_first_note_is_the_windowed_note(model, windows):
    a = generate_tokens(model, windows, 1, scalar_encoding(V), engine="windowed")
    b = generate_tokens(model, windows, 1, scalar_encoding(V), engine="stateful")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
def test_per_step_sampling_path_matches_compiled_argmax(model, windows, engine):
    """top_k=1 samples the argmax token through the per-step (numpy ``choose``) path."""
    fast = generate_tokens(model, windows, 9, scalar_encoding(V), engine=engine)
    stepped = generate_tokens(model, windows, 9, scalar_encoding(V), np.random.default_rng(0),
                              top_k=1, engine=engine)
    np.testing.assert_array_equal(fast, stepped)


@pytest.mark.slow
def test_sampling_is_seeded(model, windows):
    runs = [generate_tokens(model, windows, 10, scalar_encoding(V), np.random.default_rng(s),
                            temperature=2.0, engine="stateful") for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_stateful_runs_a_functional_one_hot_model():
    inputs = keras.Input((None, 7))
    x = keras.layers.GRU(5, return_sequences=True, name="gru")(inputs)
    x = keras.layers.LSTM(6, name="lstm")(x)
    outputs = keras.layers.Dense(7, activation="softmax", name="out")(x)
    model = scramble(keras.Model(inputs, outputs))
    windows = np.random.default_rng(2).integers(0, 7, (3, 5))
    ids = generate_tokens(model, windows, 4, one_hot_encoding(7), engine="stateful")
    for t in range(4):
        history = np.concatenate([windows, ids[:, :t]], axis=1)
        probs = model.predict(np.eye(7, dtype="float32")[history], verbose=0)
        np.testing.assert_array_equal(ids[:, t], probs.argmax(axis=-1))


def test_stateful_refuses_models_it_cannot_step():
    inputs = keras.Input((4, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))
    with pytest.raises(MidigenError, match="stateful"):
        Engine(model, one_hot_encoding(3), "stateful")
    windowed = Engine(model, one_hot_encoding(3), "windowed")  # falls back to a full pass
    assert windowed.mode == "full"
    ids = generate_tokens(model, np.zeros((2, 4), int), 3, one_hot_encoding(3), runner=windowed)
    assert ids.shape == (2, 3) and ids.max() < 3
    conv = keras.Sequential([keras.Input((4, 3)), keras.layers.Conv1D(3, 2, name="conv"),
                             keras.layers.LSTM(3, name="lstm")])
    with pytest.raises(MidigenError, match="mixes time steps"):
        Engine(conv, one_hot_encoding(3), "stateful")


@pytest.mark.parametrize("options, message", [
    ({"engine": "fast"}, "unknown engine"), ({"n": 0}, "-n 0: .* at least 1"),
    ({"num_outputs": 0}, "--num-outputs 0"), ({"temperature": 0.0}, "--temperature 0.0"),
    ({"top_k": 0}, "--top-k 0"), ({"top_p": 1.5}, r"--top-p 1.5 must be in \(0, 1\]"),
    ({"top_p": 0.0}, "--top-p 0.0")])
def test_generation_options_are_checked_once_where_they_are_built(options, message):
    from midigen_tf.pipelines.base import GenerateOptions

    with pytest.raises(MidigenError, match=message):
        GenerateOptions(**options)
    edge = GenerateOptions(n=1, num_outputs=1, temperature=0.01, top_k=1, top_p=1.0,
                           engine="stateful")  # the boundaries themselves are fine
    assert edge.output_paths() == [edge.output]


def test_unrolled_model_computes_the_same_function(model):
    unrolled = registry.build_model(tiny_config(unroll=True))
    unrolled.set_weights(model.get_weights())
    x = np.random.default_rng(5).random((4, L, 1)).astype("float32")
    np.testing.assert_allclose(unrolled.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_bfloat16_option_trains_and_keeps_float32_weights_and_output():
    config = tiny_config(precision="mixed_bfloat16")
    bf16 = registry.build_model(config)
    assert all(w.dtype == "float32" for w in bf16.weights)
    assert bf16.get_layer("lstm_1").compute_dtype == "bfloat16"
    x = np.random.default_rng(6).random((8, L, 1)).astype("float32")
    y = np.arange(8) % V
    assert np.isfinite(bf16.train_on_batch(x, y))
    assert bf16(x[:2], training=False).dtype == "float32"
    with pytest.raises(MidigenError, match="precision"):
        registry.build_model(tiny_config(precision="float8"))


@pytest.mark.slow
def test_notes_pipeline_generates_k_pieces_with_the_stateful_engine(tiny_corpus, tmp_path):
    from midigen_tf.loading import load_for_generation
    from midigen_tf.pipelines.base import DataSource, GenerateOptions
    from midigen_tf.train import train

    config = registry.make_config("lstm", {"units": [8, 8, 8], "sequence_length": 8,
                                           "dense_units": 8, "epochs": 1, "batch_size": 64})
    source = DataSource(data_dir=tiny_corpus, cache_dir=tmp_path / "cache", jobs=1)
    train(config, source, tmp_path / "w", verbose=0, echo=lambda *_: None)
    model, bundle, pipeline = load_for_generation(tmp_path / "w" / "weights.hdf5")
    options = GenerateOptions(n=12, output=tmp_path / "out.mid", seed=0, num_outputs=2,
                              engine="stateful")
    paths = pipeline.generate(model, bundle, options)
    assert [p.name for p in paths] == ["out-1.mid", "out-2.mid"]
    assert all(p.stat().st_size > 0 for p in paths)
