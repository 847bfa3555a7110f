"""Weights written by the original seed-003 scripts under genuine Keras 2 (``tf_keras``, in its
own process) load with ``--notes`` and give the next-token probabilities Keras 2 computed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf.cli import generate_cmd
from midigen_tf.io.midi import read_notes
from midigen_tf.loading import load_for_generation

HELPER = Path(__file__).parent / "helpers" / "keras2_seed003.py"


@pytest.fixture(scope="module")
def keras2_run(tmp_path_factory) -> Path:
    """weights.hdf5 + notes of the seed-003 model (216/316/316), written by Keras 2."""
    out = tmp_path_factory.mktemp("keras2")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(HELPER), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[0].startswith("2."), done.stdout  # tf_keras is Keras 2
    return out


@pytest.mark.slow
def test_keras2_weights_give_keras2_probabilities(keras2_run):
    model, bundle, _ = load_for_generation(keras2_run / "weights.hdf5",
                                           notes_file=keras2_run / "notes", preset="lstm")
    notes = pickle.loads((keras2_run / "notes").read_bytes())
    assert bundle.vocab == sorted(set(notes)) and bundle.config["units"] == [216, 316, 316]
    x, expected = np.load(keras2_run / "x.npy"), np.load(keras2_run / "probs.npy")
    got = np.asarray(model(x, training=False))
    assert got.shape == expected.shape == (len(x), len(bundle.vocab))
    assert np.abs(got - expected).max() < 1e-5
    assert np.ptp(expected, axis=0).max() > 1e-3  # not a trivial agreement: inputs matter


@pytest.mark.slow  # Keras 2 writes the weights in a subprocess
def test_predict_py_with_notes_writes_music(keras2_run, tmp_path):
    out = tmp_path / "legacy.mid"
    r = CliRunner().invoke(generate_cmd, [str(keras2_run / "weights.hdf5"), "--notes",
                                          str(keras2_run / "notes"), "-n", "6", "-o", str(out),
                                          "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    assert len(read_notes(out)) >= 6  # six events, chords add notes
