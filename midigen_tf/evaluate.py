"""Objective metrics of one piece, in the style of MusPy's definitions, plus repetition and copying.

A piece is a note table (``io/midi.py``), its beat times in seconds (from the MIDI tempo map)
and a token sequence. Pitch metrics follow MusPy (Dong et al., 2020):

* ``pitch_range``: highest minus lowest pitch; ``n_pitches_used`` / ``n_pitch_classes_used``;
* ``pitch_entropy`` / ``pitch_class_entropy``: Shannon entropy (bits) of the note histogram;
* ``scale_consistency``: the largest share of notes inside one major or minor scale (24 tried);
* ``polyphony``: mean number of sounding notes while at least one sounds; ``polyphony_rate``:
  share of that time with more than one note (computed exactly from note times, no grid);
* ``empty_beat_rate``: share of beats in which no note sounds.

What users of the classic scripts suffer from is measured on tokens:

* ``repetition_rate``: share of steps whose token equals the previous one; ``longest_repeat``:
  the longest run of one token (1 = no immediate repetition);
* ``longest_copy``: the longest token n-gram also found in one reference piece;
  ``copied_8gram_share``: share of the piece's 8-grams found in the reference.

Rhythm metrics work on beat positions (the MIDI tempo map; onsets on a grid of ``RESOLUTION``
steps per beat, MusPy's default resolution) and bars (the MIDI time signatures):

* ``groove_consistency`` (MusPy, after Wu & Yang 2020): 1 minus the mean Hamming distance,
  per grid step, between the onset vectors of neighbouring bars;
* ``onsets_per_bar``: distinct onsets per bar, empty bars included; ``on_beat_rate``: share of
  distinct onsets on a beat; ``mean_ioi``: mean inter-onset interval in beats;
* ``duration_entropy``: entropy (bits) of the note-length histogram over ``NOTE_VALUES``, the
  note-length histogram of Yang & Lerch (2020);
* ``ioi_distance``: 1 minus the overlapping area (Yang & Lerch 2020) of the piece's
  inter-onset-interval histogram over ``NOTE_VALUES`` and a reference's (0 = same rhythms).

Tokens are either ``events`` (the sorted pitches starting together: works for any family) or
``classic`` (seed 003's note/chord tokens, so a classic model's copying is seen as such).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

METRICS = (  # key, label, lower-is-better note for the docs
    ("pitch_range", "pitch range (semitones)"),
    ("n_pitches_used", "pitches used"),
    ("n_pitch_classes_used", "pitch classes used"),
    ("pitch_entropy", "pitch entropy (bits)"),
    ("pitch_class_entropy", "pitch-class entropy (bits)"),
    ("scale_consistency", "scale consistency"),
    ("polyphony", "polyphony (notes)"),
    ("polyphony_rate", "polyphony rate"),
    ("empty_beat_rate", "empty-beat rate"),
    ("mean_ioi", "mean inter-onset interval (beats)"),
    ("ioi_distance", "IOI histogram distance to training"),
    ("duration_entropy", "note-duration entropy (bits)"),
    ("groove_consistency", "groove consistency"),
    ("onsets_per_bar", "onsets per bar"),
    ("on_beat_rate", "onsets on the beat"),
    ("repetition_rate", "repetition rate"),
    ("longest_repeat", "longest repeat (tokens)"),
    ("longest_copy", "longest copied n-gram (tokens)"),
    ("copied_8gram_share", "8-grams found in reference"),
    ("n_notes", "notes"),
    ("n_tokens", "tokens"),
)
COPY_N = 8
MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
RESOLUTION = 24  # grid steps per beat
NOTE_VALUES = np.array([1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4])  # beats


def entropy(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram (0 for an empty one)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0  # never -0.0


def scale_consistency(pitches: np.ndarray) -> float:
    """The largest share of notes whose pitch class lies in one of the 24 major/minor scales."""
    if len(pitches) == 0:
        return math.nan
    hist = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12)
    best = max(hist[(scale + root) % 12].sum() for root in range(12) for scale in (MAJOR, MINOR))
    return float(best / hist.sum())


def polyphony(start: np.ndarray, end: np.ndarray) -> tuple[float, float]:
    """``(mean notes sounding while any sounds, share of that time with two or more)``."""
    if len(start) == 0:
        return math.nan, math.nan
    times = np.concatenate([start, end]).astype(np.float64)
    deltas = np.concatenate([np.ones(len(start)), -np.ones(len(end))])
    order = np.lexsort((deltas, times))  # at equal times, ends (-1) before starts (+1)
    times, count = times[order], np.cumsum(deltas[order])
    span = np.diff(times)  # count[i] notes sound between times[i] and times[i + 1]
    sounding = count[:-1] > 0
    busy = span[sounding].sum()
    if busy <= 0:
        return math.nan, math.nan
    mean = float((span * count[:-1])[sounding].sum() / busy)
    return mean, float(span[count[:-1] > 1].sum() / busy)


def to_beats(seconds: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Seconds to beat positions along the tempo map ``beats`` (beat onset times in seconds),
    extrapolated past the last beat at the last beat's length."""
    seconds = np.asarray(seconds, dtype=np.float64)
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2:
        return seconds / 0.5  # no tempo map: 120 bpm, MIDI's default
    pos = np.interp(seconds, beats, np.arange(len(beats)))
    last = beats[-1] - beats[-2]
    after = seconds > beats[-1]
    pos[after] = len(beats) - 1 + (seconds[after] - beats[-1]) / last
    before = seconds < beats[0]
    pos[before] = (seconds[before] - beats[0]) / (beats[1] - beats[0])
    return pos


