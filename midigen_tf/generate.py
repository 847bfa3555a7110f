"""The one generation engine shared by every next-step model.

* ``windowed`` -- the reports' semantics: the model reads a fresh window each step (every
  recurrent state starts from zero) and the window slides by one. Same steps as the naive
  ``model.predict`` loop, without its per-call set-up: the model call is traced once.
* ``stateful`` -- the trained layers' cells (``layer.cell``) carry the recurrent state
  forward: the start window is read once, then one step per event (about ``L`` times less
  work). Its first ``L`` events equal a full-history recompute; it remembers more than ``L``
  events after that, so later ones may differ from ``windowed``.

A *step* is what the model reads per time step: a token id (classic, folk, seq2seq), a frame
(piano roll) or a feature row (MAESTRO). ``encode(steps (K, T, ...)) -> model input`` is
traced, so write it with ``keras.ops`` (see ``scalar_encoding``). ``generate_steps`` is the
one loop: K start windows are K pieces generated together; the pipeline's ``pick(probs) ->
steps`` chooses each next step (sampling, threshold, regression value ...). With ``pick=None``
(argmax of token ids, the reports) the whole loop runs inside one compiled function, in chunks
of ``CHUNK`` steps (for the progress bar). Seq2seq plugs its own stepper into the same loop
(``steppers.EncoderDecoderStepper``). How one step is computed (``kernel``: ``auto`` by
default, ``fused``, ``xla``, ``layers``) is ``fused.py``'s business.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from midigen_tf.config import ENGINES
from midigen_tf.errors import MidigenError
from midigen_tf.fused import jit, resolve
from midigen_tf.sampling import Pick, Sample, choose_traced, sampler
from midigen_tf.stepwise import last_step, recurrent_step

CHUNK = 256  # argmax steps per compiled call (one progress-bar update)
def scalar_encoding(n_vocab: int) -> Callable:
    """Seed 003's input, traceable: ``index / n_vocab`` in float32, shape (K, T, 1)."""
    return lambda ids: keras.ops.expand_dims(
        keras.ops.cast(ids, "float32") / keras.ops.cast(n_vocab, "float32"), -1)


def one_hot_encoding(n_vocab: int) -> Callable:
    """One-hot symbols, traceable: shape (K, T, n_vocab) float32."""
    return lambda ids: keras.ops.one_hot(keras.ops.cast(ids, "int32"), n_vocab)


def float_encoding(steps):
    """Frames or feature rows as they are, in float32 (piano roll, MAESTRO)."""
    return keras.ops.cast(steps, "float32")


def _check_chunk(name: str, n: int) -> None:
    if n > CHUNK:
        raise ValueError(f"{name} runs at most CHUNK={CHUNK} steps per call, not {n}")


