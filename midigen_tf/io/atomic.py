"""Atomic file writes: write a temporary file beside the target, then rename over it.

A reader (or a run killed mid-write) sees either the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux: /proc).

    ``os.umask`` can only be read by setting it, which races with other threads creating files;
    that is the fallback where ``/proc/self/status`` has no ``Umask:`` line.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    ``suffix`` defaults to the target's own suffix(es), for writers that check it
    (Keras picks its file format from the name).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + suffix, dir=target.parent)
    try:  # mkstemp makes the file private (0600); give it what a plain open() would
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_with(target: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_output(target: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """``write_with`` for a file the user asked for: an ``OSError`` becomes a ``MidigenError``
    naming the file and asking for a writable path."""
    from midigen_tf.errors import MidigenError

    try:
        return write_with(target, writer)
    except OSError as err:
        raise MidigenError(f"cannot write {target}: {err.strerror or err}",
                           hint="choose a writable output path with -o") from err


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_with(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(target: str | os.PathLike, data: Any) -> Path:
    return write_text(target, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    return write_with(target, lambda p: p.write_bytes(data))
