"""Rebuilding a trained model for generation: from its bundle, or from legacy Keras 2 files."""

from __future__ import annotations

from pathlib import Path

from midigen_tf import registry
from midigen_tf.bundle import (WEIGHT_SUFFIXES, Bundle, bundle_path, load_bundle, load_weights,
                               weights_fit)
from midigen_tf.errors import MidigenError, require_path
from midigen_tf.shipped import resolve_weights


def legacy_bundle(notes_file: str | Path, preset: str) -> Bundle:
    """A bundle for weights written by the original scripts, from their ``data/notes`` pickle."""
    from midigen_tf.data.notes import TOKENS_ARRAY, encode_tokens, load_notes_pickle, vocabulary

    notes = load_notes_pickle(notes_file)
    vocab = vocabulary(notes)
    config = registry.make_config(preset, {})
    if config["pipeline"] != "notes":
        raise MidigenError(f"--notes only applies to the classic note/chord presets, not {preset!r}")
    config["n_vocab"] = len(vocab)
    return Bundle(config=config, vocab=vocab, arrays={TOKENS_ARRAY: encode_tokens(notes, vocab)},
                  extra={"notes_file": str(notes_file)})


def _legacy_preset_that_fits(weights: Path, bundle: Bundle) -> str | None:
    """Another classic note/chord preset whose model has exactly the weight shapes in the file."""
    for name, preset in registry.presets().items():
        if preset.pipeline != "notes" or name == bundle.config.get("preset"):
            continue
        config = registry.make_config(name, {})
        config["n_vocab"] = bundle.config["n_vocab"]
        if weights_fit(registry.build_model(config), weights):
            return name
    return None


def load_for_generation(weights: str | Path, notes_file: str | Path | None = None,
                        preset: str = "lstm"):
    """``(model, bundle, pipeline)`` for a checkpoint (``pipeline``: a ``pipelines.base.Pipeline``):
    a file, a training folder (its best checkpoint) or a shipped model's name (``shipped``)."""
    weights = require_path(resolve_weights(str(weights)), "weights file",
                           "train first (python lstm.py), then use weights/lstm "
                           "(its best checkpoint, weights.hdf5), or a shipped model's name "
                           "(midigen models)")
    if not weights.name.endswith(WEIGHT_SUFFIXES):  # e.g. a text file: say that, not "no bundle"
        raise MidigenError(f"{weights} is not a weights file: its name does not end in "
                           f"{', '.join(WEIGHT_SUFFIXES)}",
                           hint="give a checkpoint a training run wrote (weights/lstm/weights.hdf5), "
                           "its folder, or a shipped model's name (midigen models)")
    if notes_file is not None:
        bundle = legacy_bundle(notes_file, preset)
    elif bundle_path(weights).exists():
        bundle = load_bundle(weights)
    else:
        raise MidigenError(
            f"no bundle {bundle_path(weights)} next to {weights}",
            hint="weights from the original Keras 2 scripts need their token pickle: "
            "--notes data/notes (and --model lstm-512 if they used LSTM 512)")
    model = registry.build_model(bundle.config)
    try:
        load_weights(model, weights, bundle)
    except MidigenError as err:
        other = _legacy_preset_that_fits(weights, bundle) if notes_file is not None else None
        if other is None:
            raise
        raise MidigenError(
            f"{err.message}; they fit the {other!r} preset, not {preset!r}",
            hint=f"add --model {other} (the preset these weights were trained with)") from err
    return model, bundle, registry.pipeline(bundle.config["family"])
