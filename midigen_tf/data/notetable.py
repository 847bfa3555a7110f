"""Note tables of a MAESTRO-layout (or any) MIDI folder, splits, and note windows over them.

Seed 000 walks the MAESTRO v2 folder (year sub-folders, ``.midi``/``.mid``), turns every note
into a row (pitch, start, end, duration, file name) with pretty_midi, concatenates, and splits
the rows 80/10/10 with ``train_test_split(random_state=42)`` twice. Here:

* one row is 16 bytes (``TABLE_DTYPE``; the file name is an index into ``NoteTable.files``),
  so the 7 million notes of MAESTRO v2 take about 110 MB;
* files are parsed in parallel with the shared cache in front (``data.parallel``); a file
  that fails to parse is skipped and reported;
* splits: ``note`` (the report's: every note drawn at random, which leaks context between
  splits), ``file`` (whole files, same recipe over the file list) and ``csv`` (the ``split``
  column of ``maestro-v*.csv``). The last two do not leak;
* windows of notes (model inputs) are gathered per batch in the tf.data graph
  (``note_batches``, through ``data.batches``), never stored.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from midigen_tf.data.batches import window_dataset
from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import require_files
from midigen_tf.data.parallel import parse_files
from midigen_tf.errors import MidigenError, reading
from midigen_tf.io.midi import read_notes

TABLE_DTYPE = np.dtype([("pitch", np.uint8), ("velocity", np.uint8), ("file", np.uint16),
                        ("start", np.float32), ("end", np.float32), ("duration", np.float32)])
SPLIT_NAMES = ("train", "validation", "test")
SPLIT_KINDS = ("note", "file", "csv")
FEATURES = ("pitch", "velocity", "duration", "step")
READER_VERSION = 1


@dataclass
class NoteTable:
    """All notes of a folder, file after file, each file's notes sorted by start then pitch."""

    notes: np.ndarray  # TABLE_DTYPE
    files: list[str]  # paths relative to the folder (POSIX), indexed by notes["file"]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    seconds: float = 0.0  # wall time of reading

    def file_starts(self) -> np.ndarray:
        """Offsets of each file's first note, plus the total: ``notes[s[i]:s[i+1]]`` is file i."""
        counts = np.bincount(self.notes["file"], minlength=len(self.files))
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def summary(self) -> str:
        rate = len(self.notes) / self.seconds if self.seconds > 0 else float("nan")
        lines = [f"note table: {len(self.notes):,} notes from {len(self.files)} files "
                 f"({self.notes.nbytes / 2**20:.1f} MiB), read in {self.seconds:.1f} s "
                 f"({rate:,.0f} notes/s)"]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        return "\n".join(lines)


def to_table(notes: np.ndarray, file_index: int = 0) -> np.ndarray:
    """A ``io.midi.NOTE_DTYPE`` table as ``TABLE_DTYPE`` rows of file ``file_index``."""
    out = np.empty(len(notes), dtype=TABLE_DTYPE)
    for name in ("pitch", "velocity", "start", "end"):
        out[name] = notes[name]
    out["duration"] = out["end"] - out["start"]
    out["file"] = file_index
    return out


def _no_notes(notes: np.ndarray) -> str | None:
    return None if len(notes) else "no notes"


def read_folder(data_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                jobs: int = 0, progress: bool = True) -> NoteTable:
    """Read every ``.mid``/``.midi`` under ``data_dir`` (recursive, sorted) into one table."""
    root = Path(data_dir)
    paths = require_files(root)
    if len(paths) > np.iinfo(np.uint16).max:
        raise MidigenError(f"{root} holds {len(paths)} MIDI files; a note table holds at most 65535",
                           hint="train on a sub-folder")
    cache = FileCache(cache_dir, "notetable", {"reader": "pretty_midi", "version": READER_VERSION})
    began = time.perf_counter()
    report = parse_files(paths, read_notes, cache, jobs=jobs, progress=progress,
                         desc="reading notes", validate=_no_notes)
    files = [p.relative_to(root).as_posix() for p in report.parsed]
    parts = [to_table(notes, i) for i, notes in enumerate(report.parsed.values())]
    skipped = [(p.relative_to(root).as_posix(), reason) for p, reason in report.skipped]
    if not parts:
        raise MidigenError(f"none of the {len(paths)} MIDI files in {root} could be read",
                           hint="; ".join(f"{n}: {r}" for n, r in skipped[:3]))
    notes = np.concatenate(parts)
    return NoteTable(notes, files, skipped, time.perf_counter() - began)


# ----------------------------------------------------------------------------------- splits

