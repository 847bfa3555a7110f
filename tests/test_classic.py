"""The classic seed-003 pipeline: tokens, windows, registry, checkpoints, bundles, legacy files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pretty_midi
import pytest

from midigen_tf import registry
from midigen_tf.bundle import Bundle, bundle_path, load_bundle, load_weights, save_bundle
from midigen_tf.checkpoints import checkpoint_name
from midigen_tf.data import notes as notes_lib
from midigen_tf.data.sequences import split_indices, window_batches
from midigen_tf.errors import MidigenError
from midigen_tf.pipelines.base import DataSource
from midigen_tf.generate import scalar_encoding
from midigen_tf.pipelines.notes import prepare_from_tokens

TINY = {"units": [8, 8, 8], "sequence_length": 6, "dense_units": 8, "batch_size": 4, "epochs": 1}


def test_tokens_to_midi_and_back(tmp_path):
    # consecutive events share no pitch: the report's notes last a quarter but start every
    # eighth, so a repeated pitch would be cut short by its own next onset
    tokens = ["E4", "B-3", "9.2", "0.4.7", "B4", "D5"]
    path = notes_lib.create_midi(tokens, tmp_path / "t.mid")
    assert notes_lib.parse_midi_tokens(path) == tokens
    onsets = sorted({round(n.start, 3) for i in pretty_midi.PrettyMIDI(str(path)).instruments for n in i.notes})
    assert len(onsets) == len(tokens)  # one event every 0.5 quarter: evenly spaced
    assert np.allclose(np.diff(onsets), onsets[1] - onsets[0])


def test_chord_tokens_are_normal_order(tmp_path, make_midi):
    # the fixture's chords are major triads [p, p+4, p+7]: their normal order (the rotation of
    # the pitch classes with the smallest span) starts at the root, so 65-69-72 is "5.9.0"
    from conftest import melody_notes

    for seed in (0, 1):
        table = melody_notes(8, seed, chords=True)
        path = make_midi(tmp_path / f"m{seed}.mid", n=8, seed=seed, chords=True)
        chords = [t for t in notes_lib.parse_midi_tokens(path) if notes_lib.is_chord_token(t)]
        onsets = [table["pitch"][table["start"] == s] for s in np.unique(table["start"])]
        roots = [int(p.min()) for p in onsets if len(p) > 1]
        assert chords == [f"{r % 12}.{(r + 4) % 12}.{(r + 7) % 12}" for r in roots]
    assert "5.9.0" in chords  # a normal order that is not sorted (seed 1: F major)


def _empty_first_part(path):
    pm = pretty_midi.PrettyMIDI()
    violin = pretty_midi.Instrument(program=40, name="violin")
    piano = pretty_midi.Instrument(program=0, name="piano")
    piano.notes += [pretty_midi.Note(80, 60 + i, i * 0.5, i * 0.5 + 0.4) for i in range(10)]
    pm.instruments += [violin, piano]
    pm.write(str(path))
    return path


def test_faithful_mode_loses_file_with_empty_first_part_and_default_does_not(tmp_path):
    path = _empty_first_part(tmp_path / "e.mid")
    assert notes_lib.parse_midi_tokens(path, "faithful") == []
    assert len(notes_lib.parse_midi_tokens(path, "all")) == 10
    # the skip reason names the part faithful mode read, and the way to read every part
    pm = pretty_midi.PrettyMIDI()  # and one file it keeps: a piano part alone
    pm.instruments.append(pretty_midi.Instrument(0))
    pm.instruments[0].notes += [pretty_midi.Note(80, 60 + i, i * 0.5, i * 0.5 + 0.4) for i in range(4)]
    pm.write(str(tmp_path / "kept.mid"))
    _, report = notes_lib.get_notes(tmp_path, "faithful", None, jobs=1, progress=False)
    reasons = dict(report.skipped)
    assert "parts[0], the one part the report's script reads" in reasons[path]
    assert "--set part_mode=all reads every part" in reasons[path]


def _report_prepare_sequences(notes, sequence_length):
    """The report's prepare_sequences, verbatim maths (numpy instead of np_utils)."""
    pitchnames = sorted(set(notes))
    n_vocab = len(pitchnames)
    note_to_int = {n: i for i, n in enumerate(pitchnames)}
    x, y = [], []
    for i in range(0, len(notes) - sequence_length, 1):
        x.append([note_to_int[c] for c in notes[i:i + sequence_length]])
        y.append(note_to_int[notes[i + sequence_length]])
    x = np.reshape(x, (len(x), sequence_length, 1)) / float(n_vocab)
    return x, np.eye(n_vocab)[y]


