"""MidiTok pipeline: tokenizers from --set keys, symusic reading, repair/decoding, windows,
bundles, and a tiny lstm-remi trained and sampled end to end (tiny MIDI written in code)."""

from __future__ import annotations

import json
import os

import numpy as np
import pretty_midi
import pytest
import symusic
from click.testing import CliRunner

from midigen_tf import registry
from midigen_tf.bundle import load_bundle
from midigen_tf.cli import main
from midigen_tf.data import tokens as tl
from midigen_tf.errors import MidigenError
from midigen_tf.loading import load_for_generation
from midigen_tf.pipelines import tokens as tp
from midigen_tf.pipelines.base import DataSource

TINY = ["--set", "units=[16,16]", "--set", "sequence_length=16", "--set", "dense_units=16",
        "--set", "embedding_dim=8", "--set", "learning_rate=0.01", "--batch-size", "16"]


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_defaults_are_miditoks():
    from miditok import constants as c

    d = tl.TOKENIZER_DEFAULTS
    assert tl._beat_res(d["beat_res"]) == c.BEAT_RES
    assert (d["num_velocities"], d["use_chords"], d["use_tempos"], d["num_tempos"], d["use_rests"],
            d["use_time_signatures"]) == (c.NUM_VELOCITIES, c.USE_CHORDS, c.USE_TEMPOS,
                                          c.NUM_TEMPOS, c.USE_RESTS, c.USE_TIME_SIGNATURE)
    names = {k: registry.make_config(f"lstm-{k}")["tokenizer"] for k in ("remi", "tsd", "midilike")}
    assert names == {"remi": "remi", "tsd": "tsd", "midilike": "midilike"}


def test_set_keys_shape_the_tokenizer():
    remi = tl.make_tokenizer({"tokenizer": "remi"})
    assert type(remi).__name__ == "REMI" and "Bar_None" in remi.vocab
    assert type(tl.make_tokenizer({"tokenizer": "tsd"})).__name__ == "TSD"
    assert any(t.startswith("NoteOff_") for t in tl.make_tokenizer({"tokenizer": "midilike"}).vocab)
    fewer = tl.make_tokenizer({"tokenizer": "remi", "num_velocities": 8})
    assert sum(t.startswith("Velocity_") for t in fewer.vocab) == 8
    assert any(t.startswith("Chord_") for t in tl.make_tokenizer({"use_chords": True}).vocab)
    assert any(t.startswith("Tempo_") for t in tl.make_tokenizer({"use_tempos": True}).vocab)
    coarse = tl.make_tokenizer({"beat_res": {"0_4": 4}})
    positions = lambda tok: sum(t.startswith("Position_") for t in tok.vocab)  # noqa: E731
    assert 2 * positions(coarse) == positions(remi)  # 4 positions per beat instead of 8
    for bad, match in (({"tokenizer": "abc"}, "unknown tokenizer"),
                       ({"beat_res": 8}, "beat_res"), ({"num_velocities": 500}, "MidiTok refuses")):
        with pytest.raises(MidigenError, match=match):
            tl.make_tokenizer(bad)


@pytest.mark.parametrize("name", ["remi", "tsd", "midilike"])
def test_tokenizer_json_round_trip(name):
    tok = tl.make_tokenizer({"tokenizer": name, "num_velocities": 16, "use_chords": True})
    again = tl.tokenizer_from_json(json.loads(json.dumps(tl.tokenizer_to_json(tok))))
    assert tl.vocabulary(again) == tl.vocabulary(tok) and type(again) is type(tok)
    with pytest.raises(MidigenError, match="not one of"):
        tl.tokenizer_from_json({"tokenization": "Octuple"})


def _two_tracks_and_drums(path):
    pm = pretty_midi.PrettyMIDI()
    a, b = pretty_midi.Instrument(0), pretty_midi.Instrument(40)
    a.notes += [pretty_midi.Note(90, 60, 0.0, 1.0), pretty_midi.Note(70, 64, 1.0, 1.25)]
    b.notes += [pretty_midi.Note(50, 48, 0.0, 2.0)]
    kit = pretty_midi.Instrument(0, is_drum=True)
    kit.notes += [pretty_midi.Note(100, 36, 0.0, 0.1)]
    pm.instruments += [a, b, kit]
    pm.write(str(path))
    return path


