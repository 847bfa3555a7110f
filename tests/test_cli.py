"""The classic CLIs end to end through click's CliRunner, on tiny MIDI written in code."""

from __future__ import annotations

import json
import os
import warnings

import pretty_midi
import pytest
from click.testing import CliRunner

from midigen_tf.cli import main

TINY = ["--set", "units=[8,8,8]", "--set", "sequence_length=8", "--set", "dense_units=8",
        "--batch-size", "16"]


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run on a corpus with bad files among the good ones."""
    from conftest import melody_notes
    from midigen_tf.io.midi import write_notes

    root = tmp_path_factory.mktemp("cli")
    data = root / "songs"
    for i in range(3):
        write_notes(melody_notes(40, seed=i), data / f"good{i}.mid")
    (data / "empty.mid").write_bytes(b"")
    (data / "noise.mid").write_bytes(os.urandom(300))
    drums = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    kit.notes += [pretty_midi.Note(100, 36 + i % 5, i * 0.25, i * 0.25 + 0.1) for i in range(16)]
    drums.instruments.append(kit)
    drums.write(str(data / "drums.mid"))
    weights = root / "weights"
    result = run("train", "--data", data, "--epochs", 2, "--weights-dir", weights,
                 "--cache-dir", root / "cache", "--seed", 1, *TINY)
    return root, data, weights, result.output


def test_train_reports_skipped_files_and_trains_on_the_good(trained):
    _, _, weights, output = trained
    assert "files parsed: 3" in output and "skipped: 3" in output
    for name in ("empty.mid", "noise.mid", "drums.mid"):
        assert f"{name}:" in output, output
    assert "no pitched notes" in output  # the drum-only file's reason
    assert "trainable parameters:" in output
    files = {p.name for p in weights.iterdir()}
    assert {"weights.hdf5", "weights.json", "history.csv", "history.json", "tokens.npy"} <= files
    improvements = sorted(f for f in files if f.startswith("weights-improvement-01-"))
    assert improvements and improvements[0].endswith("-bigger.hdf5")
    history = json.loads((weights / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    bundle = json.loads((weights / "weights.json").read_text())
    assert bundle["config"]["units"] == [8, 8, 8] and len(bundle["vocab"]) == bundle["config"]["n_vocab"]


@pytest.mark.slow
def test_generate_writes_500_events_and_is_repeatable(trained, tmp_path):
    _, _, weights, _ = trained
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    run("generate", weights / "weights.hdf5", "-n", 500, "-o", a)
    onsets = {round(n.start, 4) for i in pretty_midi.PrettyMIDI(str(a)).instruments for n in i.notes}
    assert len(onsets) == 500
    run("generate", weights / "weights.hdf5", "-n", 60, "-o", a, "--temperature", 1.0, "--seed", 1)
    run("generate", weights / "weights.hdf5", "-n", 60, "-o", b, "--temperature", 1.0, "--seed", 1)
    assert a.read_bytes() == b.read_bytes()


def test_generate_several_pieces_and_primer(trained, tmp_path, make_midi):
    _, data, weights, _ = trained
    out = tmp_path / "p.mid"
    result = run("generate", weights / "weights.hdf5", "-n", 20, "-o", out, "--num-outputs", 2,
                 "--primer", data / "good0.mid", "--top-k", 3, "--seed", 2)
    assert (tmp_path / "p-1.mid").exists() and (tmp_path / "p-2.mid").exists(), result.output


def test_clear_errors(trained, tmp_path):
    root, _, weights, _ = trained
    r = run("generate", tmp_path / "missing.hdf5", ok=False)
    assert r.exit_code == 1 and "does not exist" in r.output and "Traceback" not in r.output
    r = run("generate", weights / "weights.hdf5", "-n", 0, ok=False)
    assert r.exit_code == 1 and "at least 1" in r.output
    orphan = tmp_path / "orphan.hdf5"
    orphan.write_bytes((weights / "weights.hdf5").read_bytes())
    r = run("generate", orphan, ok=False)
    assert r.exit_code == 1 and "--notes data/notes" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("train", "--data", empty, ok=False)
    assert r.exit_code == 1 and "no .mid/.midi files" in r.output
    r = run("train", "--data", root / "songs", "--set", "units=32", ok=False)
    assert r.exit_code == 1 and "expected list" in r.output
    assert "give it like --set units=[216,316,316]" in r.output  # one shell word
    r = run("generate", weights / "weights.hdf5", "--temperature", 0, ok=False)
    assert r.exit_code == 1 and "must be > 0" in r.output


def test_all_bad_corpus_is_one_clear_error(tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "x.mid").write_bytes(b"MThd garbage")
    r = run("train", "--data", data, "--no-cache", ok=False)
    assert r.exit_code == 1 and "no usable notes" in r.output and "x.mid:" in r.output


def test_legacy_weights_with_notes_pickle(trained, tmp_path):
    from midigen_tf.data.notes import get_notes, save_notes_pickle

    root, data, weights, _ = trained
    notes, _ = get_notes(data, cache_dir=root / "cache", progress=False)
    pickle_path = save_notes_pickle(notes, tmp_path / "data" / "notes")
    legacy = tmp_path / "legacy.hdf5"
    legacy.write_bytes((weights / "weights.hdf5").read_bytes())  # no bundle beside it
    r = run("generate", legacy, "--notes", pickle_path, "-n", 10, "-o", tmp_path / "l.mid", ok=False)
    # the legacy preset is the full seed-003 model: a tiny checkpoint does not fit it
    assert r.exit_code == 1 and "do not fit" in r.output
    assert (f"the model built from preset 'lstm' and --notes {pickle_path}; the vocabulary of "
            f"{pickle_path} has {len(set(notes))} entries") in r.output  # not "the bundle's"


def test_compare_prints_both_tables_and_says_what_it_compares(trained):
    _, data, weights, _ = trained
    out = run("compare", "seed003", "--weights-dir", weights).output
    assert "5.7543" in out and "| 1 |" in out and "| 16 |" in out
    n_vocab = json.loads((weights / "weights.json").read_text())["config"]["n_vocab"]
    first, second = out.splitlines()[:2]
    assert first.startswith("reference: seed 003 alternative model") and "39 MIDI files" in first
    assert second.startswith(f"ours: {weights}: preset lstm with dense_units=8, batch_size=16, "
                             "units=[8, 8, 8], sequence_length=8, epochs=2 (family lstm), "
                             f"corpus {data}, vocabulary {n_vocab} (from {weights / 'weights.json'})")


def _run_files(folder, history, config=None):
    """A training run's files as `compare` reads them: history.json and the bundle weights.json."""
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(json.dumps(history))
    if config is not None:
        (folder / "weights.json").write_text(json.dumps({
            "format": "midigen-bundle", "version": 1, "config": config, "vocab": None,
            "extra": {"data": "esac"}}))
    return folder


