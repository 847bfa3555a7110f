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
from midigen_tf.errors import MidigenError


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


def require_tokens(found, report, data_dir) -> None:
    """A clear error when no file of the corpus gave tokens (``report``: the parse report)."""
    if not found:
        raise MidigenError(f"no usable notes in any file of {data_dir} "
                           f"({len(report.skipped)} skipped):\n" + "\n".join(report.lines("tokens")[1:]),
                           hint="give a folder of pitched MIDI files (.mid/.midi)")


def token_windows(ids: np.ndarray, seq_len: int, batch_size: int, encode_x: Callable,
                  validation_split: float, seed: int = 0):
    """``(train, val, train windows, all windows)``: the stride-1 windows of ``seq_len`` tokens
    (next token as target) over ``ids``, the last ``validation_split`` of them for validation
    (``val`` is None without one). Refuses a corpus shorter than one window, and a split that
    leaves no validation window."""
    if len(ids) <= seq_len:
        raise MidigenError(f"the corpus has {len(ids)} tokens, fewer than one window of {seq_len} + 1",
                           hint="add MIDI files, or shorten the window with --set sequence_length=N")
    n_windows = len(ids) - seq_len
    train_idx, val_idx = split_indices(n_windows, validation_split)
    if validation_split and len(val_idx) == 0:
        raise MidigenError("--validation-split leaves no validation window",
                           hint="use a larger split or more data")
    train = window_batches(ids, seq_len, batch_size, train_idx, encode_x, shuffle=True, seed=seed)
    val = (window_batches(ids, seq_len, batch_size, val_idx, encode_x, shuffle=False)
           if len(val_idx) else None)
    return train, val, len(train_idx), n_windows
