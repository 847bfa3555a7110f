"""Checkpoints in the reports' ``.hdf5`` convention, with a bundle beside each.

Keras 3's ``ModelCheckpoint`` refuses ``.hdf5`` paths, so this callback does the job itself:
on a new best of the monitored value it writes
``weights-improvement-{epoch:02d}-{loss:.4f}-bigger.hdf5`` (legacy HDF5, the format the
original scripts wrote and read) and copies it to ``weights.hdf5``, each with its bundle JSON.
Every file is written to a temporary name and renamed, so a killed run never leaves half a file.

For ``--resume``, ``ResumePoint`` writes ``last.keras`` after every epoch: the full model with
its optimizer state, and inside the same zip file (so they can never disagree) the run's state:
epochs done, best monitored value, history rows and config. ``last.json`` beside it is the
bundle, with that state under ``info["resume"]``, for people and for ``midigen generate``.
"""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from pathlib import Path

import keras
import numpy as np

from midigen_tf.bundle import Bundle, save_bundle
from midigen_tf.errors import MidigenError
from midigen_tf.io import atomic

PATTERN = "weights-improvement-{epoch:02d}-{loss:.4f}-bigger.hdf5"
BEST_NAME = "weights.hdf5"
RESUME_NAME = "last.keras"
STATE_ENTRY = "midigen_state.json"  # the run's state, inside the last.keras zip


def checkpoint_name(epoch: int, logs: dict, pattern: str = PATTERN) -> str:
    """The file name for 1-based ``epoch`` and the epoch's ``logs``."""
    return pattern.format(epoch=epoch, **logs)


def save_hdf5(model, target: str | Path) -> Path:
    """``model.save`` in the legacy HDF5 format (what ``.hdf5`` meant to Keras 2), atomically."""
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # silence "HDF5 is legacy": it is the point
    try:
        with atomic.atomic_path(target) as tmp:
            model.save(tmp, include_optimizer=False)
    finally:
        absl_logging.set_verbosity(verbosity)
    return Path(target)


class BestCheckpoint(keras.callbacks.Callback):
    """Save on a new best ``monitor`` (mode min), like ``ModelCheckpoint(save_best_only=True)``."""

    def __init__(self, weights_dir: str | Path, bundle: Bundle, monitor: str = "loss",
                 pattern: str = PATTERN, best: float = math.inf, initial_epoch: int = 0):
        super().__init__()
        self.weights_dir = Path(weights_dir)
        self.bundle = bundle
        self.monitor = monitor
        self.pattern = pattern
        self.best = best
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value) or value >= self.best:
            return
        self.best = value
        target = self.weights_dir / checkpoint_name(epoch + 1, logs, self.pattern)
        save_hdf5(self.model, target)
        self.bundle.info = {"epoch": epoch + 1, "monitor": self.monitor, "best": value,
                            "logs": logs, "weights": target.name}
        save_bundle(target, self.bundle)
        best = self.weights_dir / BEST_NAME
        atomic.write_with(best, lambda p: shutil.copyfile(target, p))
        save_bundle(best, self.bundle)
        self.saved.append(target)


class HistoryWriter(keras.callbacks.Callback):
    """Per-epoch logs written after every epoch as ``history.csv`` and ``history.json``."""

    def __init__(self, weights_dir: str | Path, previous: list[dict] | None = None):
        super().__init__()
        self.weights_dir = Path(weights_dir)
        self.rows: list[dict] = list(previous or [])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        if "learning_rate" not in row and self.model is not None:
            try:
                row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            except Exception:
                pass
        self.rows.append(row)
        atomic.write_json(self.weights_dir / "history.json", self.rows)
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        lines = [",".join(keys)] + [",".join(f"{r[k]:.6g}" if isinstance(r.get(k), float)
                                             else str(r.get(k, "")) for k in keys) for r in self.rows]
        atomic.write_text(self.weights_dir / "history.csv", "\n".join(lines) + "\n")


