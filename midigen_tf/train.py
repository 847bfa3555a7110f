"""Fitting any registered model: prepare data, build, fit, checkpoint, write history.

Interruptions lose nothing: after every epoch ``last.keras`` holds the model, its optimizer
state and the run's state (``checkpoints.ResumePoint``); Ctrl-C (SIGINT) or SIGTERM saves it
mid-epoch and stops with a message; ``train(..., resume=True)`` continues from it with the
epoch count, best value and history of the interrupted run.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from midigen_tf import checkpoints, registry
from midigen_tf.bundle import Bundle
from midigen_tf.checkpoints import BestCheckpoint, HistoryWriter, ResumePoint, TimeBudget
from midigen_tf.console import interrupt_notice, keras_verbosity
from midigen_tf.distribute import Placement, check_same_data, fingerprint, prepare_model, shard
from midigen_tf.errors import MidigenError
from midigen_tf.io import atomic
from midigen_tf.models import parameter_counts
from midigen_tf.pipelines.base import DataSource, Prepared


@dataclass
class TrainResult:
    model: Any
    config: dict
    prepared: Prepared
    history: list[dict] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    initial_epoch: int = 0  # epochs done before this run (resume)


class TrainingInterrupted(MidigenError):
    """Ctrl-C / SIGTERM during training: the resume point is saved; exit code 130. Not a
    mistake of the user's, so the CLI shows it as "Stopped:", with how to go on."""

    exit_code = 130
    label = "Stopped"
    hint_label = "to continue"


class EpochOrder(keras.callbacks.Callback):
    """Keys the training batches' shuffle to the epoch number (``data.batches``), so that a
    resumed run reads epoch ``e`` in the order an unbroken run would.

    ``every_epoch``: set the number at each epoch's start (one worker: Keras opens a fresh
    iterator per epoch, and one more it never reads); otherwise once, at the start (several
    workers: one repeating iterator counts the epochs itself).
    """

    def __init__(self, epoch, initial_epoch: int, every_epoch: bool = True):
        super().__init__()
        self.epoch, self.initial_epoch, self.every_epoch = epoch, initial_epoch, every_epoch

    def on_train_begin(self, logs=None):
        self.epoch.assign(self.initial_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        if self.every_epoch:
            self.epoch.assign(epoch)


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, kept in ``times`` and added to the epoch's logs as ``seconds``."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)
        if logs is not None:
            logs["seconds"] = self.times[-1]


def describe(model, echo) -> None:
    model.summary(print_fn=lambda line, **_: echo(line))
    trainable, frozen = parameter_counts(model)
    echo(f"trainable parameters: {trainable:,}  non-trainable parameters: {frozen:,}")


def resume_config(weights_dir: str | Path, overrides: dict | None = None) -> dict:
    """The config of the run saved in ``weights_dir/last.keras``, with ``overrides`` applied."""
    config = dict(checkpoints.read_resume_state(weights_dir)["config"])
    # checked as a new run's --set is: settings of the run's preset, of the preset's types
    checked = registry.make_config(config["preset"], overrides or {})
    config.update({key: checked[key] for key in overrides or {}})
    return config


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler stopping the job) is handled like Ctrl-C while training."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _distributed_data(placement: Placement, prepared: Prepared):
    """``(train, val, steps, val_steps)`` for this worker (the data as is on one worker)."""
    train, val = prepared.train, prepared.val
    steps = val_steps = None  # one worker: Keras reads the batch count (cardinality)
    if placement.num_workers > 1:
        train, steps = shard(placement, train)
        if val is not None:
            val, val_steps = shard(placement, val)
    return train, val, steps, val_steps


