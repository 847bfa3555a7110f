"""The one tf.data batcher against the old Python ``PyDataset`` batchers, every family's CPU preset.

For each preset: one model, synthetic data of the family's shape (token ids, a piano roll, a
note table), then ``fit`` for a fixed number of steps on the old batcher (a copy in
``benchmarks/old_batchers.py``) and on the new one (``midigen_tf.data.batches``), alternately,
best of ``repeats`` (the first, traced, fit of each path is not timed). Both batchers shuffle
their own windows (Keras's ``shuffle`` is off, as in training). ``python -m benchmarks.batchers
[--quick]`` runs this section alone.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

PRESETS = ("lstm", "seq2seq-small", "pianoroll-tiny", "maestro-pitch", "maestro-regression",
           "melody-lstm", "vae")
SMALL_LSTM = {"units": [64, 64, 64], "dense_units": 64}  # "lstm with small units"


def token_ids(n: int, vocab: int, seed: int) -> np.ndarray:
    """A random walk over ``vocab`` ids (every id occurs)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-3, 4, n)) % vocab
    return np.concatenate([np.arange(vocab), walk]).astype(np.int32)


def note_table(n: int, files: int, seed: int) -> np.ndarray:
    from midigen_tf.data.notetable import TABLE_DTYPE

    rng = np.random.default_rng(seed)
    notes = np.zeros(n, dtype=TABLE_DTYPE)
    notes["file"] = np.sort(rng.integers(0, files, n))
    notes["pitch"] = rng.integers(21, 109, n)
    notes["velocity"] = rng.integers(20, 120, n)
    notes["start"] = np.cumsum(rng.exponential(0.15, n))
    notes["duration"] = rng.exponential(0.3, n)
    notes["end"] = notes["start"] + notes["duration"]
    return notes