class Stepper:
    """Traced ``start`` / ``push`` / ``run_argmax`` around ``start(window) -> state`` and
    ``advance(state, steps) -> state``, where a state is ``(probs, memory)``: the model's
    output for the next step (K, ...) and what the stepper carries."""

    dtype = "int64"

    def _trace(self, start: Callable, advance: Callable, jit_compile: bool = False) -> None:
        """``jit_compile``: XLA-compile the functions. XLA needs static shapes, so the loops
        then write into a buffer of ``CHUNK`` steps and run ``n`` of them (one compilation
        serves every ``n``); ``run_argmax`` / ``run_sampled`` keep the first ``n``. Nothing
        whose value changes from step to step may reach XLA as a compile-time constant (it
        would compile again at every step): the loops take ``n``, the uniform numbers and the
        sampling options as tensors."""
        import tensorflow as tf

        size = CHUNK if jit_compile else None

        def loop(state, n, choose):  # every step inside the graph
            def body(i, out, state):
                ids = choose(i, state[0])
                return i + 1, out.write(i, ids), advance(state, ids)

            out = tf.TensorArray(tf.int64, size=size or n)
            _, out, state = tf.while_loop(lambda i, out, state: i < n, body,
                                          (tf.constant(0), out, state), maximum_iterations=size)
            return tf.transpose(out.stack()), state

        def run(state, n):  # argmax of token ids
            return loop(state, n, lambda i, probs: tf.argmax(probs, axis=-1))

        def run_sampled(state, n, u, temperature, top_k, top_p):  # u: (steps, K) uniforms
            return loop(state, n, lambda i, probs: choose_traced(
                probs, u[i], temperature, top_k, top_p, compiled=jit_compile))

        compiled = {"reduce_retracing": True, "jit_compile": jit_compile}
        self._start = tf.function(start, **compiled)
        self._advance = tf.function(advance, **compiled)
        self._run = tf.function(run, **compiled)
        self._run_sampled = tf.function(run_sampled, **compiled)

    def traced_functions(self) -> dict:
        """The engine's ``tf.function`` objects by name (tests count their traces)."""
        return {"start": self._start, "advance": self._advance, "run": self._run,
                "run_sampled": self._run_sampled}

    def _tensor(self, x):
        import tensorflow as tf

        return tf.convert_to_tensor(np.asarray(x, dtype=self.dtype))

    def start(self, windows: np.ndarray):
        return self._start(self._tensor(windows))

    def push(self, state, steps: np.ndarray):
        return self._advance(state, self._tensor(steps))

    def run_argmax(self, state, n: int):
        import tensorflow as tf

        _check_chunk("run_argmax", n)
        ids, state = self._run(state, tf.constant(n, tf.int32))
        return ids.numpy()[:, :n], state

    def run_sampled(self, state, n: int, pick: Sample):
        """``n`` (at most ``CHUNK``) steps sampled inside the graph, as ``pick`` would sample
        them one call at a time (the same uniform numbers, drawn from its ``rng``)."""
        import tensorflow as tf

        _check_chunk("run_sampled", n)
        u = pick.uniforms(n, int(state[0].shape[0]))
        u = np.pad(u, ((0, CHUNK - n), (0, 0)))  # one shape for every n: traced once
        temperature, top_k, top_p = pick.traced_options()
        ids, state = self._run_sampled(state, tf.constant(n, tf.int32), tf.constant(u),
                                       tf.constant(temperature, tf.float64),
                                       tf.constant(top_k, tf.int32),
                                       tf.constant(top_p, tf.float64))
        return ids.numpy()[:, :n], state


