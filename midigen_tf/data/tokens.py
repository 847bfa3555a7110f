"""MidiTok tokenizations (REMI, TSD, MIDI-Like) of MIDI read by symusic, and back to MIDI.

* ``make_tokenizer(config)`` builds a MidiTok 3 tokenizer from the ``--set`` keys of the
  ``lstm-tokens`` presets (``TOKENIZER_DEFAULTS``: MidiTok's own defaults);
  ``tokenizer_to_json`` / ``tokenizer_from_json`` carry its full configuration in a bundle.
* ``tokenize_corpus`` reads every file with symusic (C++, fast), merges every non-drum track
  into one piano stream (all parts, like the classic ``part_mode=all``), tokenizes it, and
  caches the token ids per file under the tokenizer's full configuration.
* ``repair`` makes a generated sequence one MidiTok accepts (special tokens dropped, a token
  whose type cannot follow the previous one dropped, a REMI position that goes back in its bar
  dropped); ``decode`` turns it into a ``symusic.Score`` with real onsets, durations and
  velocities, or says what was wrong.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import require_files
from midigen_tf.data.parallel import ParseReport, parse_files
from midigen_tf.errors import MidigenError
from midigen_tf.io.midi import MidiStyle

TOKENIZATIONS = {"remi": "REMI", "tsd": "TSD", "midilike": "MIDILike"}
# MidiTok 3's defaults (miditok.constants), as JSON-able --set values; tests check they agree.
TOKENIZER_DEFAULTS: dict[str, Any] = {
    "tokenizer": "remi",
    "beat_res": {"0_4": 8, "4_12": 4},  # positions per beat, per range of beats (MidiTok's form)
    "num_velocities": 32,
    "use_chords": False,
    "use_tempos": False,
    "num_tempos": 32,
    "use_rests": False,
    "use_time_signatures": True,
}
SPECIAL = ("PAD", "BOS", "EOS", "MASK")
DRUMS = ("PitchDrum", "DrumOn", "DrumOff")
_NEEDS_PREDECESSOR = ("Velocity", "Duration")  # meaningless at the start of a sequence
PARSER_VERSION = 1


def _beat_res(value: Any) -> dict[tuple[int, int], int]:
    try:
        out = {tuple(int(x) for x in str(k).split("_")): int(v) for k, v in dict(value).items()}
        if not out or any(len(k) != 2 or k[0] >= k[1] or v < 1 for k, v in out.items()):
            raise ValueError
        return out
    except (TypeError, ValueError):
        raise MidigenError(f"beat_res={value!r} is not a map of beat ranges to positions per beat",
                           hint="write it like --set 'beat_res={\"0_4\": 8, \"4_12\": 4}'") from None


def make_tokenizer(config: dict[str, Any]):
    """The MidiTok tokenizer the config's tokenizer keys describe."""
    import miditok

    name = str(config.get("tokenizer", TOKENIZER_DEFAULTS["tokenizer"])).lower()
    if name not in TOKENIZATIONS:
        raise MidigenError(f"unknown tokenizer {config.get('tokenizer')!r}",
                           hint=f"use --set tokenizer=<one of {', '.join(TOKENIZATIONS)}>")
    keys = {k: config.get(k, v) for k, v in TOKENIZER_DEFAULTS.items() if k != "tokenizer"}
    keys["beat_res"] = _beat_res(keys["beat_res"])
    try:
        tok_config = miditok.TokenizerConfig(special_tokens=list(SPECIAL), **keys)
        return getattr(miditok, TOKENIZATIONS[name])(tok_config)
    except (ValueError, TypeError) as err:
        raise MidigenError(f"MidiTok refuses the tokenizer settings: {err}",
                           hint="check the --set values of " + ", ".join(TOKENIZER_DEFAULTS)) from err


def tokenizer_to_json(tok) -> dict[str, Any]:
    """The tokenizer's full configuration (MidiTok's own ``to_dict``), JSON-able."""
    return json.loads(json.dumps(tok.to_dict()))


def tokenizer_from_json(params: dict[str, Any]):
    """Rebuild a tokenizer from ``tokenizer_to_json`` (no corpus needed)."""
    import miditok

    name = params.get("tokenization") if isinstance(params, dict) else None
    if name not in TOKENIZATIONS.values():
        raise MidigenError(f"the bundle's tokenizer {name!r} is not one of "
                           f"{', '.join(TOKENIZATIONS.values())}",
                           hint="use the bundle written when the model was trained")
    fd, tmp = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(params, fh)
        return getattr(miditok, name)(params=tmp)
    except Exception as err:  # a damaged or foreign configuration
        raise MidigenError(f"MidiTok cannot rebuild the bundle's {name} tokenizer: {err}",
                           hint="use the bundle written when the model was trained") from err
    finally:
        os.unlink(tmp)


def vocabulary(tok) -> list[str]:
    """Token names in id order."""
    return [t for t, _ in sorted(tok.vocab.items(), key=lambda kv: kv[1])]


def read_score(path: str | os.PathLike):
    """A MIDI file read by symusic with every non-drum note in one piano track."""
    import symusic

    score = symusic.Score(str(path))
    merged = symusic.Track(name="piano", program=0, is_drum=False)
    for track in score.tracks:
        if not track.is_drum:
            merged.notes.extend(track.notes)
    merged.notes.sort(key=lambda n: (n.time, n.pitch))
    score.tracks = [merged]
    return score


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(params_json: str):
    return tokenizer_from_json(json.loads(params_json))


def tokenize_file(path: str | os.PathLike, params_json: str) -> np.ndarray:
    """Token ids of one file (module level: runs in the parser processes)."""
    tok = _cached_tokenizer(params_json)
    score = read_score(path)
    if not len(score.tracks[0].notes):
        return np.zeros(0, dtype=np.int32)
    seqs = tok.encode(score)
    seq = seqs[0] if isinstance(seqs, list) else seqs
    return np.asarray(seq.ids, dtype=np.int32)


