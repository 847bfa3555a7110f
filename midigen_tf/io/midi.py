"""MIDI as note tables (pretty_midi, fast) and the classic token writer (music21, faithful).

A note table is a numpy structured array with fields ``pitch`` (uint8), ``velocity`` (uint8),
``start`` and ``end`` (float32 seconds), sorted by start then pitch. Drum tracks are left out.

Every generated MIDI file goes through ``write_midi``, which applies the user's ``MidiStyle``
(``--bpm``, ``--program``) to the written bytes, whichever library (music21, pretty_midi,
symusic) wrote them; the default style leaves the file exactly as the library wrote it.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from midigen_tf.errors import MidigenError
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


MIN_BPM = 4.0  # a MIDI tempo is at most 0xFFFFFF microseconds a beat: 3.58 bpm
DRUMS = 9  # the General MIDI percussion channel (0-based): its program is left alone


@dataclass(frozen=True)
class MidiStyle:
    """How generated MIDI plays: ``bpm`` (the tempo; the pieces keep their beats, so 60 plays
    them at half the speed of the default 120) and ``program`` (General MIDI instrument 0-127,
    0 = piano) of every non-drum track. ``None`` leaves what the writer wrote (120 bpm, piano)."""

    bpm: float | None = None
    program: int | None = None

    def __post_init__(self) -> None:
        if self.bpm is not None and not MIN_BPM <= self.bpm < math.inf:
            raise MidigenError(f"--bpm {self.bpm} must be at least {MIN_BPM:g} (what a MIDI "
                               "tempo can hold)", hint="e.g. --bpm 90")
        if self.program is not None and (isinstance(self.program, bool) or
                                         not isinstance(self.program, int) or
                                         not 0 <= self.program <= 127):
            raise MidigenError(f"--program {self.program!r} must be 0-127 (a General MIDI "
                               "program)", hint="e.g. --program 40 (violin)")

    @property
    def is_default(self) -> bool:
        return self.bpm is None and self.program is None


def program_number(value: str) -> int:
    """A General MIDI program from ``"40"`` or a GM instrument name (``"violin"``, any case);
    ``ValueError`` saying what is accepted otherwise."""
    import pretty_midi

    text = str(value).strip()
    if text.lstrip("+-").isdigit():
        number = int(text)
        if not 0 <= number <= 127:
            raise ValueError(f"{number} must be 0-127 (a General MIDI program)")
        return number
    try:
        return pretty_midi.instrument_name_to_program(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither 0-127 nor a General MIDI instrument name "
                         "(e.g. 40 or 'Violin', 'Acoustic Grand Piano', 'Flute')") from None


def apply_style(path: str | os.PathLike, style: MidiStyle) -> None:
    """Set the tempo and instrument of the MIDI file at ``path`` in place (mido).

    ``bpm``: the first tempo becomes ``bpm`` and any later tempo change keeps its ratio to it
    (no tempo event: one is added at the start); ticks are untouched, so the notes keep their
    beats. ``program``: every program change off the drum channel takes it, a channel that
    plays notes without one gets one at the start, and the track's name becomes the GM name."""
    import mido
    import pretty_midi

    if style.is_default:
        return
    midi = mido.MidiFile(str(path))
    if style.bpm is not None:
        tempos = [m for track in midi.tracks for m in track if m.type == "set_tempo"]
        wanted = 60_000_000 / style.bpm
        ratio = wanted / tempos[0].tempo if tempos else 1.0
        for m in tempos:
            m.tempo = int(min(max(round(m.tempo * ratio), 1), 0xFFFFFF))
        if not tempos:
            midi.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=round(wanted), time=0))
    if style.program is not None:
        name = pretty_midi.program_to_instrument_name(style.program)
        for track in midi.tracks:
            changes = [m for m in track if m.type == "program_change" and m.channel != DRUMS]
            playing = {m.channel for m in track if m.type == "note_on" and m.channel != DRUMS}
            for m in changes:
                m.program = style.program
            for channel in sorted(playing - {m.channel for m in changes}):
                track.insert(0, mido.Message("program_change", channel=channel,
                                             program=style.program, time=0))
            if changes or playing:
                for m in track:
                    if m.type == "track_name":
                        m.name = name
    midi.save(str(path))


def write_midi(path: str | os.PathLike, write: Callable[[Path], Any],
               style: MidiStyle | None = None) -> Path:
    """``write(tmp_path)`` writes the MIDI; then ``style`` is applied and the file moved onto
    ``path`` atomically. Every generated MIDI file is written here."""
    def styled(p: Path) -> None:
        write(p)
        if style is not None:
            apply_style(p, style)

    return atomic.write_output(path, styled)


def write_notes(notes: np.ndarray, path: str | os.PathLike, program: int = 0,
                style: MidiStyle | None = None) -> Path:
    """Write a note table as a one-track MIDI file (General MIDI ``program``, 0 = piano)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, name=pretty_midi.program_to_instrument_name(program))
    for n in np.asarray(notes, dtype=NOTE_DTYPE):
        end = max(float(n["end"]), float(n["start"]) + 1e-3)
        inst.notes.append(pretty_midi.Note(int(n["velocity"]) or 64, int(n["pitch"]),
                                           float(n["start"]), end))
    pm.instruments.append(inst)
    return write_midi(path, lambda p: pm.write(str(p)), style)


def write_stream(stream, path: str | os.PathLike, style: MidiStyle | None = None) -> Path:
    """Write a music21 stream as MIDI, atomically."""
    return write_midi(path, lambda p: stream.write("midi", fp=str(p)), style)
