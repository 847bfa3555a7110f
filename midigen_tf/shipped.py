"""Trained models shipped in the repository, named instead of a path (like keras-hub presets).

A shipped model is a folder ``weights/shipped/NAME/`` beside the package: its best checkpoint
``weights.hdf5`` with its bundle ``weights.json`` (config + vocabulary), the arrays generation
reads (``tokens.npy`` ...), ``history.json`` and a model card ``README.md``. Training never writes
there by default (its default folder is ``weights/``), so no run of a user overwrites one.

``python predict.py NAME`` (``midigen generate NAME``) resolves the name here; a folder given
as weights means its best checkpoint, ``weights.hdf5``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from midigen_tf.checkpoints import BEST_NAME as BEST
from midigen_tf.checkpoints import RESUME_NAME as RESUME
from midigen_tf.errors import MidigenError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights" / "shipped"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    folder: Path

    @property
    def weights(self) -> Path:
        return self.folder / BEST

    @property
    def size_mb(self) -> float:
        return sum(f.stat().st_size for f in self.folder.iterdir() if f.is_file()) / 1e6

    def summary(self) -> str:
        """One line: the preset, what it was trained on, how far, its best loss, its size."""
        try:
            bundle = json.loads(self.weights.with_suffix(".json").read_text())
        except (OSError, ValueError):
            return f"{self.name}: no readable bundle in {self.folder}"
        config, info = bundle.get("config", {}), bundle.get("info", {})
        data = Path(str(bundle.get("extra", {}).get("data", "?"))).name or "?"
        held = len(bundle.get("extra", {}).get("held_out", []))
        trained = f"epoch {info.get('epoch', '?')} of {config.get('epochs', '?')}"
        try:  # a run still in progress has trained past its best epoch
            done = len(json.loads((self.folder / "history.json").read_text()))
        except (OSError, ValueError, TypeError):
            done = None
        if done and done != info.get("epoch"):
            trained = f"{done} of {config.get('epochs', '?')} epochs, best: epoch {info.get('epoch', '?')}"
        loss = f", {info['monitor']} {info['best']:.4f}" if "best" in info else ""
        return (f"{self.name:20s} preset={config.get('preset', '?')}, data={data}"
                f"{f' ({held} files held out)' if held else ''}, {trained}{loss}, "
                f"{self.size_mb:.1f} MB")


def available(root: Path | None = None) -> dict[str, ShippedModel]:
    """The shipped models by name (folders holding a ``weights.hdf5``), sorted."""
    root = root or SHIPPED_DIR
    if not root.is_dir():
        return {}
    return {d.name: ShippedModel(d.name, d) for d in sorted(root.iterdir())
            if (d / BEST).is_file()}


def resolve_weights(given: str, root: Path | None = None) -> Path:
    """The checkpoint ``given`` names: a file as it is; a folder's ``weights.hdf5``; a shipped
    model's name. Anything else is one clear error listing the shipped names."""
    path = Path(given)
    if path.is_dir():
        for name in (BEST, RESUME):  # an interrupted first epoch leaves only the resume point
            if (path / name).is_file():
                return path / name
        raise MidigenError(f"{path} is a folder without a {BEST} (its best checkpoint)",
                           hint="give a checkpoint file, or the folder a training run "
                           "wrote (--weights-dir)")
    if path.name == BEST and not path.exists() and (path.parent / RESUME).is_file():
        raise MidigenError(f"{path} does not exist, but an interrupted run left "
                           f"{path.parent / RESUME}",
                           hint=f"generate from it (predict.py {path.parent / RESUME}), or "
                           "continue training with --resume")
    if path.exists() or path.suffix or "/" in given or "\\" in given:
        return path  # a file (a missing one is reported by the loader, with its fix)
    models = available(root)
    if given in models:
        return models[given].weights
    names = ", ".join(models) or "none in this checkout"
    raise MidigenError(f"{given!r} is neither a weights file nor a shipped model",
                       hint=f"shipped models: {names} (midigen models lists them); or train "
                       "first (python lstm.py) and use weights/weights.hdf5")


def resolve_folder(given: str, root: Path | None = None) -> Path:
    """A training run's folder: ``given`` as it is, or the folder of the shipped model it names."""
    models = available(root)
    if not Path(given).is_dir() and given in models:
        return models[given].folder
    return Path(given)
