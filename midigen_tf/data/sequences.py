"""Stride-1 windows over a token sequence, built per batch (never the whole window tensor).

The report's ``prepare_sequences`` materialises ``(n, 100, 1)`` inputs and ``(n, n_vocab)``
one-hot targets; here a batch of windows is gathered from the token ids inside the tf.data
graph (``data.batches``), so memory grows with the number of tokens, not tokens x window x
vocabulary.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from midigen_tf.data.batches import window_dataset


def split_indices(n: int, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """The last ``validation_split`` of the windows for validation, like ``fit``'s own split."""
    n_val = int(round(n * validation_split)) if validation_split else 0
    return np.arange(n - n_val), np.arange(n - n_val, n)


def window_batches(ids: np.ndarray, length: int, batch_size: int, indices: np.ndarray,
                   encode_x: Callable, encode_y: Callable | None = None, shuffle: bool = True,
                   seed: int = 0):
    """Batches ``(encode_x(windows[:, :-1]), encode_y(windows[:, -1]))`` of the stride-1
    windows of ``length + 1`` tokens starting at ``indices``, through the one batcher
    (``data.batches.window_dataset``: gathered in the tf.data graph, seeded reshuffle every
    epoch with ``shuffle``). ``encode_x``/``encode_y`` must be traceable (``keras.ops``).
    """
    encode_y = encode_y or (lambda t: t)
    return window_dataset(np.asarray(ids), indices, np.arange(length + 1), batch_size,
                          lambda w: (encode_x(w[:, :-1]), encode_y(w[:, -1])),
                          shuffle=shuffle, seed=seed)
