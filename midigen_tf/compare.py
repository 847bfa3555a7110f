"""Our per-epoch figures beside a report's table, saying what is compared with what.

The header names the reference's model and corpus beside the run's preset, corpus and
vocabulary size (read from the run's bundle ``weights.json`` when there is one); a run of
another family than the reference's is refused: its losses are not comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from midigen_tf import references, registry
from midigen_tf.bundle import load_bundle
from midigen_tf.errors import MidigenError

REFERENCES = tuple(references.REFERENCES)
BUNDLE_NAME = "weights.json"  # the bundle of checkpoints.BEST_NAME (importing it loads Keras)


@dataclass
class RunInfo:
    """What a training run trained; ``None`` where its files do not say."""

    where: str
    preset: str | None = None
    family: str | None = None
    corpus: str | None = None
    vocabulary: int | None = None
    source: str = "history only"
    changed: str = ""  # the settings the run changed from its preset (--set), "k=v, ..."


def changed_settings(config: dict[str, Any]) -> str:
    """``"units=[8, 8], dense_units=8"``: where ``config`` differs from its preset's defaults
    (the sizes training derives from the data, such as ``n_vocab``, are not settings)."""
    try:
        defaults = registry.get_preset(config["preset"]).defaults
    except (KeyError, MidigenError):
        return ""
    return ", ".join(f"{k}={v}" for k, v in config.items()
                     if k in defaults and defaults[k] is not None and defaults[k] != v)


def run_info(config: dict[str, Any], vocab: Any = None, corpus: str | None = None,
             where: str = "this run", source: str = "this run") -> RunInfo:
    size = config.get("n_vocab") or (len(vocab) if isinstance(vocab, (list, dict)) else None)
    return RunInfo(where, config.get("preset"), config.get("family"), corpus,
                   int(size) if size else None, source, changed_settings(config))


def read_run(weights_dir: str | Path) -> RunInfo:
    """The run in ``weights_dir``, from its bundle ``weights.json`` (else: nothing known)."""
    path = Path(weights_dir) / BUNDLE_NAME
    if not path.exists():
        return RunInfo(str(weights_dir), source=f"history only: no bundle {path}")
    bundle = load_bundle(path)
    return run_info(bundle.config, bundle.vocab, bundle.extra.get("data"), str(weights_dir), str(path))


def runs_of_family(root: str | Path, family: str, shipped: str | Path) -> list[str]:
    """``--weights-dir`` values of the runs under ``root`` (and shipped models, by name) whose
    bundle says they are of ``family``: what a run can be compared with."""
    found = [(str(h.parent), h.parent) for h in sorted(Path(root).glob("*/history.json"))]
    found += [(h.parent.name, h.parent) for h in sorted(Path(shipped).glob("*/history.json"))]
    out = []
    for name, folder in found:
        try:
            if read_run(folder).family == family:
                out.append(name)
        except MidigenError:  # an unreadable bundle: not a candidate
            continue
    return out


def load_history(weights_dir: str | Path,
                 candidates: Callable[[], list[str]] | None = None) -> list[dict]:
    """``history.json`` of a run; ``candidates()``: other runs to name when it has none (only
    looked for then)."""
    path = Path(weights_dir) / "history.json"
    if not path.exists():
        hint = "train first, or point --weights-dir at a training run's folder"
        found = candidates() if candidates else []
        if found:
            hint = "runs of this family here: " + ", ".join(f"--weights-dir {c}" for c in found)
        raise MidigenError(f"no training history at {path}", hint=hint)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MidigenError(f"{path} is not readable JSON: {err}",
                           hint="point --weights-dir at a training run's folder") from err


def reference(name: str) -> references.Reference:
    try:
        return references.REFERENCES[name]
    except KeyError:
        raise MidigenError(f"unknown reference {name!r}",
                           hint=f"use one of {', '.join(REFERENCES)}") from None


def check_family(name: str, family: str | None, preset: str | None, where: str = "this run") -> None:
    """Refuse a run whose family is not the one the reference trained (when it is known)."""
    ref = reference(name)
    if family is None or family == ref.family:
        return
    raise MidigenError(
        f"{where} is a {preset or family!r} run (family {family}); {name} is the {ref.family} "
        f"family ({ref.model}): another model, corpus and vocabulary, so its losses are not "
        "comparable", hint=f"compare a run of the {ref.family} family (`midigen models` lists "
        "the presets of each family)")


def describe(name: str, run: RunInfo) -> str:
    """Two lines: the reference's model and corpus, the run's preset, corpus and vocabulary."""
    ref = reference(name)
    unknown = "not recorded"
    preset = f"{run.preset} with {run.changed}" if run.preset and run.changed else run.preset
    ours = (f"ours: {run.where}: preset {preset or unknown} (family {run.family or unknown}), "
            f"corpus {run.corpus or unknown}, vocabulary {run.vocabulary or 'none'} "
            f"(from {run.source})")
    if run.family is None:
        ours = f"ours: {run.where} ({run.source}: its model, corpus and vocabulary are unknown)"
    return f"reference: {ref.model}; corpus: {ref.corpus}; vocabulary: {ref.vocabulary}\n{ours}"


def compare_table(name: str, history: list[dict], run: RunInfo) -> str:
    """What is compared, then a Markdown table of our per-epoch figures beside the report's."""
    check_family(name, run.family, run.preset, run.where)
    return f"{describe(name, run)}\n\n{references.TABLES[name](history)}"
