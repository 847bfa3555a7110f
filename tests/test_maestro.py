"""The MAESTRO note-table pipeline (seed 000) on a small MAESTRO-shaped folder written in code."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import melody_notes
from midigen_tf import registry
from midigen_tf.data import notetable as nt
from midigen_tf.errors import MidigenError
from midigen_tf.io import audio
from midigen_tf.io.midi import read_notes, write_notes
from midigen_tf.pipelines import notetable as pipe
from midigen_tf.pipelines.base import DataSource

# (year, split in the CSV, notes)
LAYOUT = [("2004", "train", 30), ("2004", "train", 34), ("2006", "validation", 30),
          ("2008", "test", 32), ("2018", "train", 36), ("2018", "test", 30)]
CSV_HEADER = "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"
TINY = {
    "maestro-pitch": {"units": [8, 8]},
    "maestro-regression": {"units": [8, 8, 4], "dense_units": 4},
    "maestro-mlp": {"hidden_layers": [16, 8], "activation": "swish"},
}


@pytest.fixture(scope="module")
def maestro_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("maestro")
    rows = [CSV_HEADER]
    for i, (year, split, n) in enumerate(LAYOUT):
        rel = f"{year}/MIDI-Unprocessed_{i:02d}_R1_{year}_wav.{'midi' if i % 2 else 'mid'}"
        (root / year).mkdir(exist_ok=True)
        write_notes(melody_notes(n, seed=i, chords=i % 3 == 0), root / rel)
        rows.append(f"Composer {i},Piece {i},{split},{year},{rel},{rel.rsplit('.', 1)[0]}.wav,12.5")
    (root / "maestro-v2.0.0.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "2006" / "broken.midi").write_bytes(b"MThd garbage")
    return root


@pytest.fixture(scope="module")
def table(maestro_dir):
    return nt.read_folder(maestro_dir, cache_dir=None, jobs=1, progress=False)


def tiny_config(preset, **overrides):
    return registry.make_config(preset, {"sequence_length": 6, "batch_size": 16, "epochs": 1,
                                         **TINY[preset], **overrides})


# ------------------------------------------------------------------------------ reading

def test_read_folder_makes_one_compact_row_per_note(maestro_dir, table):
    assert table.notes.dtype == nt.TABLE_DTYPE and nt.TABLE_DTYPE.itemsize == 16
    assert table.files == sorted(table.files) and len(table.files) == len(LAYOUT)
    assert all(name.split("/")[0] in {"2004", "2006", "2008", "2018"} for name in table.files)
    assert [name for name, _ in table.skipped] == ["2006/broken.midi"]
    starts = table.file_starts()
    for i, name in enumerate(table.files):
        rows = table.notes[starts[i]:starts[i + 1]]
        expected = read_notes(maestro_dir / name)
        assert (rows["file"] == i).all()
        np.testing.assert_array_equal(rows["pitch"], expected["pitch"])
        np.testing.assert_allclose(rows["start"], expected["start"])
    np.testing.assert_allclose(table.notes["duration"], table.notes["end"] - table.notes["start"])
    assert "notes/s" in table.summary() and "broken.midi" in table.summary()


def test_an_unreadable_folder_is_a_clear_error(tmp_path):
    (tmp_path / "x.mid").write_bytes(b"nope")
    with pytest.raises(MidigenError, match="could be read"):
        nt.read_folder(tmp_path, cache_dir=None, jobs=1, progress=False)


# ------------------------------------------------------------------------------- splits

def test_shuffle_split_reproduces_sklearn_train_test_split():
    # sklearn's own docstring example: train_test_split(X (5 rows), test_size=0.33,
    # random_state=42) gives train rows [2, 0, 3] and test rows [1, 4].
    train, test = nt.shuffle_split(5, 0.33, 42)
    assert train.tolist() == [2, 0, 3] and test.tolist() == [1, 4]


def test_note_split_is_the_reports_80_10_10(table):
    labels, info = nt.assign_split(table, "note", (0.8, 0.1, 0.1), 42)
    n = len(table.notes)
    held = math.ceil(0.2 * n)
    assert info["notes"] == {"train": n - held, "validation": held - math.ceil(0.5 * held),
                             "test": math.ceil(0.5 * held)}
    again, _ = nt.assign_split(table, "note", (0.8, 0.1, 0.1), 42)
    other, _ = nt.assign_split(table, "note", (0.8, 0.1, 0.1), 7)
    assert (labels == again).all() and (labels != other).any()


def test_file_split_shares_no_file(table):
    labels, info = nt.assign_split(table, "file", (0.8, 0.1, 0.1), 42)
    groups = [set(info["files"][name]) for name in nt.SPLIT_NAMES]
    assert all(groups) and sum(map(len, groups)) == len(table.files)
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    for i in range(len(table.files)):
        assert len(set(labels[table.notes["file"] == i])) == 1


def test_csv_split_follows_the_maestro_csv(maestro_dir, table):
    labels, info = nt.assign_split(table, "csv", data_dir=maestro_dir)
    wanted = {name: split for name, (_, split, _) in zip(sorted(table.files), LAYOUT)}
    for name in table.files:
        split = next(s for s, files in info["files"].items() if name in files)
        assert split == wanted[name]
        assert (labels[table.notes["file"] == table.files.index(name)] == nt.SPLIT_NAMES.index(split)).all()


def test_csv_split_without_csv_or_with_unlisted_files_is_refused(tmp_path, table, maestro_dir):
    with pytest.raises(MidigenError, match="maestro-v"):
        nt.assign_split(table, "csv", data_dir=tmp_path)
    (tmp_path / "maestro-v2.0.0.csv").write_text(CSV_HEADER + "\nA,B,train,2004,2004/other.midi,x.wav,1\n")
    with pytest.raises(MidigenError, match="not listed"):
        nt.assign_split(table, "csv", data_dir=tmp_path)


# ------------------------------------------------------------------------------ windows

def test_windows_stay_inside_one_file_and_match_the_table(table):
    config = tiny_config("maestro-regression")
    labels = np.zeros(len(table.notes), dtype=np.uint8)
    targets = nt.window_targets(table.notes, labels, 0, 6)
    assert len(targets) == len(table.notes) - 6 * len(table.files)
    file_of = table.notes["file"]
    assert (file_of[targets - 6] == file_of[targets]).all()
    x = nt.windows(table.notes, targets[:5], config)
    assert x.shape == (5, 6, 4) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    t = int(targets[0])
    np.testing.assert_allclose(x[0, :, 0] * 127, table.notes["pitch"][t - 6:t])
    step = nt.raw_values(table.notes, np.array([0, 1]), "step")
    assert step[0] == 0 and step[1] == pytest.approx(table.notes["start"][1] - table.notes["start"][0])


def test_note_windows_are_lazy_and_reshuffled_each_epoch(table):
    config = tiny_config("maestro-pitch", samples_per_epoch=40)
    targets = nt.window_targets(table.notes, np.zeros(len(table.notes), np.uint8), 0, 6)
    columns = nt.note_columns(table.notes, config)
    data = nt.note_batches(columns, targets, config, shuffle=True, seed=0)
    assert data.samples == 40 and int(data.cardinality()) == 3
    x, y = (np.asarray(a) for a in next(iter(data)))
    assert x.shape == (16, 6, 1) and y.dtype == np.int32 and set(y) <= set(range(128))
    before, after = ([tuple(w.ravel()) for b, _ in data for w in np.asarray(b)] for _ in range(2))
    assert len(before) == len(after) == 40 and before != after


# ------------------------------------------------------------------------------- models

@pytest.mark.parametrize("preset", list(TINY))
@pytest.mark.slow
def test_model_contract(preset, maestro_dir, tmp_path):
    config = tiny_config(preset, split="file")
    prepared = pipe.prepare(config, DataSource(maestro_dir, tmp_path / "cache", jobs=1))
    model = registry.build_model(prepared.config)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    assert [layer.name for layer in registry.build_model(prepared.config).layers] == names  # not auto-named
    x, y = (np.asarray(a) for a in next(iter(prepared.train)))
    out = np.asarray(model(x, training=False))
    assert out.shape == ((len(x), 128) if preset == "maestro-pitch" else (len(x), 1))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(loss)
    again = registry.build_model(json.loads(json.dumps(prepared.config)))  # as from a bundle
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(again(x, training=False)), np.asarray(model(x, training=False)),
                               rtol=1e-5, atol=1e-6)


def test_callbacks_have_the_reports_schedule():
    config = registry.make_config("maestro-mlp")
    stop, plateau = registry.pipeline(config["family"]).callbacks({**config, "monitor": "val_loss"})
    assert (stop.monitor, stop.patience) == ("val_loss", 15)
    assert (plateau.monitor, plateau.factor, plateau.patience) == ("val_loss", 0.5, 5)
    assert registry.make_config("maestro-regression")["patience"] == 10
    assert config["learning_rate"] == 5e-4 and config["weight_decay"] == 1e-4 and config["epochs"] == 300


def test_bad_settings_are_explained():
    with pytest.raises(MidigenError, match="activation"):
        registry.build_model(tiny_config("maestro-mlp", activation="tanh"))
    with pytest.raises(MidigenError, match="features"):
        nt.check_features(tiny_config("maestro-regression", features=["loudness"]))


# ---------------------------------------------------------------- metrics and sound

def test_metrics_reproduce_the_reports_table():
    metrics = pipe.regression_metrics([1.1, 1.2, 1.5, 1.9], [1.1557, 1.2222, 1.4235, 1.6754])
    assert metrics["mae"] == pytest.approx(0.0948, abs=1e-4)  # as printed, 4 decimals
    assert metrics["rmse"] == pytest.approx(0.1224, abs=1e-4)
    assert metrics["accuracy"] == 0.75


def test_predictions_scale_to_midi_60_71_and_note_names():
    pitches = pipe.to_midi([1.0, 1.2, 2.0, 1.5], "minmax", 60, 71)
    assert pitches.tolist() == [60, 62, 71, 66]
    assert pipe.to_midi([3.0, 3.0], "minmax").tolist() == [60, 60]
    assert pipe.to_midi([50.4, 90.0], "clip").tolist() == [60, 71]
    names = [audio.note_name(p) for p in range(60, 84)]
    assert names[:3] == ["C4", "C#4", "D4"] and names[11] == "B4" and names[-1] == "B5"


def test_wav_has_the_reports_format_and_the_right_pitch(tmp_path):
    path = audio.write_wav(tmp_path / "a.wav", audio.sequence_audio([69, 60]))
    samples, rate = audio.read_wav(path)
    assert rate == 44100 and len(samples) == 2 * 22050
    assert np.abs(samples).max() == 32767
    for part, hz in ((samples[:22050], 440.0), (samples[22050:], 261.63)):
        spectrum = np.abs(np.fft.rfft(part))
        peak = np.fft.rfftfreq(len(part), 1 / rate)[spectrum.argmax()]
        assert abs(peak - hz) <= 2.0
    assert not audio.to_int16(np.zeros(10)).any()


def test_render_notes_places_notes_at_their_times():
    notes = np.zeros(2, dtype=[("pitch", "u1"), ("start", "f4"), ("end", "f4")])
    notes["pitch"], notes["start"], notes["end"] = [69, 72], [0.0, 1.0], [0.5, 1.5]
    wave = audio.render_notes(notes, sample_rate=8000, tail=0.0)
    assert len(wave) == 12000
    assert np.abs(wave[4400:7600]).max() == 0 and np.abs(wave[:4000]).max() > 0.4


# ---------------------------------------------------------------------------------- CLI

def test_cli_train_then_generate(maestro_dir, tmp_path):
    from click.testing import CliRunner

    from midigen_tf.cli import main

    weights = tmp_path / "w"
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", "--model", "maestro-regression", "--data", str(maestro_dir), "--epochs", "2",
        "--batch-size", "16", "--weights-dir", str(weights), "--cache-dir", str(tmp_path / "c"),
        "--set", "sequence_length=6", "--set", "units=[8,8,4]", "--set", "dense_units=4",
        "--set", "split=csv", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "Root Mean Squared Error" in result.output and "2006/broken.midi" in result.output
    bundle = json.loads((weights / "weights.json").read_text())
    test_files = bundle["extra"]["split"]["files"]["test"]
    assert [f.split("/")[0] for f in test_files] == ["2008", "2018"]
    metrics = json.loads((weights / "test_metrics.json").read_text())
    assert metrics["test_windows"] == sum(len(read_notes(maestro_dir / f)) - 6 for f in test_files)
    assert metrics["split"] == "csv" and metrics["mae"] >= 0
    assert (weights / "loss.png").stat().st_size > 0 and (weights / "actual_vs_predicted.png").exists()

    out = tmp_path / "gen" / "song.mid"
    result = runner.invoke(main, ["generate", str(weights / "weights.hdf5"), "-n", "7", "-o", str(out),
                                  "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert read_notes(out)["pitch"].min() >= 60 and read_notes(out)["pitch"].max() <= 71
    assert "song.mid:\nSample\tActual Value\tPredicted Value\tMIDI\tMusical Note\nNote 1\t" in result.output
    samples, rate = audio.read_wav(out.with_suffix(".wav"))
    assert len(samples) == 7 * 22050 and rate == 44100
    assert out.with_suffix(".png").exists() and len(out.with_suffix(".csv").read_text().splitlines()) == 8
    result = runner.invoke(main, ["generate", str(weights / "weights.hdf5"), "-n", "3", "-o",
                                  str(out), "-O", "mode=sideways"])
    assert result.exit_code != 0 and "mode" in result.output