def test_windows_equal_the_reports_prepare_sequences(tmp_path):
    rng = np.random.default_rng(0)
    notes = [str(t) for t in rng.choice(["C4", "D4", "E4", "0.4.7", "2.7"], size=60)]
    want_x, want_y = _report_prepare_sequences(notes, 6)
    config = registry.make_config("lstm", {**TINY, "batch_size": 16})
    prepared = prepare_from_tokens(config, notes, DataSource(tmp_path, None))
    assert prepared.config["n_vocab"] == len(set(notes)) and prepared.samples == 54
    ids = prepared.arrays["tokens"]
    ordered = window_batches(ids, 6, 1000, np.arange(54), scalar_encoding(len(set(notes))),
                             shuffle=False)
    x, y = next(iter(ordered))
    assert x.shape == want_x.shape == (54, 6, 1)
    np.testing.assert_allclose(x.numpy(), want_x, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), want_y.argmax(-1))
    # the training batches: every window exactly once per epoch, reshuffled between epochs
    v = len(set(notes))  # compare windows as token ids: (x * n_vocab) rounded
    epochs = [[(tuple((xi[:, 0].numpy() * v).round().astype(int)), int(yi))
               for xb, yb in prepared.train for xi, yi in zip(xb, yb)] for _ in range(2)]
    want = sorted((tuple((w[:, 0] * v).round().astype(int)), int(t))
                  for w, t in zip(want_x, want_y.argmax(-1)))
    assert sorted(epochs[0]) == sorted(epochs[1]) == want and epochs[0] != epochs[1]


def test_window_batches_shuffle_every_window_once_per_epoch():
    ids = np.arange(50)
    ds = window_batches(ids, 5, 7, np.arange(45), lambda w: w, shuffle=True, seed=3)
    assert int(ds.cardinality()) == 7
    before, after = (np.concatenate([y.numpy() for _, y in ds]) for _ in range(2))
    assert sorted(before) == sorted(after) == list(range(5, 50))
    assert not np.array_equal(after, before)


def test_split_indices_holds_out_the_last_part():
    train, val = split_indices(100, 0.2)
    assert len(val) == 20 and train[-1] + 1 == val[0] == 80


def test_registry_presets_match_the_reports():
    cfg = registry.make_config("lstm")
    assert cfg["units"] == [216, 316, 316] and cfg["sequence_length"] == 100 and cfg["epochs"] == 36
    alt = registry.make_config("lstm-alt")
    assert alt["units"] == [250, 350, 350] and alt["sequence_length"] == 120 and alt["epochs"] == 16
    assert registry.make_config("lstm-512")["units"] == [512, 512, 512]
    for name, preset in registry.presets().items():
        assert preset.pipeline and preset.family and "epochs" in preset.defaults, name


def test_registry_errors_are_clear():
    with pytest.raises(MidigenError, match="unknown model 'nope'"):
        registry.make_config("nope")
    with pytest.raises(MidigenError, match="unknown setting"):
        registry.make_config("lstm", {"unitz": [1]})
    with pytest.raises(MidigenError, match="expected int"):
        registry.make_config("lstm", {"sequence_length": "long"})


def test_seed003_model_layout():
    model = registry.build_model(registry.make_config("lstm", {"n_vocab": 231}))
    lstms = [l for l in model.layers if l.name.startswith("lstm_")]
    assert [l.units for l in lstms] == [216, 316, 316]
    assert [l.recurrent_dropout for l in lstms] == [0.3, 0.3, 0.0]
    assert model.get_layer("logits").units == 231 and model.input_shape == (None, 100, 1)
    assert model.loss == "sparse_categorical_crossentropy"
    assert type(model.optimizer).__name__ == "RMSprop"


def test_checkpoint_name_is_the_reports():
    assert checkpoint_name(3, {"loss": 4.98664}) == "weights-improvement-03-4.9866-bigger.hdf5"
    assert bundle_path("w/weights-improvement-03-4.9866-bigger.hdf5").name == \
        "weights-improvement-03-4.9866-bigger.json"
    assert bundle_path("w/x.weights.h5").name == "x.json"


def _tiny_model(n_vocab=5):
    config = registry.make_config("lstm", {**TINY, "n_vocab": n_vocab})
    return config, registry.build_model(config)