@pytest.mark.parametrize("name", ["remi", "tsd", "midilike"])
def test_read_tokenize_decode_keeps_onsets_durations_velocities(tmp_path, name):
    path = _two_tracks_and_drums(tmp_path / "m.mid")
    score = tl.read_score(path)
    assert len(score.tracks) == 1 and sorted(n.pitch for n in score.tracks[0].notes) == [48, 60, 64]
    tok = tl.make_tokenizer({"tokenizer": name})
    ids = tl.tokenize_file(path, json.dumps(tl.tokenizer_to_json(tok)))
    decoded, fixed = tl.decode(tok, ids)
    assert fixed.dropped == 0
    notes = sorted((n.pitch, n.time, n.duration, n.velocity) for n in decoded.tracks[0].notes)
    tpq = decoded.ticks_per_quarter  # 120 bpm: 1 s = 2 quarters
    assert [(p, t / tpq, d / tpq) for p, t, d, _ in notes] == [(48, 0, 4), (60, 0, 2), (64, 2, 0.5)]
    velocities = [v for *_, v in notes]
    assert velocities[0] < velocities[2] < velocities[1]  # 50 < 70 < 90, binned


@pytest.mark.parametrize("name", ["remi", "tsd", "midilike"])
def test_repair_makes_random_tokens_valid_and_decodable(name):
    tok = tl.make_tokenizer({"tokenizer": name})
    ids = np.random.default_rng(0).integers(0, len(tok), 400)
    raw = [int(i) for i in ids if tl._kind(tl.vocabulary(tok)[i]) not in tl.SPECIAL]
    fixed = tl.repair(tok, ids)
    assert tok.tokens_errors([raw])[0] > 0.3 and fixed.dropped > 100
    kinds = [tl._kind(t) for t in fixed.tokens]
    assert all(b in tok.tokens_types_graph[a] for a, b in zip(kinds, kinds[1:]))  # no type error
    assert kinds[0] not in ("Velocity", "Duration") and not set(kinds) & set(tl.DRUMS)
    if name != "midilike":  # MidiTok's own check (MIDI-Like's also wants every note ended)
        assert tok.tokens_errors([[tok.vocab[t] for t in fixed.tokens]])[0] == 0
    score, _ = tl.decode(tok, ids)
    assert len(score.tracks) == 1 and len(score.tracks[0].notes) > 5
    assert tl.repair(tok, [len(tok) + 5]).reasons == {"id outside the vocabulary": 1}


def test_midilike_notes_never_turned_off_end_with_the_piece():
    tok = tl.make_tokenizer({"tokenizer": "midilike"})
    ids = [tok.vocab[t] for t in ("NoteOn_60", "Velocity_63", "TimeShift_1.0.8", "NoteOff_62",
                                  "NoteOn_64", "Velocity_63")]
    fixed = tl.repair(tok, ids)
    assert fixed.tokens == ["NoteOn_60", "Velocity_63", "TimeShift_1.0.8", "NoteOff_60"]
    assert fixed.reasons == {"NoteOff of a note not sounding": 1, "note begun at the very end": 2}
    score, _ = tl.decode(tok, ids)
    assert [(n.pitch, n.time, n.duration) for n in score.tracks[0].notes] == [(60, 0, score.ticks_per_quarter)]


