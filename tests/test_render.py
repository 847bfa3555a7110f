"""Rendering: FluidSynth and the sine fallback, pictures and notation, generate --wav,
train --tensorboard and the loss curves written after training."""

from __future__ import annotations

import json
import shutil
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf.cli import main
from midigen_tf.errors import MidigenError
from midigen_tf.io import render
from midigen_tf.io.midi import read_notes

HAVE_FLUIDSYNTH = not render.fluidsynth_setup()[2]


def _wav_info(path):
    with wave.open(str(path), "rb") as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return w.getnchannels(), w.getframerate(), w.getnframes(), frames


def test_sine_engine_renders_the_notes_at_their_times(tmp_path, make_midi):
    midi = make_midi(tmp_path / "a.6.mid", n=12)
    done = render.render_wav(midi, engine="sine")
    assert done.path == tmp_path / "a.6.wav"  # the dot in the stem is kept
    assert done.engine == "sine" and "sine" in done.describe()
    channels, rate, frames, samples = _wav_info(done.path)
    end = float(read_notes(midi)["end"].max())
    assert channels == 1 and rate == render.SAMPLE_RATE
    assert abs(frames / rate - (end + 0.25)) < 0.05  # the table's length plus the tail
    assert np.abs(samples).max() > 30000  # peak-normalised, not silence


def test_auto_falls_back_to_sines_without_fluidsynth(tmp_path, make_midi, monkeypatch):
    midi = make_midi(tmp_path / "a.mid", n=8)
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    done = render.render_wav(midi, tmp_path / "out.wav")
    assert done.engine == "sine" and done.reason == "FluidSynth not installed"
    assert "FluidSynth not installed" in done.describe()
    with pytest.raises(MidigenError, match="FluidSynth not installed"):
        render.render_wav(midi, tmp_path / "x.wav", engine="fluidsynth")


def test_bad_inputs_are_explained(tmp_path, make_midi):
    with pytest.raises(MidigenError, match="does not exist"):
        render.render_wav(tmp_path / "missing.mid")
    with pytest.raises(MidigenError, match="soundfont"):
        render.find_soundfont(tmp_path / "none.sf2")
    with pytest.raises(MidigenError, match="unknown audio engine"):
        render.render_wav(make_midi(tmp_path / "a.mid"), engine="organ")
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    with pytest.raises(MidigenError, match="is not a MIDI file"):
        render.render_wav(junk, engine="sine")
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06garbage")  # a header, then nothing readable
    with pytest.raises(MidigenError, match="cannot read .*broken.mid as MIDI: ."):
        render.render_wav(broken, engine="sine")


@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="needs fluidsynth and a GM soundfont")
def test_fluidsynth_renders_with_the_soundfont(tmp_path, make_midi):
    midi = make_midi(tmp_path / "a.mid", n=16)
    done = render.render_wav(midi, tmp_path / "a.wav", engine="fluidsynth")
    assert done.engine == "fluidsynth" and done.soundfont.suffix == ".sf2"
    assert done.soundfont.name in done.describe()
    channels, rate, frames, samples = _wav_info(done.path)
    assert rate == render.SAMPLE_RATE and frames / rate > float(read_notes(midi)["end"].max())
    assert np.abs(samples).max() > 1000