def _no_notes(ids: np.ndarray) -> str | None:
    return None if len(ids) else "no pitched (non-drum) notes"


def tokenize_corpus(data_dir: str | os.PathLike, tok, cache_dir=None, jobs: int = 0,
                    progress: bool = True, hold_out_every: int = 0) -> ParseReport:
    """Token ids of every MIDI file under ``data_dir`` (sorted), cached per tokenizer, less the
    held-out files of ``hold_out_every`` (``files.held_out_split``)."""
    files = require_files(data_dir, hold_out_every=hold_out_every)
    params = tokenizer_to_json(tok)
    cache = FileCache(cache_dir, "miditok", {"tokenizer": params, "v": PARSER_VERSION})
    return parse_files(files, functools.partial(tokenize_file, params_json=json.dumps(params)),
                       cache, jobs=jobs, progress=progress, desc="tokenizing MIDI", validate=_no_notes)


def _kind(token: str) -> str:
    return token.split("_", 1)[0]


@dataclass
class Repair:
    tokens: list[str]
    dropped: int
    reasons: dict[str, int]


def repair(tok, ids) -> Repair:
    """The tokens of ``ids`` that form a sequence MidiTok accepts, and what was dropped why.

    Dropped: special tokens, ids outside the vocabulary, a token whose type cannot follow the
    previous kept one (MidiTok's ``tokens_types_graph``), a REMI ``Position`` that goes back in
    its bar, a MIDI-Like ``NoteOff`` of a note not sounding, drum tokens (one piano track). MIDI-Like notes still sounding at
    the end are turned off there (MidiTok would drop them), if time passed since they began.
    """
    names = vocabulary(tok)
    graph = tok.tokens_types_graph
    kept: list[str] = []
    reasons: dict[str, int] = {}
    position = -1
    sounding: dict[str, int] = {}  # MIDI-Like: pitch -> notes on
    fresh: set[str] = set()  # pitches turned on since the last time shift

    def drop(why: str) -> None:
        reasons[why] = reasons.get(why, 0) + 1

    for i in np.asarray(ids, dtype=np.int64).ravel():
        if not 0 <= i < len(names):
            drop("id outside the vocabulary")
            continue
        token = names[i]
        kind, value = _kind(token), token.split("_", 1)[-1]
        if kind in SPECIAL:
            drop("special token")
        elif kind in DRUMS:
            drop("drum token (one piano track is written)")
        elif not kept and kind in _NEEDS_PREDECESSOR:
            drop(f"{kind} without a note before it")
        elif kept and kind not in graph.get(_kind(kept[-1]), ()):
            drop(f"{kind} cannot follow {_kind(kept[-1])}")
        elif kind == "Position" and int(value) <= position:
            drop("position back in its bar")
        elif kind == "NoteOff" and not sounding.get(value):
            drop("NoteOff of a note not sounding")
        else:
            kept.append(token)
            if kind == "Bar":
                position = -1
            elif kind == "Position":
                position = int(value)
            elif kind == "NoteOn":
                sounding[value] = sounding.get(value, 0) + 1
                fresh.add(value)
            elif kind == "NoteOff":
                sounding[value] -= 1
            elif kind == "TimeShift":
                fresh.clear()
    if any(n for p, n in sounding.items() if p not in fresh):
        while kept and _kind(kept[-1]) in ("NoteOn", "Velocity"):  # notes of no length
            drop("note begun at the very end")
            kept.pop()
        for pitch, count in sounding.items():
            if pitch not in fresh:
                kept += [f"NoteOff_{pitch}"] * count
    return Repair(kept, sum(reasons.values()), reasons)


def decode(tok, ids):
    """``(symusic.Score, Repair)`` of generated token ids; a clear error if no note comes out."""
    fixed = repair(tok, ids)
    why = ", ".join(f"{n} x {r}" for r, n in sorted(fixed.reasons.items(), key=lambda kv: -kv[1]))
    if not fixed.tokens:
        raise MidigenError(f"none of the {len(np.ravel(ids))} generated tokens can be decoded "
                           f"({why})", hint="generate more tokens (-n), or train longer")
    params = tok.config.additional_params
    if "NoteOff" in tok.tokens_types_graph and "max_duration" not in params:
        # MIDI-Like: a note the model never turns off ends after the longest duration REMI and
        # TSD can write (12 beats by default), instead of being lost
        last = max(tok.config.beat_res, key=lambda r: r[1])
        params["max_duration"] = (last[1], 0, tok.config.beat_res[last])
    try:
        score = tok.decode([[tok.vocab[t] for t in fixed.tokens]])
    except Exception as err:  # MidiTok should accept a repaired sequence; say so if not
        raise MidigenError(f"MidiTok could not decode the repaired sequence "
                           f"({type(err).__name__}: {err}); first tokens: {fixed.tokens[:12]}",
                           hint="try another --seed or sampling option") from err
    if not sum(len(t.notes) for t in score.tracks):
        raise MidigenError(f"the {len(fixed.tokens)} generated tokens hold no complete note "
                           f"(first: {' '.join(fixed.tokens[:12])}{'; dropped: ' + why if why else ''})",
                           hint="generate more tokens (-n), sample with --temperature, or train longer")
    return score, fixed


def write_score(score, path: str | os.PathLike, style: MidiStyle | None = None) -> Path:
    """Write a symusic Score as MIDI, atomically; ``style``: --bpm, --program (``io.midi``)."""
    from midigen_tf.io.midi import write_midi

    return write_midi(path, lambda p: score.dump_midi(str(p)), style)
