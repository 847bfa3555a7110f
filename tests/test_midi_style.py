"""Issue 22, item 5: ``--bpm`` and ``--program`` on generation change the written MIDI, read
back here with pretty_midi and mido, for every MIDI writer: music21 (note/chord, folk),
pretty_midi (piano roll, pseudo-notes, MAESTRO note tables) and symusic (MidiTok). Without the
options the files are what they were: 120 bpm, piano, byte for byte. Tiny untrained models,
built as ``test_generate_cli`` builds them (nothing is trained)."""

from __future__ import annotations

import mido
import pretty_midi
import pytest
from click.testing import CliRunner

from conftest import melody_notes
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import MidiStyle, apply_style, program_number, write_notes
from test_generate_cli import _build

GEN = ["-n", "24", "--seed", "1", "--temperature", "1.0", "--kernel", "layers"]
VIOLIN = 40


def predict(*args: str):
    from midigen_tf.cli import friendly, generate_cmd

    return CliRunner().invoke(friendly(generate_cmd), [str(a) for a in args], prog_name="predict.py")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``models(preset) -> weights path``, each tiny model saved once (random weights)."""
    import keras

    root = tmp_path_factory.mktemp("styled")
    corpus = root / "songs"
    for i in range(3):
        write_notes(melody_notes(60, seed=i + 1), corpus / f"{i}.mid")
    cache = {}

    def get(preset: str):
        if preset not in cache:
            keras.utils.set_random_seed(0)
            cache[preset] = (_build_tokens(root, corpus) if preset == "lstm-tokens-tiny"
                             else _build(preset, root, corpus))
        return cache[preset]

    return get


def _build_tokens(root, corpus):
    """A MidiTok (REMI) model: the tokenizer and training ids from ``prepare`` on ``corpus``."""
    from midigen_tf import registry
    from midigen_tf.pipelines import tokens
    from midigen_tf.pipelines.base import DataSource
    from test_generate_cli import _save

    config = registry.make_config("lstm-tokens-tiny", {"units": [8], "dense_units": 8,
                                                       "embedding_dim": 4, "sequence_length": 8})
    prepared = tokens.prepare(config, DataSource(corpus, root / "cache", jobs=1,
                                                 options={"progress": False}))
    return _save(root / "lstm-tokens-tiny", prepared.config, prepared.vocab, prepared.extra,
                 prepared.arrays)


def tempos(path) -> list[float]:
    return [round(float(b), 3) for b in pretty_midi.PrettyMIDI(str(path)).get_tempo_changes()[1]]


def programs(path) -> set[int]:
    return {int(i.program) for i in pretty_midi.PrettyMIDI(str(path)).instruments if i.notes}


def notes_in_ticks(path) -> list[tuple]:
    """Every note event (absolute tick, pitch, velocity): what --bpm must not move."""
    out = []
    for track in mido.MidiFile(str(path)).tracks:
        tick = 0
        for m in track:
            tick += m.time
            if m.type in ("note_on", "note_off"):
                out.append((tick, m.type, m.note, m.velocity))
    return sorted(out)


# writer per family: music21 (lstm, melody-lstm), pretty_midi (pianoroll, seq2seq, maestro),
# symusic (MidiTok)
FAMILIES = [("lstm", []), ("melody-lstm", ["-O", "png=false"]), ("pianoroll-tiny", []),
            ("seq2seq-small", []), ("maestro-pitch", []), ("lstm-tokens-tiny", ["-n", "200"])]


@pytest.mark.parametrize("preset, extra", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_bpm_and_program_change_the_written_midi(models, tmp_path, preset, extra):
    weights = models(preset)
    plain, styled = tmp_path / "plain.mid", tmp_path / "styled.mid"
    result = predict(weights, "-o", plain, *GEN, *extra)
    assert result.exit_code == 0, result.output
    result = predict(weights, "-o", styled, *GEN, *extra, "--bpm", "90", "--program", str(VIOLIN))
    assert result.exit_code == 0, result.output

    assert tempos(plain) == [120.0] and programs(plain) == {0}  # as before: the report's
    assert tempos(styled) == [90.0] and programs(styled) == {VIOLIN}
    assert notes_in_ticks(styled) == notes_in_ticks(plain) != []  # same piece, same beats
    plain_end = pretty_midi.PrettyMIDI(str(plain)).get_end_time()
    assert pretty_midi.PrettyMIDI(str(styled)).get_end_time() == pytest.approx(plain_end * 120 / 90,
                                                                                rel=1e-3)


def test_a_program_name_and_bpm_alone(models, tmp_path):
    weights = models("lstm")
    result = predict(weights, "-o", tmp_path / "v.mid", *GEN, "--program", "Violin")
    assert result.exit_code == 0, result.output
    assert programs(tmp_path / "v.mid") == {VIOLIN} and tempos(tmp_path / "v.mid") == [120.0]
    assert pretty_midi.PrettyMIDI(str(tmp_path / "v.mid")).instruments[0].name == "Violin"
    result = predict(weights, "-o", tmp_path / "s.mid", *GEN, "--bpm", "60.5")
    assert result.exit_code == 0, result.output
    assert programs(tmp_path / "s.mid") == {0} and tempos(tmp_path / "s.mid") == [60.5]


def test_program_overrides_the_seq2seq_program_option(models, tmp_path):
    weights = models("seq2seq-small")
    for out, extra in (("o.mid", []), ("p.mid", ["--program", str(VIOLIN)])):
        result = predict(weights, "-o", tmp_path / out, *GEN, "-O", "program=5", *extra)
        assert result.exit_code == 0, result.output
    assert programs(tmp_path / "o.mid") == {5} and programs(tmp_path / "p.mid") == {VIOLIN}


def test_the_default_style_writes_the_same_bytes(tmp_path):
    from midigen_tf.data.notes import create_midi

    tokens = ["C4", "E4", "4.7.11", "G4", "0.4.7"]
    pairs = [(create_midi(tokens, tmp_path / "a.mid"),
              create_midi(tokens, tmp_path / "b.mid", style=MidiStyle())),
             (write_notes(melody_notes(20), tmp_path / "c.mid"),
              write_notes(melody_notes(20), tmp_path / "d.mid", style=MidiStyle()))]
    for before, after in pairs:
        assert before.read_bytes() == after.read_bytes()
    styled = create_midi(tokens, tmp_path / "e.mid", style=MidiStyle(bpm=120.0, program=0))
    assert tempos(styled) == [120.0] and programs(styled) == {0}


def test_missing_tempo_and_program_are_added_and_drums_left_alone(tmp_path):
    path = tmp_path / "bare.mid"
    midi = mido.MidiFile(type=1)
    melody = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, channel=2),
                             mido.Message("note_off", note=60, channel=2, time=480)])
    drums = mido.MidiTrack([mido.Message("program_change", program=5, channel=9),
                            mido.Message("note_on", note=36, velocity=90, channel=9),
                            mido.Message("note_off", note=36, channel=9, time=240)])
    midi.tracks += [melody, drums]
    midi.save(str(path))
    apply_style(path, MidiStyle(bpm=75, program=VIOLIN))
    back = mido.MidiFile(str(path))
    assert [m.tempo for t in back.tracks for m in t if m.type == "set_tempo"] == [800000]
    changes = [(m.channel, m.program) for t in back.tracks for m in t if m.type == "program_change"]
    assert sorted(changes) == [(2, VIOLIN), (9, 5)]
    assert notes_in_ticks(path) == [(0, "note_on", 36, 90), (0, "note_on", 60, 80),
                                    (240, "note_off", 36, 64), (480, "note_off", 60, 64)]


def test_later_tempo_changes_keep_their_ratio(tmp_path):
    path = tmp_path / "two.mid"
    midi = mido.MidiFile(type=0)
    midi.tracks.append(mido.MidiTrack([
        mido.MetaMessage("set_tempo", tempo=500000), mido.Message("note_on", note=60, velocity=80),
        mido.MetaMessage("set_tempo", tempo=250000, time=480),
        mido.Message("note_off", note=60, time=480)]))
    midi.save(str(path))
    apply_style(path, MidiStyle(bpm=60))
    assert [m.tempo for m in mido.MidiFile(str(path)).tracks[0] if m.type == "set_tempo"] == [
        1000000, 500000]


@pytest.mark.parametrize("args, words", [
    (["--program", "200"], ["--program", "200 must be 0-127"]),
    (["--program", "-1"], ["--program", "must be 0-127"]),
    (["--program", "kazoo"], ["--program", "'kazoo'", "General MIDI instrument name"]),
    (["--bpm", "0"], ["--bpm", "x>=4"]),
    (["--bpm", "fast"], ["--bpm", "fast"])])
def test_bad_values_are_click_errors(tmp_path, args, words):
    result = predict(tmp_path / "no-such-weights.hdf5", *args)
    assert result.exit_code == 2 and all(w in result.output for w in words), result.output


def test_program_names_and_the_style_checks():
    assert program_number("violin") == program_number("Violin") == program_number(" 40 ") == 40
    assert program_number("Acoustic Grand Piano") == 0 and program_number("127") == 127
    for bad in ("128", "-3", "kazoo", ""):
        with pytest.raises(ValueError):
            program_number(bad)
    for style in (dict(bpm=0), dict(bpm=3.5), dict(bpm=float("nan")), dict(program=128),
                  dict(program=-1), dict(program=True), dict(program=40.0)):
        with pytest.raises(MidigenError):
            MidiStyle(**style)
    assert MidiStyle().is_default and not MidiStyle(program=0).is_default
