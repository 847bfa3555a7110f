"""Choosing the next token from predicted probabilities: argmax (the reports) or sampling."""

from __future__ import annotations

import numpy as np

from midigen_tf.errors import MidigenError


def check_options(temperature: float | None, top_k: int | None, top_p: float | None) -> None:
    if temperature is not None and temperature <= 0:
        raise MidigenError(f"--temperature {temperature} must be > 0",
                           hint="leave it out for argmax, or use e.g. --temperature 1.0")
    if top_k is not None and top_k < 1:
        raise MidigenError(f"--top-k {top_k} must be >= 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise MidigenError(f"--top-p {top_p} must be in (0, 1]")


def choose(probs: np.ndarray, rng: np.random.Generator, temperature: float | None = None,
           top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Indices chosen from a batch of distributions ``probs`` (batch, vocab).

    With no temperature (and no top-k / top-p) this is ``argmax``, exactly as the reports.
    Otherwise probabilities are re-tempered, truncated to the top-k and/or nucleus top-p,
    renormalised and sampled with ``rng``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        return choose(probs[None], rng, temperature, top_k, top_p)[0]
    if temperature is None and top_k is None and top_p is None:
        return probs.argmax(axis=-1)
    logp = np.log(np.clip(probs, 1e-30, None)) / (temperature or 1.0)
    if top_k is not None and top_k < probs.shape[-1]:
        kth = np.sort(logp, axis=-1)[:, -top_k][:, None]
        logp = np.where(logp < kth, -np.inf, logp)
    p = np.exp(logp - logp.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1)
        sorted_p = np.take_along_axis(p, order, axis=-1)
        keep_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p < top_p  # always keeps the first
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    u = rng.random((p.shape[0], 1))
    return np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)


# the largest k a compiled top-k finds with a partial sort (``tf.math.top_k``: about 6 us a step
# on 357 tokens, against 60-70 us for XLA's sort); a larger k sorts the whole vocabulary
TOP_CAP = 32
WAYS = 4  # nucleus_floor splits the range it searches into this many parts per round


def nucleus_floor(ranking, p, mass):
    """Per row, the float32 bit pattern of the least ``ranking`` value in the nucleus: the
    largest ``t`` with ``sum(p[bits(ranking) >= t]) >= mass``. ``ranking`` (K, V) holds positive
    float32 values in the order of ``p`` (K, V) (float64, sums to 1), so the bits of a value
    order as the values do. A ``WAYS``-ary search over the bits: about 16 rounds of one masked
    sum each, where the whole sort the numpy sampler does costs XLA more (docs/performance.md).
    Tokens of equal probability are kept or dropped together."""
    import tensorflow as tf

    bits = tf.cast(tf.bitcast(ranking, tf.int32), tf.int64)
    lo = tf.zeros_like(bits[:, 0])  # bits of 0.0: everything, mass 1 >= mass
    hi = tf.reduce_max(bits, axis=-1) + 1  # above the largest value: mass 0 < mass
    parts = tf.range(1, WAYS, dtype=tf.int64)
    zero, lowest, highest = tf.zeros((), p.dtype), tf.constant(0, tf.int64), tf.constant(2**62, tf.int64)

    def narrow(lo, hi):
        t = lo[:, None] + (hi - lo)[:, None] * parts // WAYS  # (K, WAYS - 1), ascending
        held = tf.reduce_sum(tf.where(bits[:, None] >= t[:, :, None], p[:, None], zero), axis=-1)
        enough = held >= mass  # (K, WAYS - 1): true up to some part, false after it
        lo = tf.maximum(lo, tf.reduce_max(tf.where(enough, t, lowest), axis=-1))
        hi = tf.minimum(hi, tf.reduce_min(tf.where(enough, highest, t), axis=-1))
        return lo, hi

    lo, _ = tf.while_loop(lambda lo, hi: tf.reduce_any(hi - lo > 1), narrow, (lo, hi))
    return tf.cast(lo, tf.int32)


def choose_traced(probs, u, temperature, top_k, top_p, compiled: bool = False):
    """``choose`` inside a TensorFlow graph (also XLA-compiled): the same arithmetic in float64
    with the uniform numbers ``u`` (K,) drawn outside, so one compiled loop serves every step.
    ``temperature`` 1.0, ``top_k`` 0 and ``top_p`` 1.0 switch a part off; all three are tensors,
    so other values reuse the same compiled function.

    The log and the temperature keep the order of ``probs``, so the tokens top-k and top-p
    keep are found by ranking ``probs`` itself: top-k by a partial sort of its ``TOP_CAP``
    largest values (a sort of the whole vocabulary for a larger k). Top-p: ``compiled`` (the
    function is XLA-compiled), a search for the least probability of the nucleus
    (``nucleus_floor``), since XLA's sort is slow on a CPU; otherwise TensorFlow's own sort,
    faster there than the search's loop."""
    import tensorflow as tf

    probs = tf.convert_to_tensor(probs)
    vocab = tf.shape(probs)[-1]
    size = probs.shape[-1]  # static in the engines: the model's output width
    ranking = tf.maximum(tf.cast(probs, tf.float32), 1e-30)  # ranks as logp does, ties alike
    p = tf.cast(probs, tf.float64)
    logp = tf.math.log(tf.maximum(p, 1e-30)) / tf.cast(temperature, tf.float64)

    def descending(cap=None):
        """The ``cap`` largest ``ranking`` values (all of them for None), largest first."""
        if cap is None or size is None:
            return tf.sort(ranking, axis=-1, direction="DESCENDING")
        return tf.math.top_k(ranking, min(cap, size), sorted=True).values

    def keep_top_k():  # only when top-k is on (tf.cond runs one branch)
        k = tf.minimum(top_k, vocab)

        def kth(ranked):  # a gather: a strided slice [:, k - 1] here made XLA sort everything
            return tf.gather(ranked, k - 1, axis=-1)

        kth = tf.cond(k <= TOP_CAP, lambda: kth(descending(TOP_CAP)), lambda: kth(descending()))
        return tf.where(ranking < kth[:, None], tf.constant(-float("inf"), tf.float64), logp)

    logp = tf.cond(top_k > 0, keep_top_k, lambda: logp)
    p = tf.exp(logp - tf.reduce_max(logp, axis=-1, keepdims=True))
    p = p / tf.reduce_sum(p, axis=-1, keepdims=True)

    mass = tf.cast(top_p, tf.float64)

    def keep_top_p():  # the nucleus: the smallest set of most likely tokens with mass top_p
        if compiled:
            floor = nucleus_floor(ranking, p, mass)
            kept = tf.where(tf.bitcast(ranking, tf.int32) >= floor[:, None], p, tf.zeros_like(p))
        else:
            ranked = tf.sort(p, axis=-1, direction="DESCENDING")
            inside = tf.cumsum(ranked, axis=-1) - ranked < mass  # a prefix, never empty
            least = tf.reduce_min(tf.where(inside, ranked, tf.ones_like(ranked)), axis=-1)
            kept = tf.where(p >= least[:, None], p, tf.zeros_like(p))
        return kept / tf.reduce_sum(kept, axis=-1, keepdims=True)

    p = tf.cond(top_p < 1.0, keep_top_p, lambda: p)
    below = tf.cast(tf.cumsum(p, axis=-1) < tf.cast(u, tf.float64)[:, None], tf.int64)
    return tf.minimum(tf.reduce_sum(below, axis=-1), tf.cast(vocab, tf.int64) - 1)


class Pick:
    """The pipeline's hook that chooses each next step: ``pick(probs (K, ...)) -> steps (K, ...)``
    in numpy. ``finished`` (default: never) ends the loop before ``n`` steps, e.g. when every
    folk melody has reached its ``/``. ``traced`` (declared, default False): the pick is
    softmax sampling that the engine can run inside its compiled loop (``Sample``)."""

    finished = False
    traced = False

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Sample(Pick):
    """Softmax sampling (temperature / top-k / top-p) with ``sampling.choose``; the engine runs
    it inside its compiled loop (``choose_traced``) with the same uniform numbers, drawn from
    ``rng`` in the same order, so a seed gives the same pieces either way (up to float
    rounding at a boundary between two tokens)."""

    traced = True

    def __init__(self, rng: np.random.Generator, temperature=None, top_k=None, top_p=None):
        self.rng, self.options = rng, (temperature, top_k, top_p)

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        return choose(probs, self.rng, *self.options)

    def uniforms(self, steps: int, count: int) -> np.ndarray:
        """``(steps, count)`` numbers in [0, 1): what ``steps`` calls would draw, in order."""
        return self.rng.random((steps, count))

    def traced_options(self) -> tuple[float, int, float]:
        """``(temperature, top_k, top_p)`` with the off values ``choose_traced`` takes."""
        temperature, top_k, top_p = self.options
        return float(temperature or 1.0), int(top_k or 0), float(1.0 if top_p is None else top_p)


def sampler(rng: np.random.Generator, temperature=None, top_k=None, top_p=None) -> Pick | None:
    """``pick`` for a softmax: ``None`` (traced argmax) or ``Sample``."""
    if temperature is None and top_k is None and top_p is None:
        return None
    return Sample(rng, temperature, top_k, top_p)