class ResumePoint(keras.callbacks.Callback):
    """After every epoch, ``last.keras`` (model + optimizer + run state) and ``last.json``."""

    def __init__(self, weights_dir: str | Path, bundle: Bundle, best: BestCheckpoint,
                 history: HistoryWriter, epochs_done: int = 0):
        super().__init__()
        self.path = Path(weights_dir) / RESUME_NAME
        self.bundle = Bundle(config=bundle.config, vocab=bundle.vocab, extra=bundle.extra)
        self.best = best
        self.history = history
        self.epochs_done = epochs_done

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs_done = epoch + 1
        self.save()

    def save(self, interrupted: bool = False) -> Path:
        """Write the resume point now (also mid-epoch, on Ctrl-C: then the epoch is redone)."""
        state = {"epochs_done": self.epochs_done, "best": self.best.best,
                 "monitor": self.best.monitor, "interrupted": interrupted,
                 "history": self.history.rows[:self.epochs_done], "config": self.bundle.config,
                 "seed_states": [v.numpy().tolist() for v in seed_states(self.model)]}
        save_resume_point(self.model, self.path, state)
        self.bundle.info = {"epoch": self.epochs_done, "weights": self.path.name, "resume": state}
        save_bundle(self.path, self.bundle)
        return self.path


def seed_states(model) -> list:
    """The dropout layers' random-seed states (``keras.random.SeedGenerator``), in model order.

    Keras saves none of them with the model; kept in the resume state, they let the next part
    draw the dropout masks an unbroken run would have drawn.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def save_resume_point(model, path: str | Path, state: dict) -> Path:
    """``model.save`` (with optimizer) plus ``state`` in the same zip, atomically."""
    with atomic.atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_ENTRY, json.dumps(state, default=float))
    return Path(path)


def read_resume_state(weights_dir: str | Path) -> dict:
    """The state saved in ``weights_dir/last.keras``, with a clear error when there is none."""
    path = Path(weights_dir) / RESUME_NAME
    if not path.exists():
        raise MidigenError(f"nothing to resume: {path} does not exist",
                           hint="--resume continues a run in the same --weights-dir; "
                           "start without --resume to train from scratch")
    try:
        with zipfile.ZipFile(path) as archive:
            state = json.loads(archive.read(STATE_ENTRY))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise MidigenError(f"{path} is not a midigen resume point ({type(err).__name__}: {err})",
                           hint="start without --resume, or restore the file") from None
    return state


def restore(model, weights_dir: str | Path) -> dict:
    """Load weights and optimizer state of ``last.keras`` into ``model``; return the state."""
    state = read_resume_state(weights_dir)
    path = Path(weights_dir) / RESUME_NAME
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MidigenError(f"{path} does not fit the model of this run ({detail})",
                           hint="resume with the same model settings, or start without --resume"
                           ) from err
    saved, variables = state.get("seed_states"), seed_states(model)
    if saved is not None and len(saved) == len(variables):  # older resume points: none kept
        for variable, value in zip(variables, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))
    return state


class TimeBudget(keras.callbacks.Callback):
    """``--max-minutes``: a wall-time budget, spent in whole epochs where it can be.

    The clock starts when training begins (after data preparation). At each epoch end the run
    stops if one more epoch, as long as the longest so far, would end past the budget: a run
    trained in parts (``--max-minutes M --resume``) then ends on an epoch boundary: every epoch
    is a whole one, and (with the batch order keyed by the epoch and the dropout seeds kept in
    the resume state) trained as an unbroken run would train it. An
    epoch still running when the budget is spent (the first, or one
    slower than the others) is cut short at that batch and ended normally, so its checkpoint,
    history row and bundle are written as usual. Each epoch's logs get ``batches``: the batches
    it trained on.
    """

    def __init__(self, minutes: float, clock=None):
        super().__init__()
        import time

        self.seconds = float(minutes) * 60.0
        self.clock = clock or time.monotonic
        self.stopped = False
        self.longest = 0.0  # the longest epoch so far, in seconds

    def on_train_begin(self, logs=None):
        self._t0 = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = 0
        self._epoch_t0 = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["batches"] = self._batches
        now = self.clock()
        self.longest = max(self.longest, now - self._epoch_t0)
        if now - self._t0 + self.longest > self.seconds:  # the next epoch would not fit
            self.stopped = True
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.clock() - self._t0 >= self.seconds:
            self.stopped = True
            self.model.stop_training = True
