"""The classic note/chord tokens of seed 003 (``get_notes``), parsed with music21.

A ``Note`` becomes ``str(pitch)`` (``E4``, ``B-3``); a ``Chord`` its ``normalOrder`` joined
with dots (``4.9``). Rests, durations and offsets are dropped, as in the report.

Part selection:

* ``faithful`` -- the report literally: ``partitionByInstrument(midi).parts[0]``, falling
  back to the flat notes when that raises. With music21 10.5 ``parts[0]`` is empty for files
  whose first part has no notes, so whole files are silently lost (SPEC: a fifth of the corpus).
  It also reads the files the report's ``glob.glob("midi_songs/*.mid")`` reads: top-level
  ``*.mid`` only (case-sensitive), sorted.
* ``all`` (default) -- every note and chord of every part, in time order: nothing is lost;
  every ``.mid``/``.midi`` (any case) in the folder and its subfolders.
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import require_files
from midigen_tf.data.parallel import ParseReport, parse_files
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import MidiStyle, write_stream

PART_MODES = ("all", "faithful")
PARSER_VERSION = 1
TOKENS_ARRAY = "tokens"  # the training token ids, saved beside the checkpoints as tokens.npy


def vocabulary(notes: list[str]) -> list[str]:
    """The report's vocabulary: ``sorted(set(notes))``."""
    return sorted(set(notes))


def encode_tokens(notes: list[str], vocab: list[str]):
    """The int32 ids of ``notes`` in ``vocab`` (the report's ``note_to_int``)."""
    import numpy as np

    index = {tok: i for i, tok in enumerate(vocab)}
    return np.fromiter((index[t] for t in notes), dtype=np.int32, count=len(notes))


def tokens_of_stream(elements) -> list[str]:
    from music21 import chord, note

    out = []
    for element in elements:
        if isinstance(element, note.Note):
            out.append(str(element.pitch))
        elif isinstance(element, chord.Chord):
            out.append(".".join(str(n) for n in element.normalOrder))
    return out


def parse_midi_tokens(path: str | os.PathLike, part_mode: str = "all") -> list[str]:
    """The token list of one MIDI file (raises if music21 cannot read it)."""
    from music21 import converter, instrument

    midi = converter.parse(str(path), format="midi", forceSource=True, storePickle=False)
    if part_mode == "faithful":
        try:  # file has instrument parts
            elements = instrument.partitionByInstrument(midi).parts[0].recurse()
        except Exception:  # file has notes in a flat structure
            elements = midi.flatten().notes
    elif part_mode == "all":
        elements = midi.flatten().notes
    else:
        raise ValueError(f"unknown part mode {part_mode!r}")
    return tokens_of_stream(elements)


def _no_notes(tokens: list[str], part_mode: str = "all") -> str | None:
    if tokens:
        return None
    if part_mode == "faithful":  # other parts may hold notes: say which part was read
        return ("no pitched notes or chords in parts[0], the one part the report's script reads "
                "(part_mode=faithful; --set part_mode=all reads every part)")
    return "no pitched notes or chords (drum-only, meta-only or empty part)"


def get_notes(data_dir: str | os.PathLike, part_mode: str = "all", cache_dir=None,
              jobs: int = 0, progress: bool = True,
              hold_out_every: int = 0) -> tuple[list[str], ParseReport]:
    """All tokens of all MIDI files under ``data_dir`` (sorted order) and the parse report;
    ``hold_out_every`` N leaves out every N-th file (``files.held_out_split``)."""
    if part_mode not in PART_MODES:
        raise MidigenError(f"unknown part mode {part_mode!r}", hint=f"use one of {PART_MODES}")
    files = require_files(data_dir, original=part_mode == "faithful", hold_out_every=hold_out_every)
    cache = FileCache(cache_dir, "notes", {"part_mode": part_mode, "v": PARSER_VERSION})
    parse = functools.partial(parse_midi_tokens, part_mode=part_mode)
    report = parse_files(files, parse, cache, jobs=jobs, progress=progress,
                         desc="parsing MIDI",
                         validate=functools.partial(_no_notes, part_mode=part_mode))
    notes = [tok for toks in report.parsed.values() for tok in toks]
    return notes, report


class _Global(pickle.UnpicklingError):
    """A pickle named a function or class: refused before anything was called."""


class _PlainData(pickle.Unpickler):
    """Reads plain data only. ``find_class`` refuses every global, so a pickle cannot name a
    function or class to call (``os.system``, ...): nothing in the file runs. A list of
    strings, as the original scripts wrote it, needs none."""

    def find_class(self, module: str, name: str):
        raise _Global(f"it names {module}.{name}")


def load_notes_pickle(path: str | os.PathLike) -> list[str]:
    """The ``data/notes`` pickle written by the original scripts (a list of token strings),
    read without running anything it may carry (``_PlainData``)."""
    hint = ("give the data/notes pickle the original lstm.py wrote (a plain list of strings), "
            "from a source you trust, or train here (python lstm.py) and use its weights")
    try:
        with open(path, "rb") as fh:
            notes = _PlainData(fh).load()
    except FileNotFoundError:
        raise MidigenError(f"notes file {path} does not exist", hint=hint) from None
    except _Global as err:
        raise MidigenError(f"refused {path}: it holds code / objects other than a list of token "
                           f"strings ({err}); nothing in it was run", hint=hint) from None
    except Exception as err:
        raise MidigenError(f"{path} is not a notes pickle: {err}", hint=hint) from err
    if not isinstance(notes, list) or not all(isinstance(t, str) for t in notes):
        raise MidigenError(f"{path} does not hold a list of token strings", hint=hint)
    return notes


def save_notes_pickle(notes: list[str], path: str | os.PathLike) -> Path:
    """Write tokens as the original ``data/notes`` pickle (for users of the original scripts)."""
    from midigen_tf.io import atomic

    return atomic.write_bytes(path, pickle.dumps(list(notes)))


def is_chord_token(token: str) -> bool:
    """The report's test: a token with a dot, or all digits, is a chord of pitch classes."""
    return "." in token or token.isdigit()


def tokens_to_stream(tokens: list[str], offset_step: float = 0.5):
    """The report's ``create_midi``: chords of pitch classes and notes, Piano, ``offset += 0.5``."""
    from music21 import chord, instrument, note, stream

    offset = 0.0
    output = []
    for token in tokens:
        if is_chord_token(token):
            notes = []
            for current in token.split("."):
                n = note.Note(int(current))
                n.storedInstrument = instrument.Piano()
                notes.append(n)
            element = chord.Chord(notes)
        else:
            element = note.Note(token)
            element.storedInstrument = instrument.Piano()
        element.offset = offset
        output.append(element)
        offset += offset_step
    return stream.Stream([instrument.Piano()] + output)


def create_midi(tokens: list[str], path: str | os.PathLike, offset_step: float = 0.5,
                style: MidiStyle | None = None) -> Path:
    """The report's MIDI of ``tokens``; ``style``: --bpm, --program (``io.midi``)."""
    return write_stream(tokens_to_stream(tokens, offset_step), path, style)