def test_decode_explains_what_was_wrong(monkeypatch):
    tok = tl.make_tokenizer({"tokenizer": "remi"})
    specials = [tok.vocab["BOS_None"], tok.vocab["EOS_None"], tok.vocab["PAD_None"]]
    with pytest.raises(MidigenError, match="none of the 3 generated tokens.*special token"):
        tl.decode(tok, specials)
    bar_only = [tok.vocab["Bar_None"], tok.vocab["TimeSig_4/4"], tok.vocab["Position_3"]]
    with pytest.raises(MidigenError, match="hold no complete note.*Bar_None"):
        tl.decode(tok, bar_only)
    good = [tok.vocab[t] for t in ("Bar_None", "TimeSig_4/4", "Position_0", "Pitch_60",
                                   "Velocity_63", "Duration_1.0.8")]
    monkeypatch.setattr(type(tok), "decode", lambda self, *a, **k: (_ for _ in ()).throw(IndexError("boom")))
    with pytest.raises(MidigenError, match="could not decode the repaired sequence.*IndexError: boom"):
        tl.decode(tok, good)


def test_windows_are_ids_with_bos_eos_between_files(tiny_corpus, tmp_path):
    config = registry.make_config("lstm-remi", {"sequence_length": 8, "batch_size": 4})
    prepared = tp.prepare(config, DataSource(tiny_corpus, tmp_path / "cache", jobs=1,
                                             options={"progress": False}))
    ids = prepared.arrays[tp.TOKENS_ARRAY]
    tok = tl.make_tokenizer(config)
    assert prepared.config["n_vocab"] == len(tok) == len(prepared.vocab)
    assert (ids == tok.vocab["BOS_None"]).sum() == 3 == (ids == tok.vocab["EOS_None"]).sum()
    x, y = next(iter(prepared.train))
    assert x.dtype.name == "int32" and tuple(x.shape) == (4, 8)
    for row, target in zip(x.numpy(), y.numpy()):  # every window is a slice of ids, target next
        starts = [s for s in range(len(ids) - 8) if (ids[s:s + 8] == row).all() and ids[s + 8] == target]
        assert starts
    again = tp.prepare(config, DataSource(tiny_corpus, tmp_path / "cache", jobs=1,
                                          options={"progress": False}))
    assert "(3 from cache)" in again.report and (again.arrays[tp.TOKENS_ARRAY] == ids).all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import melody_notes
    from midigen_tf.io.midi import write_notes

    root = tmp_path_factory.mktemp("tokens")
    for i in range(3):
        write_notes(melody_notes(100, seed=i), root / "songs" / f"p{i}.mid")
    run("train", "--model", "lstm-remi", "--data", root / "songs", "--epochs", 1, "--weights-dir",
        root / "w", "--cache-dir", root / "cache", "--seed", 1, "--jobs", 1, *TINY)
    return root


def test_tiny_lstm_remi_generates_rhythm(trained, tmp_path):
    out = tmp_path / "gen.mid"
    result = run("generate", trained / "w" / "weights.hdf5", "--engine", "stateful",
                 "--num-outputs", 2, "--temperature", 1.0, "--seed", 3, "-n", 300, "-o", out)
    paths = [tmp_path / "gen-1.mid", tmp_path / "gen-2.mid"]
    assert all(f"wrote {p}" in result.output for p in paths)
    for path in paths:
        notes = symusic.Score(str(path)).tracks[0].notes
        assert len(notes) >= 5
        assert len({n.duration for n in notes}) >= 2 and len({n.time for n in notes}) >= 3


