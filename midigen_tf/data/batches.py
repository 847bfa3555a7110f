"""One batcher for every family: windows gathered per batch inside the tf.data graph.

A family hands over its corpus as numpy array(s) (token ids, roll frames, note feature
columns), the start index of every window and the window's offsets; a batch of starts is
gathered with ``tf.gather(array, starts[:, None] + offsets)`` and turned into ``(x, y)`` by the
family's ``make_batch`` (written with ``tf`` / ``keras.ops``, so it is traced once). No Python
runs per batch, so the batches never compete with the training threads for the GIL (a full
classic epoch went from 1,230 s to 606 s when its windows moved here). Memory is the arrays
plus the starts; windows exist one batch at a time.

Order: with ``shuffle`` a seeded permutation of the starts for every epoch, keyed by
``(seed, epoch number)``: epoch ``e`` reads the same windows in the same order whether the run
went straight through or was resumed (``dataset.epoch`` is the number of the next epoch to
draw: each iteration reads it and adds one; ``train.EpochOrder`` sets it at every epoch's
start, because Keras also opens iterators it never reads); ``samples`` limits an epoch to that many windows (a fresh random
subset each epoch; more than there are windows means whole passes, each reshuffled, then a
partial one). Unshuffled (validation), the starts are read in the order given. The number of
batches is known to Keras (``cardinality``), so progress bars and ``steps_per_epoch`` work.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np


def window_dataset(arrays: Any, starts: np.ndarray, offsets: Any, batch_size: int,
                   make_batch: Callable, shuffle: bool = True, seed: int = 0,
                   samples: int = 0):
    """A ``tf.data.Dataset`` of ``make_batch(gathered)`` batches, one per ``batch_size`` starts.

    ``arrays``: a numpy array (or tensor) or a nest of them (dict / tuple), indexed along
    axis 0; tensors are used as they are, so several datasets can share one copy.
    ``offsets``: the window's positions relative to its start, one 1-D int array for every
    array, or a nest matching ``arrays`` (one per array). ``gathered`` has the structure of
    ``arrays``, each leaf of shape ``(batch, len(offsets)) + array.shape[1:]``.
    ``samples``: windows per epoch (0 = all). The dataset carries ``samples`` and
    ``batch_size`` as attributes (``distribute.shard`` reads them), and ``epoch``: the
    ``tf.Variable`` numbering the next shuffled epoch (``None`` unshuffled).
    """
    import tensorflow as tf

    starts = np.asarray(starts, dtype=np.int64)
    n = len(starts)
    if n == 0:
        raise ValueError("no windows to draw from")
    batch_size = int(batch_size)
    samples = int(samples) if samples and int(samples) > 0 else n
    data = tf.nest.map_structure(lambda a: a if tf.is_tensor(a) else tf.constant(np.asarray(a)),
                                 arrays)  # tensors are shared as they are (no copy)
    single = isinstance(offsets, (np.ndarray, range, list))
    as_tensor = lambda o: tf.constant(np.asarray(o, dtype=np.int64))  # noqa: E731
    offs = as_tensor(offsets) if single else tf.nest.map_structure(as_tensor, offsets)
    all_starts = tf.constant(starts)

    epoch = None
    if shuffle:
        passes = math.ceil(samples / n)
        seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")

        def epoch_order(_):
            e = epoch.assign_add(1) - 1  # this epoch's number; the next iteration draws e + 1
            orders = [tf.random.experimental.stateless_shuffle(
                all_starts, seed=tf.stack([tf.constant(seed, tf.int64), e * passes + p]))
                for p in range(passes)]
            return tf.data.Dataset.from_tensor_slices(tf.concat(orders, 0)[:samples])

        order = tf.data.Dataset.from_tensors(0).flat_map(epoch_order)
    else:
        order = tf.data.Dataset.from_tensor_slices(np.resize(starts, samples))

    def gather(batch):
        rows = lambda o: batch[:, None] + o[None, :]  # noqa: E731
        if single:
            windows = tf.nest.map_structure(lambda a: tf.gather(a, rows(offs)), data)
        else:
            windows = tf.nest.map_structure(lambda a, o: tf.gather(a, rows(o)), data, offs)
        return make_batch(windows)

    steps = math.ceil(samples / batch_size)
    dataset = (order.batch(batch_size)
               .apply(tf.data.experimental.assert_cardinality(steps))
               .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    dataset.samples, dataset.batch_size, dataset.epoch = samples, batch_size, epoch
    return dataset