def test_render_all_writes_audio_roll_and_notation(tmp_path, make_midi):
    midi = make_midi(tmp_path / "song.mid", n=16)
    done = render.render_all(midi, render.default_paths(midi, tmp_path / "out"), engine="sine")
    assert done.files["wav"] == tmp_path / "out" / "song.wav"
    assert done.files["roll"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<score-partwise" in done.files["musicxml"].read_bytes()
    # the engraved PNG (verovio + cairosvg + cairo, installed by .ci/run)
    assert "score" not in done.problems, done.problems.get("score")
    assert done.files["score"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert done.files["score"].stat().st_size > 1000
    with pytest.raises(MidigenError, match="unknown output kind"):
        render.render_all(midi, kinds=("mp4",))


def test_render_command(tmp_path, make_midi):
    a, b = make_midi(tmp_path / "a.mid", n=8), make_midi(tmp_path / "b.mid", n=8, seed=2)
    runner = CliRunner()
    result = runner.invoke(main, ["render", str(a), "--wav", str(tmp_path / "x.wav"), "--roll",
                                  "--engine", "sine"])
    assert result.exit_code == 0, result.output
    assert "numpy sine synthesiser" in result.output
    assert (tmp_path / "x.wav").exists() and (tmp_path / "a.png").exists()
    assert not (tmp_path / "a.musicxml").exists()  # only what was asked for
    result = runner.invoke(main, ["render", str(a), str(b), "--wav", str(tmp_path / "y.wav")])
    assert result.exit_code == 1 and "--out-dir" in result.output
    result = runner.invoke(main, ["render", str(a), str(b), "--wav", "--engine", "sine",
                                  "--out-dir", str(tmp_path / "many")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["a.wav", "b.wav"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny classic model trained for two epochs with --tensorboard and a validation split."""
    from conftest import melody_notes
    from midigen_tf.io.midi import write_notes

    base = tmp_path_factory.mktemp("run")
    for i in range(3):
        write_notes(melody_notes(40, seed=i), base / "songs" / f"s{i}.mid")
    result = CliRunner().invoke(main, [
        "train", "--data", str(base / "songs"), "--epochs", "2", "--set", "units=[8,8]",
        "--set", "sequence_length=8", "--set", "dense_units=8", "--validation-split", "0.2",
        "--weights-dir", str(base / "w"), "--no-cache", "--seed", "1",
        "--tensorboard", str(base / "tb")])
    assert result.exit_code == 0, result.output
    return base


@pytest.mark.slow
def test_training_writes_loss_curves_and_tensorboard_logs(tiny_run):
    history = json.loads((tiny_run / "w" / "history.json").read_text())
    assert len(history) == 2 and all("val_loss" in row for row in history)
    png = tiny_run / "w" / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tiny_run / "tb").iterdir()) == ["train", "validation"]
    assert any(p.name.startswith("events.out.tfevents") for p in (tiny_run / "tb" / "train").iterdir())


@pytest.mark.slow  # trains two epochs
@pytest.mark.skipif(not HAVE_FLUIDSYNTH, reason="needs fluidsynth and a GM soundfont")
def test_generate_wav_renders_every_piece(tiny_run):
    out = tiny_run / "gen" / "piece.mid"
    result = CliRunner().invoke(main, ["generate", str(tiny_run / "w" / "weights.hdf5"), "-n", "12",
                                       "-o", str(out), "--num-outputs", "2", "--wav", "--seed", "3"])
    assert result.exit_code == 0, result.output
    for i in (1, 2):
        wav = out.with_name(f"piece-{i}.wav")
        assert f"wrote {wav}" in result.output
        channels, rate, frames, _ = _wav_info(wav)
        assert frames > 0
    assert "FluidSynth with" in result.output and "numpy sine" not in result.output


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="checks FluidSynth failures")
def test_fluidsynth_failure_is_explained(tmp_path, make_midi, monkeypatch):
    midi = make_midi(tmp_path / "a.mid", n=8)
    fake = tmp_path / "broken.sf2"
    fake.write_bytes(b"RIFF0000sfbk")  # not a usable soundfont
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(fake))
    with pytest.raises(MidigenError, match="FluidSynth could not render"):
        render.render_wav(midi, tmp_path / "a.wav", engine="fluidsynth")
    assert not (tmp_path / "a.wav").exists()  # no half-written file left behind


def test_a_text_file_is_not_rendered_and_says_why(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("C4 E4 G4")
    for extra in ([], ["--wav", "--engine", "sine"]):
        r = CliRunner().invoke(main, ["render", str(text), "--out-dir", str(tmp_path / "out"),
                                      *extra])
        assert r.exit_code == 1, r.output
        assert f"{text} is not a MIDI file (it does not start with a MIDI header)" in r.output
        assert "--engine sine" not in r.output.split("fix:")[-1]


def test_an_error_without_a_message_is_named_by_its_kind():
    from midigen_tf.errors import MidigenError, reading

    with pytest.raises(MidigenError, match="cannot read x: EOFError$"):
        with reading("cannot read x"):
            raise EOFError()