def family_data(preset: str, windows: int, seed: int = 0):
    """``(config, old batcher, new batcher)`` for ``preset`` over about ``windows`` windows."""
    from benchmarks import old_batchers as old
    from midigen_tf import registry
    from midigen_tf.data import notetable as nt
    from midigen_tf.data.pianoroll import Corpus, roll_batches
    from midigen_tf.data.sequences import window_batches
    from midigen_tf.generate import scalar_encoding
    from midigen_tf.pipelines import folk, pseudonotes

    config = registry.make_config(preset, SMALL_LSTM if preset == "lstm" else {})
    batch = int(config["batch_size"])
    if preset == "lstm":
        v, seq = 120, int(config["sequence_length"])
        ids = token_ids(windows + seq, v, seed)
        idx = np.arange(len(ids) - seq)
        config["n_vocab"] = v
        return (config, old.WindowDataset(ids, seq, batch, idx, old.scalar_inputs(v), seed=seed),
                window_batches(ids, seq, batch, idx, scalar_encoding(v), seed=seed))
    if preset.startswith("seq2seq"):
        v, t_in, t_out = 200, int(config["input_length"]), int(config["output_length"])
        ids = token_ids(windows + t_in + t_out, v, seed)
        starts = np.arange(len(ids) - t_in - t_out + 1)
        config["n_vocab"] = v
        return (config, old.WindowBatches(ids, starts, t_in, t_out, v, batch, seed=seed),
                pseudonotes.window_batches(ids, starts, t_in, t_out, v, batch, seed=seed))
    if preset.startswith("pianoroll"):
        window, samples = int(config["sequence_length"]), int(config["samples_per_epoch"])
        rng = np.random.default_rng(seed)
        rolls = [(rng.random((windows // 4 + window, 256)) < 0.03).astype(np.uint8)
                 for _ in range(4)]
        corpus = Corpus(rolls, window)
        config["n_features"] = 256
        return (config, old.RollWindows(corpus, corpus.train_starts, batch, samples, seed=seed),
                roll_batches(corpus, corpus.train_starts, batch, samples, seed=seed))
    if preset.startswith("maestro"):
        length = int(config["sequence_length"])
        notes = note_table(windows + 20 * length, 20, seed)
        targets = nt.window_targets(notes, np.zeros(len(notes), np.uint8), 0, length)
        return (config, old.NoteWindows(notes, targets, config, shuffle=True, seed=seed),
                nt.note_batches(nt.note_columns(notes, config), targets, config, shuffle=True,
                                seed=seed))
    v, seq = 40, int(config["sequence_length"])  # folk: melody-lstm, vae
    ids = token_ids(windows + seq, v, seed)
    config["n_vocab"] = v
    autoencode = preset == "vae"
    dataset = old.AutoencodeWindows if autoencode else old.WindowDataset
    return (config, dataset(ids, seq, batch, encode_x=old.folk_one_hot(v), seed=seed),
            folk.window_batches(ids, seq, batch, v, autoencode=autoencode, seed=seed))


def run(steps: int = 10, repeats: int = 3, presets=PRESETS, echo=print) -> dict:
    """``{preset: {"batch", "steps", "old", "new" (samples/s), "ratio", "whole_ratio"}}``: the
    rates time the steps after the first of each ``fit`` (``speed.StepTimer``), so starting a
    fresh iterator is left out of them; ``whole_ratio`` compares whole ``fit`` calls."""
    import keras

    from benchmarks.speed import StepTimer

    from midigen_tf import registry

    rows = {}
    for preset in presets:
        batch = int(registry.make_config(preset)["batch_size"])
        config, old, new = family_data(preset, windows=batch * steps * (repeats + 2))
        keras.utils.set_random_seed(0)
        model = registry.build_model(config)
        best = {"old": float("inf"), "new": float("inf")}
        whole = dict(best)
        for path, data in (("old", old), ("new", new)):  # trace both first, untimed
            model.fit(data, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
        for _ in range(repeats):
            for path, data in (("old", old), ("new", new)):
                timer = StepTimer()
                t0 = time.perf_counter()
                model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                          callbacks=[timer.callback])
                whole[path] = min(whole[path], time.perf_counter() - t0)
                best[path] = min(best[path], timer.seconds)
        old_rate, new_rate = (batch * (steps - 1) / best[p] for p in ("old", "new"))
        rows[preset] = dict(batch=batch, steps=steps, old=old_rate, new=new_rate,
                            ratio=new_rate / old_rate, whole_ratio=whole["old"] / whole["new"])
        echo(f"  {preset}: old {old_rate:,.0f}, new {new_rate:,.0f} samples/s "
             f"(x{new_rate / old_rate:.2f}; whole fit calls x{whole['old'] / whole['new']:.2f})")
    return dict(rows=rows, steps=steps, repeats=repeats)


def rows_for_table(result: dict) -> list[list]:
    return [[preset, str(r["batch"]), r["old"], r["new"], r["ratio"], r["whole_ratio"]]
            for preset, r in result["rows"].items()]


QUICK = {"steps": 3, "repeats": 1}  # --quick: a smoke test (at least 2 steps: the first is not timed)
HEADER = ["preset", "batch", "old PyDataset (samples/s)", "one tf.data batcher (samples/s)",
          "x old", "x old, whole fit calls"]


def main(argv=None) -> int:
    import argparse

    from benchmarks.run import machine, table

    ap = argparse.ArgumentParser(prog="python -m benchmarks.batchers", description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    steps, repeats = (QUICK["steps"], QUICK["repeats"]) if args.quick else (args.steps, args.repeats)
    echo = lambda *a: print(*a, flush=True)  # noqa: E731
    echo(f"machine: {machine()}")
    result = run(steps, repeats, echo=echo)
    table(f"One batcher: fit, {steps} steps per path, best of {repeats} (samples/s of the steps "
          "after the first of each fit)", HEADER,
          rows_for_table(result), echo)
    echo(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
