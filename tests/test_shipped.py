"""Shipped models (issue 21): named instead of a path, listed by `midigen models`, and never
touched by a user's training run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from midigen_tf import shipped
from midigen_tf.cli import main
from midigen_tf.errors import MidigenError

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--set", "units=[8,8]", "--set", "dense_units=8", "--set", "sequence_length=8",
        "--batch-size", "16", "--no-cache", "--jobs", "1", "--seed", "2", "--epochs", "1"]


@pytest.fixture(scope="module")
def trained_demo(tmp_path_factory) -> Path:
    """One tiny model trained once for the module (the tests below only read it)."""
    from conftest import melody_notes
    from midigen_tf.io.midi import write_notes

    root = tmp_path_factory.mktemp("demo")
    for i, chords in enumerate((True, True, False)):
        write_notes(melody_notes(40, i + 1, chords), root / "songs" / f"s{i}.mid")
    r = CliRunner().invoke(main, ["train", "--data", str(root / "songs"), "--weights-dir",
                                  str(root / "tiny-demo"), *TINY])
    assert r.exit_code == 0, r.output
    return root / "tiny-demo"


@pytest.fixture
def shipped_root(trained_demo, tmp_path, monkeypatch) -> Path:
    """A shipped-models folder of this test's own, holding one tiny trained model,
    ``tiny-demo`` (a copy: a test may change it)."""
    root = tmp_path / "shipped"
    shutil.copytree(trained_demo, root / "tiny-demo")
    monkeypatch.setattr(shipped, "SHIPPED_DIR", root)
    return root


def test_a_shipped_model_is_named_instead_of_a_path(shipped_root, tmp_path):
    out = tmp_path / "named.mid"
    r = CliRunner().invoke(main, ["generate", "tiny-demo", "-n", "6", "-o", str(out),
                                  "--temperature", "1.0", "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 0 and f"wrote {out}" in r.output


def test_models_lists_the_shipped_models_with_size_and_data(shipped_root):
    r = CliRunner().invoke(main, ["models"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "tiny-demo" in x)
    assert "preset=lstm" in line and "data=songs" in line and "epoch 1 of 1" in line
    assert line.rstrip().endswith("MB")
    preset = next(x for x in r.output.splitlines() if x.split()[:1] == ["lstm-alt"])
    assert "units=[250,350,350], sequence_length=120, epochs=16, batch_size=128" in preset


def test_a_training_folder_means_its_best_checkpoint(shipped_root):
    folder = shipped_root / "tiny-demo"
    assert shipped.resolve_weights(str(folder)) == folder / "weights.hdf5"


def test_unknown_names_and_empty_folders_are_clear_errors(shipped_root, tmp_path):
    with pytest.raises(MidigenError) as err:
        shipped.resolve_weights("no-such-model")
    assert "neither a weights file nor a shipped model" in err.value.message
    assert "tiny-demo" in err.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(MidigenError) as err:
        shipped.resolve_weights(str(tmp_path / "empty"))
    assert "without a weights.hdf5" in err.value.message


def test_a_file_path_is_taken_as_it_is(tmp_path):
    assert shipped.resolve_weights("missing/weights.hdf5") == Path("missing/weights.hdf5")
    assert shipped.resolve_weights("x.hdf5") == Path("x.hdf5")


@pytest.mark.slow
def test_training_in_a_fresh_clone_leaves_every_tracked_file_unchanged(tiny_corpus, tmp_path):
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.fail("this test needs the project's git checkout and git")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "lstm.py", "--data", str(tiny_corpus), *TINY],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (clone / "weights" / "lstm" / "weights.hdf5").is_file()  # it did train, in the clone
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == ""


def test_after_ctrl_c_in_the_first_epoch_the_resume_point_is_named(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.keras").write_bytes(b"zip")
    assert shipped.resolve_weights(str(run)) == run / "last.keras"  # the folder: what is there
    with pytest.raises(MidigenError) as err:
        shipped.resolve_weights(str(run / "weights.hdf5"))
    assert "interrupted run left" in err.value.message and "last.keras" in err.value.hint


def test_compare_reads_a_shipped_models_history(shipped_root):
    r = CliRunner().invoke(main, ["compare", "seed003", "--weights-dir", "tiny-demo"])
    assert r.exit_code == 0, r.output
    assert "5.7543" in r.output  # the report's epoch 1, beside ours
    assert shipped.resolve_folder("tiny-demo") == shipped_root / "tiny-demo"


def test_a_text_file_given_as_weights_is_named_as_such(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("C4 E4 G4")
    r = CliRunner().invoke(main, ["generate", str(text), "-n", "5"])
    assert r.exit_code == 1, r.output
    assert f"{text} is not a weights file: its name does not end in .weights.h5, .hdf5" in r.output
    assert "no bundle" not in r.output and "truncated" not in r.output


def test_a_run_past_its_best_epoch_says_both(shipped_root):
    import json

    folder = shipped_root / "tiny-demo"
    history = json.loads((folder / "history.json").read_text())
    (folder / "history.json").write_text(json.dumps(history + [dict(history[0], epoch=2)]))
    line = shipped.available()["tiny-demo"].summary()
    assert "2 of 1 epochs, best: epoch 1" in line


REAL = sorted(shipped.available())  # the models shipped in this checkout, not a tiny stand-in
MB = 1024 * 1024


def test_the_checkout_ships_the_classic_and_a_folk_model():
    assert {"lstm-seed003", "melody-lstm-kinder"} <= set(REAL)
    weights = sum(p.stat().st_size for p in (ROOT / "weights").rglob("*") if p.is_file())
    assert weights < 40 * MB  # the whole of weights/, resume points included


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_every_shipped_model_has_a_card_fits_its_size_and_generates(name, tmp_path):
    folder = shipped.SHIPPED_DIR / name
    card = (folder / "README.md").read_text()
    assert card.startswith(f"# {name}") and "| seed |" in card and "| command |" in card
    final = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith("last.")]
    assert sum(p.stat().st_size for p in final) < 20 * MB  # the model without its resume point
    out = tmp_path / "piece.mid"
    r = CliRunner().invoke(main, ["generate", name, "-n", "12", "--seed", "1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    from midigen_tf.io.midi import read_notes

    assert len(read_notes(out)) > 0
