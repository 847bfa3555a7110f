"""The generation engines shared by every recurrent next-token model.

* ``windowed`` -- the reports' semantics: the model reads a fresh window each step (every
  recurrent state starts from zero) and the window slides by one. Same tokens as the naive
  ``model.predict`` loop, without its per-call set-up: the model call is traced once.
* ``stateful`` -- the trained layers' cells (``layer.cell``) carry the recurrent state
  forward: the start window is read once, then one step per note (about ``L`` times less
  work). Its first ``L`` notes equal a full-history recompute; it remembers more than ``L``
  notes after that, so later notes may differ from ``windowed``.

With argmax (the reports) the whole loop runs inside one traced function, in chunks of
``CHUNK`` notes (for the progress bar). With temperature / top-k / top-p each step is traced
once and ``sampling.choose`` picks in numpy. K start windows are K pieces generated together.

``encode(ids) -> model input`` turns int token ids ``(K, T)`` into the model's input
``(K, T, ...)``; it is traced, so write it with ``keras.ops`` (see ``scalar_encoding``).
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from midigen_tf.errors import MidigenError
from midigen_tf.sampling import check_options, choose

ENGINES = ("windowed", "stateful")
CHUNK = 64
# Layers that act on each time step on its own: safe to run one step at a time.
POINTWISE = (keras.layers.Dense, keras.layers.Dropout, keras.layers.Activation,
             keras.layers.BatchNormalization, keras.layers.LayerNormalization,
             keras.layers.Embedding, keras.layers.ReLU, keras.layers.LeakyReLU,
             keras.layers.GaussianNoise, keras.layers.SpatialDropout1D, keras.layers.Masking)


def scalar_encoding(n_vocab: int) -> Callable:
    """Seed 003's input, traceable: ``index / n_vocab`` in float32, shape (K, T, 1)."""
    return lambda ids: keras.ops.expand_dims(
        keras.ops.cast(ids, "float32") / keras.ops.cast(n_vocab, "float32"), -1)


def one_hot_encoding(n_vocab: int) -> Callable:
    """One-hot symbols, traceable: shape (K, T, n_vocab) float32."""
    return lambda ids: keras.ops.one_hot(keras.ops.cast(ids, "int32"), n_vocab)


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise MidigenError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")


