"""Issue 25: a generation traces and compiles its step functions a fixed number of times,
whatever ``-n`` is, for argmax and sampling, every engine, kernel and family encoding.

Counts, never times: XLA dumps one module per compilation (helpers/count_compiles.py), and
``tf.function`` counts its traces. Before the fix the windowed engine's XLA kernels compiled
``advance`` again at every sampled step (a slice start that XLA took as a constant), which cost
about 0.2-0.5 s a note; this test then counted one compilation per step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from midigen_tf import registry
from midigen_tf.generate import CHUNK, Engine, generate_tokens, scalar_encoding
from midigen_tf.sampling import choose, choose_traced

HELPER = Path(__file__).parent / "helpers" / "count_compiles.py"
N = CHUNK + 44  # two chunks of different lengths, and 300 single steps for a numpy pick


@pytest.mark.slow
def test_every_generation_compiles_and_traces_a_fixed_number_of_times(tmp_path):
    env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={tmp_path}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(HELPER), str(tmp_path), str(N)], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    cases = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(cases) == 2 * 3 * (4 + 4 + 1)  # engines x kernels x picks of the three families
    for case in cases:
        # start + one loop (or advance): at most 2 XLA modules, each function traced at most once
        jit = case["kernel"] != "layers"
        assert case["compiled"] == (2 if jit else 0), case
        assert max(case["traces"].values()) == 1, case
        assert case["traces"]["start"] == 1, case


def _model():
    config = registry.make_config("lstm", {"units": [8, 8], "dense_units": 8,
                                           "sequence_length": 6, "n_vocab": 12})
    return registry.build_model(config)


@pytest.mark.slow
def test_a_seed_gives_the_same_sampled_piece_on_every_kernel_and_run_after_run():
    model, encode = _model(), scalar_encoding(12)
    windows = np.random.default_rng(0).integers(0, 12, (2, 6))
    pieces = {}
    for kernel in ("fused", "xla", "layers"):
        for run in range(2):
            pieces[kernel, run] = generate_tokens(
                model, windows, 40, encode, rng=np.random.default_rng(7), temperature=1.5,
                top_k=8, top_p=0.95, kernel=kernel)
    first = pieces["fused", 0]
    assert first.shape == (2, 40) and len(np.unique(first)) > 3  # sampled, not one token
    for key, piece in pieces.items():
        np.testing.assert_array_equal(piece, first, err_msg=str(key))


@pytest.mark.slow
def test_another_seed_gives_another_piece():
    model, encode = _model(), scalar_encoding(12)
    windows = np.random.default_rng(0).integers(0, 12, (1, 6))
    a, b = (generate_tokens(model, windows, 40, encode, rng=np.random.default_rng(s),
                            temperature=1.5) for s in (1, 2))
    assert (a != b).any()


SAMPLERS = [(1.0, None, None), (0.7, None, None), (None, 5, None), (None, 100, None),
            (None, None, 0.8), (1.3, 10, 0.9), (None, 1, None), (0.8, None, 0.95)]


def _traced_and_numpy(options, vocab, alpha, compiled=False, search=False):
    """The traced sampler's picks and the numpy sampler's on the same 64 distributions: with
    ``alpha`` 0.3 a few tokens hold the mass, with 3.0 it is spread (a wide nucleus); top-k
    100 is more than the partial sort's ``TOP_CAP`` (the whole sort). ``search``: top-p by
    ``nucleus_floor``, as in the XLA-compiled engines (``compiled``: XLA-compile it here)."""
    import functools

    import tensorflow as tf

    probs = np.random.default_rng(3).dirichlet(np.full(vocab, alpha), size=64).astype(np.float32)
    u = np.random.default_rng(5).random((1, 64))
    expected = choose(probs, np.random.default_rng(5), *options)  # draws the same u
    temperature, top_k, top_p = options
    args = (float(temperature or 1.0), int(top_k or 0), float(1.0 if top_p is None else top_p))
    sample = functools.partial(choose_traced, compiled=search)
    if compiled:  # as the engines call it: the options are tensors
        args = [tf.constant(a) for a in args]
        return np.asarray(tf.function(sample, jit_compile=True)(probs, u[0], *args)), expected
    return np.asarray(sample(probs, u[0], *args)), expected


@pytest.mark.parametrize("options", SAMPLERS)
@pytest.mark.parametrize("vocab, alpha", [(30, 0.3), (300, 0.3), (300, 3.0)])
@pytest.mark.parametrize("search", [False, True], ids=["sort", "search"])
def test_traced_sampler_picks_what_the_numpy_sampler_picks(options, vocab, alpha, search):
    got, expected = _traced_and_numpy(options, vocab, alpha, search=search)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
@pytest.mark.parametrize("options", SAMPLERS)
def test_the_xla_compiled_sampler_picks_what_the_numpy_sampler_picks(options):
    for alpha in (0.3, 3.0):
        got, expected = _traced_and_numpy(options, 300, alpha, compiled=True, search=True)
        np.testing.assert_array_equal(got, expected, err_msg=f"alpha {alpha}")


@pytest.mark.parametrize("alpha", [0.3, 3.0])
@pytest.mark.parametrize("mass", [0.01, 0.5, 0.95, 0.999])
def test_the_nucleus_search_finds_the_least_kept_probability(alpha, mass):
    """``nucleus_floor`` (a search over float bits, no sort) keeps what a sort and a cumulative
    sum keep, for narrow and wide nuclei, and keeps equal probabilities together."""
    from midigen_tf.sampling import nucleus_floor

    probs = np.random.default_rng(3).dirichlet(np.full(300, alpha), size=16).astype(np.float32)
    probs[:, 10:20] = probs[:, 10:11]  # ties: expected keeps or drops them together
    probs /= probs.sum(axis=-1, keepdims=True)
    p = probs.astype(np.float64)
    ranked = -np.sort(-p, axis=-1)
    count = (np.cumsum(ranked, axis=-1) - ranked < mass).sum(axis=-1)
    expected = p >= ranked[np.arange(len(p)), count - 1][:, None]
    floor = np.asarray(nucleus_floor(probs, p, mass))
    np.testing.assert_array_equal(probs.view(np.int32) >= floor[:, None], expected)


def test_sampled_steps_run_inside_the_compiled_loop():
    """A ``Sample`` pick never goes through ``push`` (one Python round trip per step)."""
    model = _model()
    runner = Engine(model, scalar_encoding(12), "windowed", kernel="layers")
    generate_tokens(model, np.zeros((1, 6), np.int64), 30, scalar_encoding(12),
                    rng=np.random.default_rng(1), temperature=1.0, runner=runner)
    counts = {k: f.experimental_get_tracing_count() for k, f in runner.traced_functions().items()}
    assert counts == {"start": 1, "advance": 0, "run": 0, "run_sampled": 1}
