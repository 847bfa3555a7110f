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


class Pick:
    """The pipeline's hook that chooses each next step: ``pick(probs (K, ...)) -> steps (K, ...)``
    in numpy. ``finished`` (default: never) ends the loop before ``n`` steps, e.g. when every
    folk melody has reached its ``/``."""

    finished = False

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Sample(Pick):
    """Softmax sampling (temperature / top-k / top-p) with ``sampling.choose``."""

    def __init__(self, rng: np.random.Generator, temperature=None, top_k=None, top_p=None):
        self.rng, self.options = rng, (temperature, top_k, top_p)

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        return choose(probs, self.rng, *self.options)


def sampler(rng: np.random.Generator, temperature=None, top_k=None, top_p=None) -> Pick | None:
    """``pick`` for a softmax: ``None`` (traced argmax) or ``Sample``."""
    if temperature is None and top_k is None and top_p is None:
        return None
    return Sample(rng, temperature, top_k, top_p)
