"""The one batcher (data.batches.window_dataset): for every family a batch equals the window the
old Python batcher (a keras PyDataset, written here as a tiny numpy reference) gave for the same
start; seeded shuffling is repeatable and reshuffles every epoch; samples-per-epoch limits;
multi-worker sharding slices every batch by rows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from midigen_tf import registry
from midigen_tf.data import notetable as nt
from midigen_tf.data.batches import window_dataset
from midigen_tf.data.pianoroll import Corpus, roll_batches
from midigen_tf.data.sequences import window_batches
from midigen_tf.distribute import Placement, shard, usable_batches
from midigen_tf.pipelines import folk, pseudonotes


def batches(dataset) -> list:
    """Every batch of one pass (one epoch) as numpy."""
    return [tf.nest.map_structure(np.asarray, b) for b in dataset]


def stack(parts):
    return tf.nest.map_structure(lambda *a: np.concatenate(a), *parts)


def ref_one_hot(ids, n_vocab):
    return np.eye(n_vocab, dtype=np.float32)[ids]


# --- each family: new batch == old window ------------------------------------------------------

def test_classic_windows_equal_the_sliding_windows():
    rng = np.random.default_rng(0)
    ids, length, v = rng.integers(0, 9, 80).astype(np.int32), 6, 9
    starts = np.array([0, 5, 17, 73, 2])
    got = stack(batches(window_batches(ids, length, 2, starts,
                                       lambda w: tf.cast(w[..., None], tf.float32) / v,
                                       shuffle=False)))
    windows = np.stack([ids[s:s + length + 1] for s in starts])  # old WindowDataset
    np.testing.assert_allclose(got[0], (windows[:, :-1, None] / v).astype(np.float32))
    np.testing.assert_array_equal(got[1], windows[:, -1])


def test_seq2seq_windows_equal_the_old_window_batches():
    rng = np.random.default_rng(1)
    ids, t_in, t_out, v = rng.integers(0, 11, 60).astype(np.int32), 5, 3, 11
    starts = np.array([0, 9, 30, 52])
    x, y = stack(batches(pseudonotes.window_batches(ids, starts, t_in, t_out, v, 3, shuffle=False)))
    window = ids[starts[:, None] + np.arange(t_in + t_out)]  # old WindowBatches.__getitem__
    np.testing.assert_array_equal(x["encoder_input"], ref_one_hot(window[:, :t_in], v))
    np.testing.assert_array_equal(x["decoder_input"], ref_one_hot(window[:, t_in - 1:-1], v))
    np.testing.assert_array_equal(y, window[:, t_in:])
    assert x["encoder_input"].dtype == np.float32 and y.dtype == np.int32


@pytest.mark.parametrize("autoencode", [False, True])
def test_folk_windows_equal_the_old_window_dataset(autoencode):
    rng = np.random.default_rng(2)
    ids, seq_len, v = rng.integers(0, 7, 40).astype(np.int32), 8, 7
    x, y = stack(batches(folk.window_batches(ids, seq_len, 5, v, autoencode=autoencode,
                                             shuffle=False)))
    windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[:len(ids) - seq_len]
    np.testing.assert_array_equal(x, ref_one_hot(windows[:, :-1], v))
    np.testing.assert_array_equal(y, x if autoencode else windows[:, -1])  # VAE: (x, x)


def note_table() -> np.ndarray:
    """Two files of notes with increasing starts."""
    rng = np.random.default_rng(3)
    notes = np.zeros(30, dtype=nt.TABLE_DTYPE)
    notes["file"] = np.repeat([0, 1], [18, 12])
    notes["pitch"] = rng.integers(40, 90, 30)
    notes["velocity"] = rng.integers(20, 120, 30)
    notes["start"] = np.concatenate([np.cumsum(rng.uniform(0.1, 0.6, 18)),
                                     np.cumsum(rng.uniform(0.1, 0.6, 12))])
    notes["duration"] = rng.uniform(0.05, 1.5, 30)
    notes["end"] = notes["start"] + notes["duration"]
    return notes


def ref_note_window(notes, t, length, scale):
    """The old NoteWindows item for target row ``t``: the ``length`` notes before it,
    pitch / velocity over 127, duration / step over ``scale``, clipped to [0, 1]."""
    rows = np.arange(t - length, t)
    prev = np.maximum(rows - 1, 0)
    same = (rows > 0) & (notes["file"][prev] == notes["file"][rows])
    step = np.where(same, notes["start"][rows] - notes["start"][prev], 0)
    cols = [notes["pitch"][rows] / 127, notes["velocity"][rows] / 127,
            notes["duration"][rows] / scale, step / scale]
    return np.clip(np.stack(cols, -1), 0, 1).astype(np.float32)


@pytest.mark.parametrize("preset,target", [("maestro-pitch", None), ("maestro-regression", "pitch"),
                                           ("maestro-regression", "step")])
def test_note_windows_equal_the_old_note_windows(preset, target):
    notes, length = note_table(), 4
    overrides = {"sequence_length": length, "batch_size": 3,
                 "features": ["pitch", "velocity", "duration", "step"]}
    config = registry.make_config(preset, {**overrides, **({"target": target} if target else {})})
    scale = float(config["time_scale"])
    targets = nt.window_targets(notes, np.zeros(len(notes), np.uint8), 0, length)
    assert 4 in targets and 19 not in targets and 22 in targets  # windows stay inside one file
    x, y = stack(batches(nt.note_batches(nt.note_columns(notes, config), targets, config)))
    want = np.stack([ref_note_window(notes, t, length, scale) for t in targets])
    np.testing.assert_allclose(x, want, rtol=1e-6)
    if preset == "maestro-pitch":  # classifier: the target note's MIDI number
        np.testing.assert_array_equal(y, notes["pitch"][targets])
    else:
        column = ["pitch", "velocity", "duration", "step"].index(config["target"])
        want_y = [ref_note_window(notes, t + 1, 1, scale)[0, column] for t in targets]
        np.testing.assert_allclose(y, np.array(want_y)[:, None], rtol=1e-6)


def test_roll_windows_equal_the_old_roll_windows():
    rng = np.random.default_rng(4)
    rolls = [(rng.random((30, 256)) < 0.2).astype(np.uint8) for _ in range(2)]
    corpus = Corpus(rolls, window=5, validation_split=0.0)
    starts = corpus.train_starts[[0, 3, 24, 25, 40]]
    x, y = stack(batches(roll_batches(corpus, starts, 2, shuffle=False)))
    np.testing.assert_array_equal(x, corpus.roll[starts[:, None] + np.arange(5)].astype(np.float32))
    np.testing.assert_array_equal(y, corpus.roll[starts + 5].astype(np.float32))
    # unshuffled with a limit: windows evenly spread, in order (as RollWindows)
    spread = roll_batches(corpus, corpus.train_starts, 4, samples=5, shuffle=False)
    first = stack(batches(spread))[0][:, 0]
    n = len(corpus.train_starts)
    picks = corpus.train_starts[np.linspace(0, n - 1, 5).round().astype(int)]
    np.testing.assert_array_equal(first, corpus.roll[picks].astype(np.float32))


# --- order: seeded shuffle, reshuffled per epoch, samples per epoch ----------------------------

def epoch_starts(dataset) -> np.ndarray:
    """The start of every window of one epoch (the data are ids 0..N, so x[:, 0] is the start)."""
    return np.concatenate([b[0][:, 0] for b in batches(dataset)])


def identity_windows(n_starts, **kwargs):
    ids = np.arange(1000, dtype=np.int64)
    return window_dataset(ids, np.arange(n_starts) * 3, np.arange(4), 8,
                          lambda w: (w[:, :-1], w[:, -1]), **kwargs)


def test_seeded_shuffle_is_repeatable_and_reshuffles_every_epoch():
    a, b, c = identity_windows(50, seed=7), identity_windows(50, seed=7), identity_windows(50, seed=8)
    a1, a2 = epoch_starts(a), epoch_starts(a)
    assert sorted(a1) == sorted(a2) == list(np.arange(50) * 3)  # every window once per epoch
    assert not np.array_equal(a1, a2)  # a fresh order each epoch
    np.testing.assert_array_equal(epoch_starts(b), a1)  # same seed, same orders
    np.testing.assert_array_equal(epoch_starts(b), a2)
    assert not np.array_equal(epoch_starts(c), a1)
    assert int(a.cardinality()) == 7
    np.testing.assert_array_equal(epoch_starts(identity_windows(50, shuffle=False)), np.arange(50) * 3)


def test_the_order_is_keyed_by_the_epoch_number_so_a_resumed_run_reads_the_same_order():
    straight = identity_windows(50, seed=7, samples=20)
    orders = [epoch_starts(straight) for _ in range(4)]  # epochs 0-3 of an unbroken run
    assert straight.epoch.numpy() == 4  # each pass counted
    resumed = identity_windows(50, seed=7, samples=20)  # a new process, resuming at epoch 2
    resumed.epoch.assign(2)
    np.testing.assert_array_equal(epoch_starts(resumed), orders[2])
    np.testing.assert_array_equal(epoch_starts(resumed), orders[3])
    assert not np.array_equal(orders[2], orders[0])  # not epoch 0's order again
    resumed.epoch.assign(0)  # what train.EpochOrder does at each epoch's start
    np.testing.assert_array_equal(epoch_starts(resumed), orders[0])
    assert identity_windows(50, shuffle=False).epoch is None


def test_samples_per_epoch_is_a_fresh_random_subset():
    data = identity_windows(50, seed=1, samples=20)
    assert int(data.cardinality()) == 3 and data.samples == 20
    first, second = epoch_starts(data), epoch_starts(data)
    assert len(first) == len(second) == 20 and len(set(first)) == 20
    assert set(first) <= set(np.arange(50) * 3) and set(first) != set(second)
    np.testing.assert_array_equal(epoch_starts(identity_windows(50, seed=1, samples=20)), first)
    # more samples than windows: whole passes (each window twice), then a partial one
    many = epoch_starts(identity_windows(10, seed=1, samples=25))
    counts = np.bincount(many // 3, minlength=10)
    assert len(many) == 25 and counts.min() == 2 and counts.max() == 3
    # unshuffled: the first `samples` starts, in order
    np.testing.assert_array_equal(epoch_starts(identity_windows(50, shuffle=False, samples=9)),
                                  np.arange(9) * 3)


def test_empty_starts_are_refused():
    with pytest.raises(ValueError, match="no windows"):
        identity_windows(0)


# --- multi-worker sharding -----------------------------------------------------------------------

def test_shard_gives_each_worker_its_rows_of_every_batch():
    data = identity_windows(33, shuffle=False)  # batches of 8, 8, 8, 8, 1
    assert usable_batches(data, 2) == 4  # the last batch has a row for one worker only
    assert usable_batches(data, 1) == 5
    generic = tf.data.Dataset.range(33).batch(8)  # no sizes attached: counted
    assert usable_batches(generic, 2) == 4

    made = {}

    def distribute(make):
        made["worker 1"] = make(SimpleNamespace(input_pipeline_id=1, num_input_pipelines=2))
        return made["worker 1"]

    strategy = SimpleNamespace(distribute_datasets_from_function=distribute)
    dataset, steps = shard(Placement("multi-worker", strategy, 1, 2, False), data)
    assert steps == 4
    rows = [b[0][:, 0] for b, _ in zip(batches(dataset.take(5)), range(5))]
    want = np.arange(33) * 3
    for i in range(4):
        np.testing.assert_array_equal(rows[i], want[i * 8:(i + 1) * 8][1::2])
    np.testing.assert_array_equal(rows[4], rows[0])  # the epoch repeats for Keras