def compiled_call(model) -> Callable[[np.ndarray], np.ndarray]:
    """``model(x, training=False)`` as a traced function returning numpy."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: fn(tf.convert_to_tensor(x)).numpy()


def _last(probs):
    """(K, V) from a model that returns (K, V) or a sequence (K, T, V)."""
    return probs[:, -1] if len(probs.shape) == 3 else probs


def recurrent_step(model) -> tuple[Callable, Callable, Callable]:
    """``(step, head, zeros)`` over the model's own layers: ``step(x, states) -> (features,
    states)`` advances every recurrent layer one time step (``x``: encoded input ``(K, 1, F)``);
    ``head(features)`` applies the layers after the last recurrent one (the probabilities);
    ``zeros(K)`` is the all-zero state the full model starts every window from.

    The model must be a chain of layers in which every layer before the last recurrent one
    acts on each time step separately (Dense, Dropout, BatchNormalization, Embedding ...).
    """
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    recurrent = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.RNN)]
    if not recurrent:
        raise MidigenError(f"the stateful engine needs recurrent layers; {model.name} has none",
                           hint="use --engine windowed")
    for i, layer in enumerate(chain):
        problem = None
        if i and layer.input is not chain[i - 1].output:
            problem = "the model is not a simple stack of layers"
        elif isinstance(layer, keras.layers.RNN) and layer.go_backwards:
            problem = f"layer {layer.name} reads time backwards"
        elif i < recurrent[-1] and not isinstance(layer, (keras.layers.RNN, *POINTWISE)):
            problem = f"layer {layer.name} ({type(layer).__name__}) mixes time steps"
        if problem:
            raise MidigenError(f"the stateful engine cannot run {model.name}: {problem}",
                               hint="use --engine windowed")

    def step(x, states):
        new, k = [], 0
        for layer in chain[:recurrent[-1] + 1]:
            if isinstance(layer, keras.layers.RNN):
                h, state = layer.cell(x[:, 0], states[k], training=False)
                new.append(state)
                k += 1
                x = h[:, None] if layer.return_sequences else h
            else:
                x = layer(x, training=False)
        return x, new

    def head(x):
        for layer in chain[recurrent[-1] + 1:]:
            x = layer(x, training=False)
        return _last(x)

    def zeros(k: int):
        return [chain[i].cell.get_initial_state(k) for i in recurrent]

    return step, head, zeros


class Engine:
    """Traced ``start`` / ``push`` / ``run`` for one model, encoding and engine.

    A *state* is ``(probs, memory)``: the next-token probabilities (K, V) and what the engine
    carries. ``windowed`` runs one of two ways, with the same maths:

    * ``pipelined`` (any model ``recurrent_step`` accepts): ``L`` staggered copies of the
      recurrent state per piece, each started from zero at a later token; every new token
      advances all of them in one batched step, and the copy that has read exactly the last
      ``L`` tokens gives the prediction, then restarts from zero. Each prediction is still a
      fresh zero-state pass over its own window, but the work is one ``(K*L)``-row matrix
      product per layer and note instead of ``L`` one-row products in sequence.
    * ``full``: ``model(window)`` per note (any model at all).

    ``stateful`` carries one state per piece: one step per note.
    """

    def __init__(self, model, encode: Callable, engine: str = "windowed", pipelined: bool | None = None):
        import tensorflow as tf

        check_engine(engine)
        self.engine = engine
        if engine == "windowed" and pipelined is not False:
            try:
                step, head, zeros = recurrent_step(model)
            except MidigenError:
                if pipelined:
                    raise
                step = None
            self.mode = "pipelined" if step is not None else "full"
        else:
            self.mode = "full" if engine == "windowed" else "stateful"
            step, head, zeros = recurrent_step(model) if engine == "stateful" else (None,) * 3

        if self.mode == "full":
            def start(window):
                return _last(model(encode(window), training=False)), window

            def advance(state, ids):
                window = tf.concat([state[1][:, 1:], ids[:, None]], axis=1)
                return start(window)
        elif self.mode == "pipelined":
            def pipe(states, q, length, ids):
                """Every copy reads token ``q``; copy ``q % L`` starts there from zero."""
                k = tf.shape(ids)[0]
                x = encode(tf.tile(ids[:, None], [length, 1]))  # row = copy * K + piece (any rank)
                keep = tf.repeat(tf.cast(tf.not_equal(tf.range(length), q % length), x.dtype), k)
                states = tf.nest.map_structure(lambda s: s * tf.cast(keep[:, None], s.dtype), states)
                out, states = step(x, states)
                done = tf.reshape(out, tf.concat([[length, k], tf.shape(out)[1:]], 0))[(q + 1) % length]
                return done, (states, q + 1, length)

            def start(window):
                k, length = tf.shape(window)[0], tf.shape(window)[1]
                out, memory = pipe(zeros(k * length), tf.constant(0), length, window[:, 0])
                for t in tf.range(1, length):
                    out, memory = pipe(memory[0], memory[1], memory[2], window[:, t])
                return head(out), memory

            def advance(state, ids):
                states, q, length = state[1]
                out, memory = pipe(states, q, length, ids)
                return head(out), memory
        else:
            def start(window):
                k = tf.shape(window)[0]
                out, states = step(encode(window[:, :1]), zeros(k))
                for t in tf.range(1, tf.shape(window)[1]):
                    out, states = step(encode(window[:, t:t + 1]), states)
                return head(out), states

            def advance(state, ids):
                out, states = step(encode(ids[:, None]), state[1])
                return head(out), states

        def run(state, n):
            out = tf.TensorArray(tf.int64, size=n)
            for i in tf.range(n):
                ids = tf.argmax(state[0], axis=-1)
                out = out.write(i, ids)
                state = advance(state, ids)
            return tf.transpose(out.stack()), state

        self._start = tf.function(start, reduce_retracing=True)
        self._advance = tf.function(advance, reduce_retracing=True)
        self._run = tf.function(run, reduce_retracing=True)

    def start(self, windows: np.ndarray):
        import tensorflow as tf

        return self._start(tf.convert_to_tensor(np.asarray(windows, dtype=np.int64)))

    def push(self, state, ids: np.ndarray):
        import tensorflow as tf

        return self._advance(state, tf.convert_to_tensor(np.asarray(ids, dtype=np.int64)))

    def run_argmax(self, state, n: int):
        import tensorflow as tf

        ids, state = self._run(state, tf.constant(n, tf.int32))
        return ids.numpy(), state


def generate_tokens(model, windows: np.ndarray, n: int, encode: Callable,
                    rng: np.random.Generator | None = None, temperature=None, top_k=None,
                    top_p=None, engine: str = "windowed", progress: bool = False,
                    runner: Engine | None = None) -> np.ndarray:
    """Generate ``n`` token ids after each row of ``windows`` (K, L) with ``model``; (K, n).

    ``runner`` reuses an ``Engine`` (traced once) across calls.
    """
    if n < 1:
        raise MidigenError(f"-n {n}: the number of notes to generate must be at least 1")
    check_engine(engine)
    check_options(temperature, top_k, top_p)
    from tqdm.auto import tqdm

    runner = runner or Engine(model, encode, engine)
    rng = rng or np.random.default_rng()
    state = runner.start(windows)
    out = np.empty((len(windows), n), dtype=np.int64)
    argmax = temperature is None and top_k is None and top_p is None
    with tqdm(total=n, desc="generating", unit="note", disable=None if progress else True) as bar:
        done = 0
        while done < n:
            if argmax:
                size = min(CHUNK, n - done)
                out[:, done:done + size], state = runner.run_argmax(state, size)
            else:
                size = 1
                out[:, done] = choose(state[0].numpy(), rng, temperature, top_k, top_p)
                if done + 1 < n:
                    state = runner.push(state, out[:, done])
            done += size
            bar.update(size)
    return out


def autoregress(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, n: int,
                rng: np.random.Generator, temperature=None, top_k=None, top_p=None,
                engine: str = "windowed", progress: bool = False) -> np.ndarray:
    """The plain windowed loop over any ``predict(windows (K, L)) -> (K, V)`` callable."""
    if n < 1:
        raise MidigenError(f"-n {n}: the number of notes to generate must be at least 1")
    if engine != "windowed":
        raise MidigenError(f"engine {engine!r} needs the model itself: use generate_tokens")
    check_options(temperature, top_k, top_p)
    from tqdm.auto import tqdm

    window = np.array(windows, dtype=np.int64, copy=True)
    out = np.empty((window.shape[0], n), dtype=np.int64)
    for step in tqdm(range(n), desc="generating", unit="note", disable=None if progress else True):
        nxt = choose(predict(window), rng, temperature, top_k, top_p)
        out[:, step] = nxt
        window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
    return out
