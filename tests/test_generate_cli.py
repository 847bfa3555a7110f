"""Issue 12's done-when check: ``predict.py WEIGHTS -n 16 --engine stateful --num-outputs 2
--temperature 1.0 --seed 1`` writes two pieces for every next-step preset and refuses in one
line (exit 1, no traceback) for the others. Tiny untrained models, saved with the project's
own writers (``checkpoints.save_hdf5``, ``bundle.save_bundle``, arrays as ``.npy``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import melody_notes
from midigen_tf import registry
from midigen_tf.bundle import Bundle, save_bundle
from midigen_tf.checkpoints import save_hdf5
from midigen_tf.data import folk
from midigen_tf.data import notetable as nt
from midigen_tf.pipelines.base import DataSource

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["-n", "16", "--engine", "stateful", "--num-outputs", "2", "--temperature", "1.0",
        "--seed", "1"]
FOLK = {"melody-lstm": dict(units=[8]), "bilstm": dict(layers=1, units=4),
        "gru-attention": dict(layers=1, units=4, attention_units=4, dense_units=[8, 4]),
        "lstm-mha": dict(layers=1, units=4, conv_filters=8, heads=2, dense_units=8),
        "vae": dict(hidden_units=[16, 8], latent_dim=2)}
MAESTRO = {"units": [8, 8], "sequence_length": 5, "hidden_layers": [8], "dense_units": 8}


def _save(folder: Path, config: dict, vocab=None, extra=None, arrays=None) -> Path:
    """Weights, bundle and arrays as the trainer writes them; returns the weights path."""
    folder.mkdir(parents=True)
    weights = folder / "weights.hdf5"
    save_hdf5(registry.build_model(config), weights)
    save_bundle(weights, Bundle(config=config, vocab=vocab, extra=extra or {}))
    for name, array in (arrays or {}).items():
        np.save(folder / f"{name}.npy", array)
    return weights


def _build(preset: str, root: Path, corpus: Path) -> Path:
    folder = root / preset
    if preset == "lstm":
        config = registry.make_config("lstm", {"units": [8, 8, 8], "dense_units": 8,
                                               "sequence_length": 6})
        vocab = ["C4", "D4", "E4", "F4", "G4", "A4", "4.7.11", "0.4.7"]
        return _save(folder, {**config, "n_vocab": len(vocab)}, vocab,
                     arrays={"tokens": np.random.default_rng(0).integers(0, len(vocab), 40)})
    if preset == "seq2seq-small":  # its bins and vocabulary come from the data
        from midigen_tf.pipelines import pseudonotes

        config = registry.make_config(preset, {"units": [8, 8], "input_length": 6,
                                               "output_length": 3})
        prepared = pseudonotes.prepare(config, DataSource(corpus, root / "cache", jobs=1,
                                                          options={"progress": False}))
        return _save(folder, prepared.config, prepared.vocab, prepared.extra, prepared.arrays)
    if preset == "pianoroll-tiny":
        from midigen_tf.pipelines.pianoroll import PRIMERS

        config = registry.make_config(preset, {"units": [8], "sequence_length": 6})
        primers = (np.random.default_rng(1).random((4, 6, 256)) < 0.05).astype(np.uint8)
        return _save(folder, {**config, "n_features": 256}, arrays={PRIMERS: primers})
    if preset.startswith("maestro"):
        family = registry.get_preset(preset).defaults
        config = registry.make_config(preset, {k: v for k, v in MAESTRO.items() if k in family})
        notes = nt.to_table(melody_notes(40, seed=2))
        return _save(folder, config, arrays={"primer": notes, "primer_split": np.full(
            len(notes), nt.SPLIT_NAMES.index("test"), np.uint8)})
    mapping = folk.make_mapping(["55", "57", "60", "62", "64", "65", "67"])
    config = registry.make_config(preset, {**FOLK[preset], "sequence_length": 8,
                                           "n_vocab": len(mapping)})
    return _save(folder, config, mapping)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``saved(preset) -> weights path``, each tiny model built once."""
    root = tmp_path_factory.mktemp("presets")
    corpus = root / "songs"
    corpus.mkdir()
    from midigen_tf.io.midi import write_notes

    for i in range(3):
        write_notes(melody_notes(40, seed=i + 1), corpus / f"{i}.mid")
    cache: dict[str, Path] = {}

    def get(preset: str) -> Path:
        if preset not in cache:
            cache[preset] = _build(preset, root, corpus)
        return cache[preset]

    return get