def test_bundle_round_trip_and_mismatches(trained, tmp_path, make_midi):
    weights = trained / "w" / "weights.hdf5"
    bundle = load_bundle(weights)
    assert bundle.config["family"] == "lstm-tokens" and bundle.extra["tokenizer"]["tokenization"] == "REMI"
    model, loaded, pipeline = load_for_generation(weights)
    assert pipeline is tp.PIPELINE and tl.vocabulary(tp.bundle_tokenizer(loaded)) == bundle.vocab
    primer = make_midi(tmp_path / "primer.mid", n=12)
    run("generate", weights, "--primer", primer, "--temperature", 1.0, "--seed", 0, "-n", 120,
        "-o", tmp_path / "p.mid")
    assert len(symusic.Score(str(tmp_path / "p.mid")).tracks[0].notes) > 0

    moved = tmp_path / "moved"  # weights and bundle without the training ids nor the corpus
    moved.mkdir()
    (moved / "weights.hdf5").write_bytes(weights.read_bytes())
    (moved / "weights.json").write_text(bundle.path.read_text())
    run("generate", moved / "weights.hdf5", "--temperature", 1.0, "-n", 120, "-o", moved / "m.mid")

    data = json.loads(bundle.path.read_text())
    data["extra"]["tokenizer"]["config"]["num_velocities"] = 8  # another tokenizer, same weights
    (moved / "weights.json").write_text(json.dumps(data))
    result = run("generate", moved / "weights.hdf5", "-o", moved / "x.mid", ok=False)
    assert result.exit_code == 1 and "the tokenizer rebuilt from" in result.output
    data = json.loads(bundle.path.read_text())
    data["config"]["n_vocab"] += 1  # weights no longer fit the model the bundle describes
    (moved / "weights.json").write_text(json.dumps(data))
    result = run("generate", moved / "weights.hdf5", "-o", moved / "y.mid", ok=False)
    assert result.exit_code == 1 and "do not fit" in result.output
    assert not os.path.exists(moved / "x.mid") and not os.path.exists(moved / "y.mid")


def test_training_saves_the_tokenizer_as_miditoks_own_json(trained):
    """``tokenizer.json`` beside the bundle is MidiTok's own file: MidiTok alone (its class's
    ``params``, or ``from_pretrained`` on the folder) loads it, with the bundle's vocabulary, and
    encodes a training piece to exactly the ids the model was trained on."""
    import miditok

    folder = trained / "w"
    assert (folder / tp.TOKENIZER_FILE).is_file()
    bundle = load_bundle(folder / "weights.hdf5")
    by_params = miditok.REMI(params=folder / tp.TOKENIZER_FILE)
    by_folder = miditok.REMI.from_pretrained(folder)  # MidiTok's default file name in a folder
    assert tl.vocabulary(by_params) == tl.vocabulary(by_folder) == bundle.vocab
    made = tl.make_tokenizer(bundle.config)  # the tokenizer training built from the config
    assert tl.tokenizer_to_json(by_params)["config"] == tl.tokenizer_to_json(made)["config"]
    trained_ids = np.load(folder / f"{tp.TOKENS_ARRAY}.npy")  # BOS p0 EOS BOS p1 EOS ...
    bos, eos = by_params.vocab["BOS_None"], by_params.vocab["EOS_None"]
    first = trained_ids[1:list(trained_ids).index(eos)]
    assert trained_ids[0] == bos and len(first) > 50
    encoded = by_params.encode(symusic.Score(str(trained / "songs" / "p0.mid")))
    ids = (encoded[0] if isinstance(encoded, list) else encoded).ids
    np.testing.assert_array_equal(ids, first)


def test_embedding_model_runs_every_engine_with_the_same_windowed_tokens():
    """The pipelined windowed engine (ids tiled before the Embedding) gives the tokens of a
    fresh model pass per window; stateful agrees on the first token."""
    from midigen_tf.generate import Engine, generate_tokens

    config = registry.make_config("lstm-tokens-tiny", {"n_vocab": 40, "sequence_length": 6})
    model = registry.build_model(config)
    rng = np.random.default_rng(1)
    for layer in ("embedding", "logits"):  # large weights: the chosen token depends on the window
        weights = model.get_layer(layer).weights[0]
        weights.assign(rng.normal(0, 3, weights.shape))
    windows = np.random.default_rng(0).integers(0, 40, (3, 6))
    runs = {name: generate_tokens(model, windows, 12, tp.id_encoding, engine=engine,
                                  runner=Engine(model, tp.id_encoding, engine, pipelined=pipelined))
            for name, engine, pipelined in (("pipelined", "windowed", True),
                                            ("full", "windowed", False),
                                            ("stateful", "stateful", None))}
    assert runs["pipelined"].shape == (3, 12) and len(np.unique(runs["full"])) > 3
    np.testing.assert_array_equal(runs["pipelined"], runs["full"])
    np.testing.assert_array_equal(runs["stateful"][:, 0], runs["full"][:, 0])
