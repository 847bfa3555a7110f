"""A content-keyed on-disk cache of parsed files.

An entry's key is the SHA-256 of the file's bytes plus the parser's name and settings, so a
renamed file still hits, an edited file misses, and changing a setting re-parses. A hit only
unpickles: it never imports or calls the parser.

The cache folder may be shared (``MIDIGEN_CACHE``), so an entry is read as data only: plain
Python values, numpy arrays and our own parse results (``ALLOWED``). An entry that names any
other function or class is never called: it is a miss, and is parsed again and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

from midigen_tf.io import atomic

DEFAULT_CACHE_DIR = Path(os.environ.get("MIDIGEN_CACHE", ".cache/midigen"))
# What an entry may name (module, name): what the parsers return is lists, dicts, numpy arrays
# and folk tunes. numpy.core is numpy._core before numpy 2.
ALLOWED = frozenset(
    [("numpy", "dtype"), ("numpy", "ndarray"), ("midigen_tf.data.folk", "Tune")]
    + [(f"{core}.multiarray", "_reconstruct") for core in ("numpy._core", "numpy.core")]
    + [(f"{core}.multiarray", "scalar") for core in ("numpy._core", "numpy.core")]
    + [(f"{core}.numeric", "_frombuffer") for core in ("numpy._core", "numpy.core")])


class EntryUnpickler(pickle.Unpickler):
    """Unpickles plain data, numpy arrays and ``ALLOWED`` classes; refuses every other global
    (``os.system``, ``builtins.eval``, ...) before it could be called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"cache entry names {module}.{name}: not read")
        return super().find_class(module, name)


def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FileCache:
    """``get``/``put`` parsed results of files under one parser namespace and settings."""

    def __init__(self, cache_dir: str | os.PathLike | None, namespace: str, settings: dict[str, Any]):
        self.enabled = cache_dir is not None
        self.root = Path(cache_dir or DEFAULT_CACHE_DIR) / namespace
        self.salt = json.dumps(settings, sort_keys=True, default=str)

    def key(self, digest: str) -> str:
        return hashlib.sha256((self.salt + digest).encode()).hexdigest()

    def _entry(self, digest: str) -> Path:
        k = self.key(digest)
        return self.root / k[:2] / f"{k}.pkl"

    def get(self, digest: str) -> Any | None:
        if not self.enabled:
            return None
        entry = self._entry(digest)
        try:
            with open(entry, "rb") as fh:
                return EntryUnpickler(fh).load()
        except FileNotFoundError:
            return None
        except Exception:  # a damaged or refused entry is a miss, and is rewritten
            return None

    def put(self, digest: str, value: Any) -> None:
        if self.enabled:
            atomic.write_bytes(self._entry(digest), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
