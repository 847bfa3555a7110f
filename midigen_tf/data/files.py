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


def require_files(data_dir: str | os.PathLike, suffixes: tuple[str, ...] = MIDI_SUFFIXES,
                  original: bool = False) -> list[Path]:
    """``find_files``, or with ``original`` the reports' top-level ``*.mid`` glob; an error if
    nothing is found."""
    files = original_glob(data_dir) if original else find_files(data_dir, suffixes)
    if not files:
        what = "top-level *.mid (the original's glob)" if original else "/".join(suffixes)
        raise MidigenError(f"no {what} files in {data_dir}",
                           hint="put MIDI files there, or leave midi_songs/ empty to build "
                           "the default corpus")
    return files
