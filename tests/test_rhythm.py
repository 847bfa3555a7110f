"""Rhythm metrics (MusPy's groove consistency; Yang & Lerch's note-length and IOI histograms)
on small hand-made pieces whose values are known, and in ``midigen evaluate``."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from midigen_tf import evaluate as ev
from midigen_tf.evaluate_report import evaluate, markdown_table, write_report
from midigen_tf.io.midi import note_table, write_notes


def classes(counts) -> dict[str, int]:
    """Non-zero histogram classes as {note value: count} (note values as fractions)."""
    from fractions import Fraction

    return {str(Fraction(v).limit_denominator(12)): int(c)
            for v, c in zip(ev.NOTE_VALUES, counts) if c}


def test_note_value_and_ioi_histograms():
    assert classes(ev.note_value_histogram([0.5, 0.5, 1, 4, 10, 0.01, 0.3])) == {
        "1/8": 1, "1/3": 1, "1/2": 2, "1": 1, "4": 2}  # 10 -> 4, 0.01 -> 1/8, 0.3 -> 1/3
    # a chord (three notes at 0) is one onset: intervals 1/2, 1/2, 1
    assert classes(ev.ioi_histogram([0, 0, 0, 0.5, 1, 2])) == {"1/2": 2, "1": 1}
    assert classes(ev.ioi_histogram([0, 1 / 3, 2 / 3, 1])) == {"1/3": 3}  # triplets on the grid


def test_histogram_distance():
    assert ev.histogram_distance([2, 2, 0], [1, 1, 0]) == 0.0
    assert ev.histogram_distance([1, 0], [0, 3]) == 1.0
    assert ev.histogram_distance([1, 1, 0], [0, 1, 1]) == pytest.approx(0.5)
    assert math.isnan(ev.histogram_distance([0, 0], [1, 0]))


def rhythm(starts, durations, downbeats=()):
    starts = np.asarray(starts, dtype=float)
    return ev.rhythm_metrics(starts, starts + np.asarray(durations, dtype=float),
                             np.asarray(downbeats, dtype=float))


def test_steady_four_four():
    r = rhythm(np.arange(8), [1] * 8)  # crotchets, two bars of 4/4 (no time signature: 4/4)
    assert r == {"groove_consistency": 1.0, "onsets_per_bar": 4.0, "on_beat_rate": 1.0,
                 "mean_ioi": 1.0, "duration_entropy": 0.0}


def test_groove_counts_differing_grid_steps():
    # bar 1: beats 0 1 2 3; bar 2: 0 and 1/2: steps 1, 2, 3 and 1/2 differ, 4 of 96
    r = rhythm([0, 1, 2, 3, 4, 4.5], [0.5, 0.5, 1, 1, 0.5, 0.5])
    assert r["groove_consistency"] == pytest.approx(1 - 4 / 96)
    assert r["onsets_per_bar"] == 3.0 and r["on_beat_rate"] == pytest.approx(5 / 6)
    assert r["duration_entropy"] == pytest.approx(-(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3)))
    # an empty bar between two equal bars: two neighbours differ in all 4 onsets
    r = rhythm([0, 1, 2, 3, 8, 9, 10, 11], [1] * 8)
    assert r["groove_consistency"] == pytest.approx(1 - 4 / 96) and r["onsets_per_bar"] == 8 / 3


def test_offbeats_and_three_four():
    r = rhythm(np.arange(8) * 0.5, [0.5] * 8)  # the classic encoding: an event every half beat
    assert r["on_beat_rate"] == 0.5 and r["mean_ioi"] == 0.5 and r["onsets_per_bar"] == 8.0
    r = rhythm(np.arange(6), [1] * 6, downbeats=[0, 3])  # 3/4: bars of three beats
    assert r["onsets_per_bar"] == 3.0 and r["groove_consistency"] == 1.0
    assert math.isnan(rhythm([], [])["groove_consistency"])
    assert math.isnan(rhythm([0, 1], [1, 1])["groove_consistency"])  # one bar: no neighbours


def test_a_downbeat_given_twice_is_one_bar_line():
    """music21 writes the time signature into every part: the tempo map then lists each
    downbeat once per part. Bars are counted once, with no zero-length bar (no 0/0 warning)."""
    once = rhythm(np.arange(16) * 0.5, [0.5] * 16, downbeats=[0, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        twice = rhythm(np.arange(16) * 0.5, [0.5] * 16, downbeats=[0, 0, 4, 4])
    assert twice == once and once["onsets_per_bar"] == 8.0


def test_rhythm_in_the_evaluation_report(tmp_path, make_midi):
    for i in range(4):
        make_midi(tmp_path / "corpus" / f"p{i}.mid", n=32, seed=i)
    gen = tmp_path / "gen"
    # same rhythm as the corpus (an onset every 0.25 s = half a beat at 120 bpm), other pitches
    same = make_midi(gen / "same.mid", n=32, seed=9)
    slow = np.arange(16) * 0.5  # an onset every beat: intervals the corpus never has
    write_notes(note_table([60] * 16, [80] * 16, slow, slow + 0.5), gen / "slow.mid")
    result = evaluate({"gen": [same, gen / "slow.mid"]}, tmp_path / "corpus", held_out_every=2,
                      cache_dir=None, jobs=1, progress=False)
    groups = {g.label: g for g in result.groups}
    same_m, slow_m = groups["gen"].metrics
    assert same_m["ioi_distance"] == 0.0 and slow_m["ioi_distance"] == 1.0
    assert same_m["mean_ioi"] == 0.5 and slow_m["mean_ioi"] == 1.0
    assert slow_m["on_beat_rate"] == 1.0 and same_m["on_beat_rate"] == 0.5
    assert slow_m["onsets_per_bar"] == 4.0 and slow_m["groove_consistency"] == 1.0
    assert slow_m["duration_entropy"] == 0.0 and same_m["duration_entropy"] > 0.5  # 1 or 2 steps
    assert groups["held-out"].metrics[0]["ioi_distance"] == 0.0
    assert math.isnan(groups["training"].metrics[0]["ioi_distance"])
    table = markdown_table(result)
    assert "| IOI histogram distance to training | 0.5 |" in table and "| groove consistency |" in table
    paths = write_report(result, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    gen_hist = dict(zip(data["note_values"], data["groups"][0]["ioi_histogram"]))
    assert gen_hist[0.5] == pytest.approx(31 / 46) and gen_hist[1.0] == pytest.approx(15 / 46)
    assert paths["rhythm"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