def test_bundle_round_trip_and_mismatch_error(tmp_path):
    from midigen_tf.checkpoints import save_hdf5

    config, model = _tiny_model(5)
    path = save_hdf5(model, tmp_path / "weights.hdf5")
    save_bundle(path, Bundle(config=config, vocab=list("abcde")))
    bundle = load_bundle(path)
    assert bundle.config == json.loads(json.dumps(config)) and bundle.vocab == list("abcde")
    fresh = registry.build_model(bundle.config)
    load_weights(fresh, path, bundle)
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    wrong = Bundle(config={**config, "n_vocab": 7}, vocab=list("abcdefg"), path=bundle.path)
    with pytest.raises(MidigenError, match="vocabulary has 7") as err:
        load_weights(registry.build_model(wrong.config), path, wrong)
    assert "(8, 7)" in str(err.value) and "(8, 5)" in str(err.value)


def _write_keras2_file(path, model):
    """A full-model HDF5 file laid out as Keras 2.x ModelCheckpoint wrote it (names and attrs)."""
    k2_names = ["lstm", "lstm_1", "lstm_2", "batch_normalization", "dropout", "dense",
                "activation", "batch_normalization_1", "dropout_1", "dense_1", "activation_1"]
    values = {}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.4.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in k2_names]
        rng = np.random.default_rng(0)
        for layer, name in zip(model.layers, k2_names):
            lg = g.create_group(name)
            weight_names = []
            for w in layer.weights:
                wname = f"{name}/{w.name}:0" if "lstm" not in name else f"{name}/lstm_cell/{w.name}:0"
                value = rng.normal(size=w.shape).astype("float32")
                if "variance" in w.name:
                    value = np.abs(value) + 0.5
                lg.create_dataset(wname, data=value)
                weight_names.append(wname.encode())
                values[w.path] = value
            lg.attrs["weight_names"] = weight_names
    return values


def test_loads_legacy_keras2_hdf5(tmp_path):
    _, model = _tiny_model(5)
    values = _write_keras2_file(tmp_path / "weights.hdf5", model)
    _, fresh = _tiny_model(5)
    load_weights(fresh, tmp_path / "weights.hdf5")
    for w in fresh.weights:
        np.testing.assert_array_equal(w.numpy(), values[w.path])


def test_scalar_encoding_is_index_over_vocab():
    x = np.asarray(scalar_encoding(4)(np.array([[0, 1, 2, 3]])))
    assert x.shape == (1, 4, 1) and np.allclose(x[0, :, 0], [0, 0.25, 0.5, 0.75])


def test_hold_out_every_leaves_the_evaluate_files_out_and_names_them(tmp_path, make_midi):
    """--set hold_out_every=2 trains on files 1 and 3 of 4 (sorted) and records 2 and 4, the
    files ``midigen evaluate --held-out-every 2`` compares against."""
    from midigen_tf.evaluate_report import evaluate
    from midigen_tf.pipelines.notes import prepare

    corpus = tmp_path / "corpus"
    for i in range(4):
        make_midi(corpus / f"p{i}.mid", n=12, seed=i, chords=False)
    per_file = {f"p{i}.mid": set(notes_lib.parse_midi_tokens(corpus / f"p{i}.mid")) for i in range(4)}
    config = registry.make_config("lstm", {**TINY, "hold_out_every": 2})
    prepared = prepare(config, DataSource(corpus, None, options={"progress": False}))
    assert prepared.extra["held_out"] == ["p1.mid", "p3.mid"]
    assert "held out (never trained on): 1 file in every 2, 2 files" in prepared.report
    trained = set(prepared.vocab)
    assert trained == per_file["p0.mid"] | per_file["p2.mid"]
    assert per_file["p1.mid"] - trained and per_file["p3.mid"] - trained  # they were left out
    groups = {g.role: g for g in evaluate({"g": [corpus / "p0.mid"]}, corpus, held_out_every=2,
                                           progress=False).groups}
    assert [p.name for p in groups["held-out"].pieces] == prepared.extra["held_out"]
    everything = prepare(registry.make_config("lstm", TINY),
                         DataSource(corpus, None, options={"progress": False}))
    assert "held_out" not in everything.extra and set(everything.vocab) == set().union(*per_file.values())
    with pytest.raises(MidigenError, match="hold_out_every=1 must be 0"):
        prepare(registry.make_config("lstm", {**TINY, "hold_out_every": 1}),
                DataSource(corpus, None, options={"progress": False}))
