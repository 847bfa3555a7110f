"""Folk melodies (seed 001): ESAC/score reading, duration filter, transposition, time-step encoding.

A melody is a list of events ``(pitch, quarter_length)`` with ``pitch = -1`` for a rest. It is
encoded one symbol per time step (a sixteenth by default): the MIDI number at an onset, ``_``
while the note (or rest) is held, ``r`` for a rest; songs are separated by a window of ``/``.

Sources (``DataSource.data_dir``): ``esac`` means the eight German ESAC collections inside the
music21 package (5,979 tunes), ``esac:kinder,altdeu`` a choice of ESAC collections by name
prefix; any other value is a folder of ``.krn .abc .xml .mxl .musicxml .mid .midi`` files.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from midigen_tf.data.files import require_files
from midigen_tf.errors import MidigenError

GERMAN_COLLECTIONS = ("altdeu", "ballad", "boehme", "dva", "erk", "fink", "kinder", "zuccal")
SCORE_SUFFIXES = (".krn", ".abc", ".xml", ".mxl", ".musicxml", ".mid", ".midi")
ACCEPTABLE_DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
REST, HOLD, DELIM = "r", "_", "/"
SPECIAL = (DELIM, HOLD, REST)
TRANSPOSE_MODES = ("none", "c-a", "all")


@dataclass
class Tune:
    """One parsed melody; ``error`` is set (and ``events`` empty) when it could not be read."""

    collection: str
    title: str
    events: list[tuple[int, float]] = field(default_factory=list)
    tonic: int = 0  # pitch class of the analysed key
    mode: str = "major"
    error: str = ""


# ----------------------------------------------------------------------------- sources

def esac_dir() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus" / "essenFolksong"


def resolve_source(data_dir) -> list[Path]:
    """The files a ``data_dir`` names: ESAC collections (``esac[:a,b]``) or a folder's scores."""
    text = str(data_dir)
    if text == "esac" or text.startswith("esac:"):
        names = [n.strip() for n in text[5:].split(",") if n.strip()] or list(GERMAN_COLLECTIONS)
        files = sorted(esac_dir().glob("*.abc"))
        chosen = [f for f in files if any(f.stem.startswith(n) for n in names)]
        missing = [n for n in names if not any(f.stem.startswith(n) for f in files)]
        if missing:
            raise MidigenError(f"no ESAC collection named {', '.join(missing)} in {esac_dir()}",
                               hint=f"German collections: {', '.join(GERMAN_COLLECTIONS)}; "
                               f"all files: {', '.join(f.stem for f in files)}")
        return chosen
    return require_files(data_dir, SCORE_SUFFIXES)


def split_abc(text: str) -> list[str]:
    """The tunes of an ABC file, each starting at its ``X:`` line."""
    return [t for t in re.split(r"(?m)^(?=X:)", text) if t.startswith("X:")]


def count_tunes(path: Path) -> int:
    if path.suffix.lower() == ".abc":
        return len(split_abc(path.read_text(encoding="latin-1")))
    return 1


# ----------------------------------------------------------------------------- parsing

def parse_file(path: Path, limit: int = 0) -> list[Tune]:
    """Every tune of one file (at most ``limit`` if > 0), parsed one at a time with music21.

    Module-level so ``data.parallel.parse_files`` can send it to worker processes; a tune that
    fails is returned with its ``error`` set, so the report can count it.
    """
    from music21 import converter

    path = Path(path)
    collection = path.stem if path.suffix.lower() == ".abc" else path.parent.name
    if path.suffix.lower() != ".abc":
        # forceSource / storePickle: music21 would otherwise keep a pickle of every file in its
        # scratch folder and read it back next time; two processes parsing one file (the
        # workers of a multi-worker run) then raced on that pickle and could read different
        # tunes. Our own cache (data.cache) is per run, atomic and keyed by content.
        return [_tune(lambda: converter.parse(str(path), forceSource=True, storePickle=False),
                      collection, path.stem)]
    tunes = split_abc(path.read_text(encoding="latin-1"))
    if limit > 0:
        tunes = tunes[:limit]
    out = []
    for text in tunes:
        m = re.search(r"(?m)^T:\s*(.*)$", text)
        title = m.group(1).strip() if m else text.splitlines()[0]
        out.append(_tune(lambda: converter.parse(text, format="abc"), collection, title))
    return out


def _tune(load, collection: str, title: str) -> Tune:
    try:
        score = load()
        events = melody_events(score)
        key = score.analyze("key") if events and any(p >= 0 for p, _ in events) else None
    except Exception as err:  # a broken tune is counted, not fatal
        msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return Tune(collection, title, error=f"{type(err).__name__}: {msg}"[:200])
    if key is None:
        return Tune(collection, title, events=events)
    return Tune(collection, title, events, key.tonic.pitchClass, key.mode)


def melody_events(score) -> list[tuple[int, float]]:
    """``(midi pitch or -1, quarter length)`` of the first part with notes (top note of chords)."""
    parts = [p for p in getattr(score, "parts", []) if p.flatten().notes]
    flat = (parts[0] if parts else score).flatten()
    events = []
    for el in flat.notesAndRests:
        if el.isRest:
            pitch = -1
        elif el.isChord:
            pitch = max(p.midi for p in el.pitches)
        else:
            pitch = el.pitch.midi
        events.append((int(pitch), float(el.quarterLength)))
    return events


