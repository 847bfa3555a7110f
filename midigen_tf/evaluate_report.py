"""``midigen evaluate``: metrics of generated pieces beside the training corpus and a held-out part.

Groups (columns): each set of generated pieces, the training part of the corpus, the held-out
part. Held out by default: every 10th corpus file in sorted order (``--held-out-every``), or a
folder given with ``--held-out``. Copying is measured against what each group should not copy:
generated pieces against the whole corpus (everything the model may have seen), held-out pieces
against the training part, which gives the natural overlap between different real pieces as a
baseline. Values are means over pieces (MusPy's convention); the JSON has every piece.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import find_files, held_out_split
from midigen_tf.data.parallel import ParseReport, parse_files
from midigen_tf.errors import MidigenError
from midigen_tf.evaluate import (COPY_N, METRICS, NOTE_VALUES, NgramIndex, Piece, event_tokens,
                                 ioi_histogram, piece_metrics, pitch_class_histogram, to_beats)
from midigen_tf.io import atomic

TOKEN_MODES = ("events", "classic")
PARSER_VERSION = 2  # 2: downbeats for the rhythm metrics
PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def parse_piece(path: Path, tokens: str = "events") -> dict:
    """Note table, beat times and tokens of one MIDI file (module level: runs in workers)."""
    import warnings

    import pretty_midi

    from midigen_tf.io.midi import read_notes

    notes = read_notes(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        midi = pretty_midi.PrettyMIDI(str(path))
        beats, downbeats = midi.get_beats(), midi.get_downbeats()
    if tokens == "classic":
        from midigen_tf.data.notes import parse_midi_tokens

        toks = parse_midi_tokens(path, "all")
    else:
        toks = event_tokens(notes)
    return {"notes": notes, "beats": np.asarray(beats, dtype=np.float64), "tokens": toks,
            "downbeats": np.asarray(downbeats, dtype=np.float64)}


def _no_notes(parsed: dict) -> str | None:
    return None if len(parsed["notes"]) else "no pitched notes"


def midi_paths(spec: str | os.PathLike) -> list[Path]:
    """A MIDI file, or every MIDI file under a folder (sorted)."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if not path.exists():
        raise MidigenError(f"{path} does not exist", hint="give MIDI files or folders of them")
    files = find_files(path)
    if not files:
        raise MidigenError(f"no .mid/.midi files in {path}", hint="generate some with `midigen generate`")
    return files


@dataclass
class Group:
    label: str
    role: str  # "generated", "training" or "held-out"
    pieces: list[Piece] = field(default_factory=list)
    metrics: list[dict[str, float]] = field(default_factory=list)
    copy_reference: str = ""

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for key, _ in METRICS:
            values = np.array([m[key] for m in self.metrics], dtype=np.float64)
            values = values[np.isfinite(values)]
            out[key] = ({"mean": float(values.mean()), "std": float(values.std()),
                         "min": float(values.min()), "max": float(values.max())}
                        if len(values) else {"mean": math.nan, "std": math.nan,
                                             "min": math.nan, "max": math.nan})
        return out


@dataclass
class Evaluation:
    groups: list[Group]
    tokens: str
    report: ParseReport

    def to_json(self) -> dict:
        def clean(d):
            return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in d.items()}

        return {"tokens": self.tokens, "copy_n": COPY_N, "note_values": NOTE_VALUES.tolist(),
                "metrics": [k for k, _ in METRICS],
                "skipped": [[str(p), r] for p, r in self.report.skipped],
                "groups": [{"label": g.label, "role": g.role, "pieces": len(g.pieces),
                            "copy_reference": g.copy_reference,
                            "pitch_class_histogram": pitch_class_histogram(g.pieces).tolist(),
                            "ioi_histogram": ioi_shares(g.pieces).tolist(),
                            "summary": {k: clean(v) for k, v in g.summary().items()},
                            "per_piece": [{"name": p.name, **clean(m)}
                                          for p, m in zip(g.pieces, g.metrics)]}
                           for g in self.groups]}


