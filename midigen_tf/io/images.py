"""Piano-roll pictures (PNG) of a MIDI file, a note table or a roll matrix.

    from midigen_tf.io.images import piano_roll_image
    piano_roll_image("song.mid", "song.png")              # any MIDI file
    piano_roll_image(notes, "notes.png")                  # a NOTE_DTYPE note table
    piano_roll_image(roll, "roll.png", frame_seconds=0.1) # a (frames, 128 or 256) matrix

or from a shell: ``midigen render song.mid --roll [song.png]``.
Time runs left to right in seconds, pitch bottom to top with every C labelled (every few
pitches when the range holds fewer than two Cs). Notes are bars
at their exact times; a roll is drawn cell by cell, its onset half (columns 128..255) darker. Matplotlib's object API is
used (no pyplot state), so it is safe to call from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from midigen_tf.errors import MidigenError, reading, require_path
from midigen_tf.io import atomic
from midigen_tf.io.midi import NOTE_DTYPE, read_notes

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def pitch_ticks(low: int, high: int) -> list[int]:
    """The labelled pitches of a roll from ``low`` to ``high``: every C, or (when fewer than two
    Cs fall in the range) every pitch up to an octave and about eight evenly spaced pitches
    beyond, so a narrow range is labelled too."""
    cs = [p for p in range(low, high + 1) if p % 12 == 0]
    if len(cs) >= 2:
        return cs
    span = high - low + 1
    step = 1 if span <= 13 else -(-span // 8)
    return list(range(low, high + 1, step))


def _load(source):
    """A MIDI path becomes its note table; note tables and rolls pass through."""
    if isinstance(source, (str, os.PathLike)):
        path = require_path(source, "MIDI file", "give the path of a .mid file")
        with reading(f"cannot read {path} as MIDI", hint="give a standard MIDI file (.mid / .midi)"):
            return read_notes(path)
    array = np.asarray(source)
    if array.dtype != NOTE_DTYPE and (array.ndim != 2 or array.shape[1] not in (128, 256)):
        raise MidigenError(f"cannot draw an array of shape {array.shape} as a piano roll",
                           hint="give a MIDI path, a note table, or a (frames, 128|256) roll")
    return array


def piano_roll_image(source, path: str | os.PathLike, *, frame_seconds: float = 0.1,
                     title: str | None = None, pitch_range: tuple[int, int] | None = None,
                     dpi: int = 100) -> Path:
    """Draw ``source`` (MIDI path, note table or roll) as a piano roll PNG at ``path``.

    Notes are drawn as bars at their exact times; a roll as cells of ``frame_seconds``.
    """
    from matplotlib.figure import Figure

    data = _load(source)
    if data.dtype == NOTE_DTYPE:
        used = np.unique(data["pitch"]).astype(int)
        seconds = float(data["end"].max()) if len(data) else 1.0
    else:
        cells = np.asarray(data, dtype=np.float32) > 0.5
        image = cells[:, :128] * 0.6
        if data.shape[1] == 256:
            image[cells[:, 128:]] = 1.0
        used = np.flatnonzero(image.any(axis=0))
        seconds = max(len(data), 1) * frame_seconds
    if pitch_range is None:
        low, high = (int(used.min()) - 2, int(used.max()) + 2) if len(used) else (55, 79)
    else:
        low, high = pitch_range
    low, high = max(low, 0), min(high, 127)
    fig = Figure(figsize=(min(max(4.0, seconds / 2.5), 30.0), min(max(3.0, (high - low) / 8), 12.0)),
                 dpi=dpi)
    ax = fig.add_subplot()
    if data.dtype == NOTE_DTYPE:
        ax.barh(data["pitch"], data["end"] - data["start"], left=data["start"], height=0.8,
                color="0.45", edgecolor="black", linewidth=0.4)
        ax.set_xlim(0, seconds)
        ax.set_ylim(low - 0.5, high + 0.5)
    else:
        ax.imshow(image[:, low:high + 1].T, origin="lower", aspect="auto", cmap="Greys",
                  vmin=0, vmax=1, interpolation="nearest",
                  extent=(0, seconds, low - 0.5, high + 0.5))
    ticks = pitch_ticks(low, high)
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    ax.set_title(title or f"{seconds:.0f} s, {len(used)} pitches")
    fig.tight_layout()
    return atomic.write_with(Path(path), lambda p: fig.savefig(p, format="png"))