# ----------------------------------------------------------------------------- filter, transpose

def filter_reason(tune: Tune, acceptable=ACCEPTABLE_DURATIONS) -> str:
    """Why a tune is dropped ("" when it is kept)."""
    if tune.error:
        return "unreadable"
    if not any(p >= 0 for p, _ in tune.events):
        return "no notes"
    if any(ql not in acceptable for _, ql in tune.events):
        return "unacceptable durations"
    return ""


def normalising_shift(tonic: int, mode: str) -> int:
    """Semitones taking a key to C major / A minor, as music21's ``Interval(tonic, C|A)``."""
    target = 9 if mode == "minor" else 0
    return target - tonic


def transpositions(tune: Tune, mode: str) -> list[int]:
    """Semitone shifts to apply: ``none`` [0]; ``c-a`` to C major/A minor; ``all`` to 12 keys."""
    if mode == "none":
        return [0]
    base = normalising_shift(tune.tonic, tune.mode)
    if mode == "c-a":
        return [base]
    if mode == "all":
        return [base + k for k in range(-5, 7)]
    raise MidigenError(f"transpose={mode!r} is not known", hint=f"choose {', '.join(TRANSPOSE_MODES)}")


def shifted(events, semitones: int) -> list[tuple[int, float]]:
    return [(p + semitones if p >= 0 else -1, ql) for p, ql in events]


# ----------------------------------------------------------------------------- encoding

def encode(events, time_step: float = 0.25) -> list[str]:
    """Events -> symbols, one per ``time_step``: pitch or ``r`` at the onset, then ``_``."""
    out: list[str] = []
    for pitch, ql in events:
        steps = max(1, int(round(ql / time_step)))
        out.append(REST if pitch < 0 else str(pitch))
        out.extend([HOLD] * (steps - 1))
    return out


def decode(symbols, time_step: float = 0.25) -> list[tuple[int, float]]:
    """Symbols -> events; ``_`` lengthens the previous event (a leading ``_`` is a rest)."""
    events: list[list] = []
    for sym in symbols:
        if sym == DELIM:
            break
        if sym == HOLD:
            if events:
                events[-1][1] += time_step
            else:
                events.append([-1, time_step])
        else:
            events.append([-1 if sym == REST else int(sym), time_step])
    return [(p, ql) for p, ql in events]


def parse_symbols(text: str) -> list[str]:
    """``"60 _ 62 _ r _"`` -> symbols, checked (a typo is an error, not a silent note)."""
    symbols = text.split()
    bad = [s for s in symbols if s not in SPECIAL and not (s.isdigit() and int(s) < 128)]
    if bad:
        raise MidigenError(f"seed melody has unknown symbols {bad[:5]}",
                           hint="use MIDI numbers 0-127, '_' to hold, 'r' for a rest, e.g. "
                           "-O seed=\"60 _ 62 _ 64 _ _ _\"")
    return symbols


def corpus(songs: list[list[str]], sequence_length: int) -> list[str]:
    """Songs joined, each followed by a delimiter of ``sequence_length`` ``/`` symbols."""
    out: list[str] = []
    for song in songs:
        out.extend(song)
        out.extend([DELIM] * sequence_length)
    return out


def make_mapping(symbols) -> list[str]:
    """The vocabulary, sorted (``mapping.json`` maps each symbol to its index)."""
    return sorted(set(symbols) | set(SPECIAL))


def to_stream(events, title: str = "midigen folk melody"):
    """Events -> a music21 Stream (Part) of notes and rests with their durations."""
    from music21 import key, metadata, note, stream

    part = stream.Part()
    for pitch, ql in events:
        el = note.Rest(quarterLength=ql) if pitch < 0 else note.Note(pitch, quarterLength=ql)
        if el.isNote and el.pitch.accidental is not None and el.pitch.accidental.name == "natural":
            el.pitch.accidental = None  # a MIDI number gives an explicit natural: not engraved
        part.append(el)
    if part.flatten().notes:  # the key signature of the analysed key, so accidentals are few
        part.insert(0, key.KeySignature(part.analyze("key").sharps))
    score = stream.Score([part])
    score.metadata = metadata.Metadata(title=title)
    return score


def report_lines(tunes: list[Tune], reasons: list[str]) -> list[str]:
    """One line per collection: songs read, kept, dropped and why."""
    by: dict[str, Counter] = {}
    for tune, reason in zip(tunes, reasons):
        by.setdefault(tune.collection, Counter())[reason or "kept"] += 1
    lines = []
    for name, c in by.items():
        read = sum(c.values())
        why = ", ".join(f"{r}: {n}" for r, n in sorted(c.items()) if r != "kept") or "none"
        lines.append(f"  {name}: read {read}, kept {c['kept']}, dropped {read - c['kept']} ({why})")
    total = Counter(r or "kept" for r in reasons)
    lines.append(f"  total: read {len(tunes)}, kept {total['kept']}, "
                 f"dropped {len(tunes) - total['kept']}")
    return lines