def empty_beat_rate(start: np.ndarray, end: np.ndarray, beats: np.ndarray) -> float:
    """Share of beats (from 0 to the last note's end) in which no note sounds (MusPy)."""
    if len(start) == 0:
        return math.nan
    s, e = to_beats(start, beats), to_beats(end, beats)
    n_beats = max(1, int(math.ceil(e.max() - 1e-9)))
    empty = np.ones(n_beats, dtype=bool)
    for a, b in zip(np.floor(s + 1e-9).astype(int), np.ceil(e - 1e-9).astype(int)):
        empty[max(a, 0):max(b, a + 1)] = False
    return float(empty.mean())


def note_value_histogram(beats: np.ndarray) -> np.ndarray:
    """Counts of lengths (in beats) per class of ``NOTE_VALUES``, each length to the nearest
    class on a log scale (longer than 4 beats: 4; shorter than 1/8: 1/8)."""
    beats = np.asarray(beats, dtype=np.float64)
    beats = beats[beats > 0]
    nearest = np.abs(np.log2(beats)[:, None] - np.log2(NOTE_VALUES)[None, :]).argmin(axis=1)
    return np.bincount(nearest, minlength=len(NOTE_VALUES)).astype(np.float64)


def onset_steps(start_beats: np.ndarray) -> np.ndarray:
    """Distinct onsets on the grid of ``RESOLUTION`` steps per beat, sorted."""
    return np.unique(np.round(np.asarray(start_beats, dtype=np.float64) * RESOLUTION).astype(np.int64))


def ioi_histogram(start_beats: np.ndarray) -> np.ndarray:
    """Counts of inter-onset intervals (between distinct onsets) per class of ``NOTE_VALUES``."""
    return note_value_histogram(np.diff(onset_steps(start_beats)) / RESOLUTION)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 minus the overlapping area of two histograms, each normalised to sum 1 (0 = equal,
    1 = disjoint); NaN when either is empty."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.sum() <= 0 or b.sum() <= 0:
        return math.nan
    return float(1.0 - np.minimum(a / a.sum(), b / b.sum()).sum())


def bar_lines(downbeat_beats: np.ndarray, last: float) -> np.ndarray:
    """Bar start positions (beats) from the time signatures' downbeats, extended past the last
    one at its bar length up to beat ``last``; 4/4 from beat 0 without downbeats."""
    bars = np.unique(np.asarray(downbeat_beats, dtype=np.float64))  # one per part: count once
    if len(bars) == 0 or bars[0] > 0:
        bars = np.concatenate([[0.0], bars])
    step = bars[-1] - bars[-2] if len(bars) > 1 else 4.0
    extra = np.arange(1, max(0, int(math.ceil((last - bars[-1]) / step))) + 2) * step + bars[-1]
    return np.concatenate([bars, extra])


def rhythm_metrics(start_beats: np.ndarray, end_beats: np.ndarray,
                   downbeat_beats: np.ndarray) -> dict[str, float]:
    """Groove consistency, onsets per bar, on-beat rate, mean IOI and note-duration entropy."""
    steps = onset_steps(start_beats)
    if len(steps) == 0:
        return dict.fromkeys(("groove_consistency", "onsets_per_bar", "on_beat_rate", "mean_ioi",
                              "duration_entropy"), math.nan)
    bars = np.round(bar_lines(downbeat_beats, steps[-1] / RESOLUTION) * RESOLUTION).astype(np.int64)
    which = np.maximum(np.searchsorted(bars, steps, side="right") - 1, 0)
    used = bars[:which.max() + 2]  # bars from the first to the one of the last onset
    patterns = []
    for i in range(len(used) - 1):
        row = np.zeros(used[i + 1] - used[i], dtype=bool)
        row[steps[which == i] - used[i]] = True
        patterns.append(row)
    distances = []
    for a, b in zip(patterns, patterns[1:]):
        n = max(len(a), len(b))  # bars of unequal length: the shorter padded with silence
        distances.append(np.count_nonzero(np.pad(a, (0, n - len(a))) != np.pad(b, (0, n - len(b)))) / n)
    durations = np.asarray(end_beats, dtype=np.float64) - np.asarray(start_beats, dtype=np.float64)
    return {"groove_consistency": 1.0 - float(np.mean(distances)) if distances else math.nan,
            "onsets_per_bar": len(steps) / len(patterns),
            "on_beat_rate": float(np.mean(steps % RESOLUTION == 0)),
            "mean_ioi": float(np.diff(steps).mean() / RESOLUTION) if len(steps) > 1 else math.nan,
            "duration_entropy": entropy(note_value_histogram(durations))}