def train(config: dict, source: DataSource, weights_dir: str | Path = "weights",
          verbose: int | str = "auto", echo=None, resume: bool = False,
          placement: Placement | None = None, tensorboard: str | Path | None = None,
          max_minutes: float | None = None) -> TrainResult:
    """Train the model ``config`` describes on ``source``; checkpoints go to ``weights_dir``.

    ``echo``: where to report (default: ``source.echo``; the CLI passes ``click.echo``).
    ``resume``: continue the run saved in ``weights_dir/last.keras``. ``placement``: the
    ``tf.distribute`` strategy (``distribute.make_placement``); only the chief writes files.
    ``max_minutes``: a wall-time budget; the epoch running when it is spent is the last.
    """
    import keras

    placement = placement or Placement()
    echo = echo or source.echo
    weights_dir = Path(weights_dir)
    scratch = None if placement.is_chief else Path(tempfile.mkdtemp(prefix="midigen-worker-"))
    out_dir = scratch or weights_dir  # non-chief workers write into a throw-away folder
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MidigenError(f"cannot create weights folder {out_dir}: {err.strerror}",
                           hint="choose a writable folder with --weights-dir") from err
    for stale in out_dir.glob(".*.tmp*"):  # half-written files of a killed run
        stale.unlink(missing_ok=True)
    if not resume and placement.is_chief:
        _refuse_other_run(weights_dir, config)
    if config.get("seed") is not None:
        keras.utils.set_random_seed(int(config["seed"]))
    pipeline = registry.pipeline(config["family"])
    prepared = pipeline.prepare(config, source)
    if prepared.report:
        echo(prepared.report)
    config = prepared.config
    check_same_data(placement, {
        "training batches": int(prepared.train.cardinality()),
        "validation batches": int(prepared.val.cardinality()) if prepared.val is not None else 0,
        "vocabulary": fingerprint(prepared.vocab), "settings": fingerprint(config)})
    with placement.scope():
        model = registry.build_model(config)
        state = checkpoints.restore(model, weights_dir) if resume else {}
    describe(model, echo)
    if resume:
        _check_resumable(state, config, weights_dir)
        echo(f"resuming after epoch {state['epochs_done']} of {config['epochs']} "
             f"from {weights_dir / checkpoints.RESUME_NAME}")

    for name, array in prepared.arrays.items():
        atomic.write_with(out_dir / f"{name}.npy", lambda tmp, a=array: np.save(tmp, a))
    monitor = "val_loss" if prepared.val is not None else "loss"
    bundle = Bundle(config=config, vocab=prepared.vocab,
                    extra={"data": str(source.data_dir), **prepared.extra})
    initial_epoch = int(state.get("epochs_done", 0))
    checkpoint = BestCheckpoint(out_dir, bundle, monitor=monitor,
                                best=float(state.get("best", math.inf)))
    history = HistoryWriter(out_dir, previous=state.get("history"))
    resume_point = ResumePoint(out_dir, bundle, checkpoint, history, initial_epoch)
    timer = EpochTimer()
    callbacks = [timer, checkpoint, history, resume_point,
                 *pipeline.callbacks(config)]
    if getattr(prepared.train, "epoch", None) is not None:  # a shuffled window_dataset
        callbacks.insert(0, EpochOrder(prepared.train.epoch, initial_epoch,
                                       every_epoch=placement.num_workers == 1))
    if max_minutes is not None:  # --max-minutes M: first, so history rows get "batches"
        callbacks.insert(0, TimeBudget(max_minutes))
    if tensorboard:  # --tensorboard DIR
        from importlib.util import find_spec

        if find_spec("tensorboard") is None:
            raise MidigenError("--tensorboard needs the tensorboard package",
                               hint="pip install tensorboard, or leave --tensorboard out")
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard)))
    train_data, val_data, steps, val_steps = _distributed_data(placement, prepared)
    prepare_model(placement, model)
    try:
        notice = ("\nStopping: TensorFlow finishes the step it is running (the first step also "
                  "compiles, which can take a minute), then the resume point is saved ...")
        with _sigterm_as_interrupt(), interrupt_notice(echo, notice), placement.scope():
            model.fit(train_data, validation_data=val_data, epochs=int(config["epochs"]),
                      initial_epoch=initial_epoch, steps_per_epoch=steps,
                      validation_steps=val_steps, callbacks=callbacks,
                      verbose=keras_verbosity() if verbose == "auto" else verbose,
                      shuffle=False)  # the batches come shuffled (data.batches)
    except KeyboardInterrupt:
        path = resume_point.save(interrupted=True)
        raise TrainingInterrupted(
            f"training interrupted after {resume_point.epochs_done} complete epoch(s); "
            f"model and optimizer state saved to {path}",
            hint=f"run the same command with --resume --weights-dir {weights_dir}") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if placement.is_chief and history.rows:  # loss curves for every family (train + validation)
        from midigen_tf.io.plots import plot_losses

        curves = {k: [r[k] for r in history.rows if k in r] for k in ("loss", "val_loss")}
        plot_losses(curves, weights_dir / "loss.png", subject=config.get("preset", "model"))
    if placement.is_chief:
        pipeline.after_training(model, prepared, weights_dir, history.rows, echo)
    return TrainResult(model=model, config=config, prepared=prepared, history=history.rows,
                       checkpoints=checkpoint.saved, seconds_per_epoch=timer.times,
                       initial_epoch=initial_epoch)


def _refuse_other_run(weights_dir: Path, config: dict) -> None:
    """A fresh run of one preset never overwrites the resume point of another preset's run."""
    if not (weights_dir / checkpoints.RESUME_NAME).exists():
        return
    try:
        state = checkpoints.read_resume_state(weights_dir)
    except MidigenError:
        return  # not a resume point of ours: nothing of a run to keep
    saved = state.get("config", {}).get("preset")
    if saved is None or saved == config.get("preset"):
        return
    raise MidigenError(
        f"{weights_dir} holds the resume point of a {saved!r} run ({state.get('epochs_done', 0)} "
        f"of {state.get('config', {}).get('epochs', '?')} epochs); training "
        f"{config.get('preset')!r} there would overwrite it and mix the two runs' files",
        hint=f"give this run its own folder (--weights-dir {weights_dir / str(config.get('preset'))}), "
        f"continue that run (--model {saved} --resume), or delete {weights_dir} first")


def _check_resumable(state: dict, config: dict, weights_dir: Path) -> None:
    saved = state.get("config", {})
    changed = [k for k in ("family", "n_vocab") if k in saved and saved[k] != config.get(k)]
    if changed:
        raise MidigenError(
            f"the run saved in {weights_dir} differs from this one in "
            + ", ".join(f"{k} ({saved[k]} then, {config.get(k)} now)" for k in changed),
            hint="resume with the same --data and --model, or start without --resume")
    if state["epochs_done"] >= int(config["epochs"]):
        raise MidigenError(f"the run in {weights_dir} already did {state['epochs_done']} of "
                           f"{config['epochs']} epochs", hint="ask for more with --epochs N")