def test_compare_refuses_a_run_of_another_family(tmp_path):
    melody = _run_files(tmp_path / "melody", [{"epoch": 1, "loss": 0.98}, {"epoch": 2, "loss": 0.53}],
                        {"preset": "melody-lstm", "family": "folk-melody-lstm", "n_vocab": 38})
    r = run("compare", "seed003", "--weights-dir", melody, ok=False)
    assert r.exit_code == 1
    assert "'melody-lstm' run (family folk-melody-lstm)" in r.output and "lstm family" in r.output
    assert "not comparable" in r.output and "5.7543" not in r.output  # no table printed
    classic = _run_files(tmp_path / "classic", [{"epoch": 1, "loss": 5.1}],
                         {"preset": "lstm-alt", "family": "lstm", "n_vocab": 231})
    r = run("compare", "seed004", "--weights-dir", classic, ok=False)
    assert r.exit_code == 1 and "'lstm-alt' run (family lstm)" in r.output and "pianoroll family" in r.output
    out = run("compare", "seed003", "--weights-dir", classic).output
    assert "preset lstm-alt (family lstm), corpus esac, vocabulary 231" in out
    assert "| 1 | 5.7543 | 5.1000 |" in out


def test_compare_with_history_only_says_so(tmp_path):
    bare = _run_files(tmp_path / "bare", [{"epoch": 1, "loss": 0.05, "accuracy": 0.9,
                                           "false_positives": 3.0, "false_negatives": 4.0}])
    out = run("compare", "seed004", "--weights-dir", bare).output
    first, second = out.splitlines()[:2]
    assert first.startswith("reference: seed 004 piano-roll LSTM 512")
    assert second == (f"ours: {bare} (history only: no bundle {bare / 'weights.json'}: its model, "
                      "corpus and vocabulary are unknown)")
    assert "| 1 | 0.0535 / 0.0500 |" in out


def test_train_compare_with_another_family_is_refused_before_training(tmp_path):
    weights = tmp_path / "w"
    r = run("train", "--model", "melody-lstm", "--data", tmp_path / "nowhere", "--compare",
            "seed004", "--weights-dir", weights, ok=False)
    assert r.exit_code == 1 and "'melody-lstm' run (family folk-melody-lstm)" in r.output
    assert not weights.exists()  # nothing trained, nothing to lose


def test_default_corpus_is_built_when_midi_songs_is_empty(tmp_path, monkeypatch):
    from midigen_tf.data import corpus

    monkeypatch.setattr(corpus, "N_CHORALES", 2)
    monkeypatch.setattr(corpus, "KEYBOARD_PIECES", ())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "midi_songs").mkdir()
    said = []
    path = corpus.ensure_corpus("midi_songs", "midi_songs", progress=False, echo=said.append)
    assert said == ["midi_songs/ holds no MIDI: building the default corpus there (once)"]
    files = sorted(p.name for p in path.iterdir())
    assert len(files) == 2 and all(f.startswith("bach_bwv") and f.endswith(".mid") for f in files)
    from midigen_tf.data.notes import parse_midi_tokens

    assert len(parse_midi_tokens(path / files[0], "faithful")) > 20  # instrument on every part


def test_generate_from_the_resume_point_last_keras(trained, tmp_path):
    """``generate weights/last.keras``: the end-of-training model, its bundle found beside it.

    A one-epoch run of its own, so that ``weights.hdf5`` (the best epoch) is surely the same
    model as ``last.keras`` (the last epoch) whatever the losses come out as."""
    _, data, _, _ = trained
    weights = tmp_path / "one-epoch"
    run("train", "--data", data, "--epochs", 1, "--weights-dir", weights, "--no-cache",
        "--seed", 1, *TINY)
    outputs = {}
    for name in ("last.keras", "weights.hdf5"):
        out = tmp_path / f"{name}.mid"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = run("generate", weights / name, "-n", 12, "-o", out, "--seed", 5)
        assert f"wrote {out}" in r.output
        assert not [w for w in caught if "optimizer" in str(w.message)]  # no Keras chatter
        notes = [(n.pitch, round(n.start, 3)) for i in pretty_midi.PrettyMIDI(str(out)).instruments
                 for n in i.notes]
        assert len({start for _, start in notes}) == 12  # twelve events
        outputs[name] = sorted(notes)
    assert outputs["last.keras"] == outputs["weights.hdf5"]
