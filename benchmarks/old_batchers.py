"""The five Python ``keras.utils.PyDataset`` batchers that ``data.batches`` replaced, kept
verbatim (as of commit cbd67b6) as the baseline of ``benchmarks/batchers.py`` -- the way
``benchmarks/original.py`` keeps the original scripts. Not used by ``midigen_tf``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras
import numpy as np

from midigen_tf.data.notetable import target_values, windows
from midigen_tf.data.pianoroll import Corpus


def window_view(ids: np.ndarray, length: int) -> np.ndarray:
    """All windows of ``length + 1`` (inputs and the next-token target) as a read-only view."""
    return np.lib.stride_tricks.sliding_window_view(np.asarray(ids), length + 1)


class WindowDataset(keras.utils.PyDataset):
    """Batches ``(encode_x(windows[:, :-1]), encode_y(windows[:, -1]))`` of stride-1 windows.

    ``indices`` selects which windows (train or validation); with ``shuffle`` they are
    reshuffled every epoch by a seeded generator, like ``fit(shuffle=True)`` on arrays.
    """

    def __init__(self, ids: np.ndarray, length: int, batch_size: int, indices: np.ndarray | None = None,
                 encode_x: Callable[[np.ndarray], np.ndarray] | None = None,
                 encode_y: Callable[[np.ndarray], np.ndarray] | None = None,
                 shuffle: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.windows = window_view(ids, length)
        self.indices = np.arange(len(self.windows)) if indices is None else np.asarray(indices)
        self.batch_size = int(batch_size)
        self.encode_x = encode_x or (lambda w: w)
        self.encode_y = encode_y or (lambda t: t)
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self.indices.copy()
        self.on_epoch_end()

    def __len__(self) -> int:
        return int(np.ceil(len(self.indices) / self.batch_size))

    def __getitem__(self, i: int):
        batch = self.windows[self._order[i * self.batch_size:(i + 1) * self.batch_size]]
        return self.encode_x(batch[:, :-1]), self.encode_y(batch[:, -1])

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(self.indices)

    @property
    def samples(self) -> int:
        return len(self.indices)


class AutoencodeWindows(WindowDataset):
    """Batches ``(x, x)`` of one-hot windows, for the VAE."""

    def __getitem__(self, i: int):
        x = super().__getitem__(i)[0]
        return x, x


class WindowBatches(keras.utils.PyDataset):
    """``({"encoder_input", "decoder_input"}, target ids)`` batches, one-hot built per batch."""

    def __init__(self, ids: np.ndarray, starts: np.ndarray, input_length: int, output_length: int,
                 n_vocab: int, batch_size: int, shuffle: bool = True, seed: int = 0):
        super().__init__()
        self.ids, self.starts = ids, starts
        self.input_length, self.output_length, self.n_vocab = input_length, output_length, n_vocab
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(starts)) if shuffle else np.arange(len(starts))
        self.offsets = np.arange(input_length + output_length)

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index: int):
        rows = self.starts[self.order[index * self.batch_size:(index + 1) * self.batch_size]]
        window = self.ids[rows[:, None] + self.offsets]
        t_in = self.input_length
        x = {"encoder_input": one_hot(window[:, :t_in], self.n_vocab),
             "decoder_input": one_hot(window[:, t_in - 1:-1], self.n_vocab)}
        return x, window[:, t_in:]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(len(self.starts))


def one_hot(ids: np.ndarray, n_vocab: int) -> np.ndarray:
    out = np.zeros(ids.shape + (n_vocab,), dtype=np.float32)
    np.put_along_axis(out, np.asarray(ids)[..., None], 1.0, axis=-1)
    return out


class NoteWindows(keras.utils.PyDataset):
    """``(windows, targets)`` batches gathered on demand; shuffled afresh every epoch when
    ``shuffle``, and then limited to ``samples_per_epoch`` windows (0 = all)."""

    def __init__(self, notes: np.ndarray, targets: np.ndarray, config: dict[str, Any],
                 shuffle: bool = False, seed: int = 0):
        super().__init__()
        self.notes, self.targets, self.config = notes, targets, config
        self.batch_size = int(config["batch_size"])
        self.shuffle = shuffle
        limit = int(config.get("samples_per_epoch") or 0) if shuffle else 0
        self.samples = min(limit, len(targets)) if limit > 0 else len(targets)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(targets) if shuffle else targets

    def __len__(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def __getitem__(self, i: int):
        t = self.order[i * self.batch_size: min((i + 1) * self.batch_size, self.samples)]
        return windows(self.notes, t, self.config), target_values(self.notes, t, self.config)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(self.targets)


class RollWindows(keras.utils.PyDataset):
    """Batches of ``(window frames, next frame)`` cut from a ``Corpus`` on demand.

    Only the batch in hand is ever expanded to float32, so memory is the corpus roll
    (uint8) plus one batch. ``samples`` windows are drawn per epoch: with ``shuffle``, a fresh
    random order each epoch (whole passes over the windows, then a partial one, so every window
    is seen about equally often); without, ``samples`` windows evenly spread, in order.
    """

    def __init__(self, corpus: Corpus, starts: np.ndarray, batch_size: int,
                 samples: int | None = None, shuffle: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if len(starts) == 0:
            raise ValueError("no windows to draw from")
        self.corpus, self.starts = corpus, np.asarray(starts, np.int64)
        self.batch_size = int(batch_size)
        self.samples = int(samples or len(starts))
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.order = self._draw()

    def _draw(self) -> np.ndarray:
        n = len(self.starts)
        if not self.shuffle:
            return np.unique(np.linspace(0, n - 1, min(self.samples, n)).round().astype(np.int64))
        rng = np.random.default_rng([self.seed, self.epoch])
        passes = math.ceil(self.samples / n)
        return np.concatenate([rng.permutation(n) for _ in range(passes)])[: self.samples]

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, index: int):
        chosen = self.starts[self.order[index * self.batch_size:(index + 1) * self.batch_size]]
        x = self.corpus.windows(chosen).astype(np.float32)
        y = self.corpus.roll[chosen + self.corpus.window].astype(np.float32)
        return x, y

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.epoch += 1
            self.order = self._draw()


def scalar_inputs(n_vocab: int):
    """The classic pipeline's old numpy encoding: ``index / n_vocab``, shape (batch, L, 1)."""
    return lambda w: (w.astype(np.float32) / np.float32(n_vocab))[..., None]


def folk_one_hot(n_vocab: int):
    """The folk pipeline's old numpy one-hot encoding."""
    eye = np.eye(n_vocab, dtype=np.float32)
    return lambda ids: eye[ids]
