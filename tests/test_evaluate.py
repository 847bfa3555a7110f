"""Evaluation metrics on hand-made pieces, and the report end to end."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf import evaluate as ev
from midigen_tf.cli import main
from midigen_tf.errors import MidigenError
from midigen_tf.evaluate_report import evaluate, markdown_table, write_report
from midigen_tf.io.midi import note_table, write_notes


def test_entropy_and_scale_consistency():
    assert ev.entropy([1, 1, 1, 1]) == pytest.approx(2.0)
    assert ev.entropy([0, 5, 0]) == 0.0 and ev.entropy([0, 0]) == 0.0
    c_major = np.array([60, 62, 64, 65, 67, 69, 71, 72])
    assert ev.scale_consistency(c_major) == 1.0
    assert ev.scale_consistency(np.arange(60, 72)) == pytest.approx(7 / 12)
    assert ev.scale_consistency(c_major + 3) == 1.0  # E-flat major is one of the 24
    assert math.isnan(ev.scale_consistency(np.array([])))


def test_polyphony_counts_sounding_time_only():
    # 0-2 one note, 1-2 a second: 2 s sounding, mean (1 * 1 + 2 * 1) / 2, two notes half the time
    assert ev.polyphony(np.array([0.0, 1.0]), np.array([2.0, 2.0])) == pytest.approx((1.5, 0.5))
    # silence between notes does not count; a note ending where the next starts is not overlap
    assert ev.polyphony(np.array([0.0, 1.0, 5.0]), np.array([1.0, 2.0, 6.0])) == pytest.approx((1.0, 0.0))


def test_beats_follow_the_tempo_map_and_empty_beats():
    beats = np.array([0.0, 0.5, 1.0, 2.0])  # tempo halves after beat 2
    assert ev.to_beats(np.array([0.25, 1.5, 3.0]), beats) == pytest.approx([0.5, 2.5, 4.0])
    beats = np.arange(0, 4, 0.5)  # 120 bpm
    # notes in beat 0 and beat 3: beats 1 and 2 are empty
    assert ev.empty_beat_rate(np.array([0.0, 1.5]), np.array([0.5, 2.0]), beats) == pytest.approx(0.5)
    assert ev.empty_beat_rate(np.array([0.0]), np.array([2.0]), beats) == 0.0


def test_event_tokens_and_repetition():
    notes = note_table([60, 64, 67, 62, 62], [80] * 5, [0, 0, 0, 0.5, 1.0], [0.5, 0.5, 0.5, 1, 1.5])
    assert ev.event_tokens(notes) == ["60.64.67", "62", "62"]
    rate, longest = ev.repetition(np.array([1, 1, 1, 2, 3, 3]))
    assert rate == pytest.approx(3 / 5) and longest == 3
    assert ev.repetition(np.array([4, 5, 6])) == (0.0, 1)


def test_ngram_index_finds_the_longest_copy():
    index = ev.NgramIndex([np.arange(20), np.array([7, 7, 7])])
    assert index.longest_shared(np.array([50, 9, 10, 11, 12, 99])) == 4
    assert index.longest_shared(np.array([50, 51])) == 0
    assert index.longest_shared(np.array([3, 4, 5, 6, 7, 7, 7])) == 5  # 3..7 from one, 7 7 7 the other
    assert index.share_found(np.array([0, 1, 2, 50, 3, 4, 5]), n=3) == pytest.approx(2 / 5)
    assert math.isnan(index.share_found(np.array([1, 2]), n=8))  # no 8-gram in a short piece
    # n-grams never span two reference pieces
    assert ev.NgramIndex([np.array([1, 2]), np.array([3, 4])]).longest_shared(np.array([2, 3])) == 1


def _corpus(folder, make_midi, n=4):
    return [make_midi(folder / f"p{i}.mid", n=30, seed=i) for i in range(n)]


def test_evaluate_report_end_to_end(tmp_path, make_midi):
    files = _corpus(tmp_path / "corpus", make_midi)
    gen = tmp_path / "gen"
    gen.mkdir()
    shutil.copy(files[0], gen / "copy.mid")  # a "generated" piece that copies the corpus
    write_notes(note_table([60] * 20, [80] * 20, np.arange(20) * 0.5, np.arange(20) * 0.5 + 0.4),
                gen / "stuck.mid")  # one note repeated, the argmax complaint
    result = evaluate({"gen": sorted(gen.iterdir())}, tmp_path / "corpus", held_out_every=2,
                      cache_dir=None, jobs=1, progress=False)
    groups = {g.label: g for g in result.groups}
    assert [g.role for g in result.groups] == ["generated", "training", "held-out"]
    assert [p.name for p in groups["held-out"].pieces] == ["p1.mid", "p3.mid"]
    copy, stuck = groups["gen"].metrics
    assert copy["longest_copy"] == copy["n_tokens"] and copy["copied_8gram_share"] == 1.0
    assert stuck["repetition_rate"] == 1.0 and stuck["longest_repeat"] == 20
    assert stuck["pitch_range"] == 0 and stuck["n_pitch_classes_used"] == 1
    held = groups["held-out"].metrics[0]
    assert held["longest_copy"] < held["n_tokens"]  # different pieces, measured against training
    assert math.isnan(groups["training"].metrics[0]["longest_copy"])

    table = markdown_table(result)
    assert table.splitlines()[0] == "| metric | gen (2) | training (2) | held-out (2) |"
    assert "| repetition rate |" in table
    paths = write_report(result, tmp_path / "report")
    data = json.loads(paths["json"].read_text())  # valid JSON: NaN became null
    assert data["groups"][0]["per_piece"][1]["name"] == "stuck.mid"
    assert data["groups"][1]["summary"]["longest_copy"]["mean"] is None
    assert sum(data["groups"][0]["pitch_class_histogram"]) == pytest.approx(1.0)
    assert paths["histogram"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classic_tokens_see_the_copy_too(tmp_path, make_midi):
    files = _corpus(tmp_path / "corpus", make_midi, n=2)
    result = evaluate({"gen": [files[0]]}, tmp_path / "corpus", held_out_every=2,
                      tokens="classic", cache_dir=None, jobs=1, progress=False)
    piece, metrics = result.groups[0].pieces[0], result.groups[0].metrics[0]
    assert any("." in t for t in piece.tokens)  # chords as normal-order pitch classes
    assert metrics["longest_copy"] == len(piece.tokens)


def test_evaluate_errors(tmp_path, make_midi):
    _corpus(tmp_path / "corpus", make_midi, n=3)
    with pytest.raises(MidigenError, match="does not exist"):
        evaluate({"g": []}, tmp_path / "nowhere")
    with pytest.raises(MidigenError, match="too few"):
        evaluate({"g": [tmp_path / "corpus" / "p0.mid"]}, tmp_path / "corpus", held_out_every=5,
                 cache_dir=None, progress=False)
    with pytest.raises(MidigenError, match="unknown token mode"):
        evaluate({}, tmp_path / "corpus", tokens="bytes")


def test_evaluate_command(tmp_path, make_midi):
    files = _corpus(tmp_path / "corpus", make_midi)
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", f"argmax={files[0]}", f"t1.0={files[1]}",
                                  "--corpus", str(tmp_path / "corpus"), "--held-out-every", "2",
                                  "-o", str(tmp_path / "out"), "--no-cache", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "| metric | argmax (1) | t1.0 (1) | training (2) | held-out (2) |" in result.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "evaluation.md", "evaluation.json", "pitch_classes.png", "rhythm.png"}
    result = runner.invoke(main, ["evaluate", str(tmp_path / "none"), "--corpus", str(tmp_path / "corpus")])
    assert result.exit_code == 1 and "does not exist" in result.output
