"""Piano-roll family (seed 004): rolls, windows, metrics, weighted loss, generation, images, CLI."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from midigen_tf import registry
from midigen_tf.bundle import Bundle
from midigen_tf.data.pianoroll import (Corpus, roll_batches, midi_to_roll, notes_to_roll,
                                       roll_to_notes)
from midigen_tf.errors import MidigenError
from midigen_tf.io.images import piano_roll_image
from midigen_tf.io.midi import note_table, read_notes, write_notes
from midigen_tf.models import pianoroll as family
from midigen_tf.pipelines import pianoroll as pipeline
from midigen_tf.pipelines.base import GenerateOptions

TINY = {"units": [8], "sequence_length": 10, "samples_per_epoch": 64, "batch_size": 16}


def tiny_config(**overrides):
    return registry.make_config("pianoroll-tiny", dict(TINY, **overrides))


def frame_events(notes, fs=0.1):
    """(pitch, onset frame) of every note, onsets rounded half up as the roll does."""
    return sorted((int(n["pitch"]), int(np.floor(n["start"] / fs + 0.5 + 1e-6))) for n in notes)


# --- rolls -----------------------------------------------------------------------------------

def test_midi_to_roll_to_midi_keeps_pitches_and_onsets(tmp_path, make_midi):
    original = read_notes(make_midi(tmp_path / "in.mid", n=30, seed=4, step=0.2))
    roll = midi_to_roll(tmp_path / "in.mid")
    assert roll.shape[1] == 256 and roll.dtype == np.uint8
    assert roll[:, 128:].sum() == len(original)  # one onset cell per note
    write_notes(roll_to_notes(roll), tmp_path / "out.mid")
    back = read_notes(tmp_path / "out.mid")
    assert frame_events(back) == frame_events(original)


def test_onsets_separate_repeated_notes_of_one_pitch():
    notes = note_table([60, 60, 64], [90, 90, 90], [0.0, 0.5, 0.0], [0.5, 1.0, 1.0])
    roll = notes_to_roll(notes)
    assert roll[:10, 60].all() and roll[[0, 5], 128 + 60].tolist() == [1, 1]
    back = roll_to_notes(roll)
    assert [(int(n["pitch"]), round(float(n["start"]), 3), round(float(n["end"]), 3)) for n in back] \
        == [(60, 0.0, 0.5), (64, 0.0, 1.0), (60, 0.5, 1.0)]
    # without the onset half the two C4s merge into one note
    assert len(roll_to_notes(roll[:, :128])) == 2


# --- windows ---------------------------------------------------------------------------------

def test_windows_stay_inside_pieces_and_validation_shares_no_frame():
    rolls = [np.full((40, 256), i, np.uint8) for i in range(1, 4)]  # piece i is all i's
    corpus = Corpus(rolls, window=5, validation_split=0.25)
    cut = 120 - 30
    for s in corpus.train_starts:
        frames = corpus.roll[s:s + 6, 0]
        assert len(set(frames)) == 1 and s + 5 < cut
    assert len(corpus.val_starts) and corpus.val_starts.min() >= cut
    data = roll_batches(corpus, corpus.train_starts, batch_size=16, samples=100, seed=3)
    assert int(data.cardinality()) == 7
    x, y = (np.asarray(a) for a in next(iter(data)))
    assert x.shape == (16, 5, 256) and y.shape == (16, 256) and x.dtype == np.float32
    assert (x[:, -1] == y).all()  # the target is the frame after the window (same piece)
    first, second = (np.concatenate([np.asarray(b)[:, 0, 0] for b, _ in data]) for _ in range(2))
    assert len(first) == len(second) == 100 and not np.array_equal(first, second)


# --- model, metrics, loss --------------------------------------------------------------------

def test_metrics_count_false_positives_and_negatives_by_hand():
    y_true = np.array([[1, 0, 0, 1], [0, 1, 0, 0]], np.float32)
    y_pred = np.array([[0.9, 0.6, 0.7, 0.2], [0.1, 0.8, 0.3, 0.51]], np.float32)
    # wrong cells at 0.5: (0,1) FP, (0,2) FP, (1,3) FP, (0,3) FN -> 3 FP, 1 FN, 4/8 right
    results = {}
    for metric in family.make_metrics():
        metric.update_state(y_true, y_pred)
        results[metric.name] = float(metric.result())
    assert results == {"accuracy": 0.5, "false_positives": 3.0, "false_negatives": 1.0}


def test_weighted_loss_is_bce_at_weight_one_and_weighs_positives():
    rng = np.random.default_rng(0)
    y = (rng.random((4, 256)) < 0.1).astype(np.float32)
    logits = rng.normal(0, 3, (4, 256)).astype(np.float32)
    probs = keras.ops.sigmoid(logits)
    bce = keras.losses.BinaryCrossentropy()
    plain = family.WeightedBinaryCrossentropy(pos_weight=1.0)
    # both paths: straight out of a sigmoid (logits kept) and from bare probabilities
    np.testing.assert_allclose(float(plain(y, probs)), float(bce(y, probs)), rtol=1e-5)
    bare = np.asarray(probs)
    np.testing.assert_allclose(float(plain(y, bare)), float(bce(y, bare)), rtol=1e-5)
    p = np.clip(bare.astype(np.float64), 1e-7, 1 - 1e-7)
    expected = -np.mean(3 * y * np.log(p) + (1 - y) * np.log(1 - p))
    heavy = family.WeightedBinaryCrossentropy(pos_weight=3.0)
    np.testing.assert_allclose(float(heavy(y, bare)), expected, rtol=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(heavy))
    assert again.pos_weight == 3.0


def test_build_model_names_layers_and_picks_the_loss():
    model = family.build_model(tiny_config(units=[8, 6], dropout=0.1))
    assert [layer.name for layer in family.lstm_layers(model)] == ["lstm_1", "lstm_2"]
    assert model.output_shape == (None, 256) and model.input_shape == (None, 10, 256)
    assert isinstance(model.loss, keras.losses.BinaryCrossentropy)
    fn = family.build_model(tiny_config(pos_weight=5.0))
    assert isinstance(fn.loss, family.WeightedBinaryCrossentropy) and fn.loss.pos_weight == 5.0


def test_comparison_table_puts_ours_beside_the_report():
    from midigen_tf.references import seed004_table

    rows = [{"loss": 0.5, "accuracy": 0.9, "false_positives": 12.0, "false_negatives": 34.0}]
    table = seed004_table(rows)
    assert "| 1 | 0.0535 / 0.5000 | 0.9823 / 0.9000 | 8513 / 12 | 109658 / 34 |" in table
    assert "| 20 | 0.0027 / - |" in table
    assert seed004_table({"loss": [0.5]}).count("/ 0.5000") == 1


# --- generation ------------------------------------------------------------------------------

@pytest.fixture
def tiny_bundle(tmp_path):
    config = tiny_config()
    rng = np.random.default_rng(1)
    np.save(tmp_path / f"{pipeline.PRIMERS}.npy", (rng.random((4, 10, 256)) < 0.05).astype(np.uint8))
    return config, Bundle(config=config, path=tmp_path / "weights.json")


def _biased_model(config, bias):
    model = family.build_model(config)
    dense = model.get_layer("next_frame")
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.full(256, bias, np.float32)])
    return model


@pytest.mark.parametrize("engine", ["windowed", "stateful"])
def test_generation_is_binary_and_guards_silence_and_stuck_notes(tiny_bundle, engine):
    config, bundle = tiny_bundle
    # a model that always says "silence": the silence guard must still play something
    silent = _biased_model(config, -20.0)
    opts = GenerateOptions(n=40, seed=0, engine=engine, num_outputs=2, extra={"max_silence": 5})
    rolls = pipeline.generate_rolls(silent, bundle, opts)
    new = rolls[:, 10:]
    assert rolls.shape == (2, 50, 256) and set(np.unique(rolls)) <= {0, 1}
    assert new[:, :, :128].any(axis=2).sum(axis=1).min() >= 40 // 6
    # a model that always says "everything on": no pitch may hold longer than max_hold
    loud = _biased_model(config, 20.0)
    rolls = pipeline.generate_rolls(loud, bundle, GenerateOptions(
        n=40, seed=0, engine=engine, top_k=3, extra={"max_hold": 4}))[0, 10:]
    assert rolls[:, :128].sum(axis=1).max() <= 3
    notes = roll_to_notes(rolls)
    assert len(notes) and (notes["end"] - notes["start"]).max() <= 0.4 + 1e-6


@pytest.mark.parametrize("engine, kernel, expected", [
    ("windowed", "auto", "layers"), ("stateful", "auto", "fused"), ("windowed", "fused", "fused")])
def test_auto_kernel_is_what_the_family_declares(tiny_bundle, monkeypatch, engine, kernel,
                                                 expected):
    """``--kernel auto`` runs the piano roll's windowed engine on ``layers`` (measured faster
    for its wide layer, docs/performance.md); an explicit kernel is kept as given."""
    from midigen_tf import generate

    config, bundle = tiny_bundle
    built = []

    class Recording(generate.Engine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.kernel)

    monkeypatch.setattr(generate, "Engine", Recording)
    pipeline.generate_rolls(family.build_model(config), bundle,
                            GenerateOptions(n=3, engine=engine, kernel=kernel))
    assert built == [expected]


def test_generation_never_returns_nan(tiny_bundle, tmp_path):
    config, bundle = tiny_bundle
    model = family.build_model(config)
    model.get_layer("next_frame").set_weights(
        [np.full(w.shape, np.nan, np.float32) for w in model.get_layer("next_frame").get_weights()])
    out = tmp_path / "nan.mid"
    written = pipeline.generate(model, bundle, GenerateOptions(n=20, seed=1, output=out,
                                                               temperature=1.0))
    assert written == [out, out.with_suffix(".png")]
    notes = read_notes(out)
    assert len(notes) and np.isfinite(notes["start"]).all() and np.isfinite(notes["end"]).all()


def test_stateful_engine_predicts_what_the_window_predicts(tiny_bundle):
    config, _ = tiny_bundle
    model = family.build_model(tiny_config(units=[8, 6]))
    window = (np.random.default_rng(2).random((3, 10, 256)) < 0.1).astype(np.float32)
    from midigen_tf.generate import Engine, float_encoding

    probs = Engine(model, float_encoding, "stateful", dtype="float32").start(window)[0]
    np.testing.assert_allclose(probs, model.predict_on_batch(window), atol=1e-5)


def test_generation_options_are_checked(tiny_bundle):
    _, bundle = tiny_bundle
    model = family.build_model(tiny_config())
    for extra, kw, message in [({"colour": 1}, {}, "unknown -O"), ({"mode": "beam"}, {}, "mode"),
                               ({}, {"top_p": 0.9}, "--top-p"), ({}, {"engine": "x"}, "engine")]:
        with pytest.raises(MidigenError, match=message):
            pipeline.generate_rolls(model, bundle, GenerateOptions(n=2, extra=extra, **kw))


# --- images ----------------------------------------------------------------------------------

def test_piano_roll_images_of_midi_notes_and_rolls(tmp_path, make_midi):
    midi = make_midi(tmp_path / "a.mid", n=12)
    for source, name in [(midi, "midi.png"), (read_notes(midi), "notes.png"),
                         (midi_to_roll(midi), "roll.png"), (midi_to_roll(midi)[:, :128], "r128.png")]:
        out = piano_roll_image(source, tmp_path / name)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(MidigenError, match="shape"):
        piano_roll_image(np.zeros((5, 7)), tmp_path / "bad.png")
    with pytest.raises(MidigenError, match="does not exist"):
        piano_roll_image(tmp_path / "missing.mid", tmp_path / "x.png")


# --- command line ----------------------------------------------------------------------------

def test_cli_trains_compares_and_generates(tmp_path, tiny_corpus):
    from click.testing import CliRunner

    from midigen_tf.cli import main

    weights = tmp_path / "w"
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", "--model", "pianoroll-tiny", "--data", str(tiny_corpus), "--epochs", "2",
        "--set", "units=[8]", "--set", "sequence_length=10", "--set", "samples_per_epoch=64",
        "--set", "pos_weight=4", "--validation-split", "0.2", "--weights-dir", str(weights),
        "--cache-dir", str(tmp_path / "cache"), "--jobs", "1", "--compare", "seed004"])
    assert result.exit_code == 0, result.output
    assert "109658" in result.output  # the report's epoch-1 FN beside ours
    assert "\nours: " + str(weights) + ": preset pianoroll-tiny with sequence_length=10, units=[8], " \
        "pos_weight=4.0, samples_per_epoch=64 (family pianoroll), corpus " \
        + str(tiny_corpus) + ", vocabulary none (from this run)" in result.output
    assert f"per-epoch table beside seed 004: {weights / 'pianoroll_epochs.md'}" in result.output
    table = (weights / "pianoroll_epochs.md").read_text()
    assert "## Validation" in table and "| 2 | 0.0380 / " in table
    out = tmp_path / "song.mid"
    result = runner.invoke(main, ["generate", str(weights / "weights.hdf5"), "-n", "30", "-o",
                                  str(out), "--seed", "1", "-O", "threshold=0.3"])
    assert result.exit_code == 0, result.output
    assert len(read_notes(out)) > 0 and out.with_suffix(".png").exists()
    result = runner.invoke(main, ["generate", str(weights / "weights.hdf5"), "-n", "5", "-o",
                                  str(out), "-O", "treshold=0.3"])
    assert result.exit_code == 1 and "unknown -O option(s) treshold" in result.output
