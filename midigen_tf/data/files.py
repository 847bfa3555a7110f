"""Finding music files: recursive, sorted (so windows are identical on every machine)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from midigen_tf.errors import MidigenError, require_path

MIDI_SUFFIXES = (".mid", ".midi")


def find_files(data_dir: str | os.PathLike, suffixes: tuple[str, ...] = MIDI_SUFFIXES) -> list[Path]:
    """Every file under ``data_dir`` whose suffix (any case) is in ``suffixes``, sorted by path."""
    root = require_path(data_dir, "data folder", "give a folder of MIDI files with --data DIR")
    if not root.is_dir():
        raise MidigenError(f"{root} is a file, not a folder", hint="give its folder with --data")
    found = [p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def original_glob(data_dir: str | os.PathLike, pattern: str = "*.mid") -> list[Path]:
    """What the reports' ``glob.glob("midi_songs/*.mid")`` reads: top level only, the suffix
    as written (case-sensitive on Linux), hidden files left out; sorted by name."""
    find_files(data_dir, ())  # the same errors for a missing folder or a file
    found = glob.glob(os.path.join(glob.escape(os.fspath(data_dir)), pattern))
    return sorted((Path(p) for p in found if os.path.isfile(p)), key=lambda p: p.name)


def held_out_split(files: list[Path], every: int) -> tuple[list[Path], list[Path]]:
    """``(training, held out)`` of sorted ``files``: every ``every``-th file (the 10th, 20th,
    ... for 10) is held out, the rule of ``midigen evaluate``; ``every`` 0 holds out nothing."""
    if not every:
        return list(files), []
    if every < 2:
        raise MidigenError(f"hold_out_every={every} must be 0 (none) or at least 2",
                           hint="e.g. --set hold_out_every=10 leaves out every 10th file")
    held = files[every - 1::every]
    kept = set(held)
    return [p for p in files if p not in kept], held


def held_out_names(data_dir: str | os.PathLike, every: int, suffixes: tuple[str, ...] = MIDI_SUFFIXES,
                   original: bool = False) -> list[str]:
    """The files ``require_files(..., hold_out_every=every)`` leaves out, relative to
    ``data_dir`` (recorded in the bundle, so the model card and ``evaluate`` can name them)."""
    files = original_glob(data_dir) if original else find_files(data_dir, suffixes)
    return [p.relative_to(data_dir).as_posix() for p in held_out_split(files, every)[1]]


def require_files(data_dir: str | os.PathLike, suffixes: tuple[str, ...] = MIDI_SUFFIXES,
                  original: bool = False, hold_out_every: int = 0) -> list[Path]:
    """``find_files``, or with ``original`` the reports' top-level ``*.mid`` glob, less the
    held-out files of ``hold_out_every`` (``held_out_split``); an error if nothing is found."""
    files = original_glob(data_dir) if original else find_files(data_dir, suffixes)
    files = held_out_split(files, hold_out_every)[0]
    if not files:
        what = "top-level *.mid (the original's glob)" if original else "/".join(suffixes)
        raise MidigenError(f"no {what} files in {data_dir}",
                           hint="put MIDI files there, or leave midi_songs/ empty to build "
                           "the default corpus")
    return files