def shuffle_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` indices exactly as ``sklearn.model_selection.train_test_split(
    range(n), test_size=test_size, random_state=seed)`` (without needing scikit-learn)."""
    n_test = math.ceil(test_size * n)
    permutation = np.random.RandomState(seed).permutation(n)
    return permutation[n_test:], permutation[:n_test]


def split_labels(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 42, min_each: int = 0) -> np.ndarray:
    """A label per item (0 train, 1 validation, 2 test) by the report's two-stage recipe:
    hold out ``val + test``, then split the held-out part ``test / (val + test)``.

    ``min_each`` moves items from train so that validation and test get at least that many
    (for file-level splits of small folders)."""
    train_f, val_f, test_f = (float(f) for f in fractions)
    if min(train_f, val_f, test_f) < 0 or not math.isclose(train_f + val_f + test_f, 1.0, abs_tol=1e-6):
        raise MidigenError(f"split_fractions {list(fractions)} must be three shares >= 0 summing to 1",
                           hint="e.g. --set split_fractions=[0.8,0.1,0.1]")
    labels = np.zeros(n, dtype=np.uint8)
    held = val_f + test_f
    if n == 0 or held == 0:
        return labels
    _, rest = shuffle_split(n, held, seed)
    _, test_pos = shuffle_split(len(rest), test_f / held, seed)
    labels[rest] = 1
    labels[rest[test_pos]] = 2
    for split, share in ((1, val_f), (2, test_f)):
        short = min_each - int((labels == split).sum()) if share > 0 else 0
        if short > 0:
            movable = np.flatnonzero(labels == 0)[::-1][:short]
            labels[movable] = split
    return labels


def find_maestro_csv(data_dir: str | os.PathLike) -> Path | None:
    """The newest ``maestro-v*.csv`` in the folder (MAESTRO's metadata), if any."""
    found = sorted(Path(data_dir).glob("maestro-v*.csv"))
    return found[-1] if found else None


def read_csv_splits(path: str | os.PathLike) -> dict[str, str]:
    """``{midi_filename: split}`` from a MAESTRO metadata CSV."""
    with reading(f"cannot read the MAESTRO CSV {path}", errors=(OSError, UnicodeDecodeError, csv.Error)):
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    if not rows or not {"midi_filename", "split"} <= set(rows[0]):
        raise MidigenError(f"{path} has no midi_filename and split columns",
                           hint="use the maestro-v2.0.0.csv shipped with MAESTRO, or --set split=file")
    out = {}
    for row in rows:
        split = row["split"].strip().lower()
        if split not in SPLIT_NAMES:
            raise MidigenError(f"{path}: split {row['split']!r} of {row['midi_filename']} is not "
                               f"one of {', '.join(SPLIT_NAMES)}")
        out[row["midi_filename"].strip().replace("\\", "/")] = split
    return out


def assign_split(table: NoteTable, kind: str, fractions=(0.8, 0.1, 0.1), seed: int = 42,
                 data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A split label per note and a JSON-able description of the split (saved in the bundle)."""
    info: dict[str, Any] = {"kind": kind, "fractions": [float(f) for f in fractions], "seed": seed}
    if kind == "note":
        labels = split_labels(len(table.notes), fractions, seed)
    elif kind in ("file", "csv"):
        if kind == "file":
            if len(table.files) < 3:
                raise MidigenError(f"a file-level split needs at least 3 files, the folder has "
                                   f"{len(table.files)}", hint="add files, or --set split=note")
            by_file = split_labels(len(table.files), fractions, seed, min_each=1)
        else:
            by_file = _csv_file_labels(table, data_dir)
            info.update(fractions=None, seed=None)
        labels = by_file[table.notes["file"]]
        info["files"] = {name: [f for f, s in zip(table.files, by_file) if s == i]
                         for i, name in enumerate(SPLIT_NAMES)}
    else:
        raise MidigenError(f"unknown split {kind!r}", hint=f"--set split= one of {', '.join(SPLIT_KINDS)}")
    info["notes"] = {name: int((labels == i).sum()) for i, name in enumerate(SPLIT_NAMES)}
    return labels, info


def _csv_file_labels(table: NoteTable, data_dir) -> np.ndarray:
    path = find_maestro_csv(data_dir) if data_dir is not None else None
    if path is None:
        raise MidigenError(f"split=csv needs a maestro-v*.csv in {data_dir}",
                           hint="put MAESTRO's metadata CSV there, or --set split=file")
    splits = read_csv_splits(path)
    missing = [f for f in table.files if f not in splits]
    if missing:
        raise MidigenError(f"{len(missing)} MIDI file(s) are not listed in {path.name}, e.g. {missing[0]}",
                           hint="the CSV's midi_filename must be the path relative to the data "
                           "folder (2018/xyz.midi); or use --set split=file")
    return np.array([SPLIT_NAMES.index(splits[f]) for f in table.files], dtype=np.uint8)


# ---------------------------------------------------------------------------- windows

def check_features(config: dict[str, Any]) -> None:
    unknown = [f for f in config["features"] if f not in FEATURES]
    target = config.get("target")
    if unknown or not config["features"] or (target is not None and target not in FEATURES):
        raise MidigenError(f"features {config['features']} / target {target!r} must come from "
                           f"{', '.join(FEATURES)}", hint='e.g. --set features=["pitch","step"]')
    if int(config["sequence_length"]) < 1:
        raise MidigenError("sequence_length must be at least 1")


def classifies(config: dict[str, Any]) -> bool:
    return config.get("target") is None


def feature_scale(name: str, config: dict[str, Any]) -> float:
    return 127.0 if name in ("pitch", "velocity") else float(config["time_scale"])


def raw_values(notes: np.ndarray, idx: np.ndarray, name: str) -> np.ndarray:
    """One feature of the notes at ``idx`` (any shape) in its own unit (MIDI number, seconds)."""
    if name == "step":
        prev = np.maximum(idx - 1, 0)
        same = (idx > 0) & (notes["file"][prev] == notes["file"][idx])
        return np.where(same, notes["start"][idx] - notes["start"][prev], 0).astype(np.float32)
    return notes[name][idx].astype(np.float32)


def note_features(notes: np.ndarray, idx: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """``idx.shape + (len(features),)`` float32 model inputs in [0, 1]."""
    cols = [np.clip(raw_values(notes, idx, f) / feature_scale(f, config), 0.0, 1.0) for f in config["features"]]
    return np.stack(cols, axis=-1)


def positions_in_file(file_ids: np.ndarray) -> np.ndarray:
    """Each row's position inside its run of equal file ids (0 at each file's first note)."""
    new = np.empty(len(file_ids), dtype=bool)
    new[:1] = True
    np.not_equal(file_ids[1:], file_ids[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return np.arange(len(file_ids)) - starts[np.cumsum(new) - 1]


def window_targets(notes: np.ndarray, labels: np.ndarray, split: int, length: int) -> np.ndarray:
    """Rows with ``length`` notes of the same file before them, labelled ``split``."""
    ok = (positions_in_file(notes["file"]) >= length) & (labels == split)
    return np.flatnonzero(ok).astype(np.int32 if len(notes) < 2**31 else np.int64)


def windows(notes: np.ndarray, targets: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    length = int(config["sequence_length"])
    return note_features(notes, targets[:, None] + np.arange(-length, 0), config)


def target_values(notes: np.ndarray, targets: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """Training targets: MIDI numbers (classifier) or the normalised target, shape (n, 1)."""
    if classifies(config):
        return notes["pitch"][targets].astype(np.int32)
    name = config["target"]
    return np.clip(raw_values(notes, targets, name) / feature_scale(name, config), 0.0, 1.0)[:, None]


@dataclass
class NoteSplit:
    """The windows of one split: the note table and the rows of their target notes."""

    notes: np.ndarray
    targets: np.ndarray


def note_columns(notes: np.ndarray, config: dict[str, Any]) -> dict[str, Any]:
    """Every row's model inputs (``x``: normalised features) and training target (``y``), as
    tensors the batches gather from (made once, shared by the train / validation batches)."""
    import tensorflow as tf

    rows = np.arange(len(notes))
    y = target_values(notes, rows, config)
    return {"x": tf.constant(note_features(notes, rows, config)),
            "y": tf.constant(y.reshape(len(notes), -1))}


def note_batches(columns: dict[str, Any], targets: np.ndarray, config: dict[str, Any],
                 shuffle: bool = False, seed: int = 0):
    """``(windows, targets)`` batches (``windows``/``target_values`` of the window before each
    target row) through the one batcher; with ``shuffle`` reshuffled every epoch and limited
    to ``samples_per_epoch`` windows (0 = all), a fresh random subset each epoch."""
    length = int(config["sequence_length"])
    limit = int(config.get("samples_per_epoch") or 0) if shuffle else 0
    offsets = {"x": np.arange(-length, 0), "y": np.zeros(1, np.int64)}
    regression = not classifies(config)
    make_batch = lambda g: (g["x"], g["y"][:, 0] if regression else g["y"][:, 0, 0])  # noqa: E731
    return window_dataset(columns, targets, offsets, int(config["batch_size"]), make_batch,
                          shuffle=shuffle, seed=seed, samples=min(limit, len(targets)))
