"""MIDI as note tables (pretty_midi, fast) and the classic token writer (music21, faithful).

A note table is a numpy structured array with fields ``pitch`` (uint8), ``velocity`` (uint8),
``start`` and ``end`` (float32 seconds), sorted by start then pitch. Drum tracks are left out.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from midigen_tf.io import atomic

NOTE_DTYPE = np.dtype([("pitch", np.uint8), ("velocity", np.uint8),
                       ("start", np.float32), ("end", np.float32)])


def note_table(pitch, velocity, start, end) -> np.ndarray:
    """Build a sorted note table from four equal-length sequences."""
    table = np.empty(len(pitch), dtype=NOTE_DTYPE)
    table["pitch"], table["velocity"] = pitch, velocity
    table["start"], table["end"] = start, end
    return table[np.lexsort((table["pitch"], table["start"]))]


def read_notes(path: str | os.PathLike) -> np.ndarray:
    """All non-drum notes of a MIDI file (raises on an unreadable file)."""
    import pretty_midi

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = pretty_midi.PrettyMIDI(str(path))
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    return note_table([n.pitch for n in notes], [n.velocity for n in notes],
                      [n.start for n in notes], [n.end for n in notes])


def write_notes(notes: np.ndarray, path: str | os.PathLike, program: int = 0) -> Path:
    """Write a note table as a one-track MIDI file (General MIDI ``program``, 0 = piano)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, name=pretty_midi.program_to_instrument_name(program))
    for n in np.asarray(notes, dtype=NOTE_DTYPE):
        end = max(float(n["end"]), float(n["start"]) + 1e-3)
        inst.notes.append(pretty_midi.Note(int(n["velocity"]) or 64, int(n["pitch"]),
                                           float(n["start"]), end))
    pm.instruments.append(inst)
    return atomic.write_output(path, lambda p: pm.write(str(p)))


def write_stream(stream, path: str | os.PathLike) -> Path:
    """Write a music21 stream as MIDI, atomically."""
    return atomic.write_output(path, lambda p: stream.write("midi", fp=str(p)))