def evaluate(generated: dict[str, list[Path]], corpus: str | os.PathLike,
             held_out: str | os.PathLike | None = None, held_out_every: int = 10,
             tokens: str = "events", cache_dir: str | os.PathLike | None = None, jobs: int = 0,
             progress: bool = True) -> Evaluation:
    """Parse every group, compute every metric, with copying against the right reference."""
    if tokens not in TOKEN_MODES:
        raise MidigenError(f"unknown token mode {tokens!r}", hint=f"use one of {', '.join(TOKEN_MODES)}")
    corpus_files = midi_paths(corpus)
    if held_out is not None:
        held, train = midi_paths(held_out), corpus_files
    else:
        if held_out_every < 2:
            raise MidigenError(f"--held-out-every {held_out_every} must be at least 2")
        train, held = held_out_split(corpus_files, held_out_every)
        if not held:
            raise MidigenError(f"{corpus} has {len(corpus_files)} file(s), too few to hold out "
                               f"every {held_out_every}th", hint="give --held-out DIR")
    roles = [(label, "generated", paths) for label, paths in generated.items()]
    roles += [("training", "training", train), ("held-out", "held-out", held)]
    everything = list(dict.fromkeys(p for _, _, paths in roles for p in paths))
    cache = FileCache(cache_dir, "evaluate", {"tokens": tokens, "v": PARSER_VERSION})
    report = parse_files(everything, functools.partial(parse_piece, tokens=tokens), cache,
                         jobs=jobs, progress=progress, desc="parsing for evaluation",
                         validate=_no_notes)
    vocab: dict[str, int] = {}
    groups = []
    for label, role, paths in roles:
        group = Group(label, role)
        for p in paths:
            if p in report.parsed:
                d = report.parsed[p]
                ids = np.array([vocab.setdefault(t, len(vocab)) for t in d["tokens"]], dtype=np.int32)
                group.pieces.append(Piece(p.name, d["notes"], d["beats"], d["tokens"], ids,
                                          d["downbeats"]))
        if not group.pieces:
            raise MidigenError(f"no readable MIDI with notes in the {label} group",
                               hint="; ".join(f"{p}: {r}" for p, r in report.skipped[:3]) or None)
        groups.append(group)
    by_role = {g.role: g for g in groups if g.role != "generated"}
    seen = by_role["training"].pieces + (by_role["held-out"].pieces if held_out is None else [])
    whole = NgramIndex([p.ids for p in seen])
    train_only = NgramIndex([p.ids for p in by_role["training"].pieces])
    rhythm = ioi_shares(by_role["training"].pieces)
    for group in groups:
        reference = {"generated": whole, "held-out": train_only}.get(group.role)
        group.copy_reference = {"generated": f"the whole corpus ({len(seen)} files)",
                                "held-out": "the training part"}.get(group.role, "")
        group.metrics = [piece_metrics(p, reference, rhythm if group.role != "training" else None)
                         for p in group.pieces]
    return Evaluation(groups, tokens, report)


def ioi_shares(pieces: list[Piece]) -> np.ndarray:
    """Share of inter-onset intervals per class of ``NOTE_VALUES`` over all ``pieces``."""
    counts = sum((ioi_histogram(to_beats(p.notes["start"].astype(np.float64), p.beats))
                  for p in pieces), np.zeros(len(NOTE_VALUES)))
    return counts / counts.sum() if counts.sum() else counts


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def markdown_table(evaluation: Evaluation) -> str:
    """Metrics as rows, groups as columns (mean over pieces)."""
    groups = evaluation.groups
    head = ["metric"] + [f"{g.label} ({len(g.pieces)})" for g in groups]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * len(groups)]
    summaries = [g.summary() for g in groups]
    for key, label in METRICS:
        lines.append("| " + " | ".join([label] + [_fmt(s[key]["mean"]) for s in summaries]) + " |")
    notes = [f"Means over pieces (piece counts in brackets); tokens: {evaluation.tokens}."]
    by_reference: dict[str, list[str]] = {}
    for g in groups:
        if g.copy_reference:
            by_reference.setdefault(g.copy_reference, []).append(f"`{g.label}`")
    notes += [f"Copying of {', '.join(labels)} is measured against {ref}."
              for ref, labels in by_reference.items()]
    notes.append("Rhythm in beats of the MIDI tempo map; IOI distance: 1 - overlap of the piece's "
                 "inter-onset-interval histogram with the training part's.")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def _grouped_bars(evaluation: Evaluation, path, shares, ticks: list[str], xlabel: str,
                  ylabel: str, title: str) -> Path:
    """One bar per group at each tick: ``shares(pieces)`` of every group."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), dpi=100)
    ax = fig.add_subplot()
    groups = evaluation.groups
    width = 0.8 / len(groups)
    for i, g in enumerate(groups):
        ax.bar(np.arange(len(ticks)) + (i - (len(groups) - 1) / 2) * width, shares(g.pieces),
               width, label=f"{g.label} ({len(g.pieces)})")
    ax.set_xticks(np.arange(len(ticks)), ticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return atomic.write_with(Path(path), lambda p: fig.savefig(p, format="png"))


def histogram_png(evaluation: Evaluation, path: str | os.PathLike) -> Path:
    """Grouped bars: share of notes per pitch class for each group."""
    return _grouped_bars(evaluation, path, pitch_class_histogram, list(PITCH_CLASS_NAMES),
                         "pitch class", "share of notes", "Pitch classes: generated vs training")


def ioi_png(evaluation: Evaluation, path: str | os.PathLike) -> Path:
    """Grouped bars: share of inter-onset intervals per note value for each group."""
    return _grouped_bars(evaluation, path, ioi_shares, [_note_value(v) for v in NOTE_VALUES],
                         "inter-onset interval (beats)", "share of intervals",
                         "Rhythm: inter-onset intervals, generated vs training")


def _note_value(v: float) -> str:
    from fractions import Fraction

    return str(Fraction(v).limit_denominator(12))


def write_report(evaluation: Evaluation, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``evaluation.md``, ``evaluation.json``, ``pitch_classes.png`` and ``rhythm.png`` in
    ``out_dir``."""
    out = Path(out_dir)
    return {"markdown": atomic.write_text(out / "evaluation.md", markdown_table(evaluation)),
            "json": atomic.write_json(out / "evaluation.json", evaluation.to_json()),
            "histogram": histogram_png(evaluation, out / "pitch_classes.png"),
            "rhythm": ioi_png(evaluation, out / "rhythm.png")}