def event_tokens(notes: np.ndarray) -> list[str]:
    """One token per onset: the sorted pitches starting together (to the millisecond), dotted."""
    if len(notes) == 0:
        return []
    onset = np.round(notes["start"].astype(np.float64), 3)
    out = []
    for t in np.unique(onset):
        out.append(".".join(str(p) for p in sorted(set(notes["pitch"][onset == t].tolist()))))
    return out


def repetition(ids: np.ndarray) -> tuple[float, int]:
    """``(share of steps equal to the previous token, longest run of one token)``."""
    ids = np.asarray(ids)
    if len(ids) == 0:
        return math.nan, 0
    if len(ids) == 1:
        return 0.0, 1
    same = ids[1:] == ids[:-1]
    longest, run = 1, 1
    for s in same:
        run = run + 1 if s else 1
        longest = max(longest, run)
    return float(same.mean()), longest


class NgramIndex:
    """The n-grams of a set of reference token sequences (int ids), built per n on demand.

    n-grams never cross a piece boundary. Membership is by the 64-bit hash of the n-gram's bytes.
    """

    def __init__(self, sequences: list[np.ndarray]):
        self.sequences = [np.ascontiguousarray(s, dtype=np.int32) for s in sequences if len(s)]
        self.longest_piece = max((len(s) for s in self.sequences), default=0)
        self._grams: dict[int, set[int]] = {}

    def grams(self, n: int) -> set[int]:
        if n not in self._grams:
            self._grams[n] = {h for s in self.sequences for h in _hashes(s, n)}
        return self._grams[n]

    def share_found(self, ids: np.ndarray, n: int = COPY_N) -> float:
        hashes = _hashes(np.asarray(ids, dtype=np.int32), n)
        if not hashes:
            return math.nan
        ref = self.grams(n)
        return float(np.mean([h in ref for h in hashes]))

    def longest_shared(self, ids: np.ndarray) -> int:
        """Length of the longest n-gram of ``ids`` found in the reference (binary search: a
        shared n-gram implies a shared (n-1)-gram)."""
        ids = np.asarray(ids, dtype=np.int32)
        lo, hi = 0, min(len(ids), self.longest_piece)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.grams(mid).isdisjoint(_hashes(ids, mid)):
                hi = mid - 1
            else:
                lo = mid
        return lo


def _hashes(ids: np.ndarray, n: int) -> list[int]:
    if n < 1 or len(ids) < n:
        return []
    raw, w = np.ascontiguousarray(ids, dtype=np.int32).tobytes(), 4 * n
    return [hash(raw[i * 4:i * 4 + w]) for i in range(len(ids) - n + 1)]


@dataclass
class Piece:
    """What the metrics need of one MIDI file."""

    name: str
    notes: np.ndarray
    beats: np.ndarray
    tokens: list[str]
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # seconds


def piece_metrics(piece: Piece, reference: NgramIndex | None = None,
                  ioi_reference: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of ``METRICS`` for one piece (copying only with a ``reference``, the IOI
    distance only with an ``ioi_reference`` histogram)."""
    notes = piece.notes
    pitches = notes["pitch"].astype(np.int64)
    start, end = notes["start"].astype(np.float64), notes["end"].astype(np.float64)
    poly, poly_rate = polyphony(start, end)
    rep, longest_rep = repetition(piece.ids)
    out = {
        "pitch_range": float(pitches.max() - pitches.min()) if len(pitches) else math.nan,
        "n_pitches_used": float(len(np.unique(pitches))),
        "n_pitch_classes_used": float(len(np.unique(pitches % 12))),
        "pitch_entropy": entropy(np.bincount(pitches, minlength=128)),
        "pitch_class_entropy": entropy(np.bincount(pitches % 12, minlength=12)),
        "scale_consistency": scale_consistency(pitches),
        "polyphony": poly,
        "polyphony_rate": poly_rate,
        "empty_beat_rate": empty_beat_rate(start, end, piece.beats),
        **rhythm_metrics(to_beats(start, piece.beats), to_beats(end, piece.beats),
                         to_beats(piece.downbeats, piece.beats)),
        "ioi_distance": (histogram_distance(ioi_histogram(to_beats(start, piece.beats)), ioi_reference)
                         if ioi_reference is not None else math.nan),
        "repetition_rate": rep,
        "longest_repeat": float(longest_rep),
        "longest_copy": math.nan,
        "copied_8gram_share": math.nan,
        "n_notes": float(len(notes)),
        "n_tokens": float(len(piece.ids)),
    }
    if reference is not None:
        out["longest_copy"] = float(reference.longest_shared(piece.ids))
        out["copied_8gram_share"] = reference.share_found(piece.ids, COPY_N)
    return out


def pitch_class_histogram(pieces: list[Piece]) -> np.ndarray:
    """Share of notes per pitch class (C..B) over all ``pieces``."""
    counts = np.zeros(12)
    for p in pieces:
        counts += np.bincount(p.notes["pitch"].astype(np.int64) % 12, minlength=12)
    return counts / counts.sum() if counts.sum() else counts
