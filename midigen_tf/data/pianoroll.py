"""MIDI <-> piano-roll matrices, and lazy windows over them (seed 004).

A roll is a ``uint8`` matrix of shape ``(frames, 256)``; frame ``f`` covers the time
``[f * frame_seconds, (f + 1) * frame_seconds)`` (0.1 s by default, so 50 frames are "5 s"):

* columns ``0..127``: pitch ``p`` is *sounding* in the frame,
* columns ``128..255``: pitch ``p`` *starts* (note onset) in the frame.

A note from ``start`` to ``end`` seconds sounds in frames ``round(start / fs)`` up to (not
including) ``round(end / fs)`` (halves rounded up), at least one frame, and has its onset in
the first of them.
The onset half is what tells two repeated notes of the same pitch from one long note, so a
roll turns back into the same pitches and onsets (at frame resolution). Velocities are not kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from midigen_tf.data.batches import window_dataset
from midigen_tf.io.midi import NOTE_DTYPE, note_table, read_notes

N_PITCHES = 128
N_FEATURES = 2 * N_PITCHES
FRAME_SECONDS = 0.1
DEFAULT_VELOCITY = 80


def _frame(seconds: np.ndarray, frame_seconds: float) -> np.ndarray:
    """Nearest frame boundary, halves rounded up (1e-6 absorbs float error: 0.25 s -> 3)."""
    return np.floor(seconds.astype(np.float64) / frame_seconds + 0.5 + 1e-6).astype(np.int64)


def notes_to_roll(notes: np.ndarray, frame_seconds: float = FRAME_SECONDS,
                  frames: int | None = None) -> np.ndarray:
    """A note table as a ``(frames, 256)`` uint8 roll (sounding | onsets)."""
    notes = np.asarray(notes, dtype=NOTE_DTYPE)
    on, off = _frame(notes["start"], frame_seconds), _frame(notes["end"], frame_seconds)
    off = np.maximum(off, on + 1)
    total = int(off.max()) if len(notes) else 0
    frames = total if frames is None else frames
    roll = np.zeros((frames, N_FEATURES), dtype=np.uint8)
    pitch = notes["pitch"].astype(np.int64)
    for p, a, b in zip(pitch, on, np.minimum(off, frames)):
        if a < frames:
            roll[a:b, p] = 1
            roll[a, N_PITCHES + p] = 1
    return roll


def roll_to_notes(roll: np.ndarray, frame_seconds: float = FRAME_SECONDS,
                  velocity: int = DEFAULT_VELOCITY, offset: float = 0.0) -> np.ndarray:
    """A roll (``(frames, 256)``, or ``(frames, 128)`` without onsets) back to a note table.

    A note starts at an onset, or where a pitch starts sounding, and lasts until the pitch
    stops sounding or starts again. An onset without the sounding bit is a one-frame note.
    """
    roll = np.asarray(roll) > 0.5
    if roll.ndim != 2 or roll.shape[1] not in (N_PITCHES, N_FEATURES):
        raise ValueError(f"a piano roll has shape (frames, 128 or 256), not {roll.shape}")
    frames = roll.shape[0]
    onset = roll[:, N_PITCHES:] if roll.shape[1] == N_FEATURES else np.zeros_like(roll)
    sounding = roll[:, :N_PITCHES] | onset
    previous = np.vstack([np.zeros((1, N_PITCHES), bool), sounding[:-1]])
    starts = onset | (sounding & ~previous)
    pitch, start, end = [], [], []
    for p in np.flatnonzero(starts.any(axis=0)):
        begin = np.flatnonzero(starts[:, p])
        stops = np.append(np.flatnonzero(~sounding[:, p] | starts[:, p]), frames)
        finish = stops[np.searchsorted(stops, begin, side="right")]
        pitch += [p] * len(begin)
        start += list(begin)
        end += list(finish)
    start_s = np.asarray(start, np.float64) * frame_seconds + offset
    end_s = np.asarray(end, np.float64) * frame_seconds + offset
    return note_table(pitch, [velocity] * len(pitch), start_s, end_s)


def midi_to_roll(path: str | os.PathLike, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """Every non-drum note of a MIDI file as a roll."""
    return notes_to_roll(read_notes(path), frame_seconds)


def parse_roll(path: Path, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """Module-level parser for ``parse_files`` (picklable; the frame length comes by partial)."""
    return midi_to_roll(path, frame_seconds)


def empty_reason(roll: np.ndarray) -> str | None:
    return "no notes" if not roll[:, :N_PITCHES].any() else None


class Corpus:
    """Rolls of many pieces concatenated into one matrix, with the windows inside each piece.

    A window never crosses from one piece into the next. With ``validation_split`` F, the last
    F of the frames (the end of the corpus, in file order) is held out for validation: no frame
    is in both a training and a validation window.
    """

    def __init__(self, rolls: list[np.ndarray], window: int, validation_split: float = 0.0):
        self.window = window
        self.roll = np.concatenate(rolls) if rolls else np.zeros((0, N_FEATURES), np.uint8)
        self.lengths = [len(r) for r in rolls]
        cut = len(self.roll) - round(len(self.roll) * validation_split)
        train, val = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        begin = 0
        for length in self.lengths:
            end = begin + length
            # a window at s reads frames s .. s + window (its target) and must stay on one side
            train.append(np.arange(begin, min(end, cut) - window, dtype=np.int64))
            val.append(np.arange(max(begin, cut), end - window, dtype=np.int64))
            begin = end
        self.train_starts, self.val_starts = np.concatenate(train), np.concatenate(val)

    def windows(self, starts: np.ndarray) -> np.ndarray:
        """The ``(len(starts), window, 256)`` uint8 windows beginning at ``starts``."""
        return self.roll[np.asarray(starts)[:, None] + np.arange(self.window)]

    def density(self) -> float:
        """Fraction of ones among the roll's cells (the positive rate the loss sees)."""
        return float(self.roll.mean()) if self.roll.size else 0.0


def roll_batches(corpus: Corpus, starts: np.ndarray, batch_size: int, samples: int | None = None,
                 shuffle: bool = True, seed: int = 0):
    """Batches of ``(window frames, next frame)`` (float32) cut from a ``Corpus`` in the tf.data
    graph (through ``data.batches``): memory is the corpus roll (uint8) plus one batch.

    ``samples`` windows per epoch: with ``shuffle``, a fresh random order each epoch (whole
    passes over the windows, then a partial one, so every window is seen about equally often);
    without, ``samples`` windows evenly spread, in order.
    """
    import tensorflow as tf

    starts = np.asarray(starts, np.int64)
    if len(starts) == 0:
        raise ValueError("no windows to draw from")
    samples = int(samples or len(starts))
    if not shuffle:
        n = len(starts)
        starts = starts[np.unique(np.linspace(0, n - 1, min(samples, n)).round().astype(np.int64))]
        samples = len(starts)

    def make_batch(frames):
        frames = tf.cast(frames, tf.float32)
        return frames[:, :-1], frames[:, -1]

    return window_dataset(corpus.roll, starts, np.arange(corpus.window + 1), batch_size,
                          make_batch, shuffle=shuffle, seed=seed, samples=samples)