class Engine(Stepper):
    """The stepper of one next-step model, encoding and engine.

    ``windowed`` runs one of two ways, with the same maths:

    * ``pipelined`` (any model ``recurrent_step`` accepts): ``L`` staggered copies of the
      recurrent state per piece, each started from zero at a later step; every new step
      advances all of them in one batched step, and the copy that has read exactly the last
      ``L`` steps gives the prediction, then restarts from zero. Each prediction is still a
      fresh zero-state pass over its own window, but the work is one ``(K*L)``-row matrix
      product per layer and step instead of ``L`` one-row products in sequence.
    * ``full``: ``model(window)`` per step (any model at all).

    ``stateful`` carries one state per piece: one step per event. ``dtype`` is the steps'
    (int64 token ids; float32 frames or feature rows); ``name`` names the model in refusals.
    ``kernel`` (``fused.KERNELS``) says how a step is computed; ``full`` is XLA-compiled only
    with ``kernel="xla"`` (any model runs there, and not every layer compiles with XLA).
    """

    def __init__(self, model, encode: Callable, engine: str = "windowed",
                 pipelined: bool | None = None, dtype: str = "int64", name: str | None = None,
                 kernel: str = "auto"):
        import tensorflow as tf

        if engine not in ENGINES:  # users' options are checked by GenerateOptions
            raise ValueError(f"engine {engine!r} is not one of {ENGINES}")
        kernel = resolve(kernel, engine)
        self.engine, self.dtype, self.kernel = engine, dtype, kernel
        if engine == "windowed" and pipelined is not False:
            try:
                step, head, zeros = recurrent_step(model, name, kernel)
            except MidigenError:
                if pipelined:
                    raise
                step = None
            self.mode = "pipelined" if step is not None else "full"
        else:
            self.mode = "full" if engine == "windowed" else "stateful"
            step, head, zeros = (recurrent_step(model, name, kernel) if engine == "stateful"
                                 else (None,) * 3)

        if self.mode == "full":
            def start(window):
                return last_step(model(encode(window), training=False)), window

            def advance(state, ids):
                return start(tf.concat([state[1][:, 1:], ids[:, None]], axis=1))
        elif self.mode == "pipelined":
            def pipe(states, q, length, ids):
                """Every copy reads step ``q``; copy ``q % L`` starts there from zero."""
                k = tf.shape(ids)[0]
                steps = ids[:, None]  # (K, 1, ...): ids or frames of any rank
                reps = tf.concat([[length], tf.ones([tf.rank(steps) - 1], tf.int32)], 0)
                x = encode(tf.tile(steps, reps))  # row = copy * K + piece
                keep = tf.repeat(tf.cast(tf.not_equal(tf.range(length), q % length), x.dtype), k)
                states = tf.nest.map_structure(lambda s: s * tf.cast(keep[:, None], s.dtype), states)
                out, states = step(x, states)
                # tf.gather, not [index]: XLA takes a slice's start as a compile-time constant
                # and compiled this function again at every step (issue 25)
                done = tf.gather(tf.reshape(out, tf.concat([[length, k], tf.shape(out)[1:]], 0)),
                                 (q + 1) % length)
                return done, (states, q + 1, length)

            def start(window):
                k, length = tf.shape(window)[0], tf.shape(window)[1]
                out, memory = pipe(zeros(k * length), tf.constant(0), length, window[:, 0])
                for t in tf.range(1, length):
                    out, memory = pipe(memory[0], memory[1], memory[2], window[:, t])
                return head(out), memory

            def advance(state, ids):
                out, memory = pipe(*state[1], ids)
                return head(out), memory
        else:
            def start(window):
                out, states = step(encode(window[:, :1]), zeros(tf.shape(window)[0]))
                for t in tf.range(1, tf.shape(window)[1]):
                    out, states = step(encode(window[:, t:t + 1]), states)
                return head(out), states

            def advance(state, ids):
                out, states = step(encode(ids[:, None]), state[1])
                return head(out), states

        self._trace(start, advance, jit(kernel) if self.mode != "full" else kernel == "xla")


def generate_steps(runner: Stepper, windows: np.ndarray, n: int,
                   pick: Pick | None = None,
                   progress: bool = False, unit: str = "note") -> np.ndarray:
    """The one generation loop: ``n`` steps after each start window (K, L, ...) -> (K, n, ...).

    ``pick`` (a ``Pick``) chooses each next step from the model's output (numpy) and may end
    the loop early (``pick.finished``). ``pick=None`` (argmax of token ids) and a ``pick`` that
    declares ``traced`` (softmax sampling) run inside the compiled loop, in chunks.
    """
    from tqdm.auto import tqdm

    state = runner.start(windows)
    parts: list[np.ndarray] = []
    with tqdm(total=n, desc="generating", unit=unit, disable=None if progress else True) as bar:
        done = 0
        while done < n:
            if pick is None or pick.traced:
                size = min(CHUNK, n - done)
                ids, state = (runner.run_argmax(state, size) if pick is None
                              else runner.run_sampled(state, size, pick))
                parts.append(ids)
            else:
                size = 1
                parts.append(np.asarray(pick(np.asarray(state[0])))[:, None])
                if pick.finished:
                    break
                if done + 1 < n:
                    state = runner.push(state, parts[-1][:, 0])
            done += size
            bar.update(size)
    return np.concatenate(parts, axis=1)


def generate_tokens(model, windows: np.ndarray, n: int, encode: Callable,
                    rng: np.random.Generator | None = None, temperature=None, top_k=None,
                    top_p=None, engine: str = "windowed", progress: bool = False,
                    runner: Engine | None = None, kernel: str = "auto") -> np.ndarray:
    """Generate ``n`` token ids after each row of ``windows`` (K, L) with ``model``; (K, n).

    ``runner`` reuses an ``Engine`` (traced once) across calls. Options are checked once, by
    ``pipelines.base.GenerateOptions``.
    """
    runner = runner or Engine(model, encode, engine, kernel=kernel)
    pick = sampler(rng or np.random.default_rng(), temperature, top_k, top_p)
    return generate_steps(runner, windows, n, pick, progress).astype(np.int64)
