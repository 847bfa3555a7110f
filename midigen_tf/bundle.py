"""The bundle: the config and vocabulary saved as JSON next to every checkpoint.

``weights/weights.hdf5`` has ``weights/weights.json``; a checkpoint can always be rebuilt from
its bundle alone (``registry.build_model(bundle.config)``), and a checkpoint whose weights do not
fit its bundle is refused with both shapes named.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midigen_tf import __version__
from midigen_tf.errors import MidigenError, require_path
from midigen_tf.io import atomic

BUNDLE_FORMAT = "midigen-bundle"
BUNDLE_VERSION = 1
WEIGHT_SUFFIXES = (".weights.h5", ".hdf5", ".h5", ".keras")


@dataclass
class Bundle:
    config: dict[str, Any]
    vocab: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    arrays: dict[str, Any] = field(default_factory=dict)  # in memory only, never in the JSON

    @property
    def family(self) -> str:
        return self.config["family"]

    def resolve(self, name: str) -> Path:
        """A file named in the bundle, relative to the bundle's folder."""
        base = self.path.parent if self.path else Path(".")
        return base / name

    def array(self, name: str):
        """A numpy array saved beside the checkpoints as ``<name>.npy`` (or held in memory)."""
        if name in self.arrays:
            return self.arrays[name]
        file = self.resolve(f"{name}.npy")
        if file.exists():
            import numpy as np

            try:
                return np.load(file, allow_pickle=False)  # a pickled object array runs code
            except ValueError as err:
                raise MidigenError(f"refused {file}: it holds Python objects, not a plain array "
                                   f"({err}); nothing in it was run",
                                   hint="use the .npy files training wrote beside this checkpoint"
                                   ) from None
        return None

    def to_json(self) -> dict[str, Any]:
        import keras

        return {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "midigen_tf": __version__,
            "keras": keras.__version__,
            "config": self.config,
            "vocab": self.vocab,
            "extra": self.extra,
            "info": self.info,
        }


def bundle_path(weights_path: str | os.PathLike) -> Path:
    """``weights/x.hdf5`` -> ``weights/x.json`` (also for .h5, .weights.h5, .keras)."""
    p = Path(weights_path)
    name = p.name
    for suffix in WEIGHT_SUFFIXES:
        if name.endswith(suffix):
            return p.with_name(name[: -len(suffix)] + ".json")
    return p.with_name(name + ".json")


def save_bundle(weights_path: str | os.PathLike, bundle: Bundle) -> Path:
    target = bundle_path(weights_path)
    atomic.write_json(target, bundle.to_json())
    bundle.path = target
    return target


def load_bundle(weights_path: str | os.PathLike) -> Bundle:
    target = Path(weights_path)
    if target.suffix != ".json":
        target = bundle_path(weights_path)
    if not target.exists():
        raise MidigenError(
            f"no bundle {target} next to the weights {weights_path}",
            hint="a bundle is written by `lstm.py`/`midigen train`; for weights made by the "
            "original Keras 2 scripts give their token pickle with --notes data/notes",
        )
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MidigenError(f"bundle {target} is not readable JSON: {err}",
                           hint="retrain, or restore the file from the training run") from err
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise MidigenError(f"{target} is not a midigen bundle (no \"format\": \"{BUNDLE_FORMAT}\")")
    if data.get("version", 0) > BUNDLE_VERSION:
        raise MidigenError(f"bundle {target} has version {data['version']}, newer than this "
                           f"midigen_tf understands ({BUNDLE_VERSION})", hint="upgrade midigen_tf")
    return Bundle(config=data["config"], vocab=data.get("vocab"), extra=data.get("extra", {}),
                  info=data.get("info", {}), path=target)


def _file_weight_shapes(path: Path) -> list[tuple[int, ...]]:
    import h5py

    shapes: list[tuple[int, ...]] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: shapes.append(tuple(obj.shape))
                     if isinstance(obj, h5py.Dataset) and "optimizer" not in name else None)
    return shapes


def weights_fit(model, weights_path: str | os.PathLike) -> bool:
    """Whether the HDF5 weights file holds exactly the weight shapes of ``model``."""
    try:
        file_shapes = Counter(_file_weight_shapes(Path(weights_path)))
    except Exception:
        return False
    return file_shapes == Counter(tuple(int(d) for d in w.shape) for w in model.weights)


def load_weights(model, weights_path: str | os.PathLike, bundle: Bundle | None = None) -> None:
    """``model.load_weights`` with a clear error when the file does not fit the model."""
    path = require_path(weights_path, "weights file",
                        "train first (python lstm.py) or give the path of a checkpoint")
    if not path.name.endswith(WEIGHT_SUFFIXES):
        raise MidigenError(f"{path} is not a weights file ({', '.join(WEIGHT_SUFFIXES)})")
    try:
        with warnings.catch_warnings():  # a .keras resume point also holds the optimizer's
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(path)  # state, which generation does not need
        return
    except Exception as err:  # Keras raises ValueError, h5py OSError, ... : explain them all
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        cause = err
    try:
        file_shapes = Counter(_file_weight_shapes(path))
    except Exception:
        raise MidigenError(f"{path} is not a readable HDF5 weights file ({detail})",
                           hint="the file may be truncated; use another checkpoint") from cause
    model_shapes = Counter(tuple(int(d) for d in w.shape) for w in model.weights)
    only_model = sorted((model_shapes - file_shapes).elements())
    only_file = sorted((file_shapes - model_shapes).elements())
    vocab, built_from = "", bundle.path if bundle and bundle.path else "the given config"
    notes = bundle.extra.get("notes_file") if bundle is not None else None
    if notes:  # --notes: the vocabulary is the pickle's, not a bundle's
        built_from = f"preset {bundle.config.get('preset')!r} and --notes {notes}"
    if bundle is not None and bundle.vocab is not None and hasattr(bundle.vocab, "__len__"):
        whose = f"the vocabulary of {notes}" if notes else "the bundle's vocabulary"
        vocab = f"; {whose} has {len(bundle.vocab)} entries"
    raise MidigenError(
        f"the weights in {path} do not fit the model built from {built_from}{vocab}: "
        f"model expects shapes {only_model[:6]}, file holds {only_file[:6]} ({detail})",
        hint="use the bundle (.json) written with these weights, or the --notes/--data the "
        "weights were trained on",
    ) from cause
