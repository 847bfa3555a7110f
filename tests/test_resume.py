"""Interrupted training loses nothing: Ctrl-C saves and exits 130, SIGKILL leaves only whole
files, and --resume continues with optimizer state, epoch count and history."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from midigen_tf import checkpoints, registry
from midigen_tf.bundle import load_bundle
from midigen_tf.cli import main
from midigen_tf.loading import load_for_generation

TINY = ["--set", "units=[8,8]", "--set", "dense_units=8", "--set", "sequence_length=8",
        "--batch-size", "16", "--no-cache", "--jobs", "1", "--seed", "2"]


class InterruptAt(keras.callbacks.Callback):
    """Ctrl-C in the middle of an epoch, as Python delivers it to the training loop: a
    KeyboardInterrupt raised in the main thread (what the default SIGINT handler raises).

    Raised here, not sent with ``os.kill(getpid(), SIGINT)``: a signal goes through state the
    whole pytest process shares (the OS-level SIGINT disposition and the main thread's signal
    mask, which any earlier test or C library may change, and the thread the kernel picks). When
    it is not handled inside this call, CPython raises it at its next check in the main thread,
    possibly inside a ``__del__`` or weakref callback, where an exception is printed as
    "Exception ignored" and dropped (seen in this suite with the parse time limit's SIGALRM):
    the likely way the run once finished all 3 epochs and exited 0 in a full suite run.
    """

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.epoch, self.batch, self.current, self.fired = epoch, batch, 0, False

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            self.fired = True
            raise KeyboardInterrupt


def test_ctrl_c_saves_then_resume_continues(tiny_corpus, tmp_path, monkeypatch):
    weights = tmp_path / "w"
    interrupt = InterruptAt(1, 1)
    real = registry.pipeline
    monkeypatch.setattr(registry, "pipeline", lambda family: dataclasses.replace(
        real(family), callbacks=lambda config: [interrupt]))
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--epochs", "3",
                                  "--weights-dir", str(weights), *TINY])
    assert interrupt.fired, r.output
    assert r.exit_code == 130, r.output
    assert "\nStopped: training interrupted after 1 complete epoch" in r.output  # own line
    assert "to continue: run the same command with --resume --weights-dir" in r.output
    assert "Error:" not in r.output
    state = checkpoints.read_resume_state(weights)
    assert state["epochs_done"] == 1 and state["interrupted"] is True
    assert [row["epoch"] for row in state["history"]] == [1]
    saved = keras.models.load_model(weights / "last.keras")
    steps = int(saved.optimizer.iterations.numpy())
    assert steps > 0  # the optimizer state went into last.keras (mid-epoch 2: one epoch + 2 steps)

    monkeypatch.setattr(registry, "pipeline", real)
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume",
                                  "--weights-dir", str(weights), "--no-cache", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert "resuming after epoch 1 of 3" in r.output
    history = json.loads((weights / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[0] == state["history"][0]  # the interrupted run's row, kept as it was
    state = checkpoints.read_resume_state(weights)
    assert state["epochs_done"] == 3 and state["interrupted"] is False
    resumed = keras.models.load_model(weights / "last.keras")
    assert int(resumed.optimizer.iterations.numpy()) > steps  # counted on, not from zero


@pytest.mark.slow
def test_a_run_in_parts_trains_as_the_unbroken_run(tiny_corpus, tmp_path):
    """Epoch 2 after --resume sees epoch 2's batches (not epoch 1's again) and epoch 2's dropout
    masks, with the restored optimizer state: the losses match the run that went straight
    through."""
    args = ["train", "--data", str(tiny_corpus), *TINY]
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    runs = [args + ["--epochs", "3", "--weights-dir", str(straight)],
            args + ["--epochs", "1", "--weights-dir", str(parts)],
            args + ["--epochs", "3", "--weights-dir", str(parts), "--resume"]]
    for run in runs:
        r = CliRunner().invoke(main, run)
        assert r.exit_code == 0, r.output
    losses = [[row["loss"] for row in json.loads((w / "history.json").read_text())]
              for w in (straight, parts)]
    assert len(losses[0]) == len(losses[1]) == 3
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_resume_refuses_a_finished_run_and_a_missing_one(tiny_corpus, tmp_path):
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume",
                                  "--weights-dir", str(tmp_path / "none")])
    assert r.exit_code == 1 and "nothing to resume" in r.output
    weights = tmp_path / "w"
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--epochs", "1",
                                  "--weights-dir", str(weights), *TINY])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume",
                                  "--weights-dir", str(weights), "--no-cache", "--jobs", "1"])
    assert r.exit_code == 1 and "already did 1 of 1 epochs" in r.output and "--epochs" in r.output
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume", "--model",
                                  "lstm-alt", "--weights-dir", str(weights)])
    assert r.exit_code == 1 and "holds a 'lstm' run" in r.output
    resume = ["train", "--data", str(tiny_corpus), "--resume", "--epochs", "2", "--weights-dir",
              str(weights), "--no-cache", "--jobs", "1"]
    r = CliRunner().invoke(main, [*resume, "--set", "unknown_key=1"])  # checked as a new run's
    assert r.exit_code == 1 and "unknown setting(s) unknown_key for model 'lstm'" in r.output
    r = CliRunner().invoke(main, [*resume, "--set", "dense_units=[8]"])
    assert r.exit_code == 1 and "setting dense_units=[8] has type list, expected int" in r.output
    assert checkpoints.read_resume_state(weights)["epochs_done"] == 1  # nothing trained


def load_everything(weights: Path) -> dict[str, int]:
    """Open every file a run wrote; return how many of each kind loaded."""
    loaded: dict[str, int] = {}
    for path in sorted(weights.iterdir()):
        if path.name.startswith("."):  # a temporary of an interrupted write: never a result
            continue
        if path.suffix == ".hdf5":
            model, bundle, _ = load_for_generation(path)
            assert model.count_params() > 0 and bundle.vocab
        elif path.suffix == ".keras":
            assert keras.models.load_model(path).optimizer.iterations.numpy() > 0
            assert checkpoints.read_resume_state(weights)["epochs_done"] >= 1
        elif path.suffix == ".json" and path.stem != "history":
            assert load_bundle(path).config["family"] == "lstm"
        elif path.suffix == ".json":
            assert isinstance(json.loads(path.read_text()), list)
        elif path.suffix == ".npy":
            assert np.load(path).size > 0
        elif path.suffix == ".csv":
            assert path.read_text().startswith("epoch,")
        else:
            continue
        loaded[path.suffix] = loaded.get(path.suffix, 0) + 1
    return loaded


@pytest.mark.slow
def test_sigkill_mid_epoch_leaves_only_whole_files(tiny_corpus, tmp_path):
    weights = tmp_path / "w"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "midigen_tf.cli", "train", "--data", str(tiny_corpus),
           "--epochs", "500", "--weights-dir", str(weights), *TINY]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=Path(__file__).parent.parent)
    try:
        deadline = time.monotonic() + 300
        while not (weights / "last.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "training never wrote a resume point"
            time.sleep(0.2)
        time.sleep(1.5)  # a few more epochs: the kill lands wherever training is
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    loaded = load_everything(weights)
    assert loaded[".hdf5"] >= 2 and loaded[".keras"] == 1 and loaded[".npy"] == 1

    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume",
                                  "--epochs", str(checkpoints.read_resume_state(weights)["epochs_done"] + 1),
                                  "--weights-dir", str(weights), "--no-cache", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert not list(weights.glob(".*.tmp*"))  # leftovers of the killed write are gone
    load_everything(weights)


@pytest.mark.slow
def test_ctrl_c_is_answered_at_once_then_saves(tiny_corpus, tmp_path):
    """A real SIGINT to a training process: the notice comes from the watcher thread (the main
    thread may be inside a TensorFlow step), then the resume point is saved and the run stops
    with exit status 130."""
    weights = tmp_path / "w"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "midigen_tf.cli", "train", "--data", str(tiny_corpus),
           "--epochs", "500", "--weights-dir", str(weights), *TINY]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=Path(__file__).parent.parent)
    try:
        deadline = time.monotonic() + 300
        while not (weights / "last.json").exists():  # an epoch is done: fit is running
            assert proc.poll() is None, proc.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "training never wrote a resume point"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out[-2000:]
    notice = out.find("\nStopping: TensorFlow finishes the step it is running")
    stopped = out.find("\nStopped: training interrupted after")
    assert 0 <= notice < stopped, out[-2000:]
    assert out.count("Stopping: TensorFlow finishes") == 1
    assert checkpoints.read_resume_state(weights)["interrupted"] is True


def test_resume_point_is_atomic_and_self_describing(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), epochs=1, verbose=0)
    path = checkpoints.save_resume_point(model, tmp_path / "last.keras", {"epochs_done": 7})
    assert checkpoints.read_resume_state(tmp_path) == {"epochs_done": 7}
    assert [p.name for p in tmp_path.iterdir()] == ["last.keras"]
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    other.compile(loss="mse", optimizer="adam")
    checkpoints.restore(other, tmp_path)
    assert int(other.optimizer.iterations.numpy()) == 1
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])
    path.write_bytes(b"broken")
    with pytest.raises(Exception, match="not a midigen resume point"):
        checkpoints.read_resume_state(tmp_path)


@pytest.mark.slow
def test_another_preset_never_overwrites_a_runs_resume_point(tiny_corpus, tmp_path):
    weights = tmp_path / "w"
    first = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--epochs", "1",
                                      "--weights-dir", str(weights), *TINY])
    assert first.exit_code == 0, first.output
    saved = (weights / "last.keras").read_bytes()
    other = CliRunner().invoke(main, ["train", "--model", "lstm-alt", "--data", str(tiny_corpus),
                                      "--epochs", "1", "--weights-dir", str(weights), *TINY])
    assert other.exit_code == 1, other.output
    assert f"{weights} holds the resume point of a 'lstm' run (1 of 1 epochs)" in other.output
    assert f"--weights-dir {weights / 'lstm-alt'}" in other.output
    assert (weights / "last.keras").read_bytes() == saved  # refused before anything was written
    again = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--epochs", "1",
                                      "--weights-dir", str(weights), *TINY])
    assert again.exit_code == 0, again.output  # the same preset may start over there


@pytest.mark.slow
def test_two_presets_with_default_options_keep_both_runs(tiny_corpus, tmp_path, monkeypatch):
    """No --weights-dir: each preset trains in weights/PRESET, so the second run leaves the
    first one's checkpoints, resume point and arrays as they were, and --resume finds its own."""
    monkeypatch.chdir(tmp_path)
    runs = {"lstm": [], "pianoroll-tiny": ["--set", "units=[8]", "--set", "sequence_length=10",
                                           "--set", "samples_per_epoch=32"]}
    saved = {}
    for preset, extra in runs.items():
        r = CliRunner().invoke(main, ["train", "--model", preset, "--data", str(tiny_corpus),
                                      "--epochs", "1", *(TINY if preset == "lstm" else
                                                         ["--no-cache", "--jobs", "1"]), *extra])
        assert r.exit_code == 0, r.output
        folder = Path("weights") / preset
        assert f"best checkpoint: {folder / 'weights.hdf5'}" in r.output
        saved[preset] = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        assert {"weights.hdf5", "weights.json", "last.keras", "history.json"} <= set(saved[preset])
    assert "tokens.npy" in saved["lstm"] and "tokens.npy" not in saved["pianoroll-tiny"]
    for preset, files in saved.items():  # both runs intact after both trained
        folder = Path("weights") / preset
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == files
    r = CliRunner().invoke(main, ["train", "--data", str(tiny_corpus), "--resume", "--epochs", "2",
                                  "--no-cache", "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert f"resuming after epoch 1 of 2 from {Path('weights') / 'lstm' / 'last.keras'}" in r.output
    # compare's default folder is the reference's preset (weights/pianoroll, weights/lstm-alt):
    # without a run there, it names the runs of the same family that are here
    r = CliRunner().invoke(main, ["compare", "seed004"])
    assert r.exit_code == 1 and "no training history at weights/pianoroll/history.json" in r.output
    assert "runs of this family here: --weights-dir weights/pianoroll-tiny" in r.output
    r = CliRunner().invoke(main, ["compare", "seed003"])
    assert r.exit_code == 1 and "--weights-dir weights/lstm, --weights-dir lstm-seed003" in r.output
