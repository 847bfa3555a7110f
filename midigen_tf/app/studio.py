"""What the web app does, without Streamlit: find checkpoints, generate one piece, render it.

``streamlit_app.py`` is only the page; everything here can be called (and tested) on its own.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from midigen_tf.bundle import WEIGHT_SUFFIXES, bundle_path
from midigen_tf.errors import MidigenError

BEST_NAME = "weights.hdf5"


@dataclass(frozen=True)
class Checkpoint:
    """A weights file with its bundle, as listed in the app."""

    weights: Path
    preset: str
    family: str
    epoch: int | None
    best: float | None

    def label(self, root: Path) -> str:
        try:
            where = self.weights.relative_to(root)
        except ValueError:
            where = self.weights
        score = f", loss {self.best:.4f}" if self.best is not None else ""
        epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
        return f"{where}  ({self.preset}{epoch}{score})"


def find_checkpoints(root: str | os.PathLike, every: bool = False) -> list[Checkpoint]:
    """Checkpoints under ``root`` (recursive) that have a bundle: the best ``weights.hdf5`` of
    each run, or with ``every`` each improvement too. Sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not path.name.endswith(WEIGHT_SUFFIXES):
            continue
        if not every and path.name != BEST_NAME:
            continue
        bundle = bundle_path(path)
        try:
            data = json.loads(bundle.read_text(encoding="utf-8"))
            config, info = data["config"], data.get("info") or {}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no readable bundle: not generatable from here
        found.append(Checkpoint(path, config.get("preset", "?"), config.get("family", "?"),
                                info.get("epoch"), info.get("best")))
    return found


@dataclass
class Settings:
    """The page's choices."""

    length: int = 100
    sampling: str = "argmax"  # "argmax" or "sample"
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    seed: int = 0
    extra: str = ""  # model-specific KEY=VALUE, comma-separated


def generate_piece(model, bundle, pipeline, settings: Settings, out_dir: str | os.PathLike,
                   primer: Path | None = None, engine: str = "auto"):
    """Generate one piece into ``out_dir`` and render it: returns ``io.render.Artefacts``."""
    from midigen_tf import config as config_lib
    from midigen_tf.io.render import default_paths, render_all
    from midigen_tf.pipelines.base import GenerateOptions

    if settings.length < 1:
        raise MidigenError("the length must be at least 1")
    sample = settings.sampling == "sample"
    extra = [kv.strip() for kv in settings.extra.split(",") if kv.strip()]
    options = GenerateOptions(
        n=int(settings.length), output=Path(out_dir) / "midigen.mid", seed=int(settings.seed),
        temperature=float(settings.temperature) if sample else None,
        top_k=int(settings.top_k) if sample and settings.top_k > 0 else None,
        top_p=float(settings.top_p) if sample and settings.top_p < 1 else None,
        primer=primer, num_outputs=1, extra=config_lib.parse_assignments(extra, "-O"))
    paths = [Path(p) for p in pipeline.run(model, bundle, options)]
    midis = [p for p in paths if p.suffix.lower() in (".mid", ".midi")]
    if not midis:
        raise MidigenError(f"the {bundle.family} model wrote no MIDI ({[p.name for p in paths]})")
    return render_all(midis[0], default_paths(midis[0]), engine=engine)