def predict(weights: Path, out: Path, *extra: str):
    from midigen_tf.cli import friendly, generate_cmd

    return CliRunner().invoke(friendly(generate_cmd), [str(weights), "-o", str(out), *ARGS, *extra],
                              prog_name="predict.py")


@pytest.mark.parametrize("preset, extra", [
    ("lstm", []), ("seq2seq-small", []), ("pianoroll-tiny", []),
    ("maestro-pitch", []),  # its preset generates autoregressively
    ("melody-lstm", ["-O", "png=false"])])
def test_every_next_step_preset_writes_two_pieces_statefully(saved, tmp_path, preset, extra):
    out = tmp_path / "piece.mid"
    result = predict(saved(preset), out, *extra)
    assert result.exit_code == 0, result.output
    pieces = [tmp_path / "piece-1.mid", tmp_path / "piece-2.mid"]
    assert all(p.exists() and p.stat().st_size > 0 for p in pieces)
    assert f"wrote {pieces[1]}" in result.output and not (tmp_path / "piece-3.mid").exists()


@pytest.mark.parametrize("preset, extra, words", [
    ("bilstm", [], ["bilstm", "--engine stateful", "reads time both ways"]),
    ("lstm-mha", [], ["lstm-mha", "--engine stateful", "both ways", "attends over the whole window"]),
    ("gru-attention", [], ["gru-attention", "--engine stateful", "attends over the whole window"]),
    ("vae", [], ["vae", "--engine stateful", "decodes whole melodies"]),
    ("maestro-regression", [], ["maestro-regression", "--engine stateful", "mode=test"]),
    ("maestro-mlp", [], ["maestro-mlp", "--engine stateful", "mode=test"]),
    ("maestro-pitch", ["-O", "mode=test"], ["maestro-pitch", "--engine stateful", "mode=test"]),
    ("maestro-mlp", ["-O", "mode=autoregressive"], ["maestro-mlp", "--engine stateful", "Flatten"]),
    ("maestro-regression", ["-O", "mode=autoregressive"],
     ["maestro-regression", "--temperature", "regression"])])
def test_models_that_cannot_are_refused_in_one_line(saved, tmp_path, preset, extra, words):
    result = predict(saved(preset), tmp_path / "piece.mid", *extra)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and all(w in lines[0] for w in words), lines[0]
    assert isinstance(result.exception, SystemExit) and not list(tmp_path.glob("piece*"))


@pytest.mark.slow
def test_predict_py_itself_refuses_without_a_traceback(saved, tmp_path):
    """The real entry point in a fresh process: exit 1, one line on stderr, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(ROOT / "predict.py"), str(saved("bilstm")),
                          "-o", str(tmp_path / "x.mid"), *ARGS], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=300)
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert len(errors) == 1 and "bilstm cannot generate with --engine stateful" in errors[0]


def test_a_piece_of_one_repeated_token_is_reported():
    from midigen_tf.pipelines.base import GenerateOptions

    said = []
    options = GenerateOptions(n=5, num_outputs=2, echo=said.append)
    options.report_stuck(np.array([[3, 3, 3, 3, 3], [3, 4, 3, 3, 3]]))
    assert len(said) == 1 and "test_output-1.mid repeats one token 5 times" in said[0]
    assert "argmax" in said[0] and "--temperature" in said[0]
