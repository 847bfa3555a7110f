"""FastLSTM (``--set lstm_impl=fast``): same maths, weights and dropout as keras.layers.LSTM."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from midigen_tf import registry
from midigen_tf.bundle import load_weights
from midigen_tf.errors import MidigenError
from midigen_tf.models.fast_lstm import FastLSTM

TINY = {"units": [8, 8, 8], "sequence_length": 6, "dense_units": 8, "batch_size": 4, "epochs": 1,
        "n_vocab": 5}


def _model(impl: str, seed: int = 3, **extra):
    keras.utils.set_random_seed(seed)  # same seed generators (dropout masks) for both classes
    return registry.build_model(registry.make_config("lstm", {**TINY, "lstm_impl": impl, **extra}))


def _batches(n: int = 24):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 5, (n, 6, 1)) / 5).astype("float32"), rng.integers(0, 5, n)


def test_fast_layer_is_a_keras_lstm_with_the_same_weights():
    plain, fast = _model("keras"), _model("fast")
    lstms = [layer for layer in fast.layers if layer.name.startswith("lstm_")]
    assert all(isinstance(layer, FastLSTM) and isinstance(layer, keras.layers.RNN) for layer in lstms)
    assert [layer.recurrent_dropout for layer in lstms] == [0.3, 0.3, 0.0]
    assert [w.path for w in plain.weights] == [w.path for w in fast.weights]
    assert [w.shape for w in plain.weights] == [w.shape for w in fast.weights]
    assert lstms[0].cell.__class__ is keras.layers.LSTMCell  # the stateful engine steps the cell


@pytest.mark.slow
def test_six_training_steps_give_the_same_losses_with_recurrent_dropout():
    """Same initial weights, batches and seeded dropout masks: the loss of every step agrees."""
    x, y = _batches()
    start = _model("keras").get_weights()
    losses = {}
    for impl in ("keras", "fast"):
        model = _model(impl)
        model.set_weights(start)
        losses[impl] = []
        keras.utils.set_random_seed(11)
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0,
                  callbacks=[_PerBatch(losses[impl])])
    assert len(losses["keras"]) == 6
    np.testing.assert_allclose(losses["fast"], losses["keras"], rtol=1e-4)
    assert len(set(np.round(losses["keras"], 4))) > 1  # the weights moved: the steps compare something


class _PerBatch(keras.callbacks.Callback):
    def __init__(self, store):
        super().__init__()
        self.store = store

    def on_train_batch_end(self, batch, logs=None):
        self.store.append(float(logs["loss"]))


@pytest.mark.parametrize("dropout,recurrent", [(0.0, 0.0), (0.25, 0.0), (0.25, 0.3)])
@pytest.mark.parametrize("sequences", [True, False])
def test_layer_gradients_match_keras(dropout, recurrent, sequences):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 7, 4)).astype("float32")  # 5 rows: two streams of 3 and 2
    start = [rng.normal(0, 0.5, shape).astype("float32") for shape in ((4, 24), (6, 24), (24,))]
    grads = []
    for cls in (keras.layers.LSTM, FastLSTM):
        keras.utils.set_random_seed(5)
        layer = cls(6, dropout=dropout, recurrent_dropout=recurrent, return_sequences=sequences)
        layer.build(x.shape)
        layer.set_weights(start)
        with tf.GradientTape() as tape:
            xt = tf.constant(x)
            tape.watch(xt)
            out = layer(xt, training=True)
            loss = tf.reduce_sum(out * out)
        grads.append([out.numpy()] + [g.numpy() for g in tape.gradient(loss, [xt] + layer.trainable_weights)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_checkpoints_are_interchangeable_both_ways(tmp_path):
    from midigen_tf.checkpoints import save_hdf5

    x, _ = _batches(8)
    for src, dst in (("fast", "keras"), ("keras", "fast")):
        trained = _model(src, seed=7)
        trained.fit(*_batches(8), batch_size=4, epochs=1, verbose=0)  # weights differ from init
        path = save_hdf5(trained, tmp_path / f"{src}.hdf5")
        other = _model(dst, seed=1)
        assert not np.allclose(other.predict(x, verbose=0), trained.predict(x, verbose=0), atol=1e-5)
        load_weights(other, path)
        np.testing.assert_allclose(other.predict(x, verbose=0), trained.predict(x, verbose=0),
                                   atol=1e-5)
        keras_path = tmp_path / f"{src}.weights.h5"
        trained.save_weights(keras_path)
        third = _model(dst, seed=2)
        third.load_weights(keras_path)
        np.testing.assert_allclose(third.predict(x, verbose=0), trained.predict(x, verbose=0),
                                   atol=1e-5)
    fast = _model("fast", seed=4)
    fast.save(tmp_path / "whole.keras")  # a whole fast model round-trips as FastLSTM
    again = keras.saving.load_model(tmp_path / "whole.keras")
    assert isinstance(again.layers[0], FastLSTM)
    np.testing.assert_allclose(again.predict(x, verbose=0), fast.predict(x, verbose=0), atol=1e-5)


def test_legacy_keras2_hdf5_loads_into_the_fast_model(tmp_path):
    from tests.test_classic import _write_keras2_file

    values = _write_keras2_file(tmp_path / "weights.hdf5", _model("keras"))
    fresh = _model("fast")
    load_weights(fresh, tmp_path / "weights.hdf5")
    for w in fresh.weights:
        np.testing.assert_array_equal(w.numpy(), values[w.path])


def test_unknown_impl_is_a_clear_error():
    with pytest.raises(MidigenError, match="lstm_impl='cudnn' is not known") as err:
        _model("cudnn")
    assert "--set lstm_impl=" in err.value.hint


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.slow
def test_generation_engines_give_the_same_tokens_with_the_fast_layer(engine):
    from midigen_tf.generate import generate_tokens, scalar_encoding

    from benchmarks.speed import varied_weights  # random weights whose argmax moves

    plain, fast = varied_weights(_model("keras", seed=9)), _model("fast", seed=1)
    fast.set_weights(plain.get_weights())
    rng = np.random.default_rng(2)
    windows = rng.integers(0, 5, (2, 6))
    a = generate_tokens(plain, windows, 12, scalar_encoding(5), engine=engine)
    b = generate_tokens(fast, windows, 12, scalar_encoding(5), engine=engine)
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    assert len(set(np.asarray(a).ravel().tolist())) > 1  # argmax moves: the comparison says something


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_rows_split_into_streams_when_the_batch_size_is_only_known_at_run_time(rows):
    """``fit`` traces with an unknown batch size: the rows are then cut into streams in the
    graph (even one row: a stream of none), and outputs and gradients still match Keras."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(rows, 5, 3)).astype("float32")
    start = [rng.normal(0, 0.5, shape).astype("float32") for shape in ((3, 16), (4, 16), (16,))]
    results = []
    for cls in (keras.layers.LSTM, FastLSTM):
        keras.utils.set_random_seed(8)
        layer = cls(4, recurrent_dropout=0.3, return_sequences=True)
        layer.build(x.shape)
        layer.set_weights(start)

        @tf.function(input_signature=[tf.TensorSpec((None, 5, 3), tf.float32)])
        def run(xt):
            with tf.GradientTape() as tape:
                tape.watch(xt)
                out = layer(xt, training=True)
                loss = tf.reduce_sum(out * out)
            return [out] + tape.gradient(loss, [xt] + layer.trainable_weights)

        results.append([t.numpy() for t in run(tf.constant(x))])
        loops = [op for op in run.get_concrete_function().graph.get_operations()
                 if op.type in ("While", "StatelessWhile")]
    assert len(loops) == 4  # FastLSTM: two streams, each a forward and a backward loop
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)


def test_auto_is_the_fast_layer_on_cpu_and_keras_on_a_gpu(monkeypatch):
    from midigen_tf.models import lstm

    assert registry.make_config("lstm")["lstm_impl"] == "auto"  # the presets' default
    lstms = [layer for layer in _model("auto").layers if layer.name.startswith("lstm_")]
    assert lstms and all(type(layer) is FastLSTM for layer in lstms)  # no GPU here
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert lstm.resolve_impl("auto") == "keras"
    assert lstm.resolve_impl("fast") == "fast"  # a named layer stays what it says
    lstms = [layer for layer in _model("auto").layers if layer.name.startswith("lstm_")]
    assert lstms and all(type(layer) is keras.layers.LSTM for layer in lstms)


def test_the_fused_generation_kernel_takes_the_fast_layer():
    from midigen_tf import fused

    layers = [layer for layer in _model("fast").layers if layer.name.startswith("lstm_")]
    assert layers and all(fused.fusable(layer) for layer in layers)
    assert not fused.fusable(keras.layers.GRU(4))
