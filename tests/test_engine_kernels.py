"""The engine's fast kernels (issue 14: ``fused`` by default, ``xla``) give the tokens of the
engine before them (``kernel="layers"``), windowed and stateful, one piece and three, for the
classic model and a folk next-symbol model; the fused step is really the one that runs."""

from __future__ import annotations

import numpy as np
import pytest

from midigen_tf import registry
from midigen_tf.fused import fusable, resolve
from midigen_tf.generate import CHUNK, Engine, generate_tokens, one_hot_encoding, scalar_encoding
from test_engine import L, V, scramble, tiny_config


@pytest.fixture(scope="module")
def classic():
    return scramble(registry.build_model(tiny_config()))


@pytest.fixture(scope="module")
def folk():
    """A melody LSTM on one-hot symbols, random weights without biases: argmax moves."""
    config = registry.make_config("melody-lstm", {"units": [12, 10], "sequence_length": L,
                                                  "n_vocab": V})
    model = registry.build_model(config)
    rng = np.random.default_rng(3)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.0 if w.path.endswith("bias") else 1.0, w.shape).astype("float32"))
    return model


FAMILIES = {"classic": scalar_encoding(V), "folk": one_hot_encoding(V)}


def tokens(model, family, engine, kernel, k, n=40):
    windows = np.random.default_rng(k).integers(0, V, (k, L))
    return generate_tokens(model, windows, n, FAMILIES[family], engine=engine, kernel=kernel)


@pytest.mark.parametrize("family", ["classic", "folk"])
@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.slow
def test_fast_kernels_give_the_layers_tokens(request, family, engine, k):
    model = request.getfixturevalue(family)
    assert all(fusable(layer) for layer in model.layers if "lstm" in layer.name)
    reference = tokens(model, family, engine, "layers", k)
    assert len(np.unique(reference)) > 2  # argmax moves: the comparison says something
    for kernel in ("fused", "xla"):
        np.testing.assert_array_equal(tokens(model, family, engine, kernel, k), reference,
                                      err_msg=f"kernel={kernel}")


def test_fused_argmax_crosses_the_chunk_boundary(classic):
    """The compiled loop runs ``CHUNK`` steps per call: a longer piece continues exactly."""
    n = CHUNK + 7
    np.testing.assert_array_equal(tokens(classic, "classic", "stateful", "fused", 2, n),
                                  tokens(classic, "classic", "stateful", "layers", 2, n))


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
@pytest.mark.slow
def test_fused_step_probabilities_match_the_layers(classic, engine):
    """The pushed (sampling) path: the same probabilities to float rounding, step after step."""
    windows = np.random.default_rng(5).integers(0, V, (3, L))
    runners = [Engine(classic, scalar_encoding(V), engine, kernel=kernel)
               for kernel in ("fused", "xla", "layers")]
    states = [runner.start(windows) for runner in runners]
    for t in range(12):
        probs = [np.asarray(state[0]) for state in states]
        for p in probs[1:]:
            np.testing.assert_allclose(p, probs[0], rtol=1e-4, atol=1e-6)
        ids = probs[-1].argmax(-1)  # "layers" decides: every runner reads the same steps
        states = [runner.push(state, ids) for runner, state in zip(runners, states)]


def test_fusable_refuses_what_it_would_compute_differently():
    import keras

    assert not fusable(keras.layers.LSTM(4, activation="relu"))
    assert not fusable(keras.layers.LSTM(4, go_backwards=True))
    assert not fusable(keras.layers.GRU(4))
    assert fusable(keras.layers.LSTM(4))


def test_auto_kernel_is_fused_for_both_engines():
    assert resolve("auto", "stateful") == "fused" and resolve("auto", "windowed") == "fused"
    assert resolve("xla", "windowed") == "xla"


def test_unknown_kernel_is_refused_where_options_are_built():
    from midigen_tf.errors import MidigenError
    from midigen_tf.pipelines.base import GenerateOptions

    with pytest.raises(MidigenError, match="unknown kernel 'fast'"):
        GenerateOptions(kernel="fast")
