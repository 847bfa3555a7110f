"""The folk-melody suite (seed 001): encoding, filter, transposition, five families, scores, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from midigen_tf import registry
from midigen_tf.data import folk
from midigen_tf.errors import MidigenError
from midigen_tf.generate import generate_steps
from midigen_tf.pipelines import folk as pipeline
from midigen_tf.pipelines.base import DataSource, GenerateOptions

# Two ABC tunes in D major and E minor, and one with a triplet (an unacceptable duration).
ABC = """X:1
T:Up and down
M:2/4
L:1/8
K:D
DE FG | A2 z2 | AG FE | D4 |]

X:2
T:Minor walk
M:2/4
L:1/16
K:Em
E2F2 G2A2 | B4 z4 | B2A2 G2F2 | E8 |]

X:3
T:Triplet
M:2/4
L:1/8
K:C
(3CDE F2 | G4 |]
"""

TINY = {  # per preset: the smallest model of the same layout
    "gru-attention": dict(layers=1, units=4, attention_units=4, dense_units=[8, 4]),
    "vae": dict(hidden_units=[16, 8], latent_dim=2),
    "lstm-mha": dict(layers=1, units=4, conv_filters=8, heads=2, dense_units=8),
    "bilstm": dict(layers=1, units=4),
    "melody-lstm": dict(units=[8]),
}


@pytest.fixture
def folder(tmp_path, make_midi) -> Path:
    d = tmp_path / "tunes"
    d.mkdir()
    (d / "songs.abc").write_text(ABC, encoding="latin-1")
    make_midi(d / "midi" / "m.mid", n=24, seed=4, chords=False, step=0.5)
    return d


def source(data, tmp_path, split=0.0) -> DataSource:
    return DataSource(Path(str(data)), tmp_path / "cache", validation_split=split, jobs=1,
                      options={"progress": False})


def tiny_config(preset: str, **extra) -> dict:
    return registry.make_config(preset, {**TINY[preset], "sequence_length": 8, "batch_size": 8,
                                         "epochs": 1, **extra})


def test_encoding_round_trip_hand_made_melody():
    events = [(60, 1.0), (62, 0.5), (-1, 0.25), (64, 0.25), (65, 1.5)]
    symbols = folk.encode(events)
    assert " ".join(symbols) == "60 _ _ _ 62 _ r 64 65 _ _ _ _ _"
    assert folk.decode(symbols) == events
    assert folk.decode(symbols + ["/", "67"]) == events  # a delimiter ends the melody
    assert folk.decode(["_", "_", "60"]) == [(-1, 0.5), (60, 0.25)]
    assert folk.encode(events, time_step=0.5)[:3] == ["60", "_", "62"]


def test_corpus_mapping_and_seed_parsing():
    songs = [["60", "_"], ["r", "62"]]
    assert folk.corpus(songs, 3) == ["60", "_", "/", "/", "/", "r", "62", "/", "/", "/"]
    mapping = folk.make_mapping(["62", "60"])
    assert mapping == sorted(mapping) and {"/", "_", "r", "60", "62"} == set(mapping)
    assert folk.parse_symbols("60 _ r") == ["60", "_", "r"]
    with pytest.raises(MidigenError, match="unknown symbols"):
        folk.parse_symbols("60 C4 _")


def test_filter_reasons():
    ok = folk.Tune("c", "t", [(60, 1.0), (-1, 0.5)])
    assert folk.filter_reason(ok) == ""
    assert folk.filter_reason(folk.Tune("c", "t", [(60, 0.125)])) == "unacceptable durations"
    assert folk.filter_reason(folk.Tune("c", "t", [(-1, 1.0)])) == "no notes"
    assert folk.filter_reason(folk.Tune("c", "t", error="ABCError")) == "unreadable"
    assert folk.filter_reason(folk.Tune("c", "t", [(60, 0.125)]), acceptable=(0.125,)) == ""


def test_transposition_to_c_a_and_all_keys():
    d_major = folk.Tune("c", "t", [(62, 1.0)], tonic=2, mode="major")
    e_minor = folk.Tune("c", "t", [(64, 1.0)], tonic=4, mode="minor")
    assert folk.transpositions(d_major, "c-a") == [-2]  # D -> C
    assert folk.transpositions(e_minor, "c-a") == [5]  # E -> A, as Interval(E4, A4)
    assert folk.transpositions(d_major, "none") == [0]
    shifts = folk.transpositions(d_major, "all")
    assert sorted(s % 12 for s in shifts) == list(range(12)) and -2 in shifts
    assert folk.shifted([(62, 1.0), (-1, 0.5)], -2) == [(60, 1.0), (-1, 0.5)]
    with pytest.raises(MidigenError):
        folk.transpositions(d_major, "up")


def test_parse_folder_keys_and_report(folder):
    tunes = folk.parse_file(folder / "songs.abc")
    assert [t.title for t in tunes] == ["Up and down", "Minor walk", "Triplet"]
    assert (tunes[0].tonic, tunes[0].mode) == (2, "major")
    assert (tunes[1].tonic, tunes[1].mode) == (4, "minor")
    assert tunes[0].events[:2] == [(62, 0.5), (64, 0.5)]
    assert folk.filter_reason(tunes[2]) == "unacceptable durations"
    assert folk.parse_file(folder / "songs.abc", limit=1)[0].title == "Up and down"
    assert {p.name for p in folk.resolve_source(folder)} == {"songs.abc", "m.mid"}


def test_parsing_a_midi_tune_leaves_no_music21_pickle(tmp_path, make_midi):
    """music21 pickles a parsed file into its scratch folder unless told not to; two workers of
    a multi-worker run parsing one file raced on that pickle (CI saw them train on different
    data). Parsing must leave that folder as it was."""
    from music21 import environment

    scratch = Path(environment.Environment().getRootTempDir())
    before = set(scratch.iterdir())
    path = make_midi(tmp_path / "fresh" / "tune.mid", n=24, seed=9, chords=False, step=0.5)
    tunes = folk.parse_file(path)
    assert len(tunes) == 1 and not tunes[0].error and len(tunes[0].events) >= 24
    assert set(scratch.iterdir()) == before


def test_esac_source_names():
    files = folk.resolve_source("esac:kinder")
    assert [f.stem for f in files] == ["kinder0"]
    assert len(folk.resolve_source("esac")) == 20  # the eight German collections' files
    with pytest.raises(MidigenError, match="no ESAC collection"):
        folk.resolve_source("esac:atlantis")
    assert folk.count_tunes(files[0]) == 213


def test_prepare_report_split_and_cache(folder, tmp_path):
    config = tiny_config("melody-lstm", transpose="c-a")
    prepared = pipeline.prepare(config, source(folder, tmp_path, split=0.34))
    assert "songs: read 3, kept 2, dropped 1 (unacceptable durations: 1)" in prepared.report
    assert prepared.extra["songs_kept"] == 3 and prepared.extra["validation_songs"] == 1
    vocab = prepared.vocab
    assert prepared.config["n_vocab"] == len(vocab) and "/" in vocab
    x, y = (np.asarray(a) for a in next(iter(prepared.train)))
    assert x.shape == (8, 8, len(vocab)) and np.allclose(x.sum(-1), 1) and y.shape == (8,)
    ids = prepared.arrays[pipeline.TRAIN_IDS]
    assert x[0].argmax(-1).tolist() in [ids[i:i + 8].tolist() for i in range(len(ids) - 8)]
    again = pipeline.prepare(config, source(folder, tmp_path, split=0.34))
    assert "(2 from cache)" in again.report and again.vocab == vocab
    allkeys = pipeline.prepare({**config, "transpose": "all"}, source(folder, tmp_path))
    assert "transpose=all: 36 + 0 encoded melodies" in allkeys.report  # 3 songs x 12 keys


@pytest.mark.parametrize("preset", list(TINY))
@pytest.mark.slow
def test_family_contract(preset, folder, tmp_path):
    from midigen_tf.loading import load_for_generation
    from midigen_tf.train import train

    config = tiny_config(preset, transpose="none")
    result = train(config, source(folder, tmp_path), tmp_path / "w", verbose=0,
                   echo=lambda *a: None)  # no validation here (the CLI test has it): faster
    assert np.isfinite(result.history[0]["loss"])
    mapping = json.loads((tmp_path / "w" / "mapping.json").read_text())
    assert sorted(mapping, key=mapping.get) == result.prepared.vocab
    model, bundle, pipe = load_for_generation(tmp_path / "w" / "weights.hdf5")
    assert bundle.vocab == result.prepared.vocab
    for a, b in zip(model.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    out = pipe.generate(model, bundle, GenerateOptions(output=tmp_path / "g.mid", seed=0,
                                                       extra={"seed": "62 _ 64 _", "png": False}, n=6))
    assert [p.suffix for p in out] == [".mid", ".musicxml"]
    assert all(p.stat().st_size > 0 for p in out)
    back = folk.parse_file(out[0])[0]
    if preset == "vae":  # a variation decoded from z: it starts with a pitch
        assert back.events[0][0] >= 0
    else:  # a continuation: the MIDI starts with the seed, durations intact
        assert back.events[:2] == [(62, 0.5), (64, 0.5)]
    assert len([p for p, _ in back.events if p >= 0]) <= 2 + 6  # -n 6 steps after the seed


def test_generation_stops_at_delimiter_and_writes_score(tmp_path):
    """A fake model that always predicts ``/`` after the first note: one-note melody."""
    mapping = folk.make_mapping(["60", "62"])
    index = {s: i for i, s in enumerate(mapping)}

    def predict(x):
        probs = np.full((len(x), len(mapping)), 1e-3)
        last = x[:, -1].argmax(-1)
        probs[:, index["/"]] = np.where(last == index["/"], 1e-3, 1.0)
        probs[:, index["60"]] = np.where(last == index["/"], 1.0, 1e-3)
        return probs

    class SlidingEngine:  # the generation engine's contract: start / push -> (probs, memory)
        encode = staticmethod(pipeline.one_hot(len(mapping)))

        def start(self, windows):
            return predict(self.encode(windows)), windows

        def push(self, state, ids):
            return self.start(np.concatenate([state[1][:, 1:], ids[:, None]], axis=1))

    windows = np.full((2, 4), index["/"])
    pick = pipeline.MelodyPick(index, np.random.default_rng(0),
                               {"temperature": None, "top_k": None, "top_p": None}, False, 2)
    rows = generate_steps(SlidingEngine(), windows, 10, pick)
    assert pick.finished and rows.shape == (2, 2)  # the loop ends when every row has ended
    melodies = [folk.decode([mapping[i] for i in r]) for r in rows]
    assert melodies == [[(60, 0.25)], [(60, 0.25)]]
    files = pipeline.write_melody([(60, 1.0), (-1, 0.5), (67, 0.5)], tmp_path / "m.mid", png=True)
    assert [f.suffix for f in files] == [".mid", ".musicxml", ".png"]
    assert files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[1].stat().st_size > 500
    with pytest.raises(MidigenError, match="before its first note"):
        pipeline.write_melody([], tmp_path / "e.mid")


def test_cli_train_and_generate(folder, tmp_path):
    from click.testing import CliRunner

    from midigen_tf.cli import main

    runner = CliRunner()
    wd = tmp_path / "w"
    res = runner.invoke(main, ["train", "--model", "melody-lstm", "--data", str(folder),
                               "--set", "units=[4]", "--set", "sequence_length=8",
                               "--epochs", "1", "--batch-size", "16", "--jobs", "1",
                               "--weights-dir", str(wd), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert "kept 2, dropped 1" in res.output and (wd / "weights.hdf5").exists()
    out = tmp_path / "o.mid"
    res = runner.invoke(main, ["generate", str(wd / "weights.hdf5"), "-n", "16", "-o", str(out),
                               "-O", "png=false", "-O", "seed=62 _ 64 _", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".musicxml").exists()
    res = runner.invoke(main, ["generate", str(wd / "weights.hdf5"), "-o", str(out),
                               "-O", "seed=60 C4"])
    assert res.exit_code != 0 and "unknown symbols" in res.output
