"""The MAESTRO note-table pipeline (seed 000): note windows in, next-note predictions out.

A sample is a window of ``sequence_length`` consecutive notes of one file (windows never cross
files) and the note that follows. Each note is ``len(features)`` numbers in [0, 1]: ``pitch``
and ``velocity`` / 127, ``duration`` and ``step`` (start minus the previous note's start) in
seconds / ``time_scale``, clipped. Windows are gathered per batch from the 16-byte note table
(``data/notetable.py``), so memory grows with the notes, never with the windows.

A config with a ``target`` is a regressor (``maestro-regression``, ``maestro-mlp``: the target
feature of the next note, normalised the same way); without one, a pitch classifier
(``maestro-pitch``: the next MIDI number). The split is a label per note: a window belongs to
the split of the note it predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midigen_tf import config as config_lib
from midigen_tf.data import notetable as nt
from midigen_tf.errors import MidigenError, reading
from midigen_tf.sampling import Pick
from midigen_tf.io import atomic, audio, plots
from midigen_tf.io.midi import MidiStyle, note_table, read_notes, write_notes
from midigen_tf.pipelines.base import DataSource, GenerateOptions, Pipeline, Prepared
from midigen_tf.sampling import choose

SOUND_KEYS = ("generate_mode", "scale", "midi_low", "midi_high", "note_seconds", "sample_rate",
              "fade_ms", "velocity")
TEST = nt.SPLIT_NAMES.index("test")


# ------------------------------------------------------------------------------- training

@dataclass
class NotetablePrepared(Prepared):
    test: nt.NoteSplit | None = None  # evaluated by after_training


def _primer(table: nt.NoteTable, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` notes from the first file holding test notes on (kept for generation)."""
    test_rows = np.flatnonzero(labels == TEST)
    first = int(test_rows[0]) if len(test_rows) else 0
    first = int(table.file_starts()[table.notes["file"][first]])
    return table.notes[first:first + count].copy(), labels[first:first + count].copy()


def _fractions(config: dict[str, Any], source: DataSource) -> list[float]:
    """``split_fractions``; ``--validation-split F`` replaces the validation share (the test
    share is kept, train gets the rest)."""
    train, val, test = (float(f) for f in config["split_fractions"])
    if source.validation_split and source.validation_split != val:
        val = float(source.validation_split)
        train = 1.0 - val - test
    return [train, val, test]


def prepare(config: dict[str, Any], source: DataSource) -> NotetablePrepared:
    nt.check_features(config)
    table = nt.read_folder(source.data_dir, source.cache_dir, source.jobs)
    labels, split = nt.assign_split(table, config["split"], _fractions(config, source),
                                    int(config["split_seed"]), source.data_dir)
    length = int(config["sequence_length"])
    targets = [nt.window_targets(table.notes, labels, i, length) for i in range(len(nt.SPLIT_NAMES))]
    split["windows"] = {name: len(t) for name, t in zip(nt.SPLIT_NAMES, targets)}
    if not len(targets[0]):
        raise MidigenError(f"no training windows in {source.data_dir}: a window needs "
                           f"sequence_length + 1 = {length + 1} notes of one file in the train split",
                           hint="add music, or lower --set sequence_length")
    columns = nt.note_columns(table.notes, config)
    train = nt.note_batches(columns, targets[0], config, shuffle=True, seed=source.seed)
    val = nt.note_batches(columns, targets[1], config) if len(targets[1]) else None
    test = nt.NoteSplit(table.notes, targets[2]) if len(targets[2]) else None
    primer, primer_split = _primer(table, labels, int(config["primer_notes"]))
    sizes = ", ".join(f"{name} {split['notes'][name]:,} notes / {n:,} windows"
                      for name, n in split["windows"].items())
    return NotetablePrepared(
        train=train, val=val, test=test,
        config={**config, "monitor": "val_loss" if val is not None else "loss"},
        extra={"split": split, "files": len(table.files), "skipped": table.skipped,
               "notes": int(len(table.notes)),
               "notes_per_second": round(len(table.notes) / max(table.seconds, 1e-9))},
        arrays={"primer": primer, "primer_split": primer_split, "split": labels},
        samples=train.samples, report=f"{table.summary()}\nsplit ({split['kind']}): {sizes}")


def predict_targets(model, notes: np.ndarray, targets: np.ndarray, config: dict[str, Any],
                    batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """``(actual, predicted)`` next-note values in their unit (MIDI number, seconds)."""
    actual, predicted = [], []
    for a in range(0, len(targets), batch_size):
        t = targets[a:a + batch_size]
        out = np.asarray(model.predict_on_batch(nt.windows(notes, t, config)))
        if nt.classifies(config):
            actual.append(notes["pitch"][t].astype(np.float64))
            predicted.append(out.argmax(axis=-1).astype(np.float64))
        else:
            actual.append(nt.raw_values(notes, t, config["target"]).astype(np.float64))
            predicted.append(out[:, 0].astype(np.float64) * nt.feature_scale(config["target"], config))
    if not actual:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(actual), np.concatenate(predicted)


def regression_metrics(actual, predicted) -> dict[str, float]:
    """The report's ``calculate_metrics``: MAE, RMSE and the share of equal rounded values."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    if actual.size == 0:
        return {"mae": math.nan, "rmse": math.nan, "accuracy": math.nan}
    err = actual - predicted
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "accuracy": float(np.mean(np.round(actual) == np.round(predicted)))}


def after_training(model, prepared: NotetablePrepared, weights_dir, history, echo) -> None:
    """MAE / RMSE / rounded accuracy on the test split, reported and saved, and the
    actual-vs-predicted plot (the trainer itself draws loss.png for every family)."""
    from midigen_tf.models import parameter_counts

    weights_dir = Path(weights_dir)
    logs = plots.history_columns(history)
    test, config = prepared.test, prepared.config
    if test is None:
        echo("no test windows: test metrics skipped")
        return
    cap = int(config.get("max_test_samples") or 0)
    targets = test.targets[:cap] if cap > 0 else test.targets
    actual, predicted = predict_targets(model, test.notes, targets, config)
    metrics = regression_metrics(actual, predicted)
    trainable, frozen = parameter_counts(model)
    unit = "MIDI pitch" if nt.classifies(config) else config["target"]
    echo(f"test split ({len(actual):,} windows, {unit}):\n"
          f"Mean Absolute Error: {metrics['mae']:.4f}\n"
          f"Root Mean Squared Error: {metrics['rmse']:.4f}\nAccuracy: {metrics['accuracy']:.4f}")
    atomic.write_json(weights_dir / "test_metrics.json", {
        **metrics, "test_windows": int(len(actual)), "target": unit,
        "split": config["split"], "trainable_params": trainable, "non_trainable_params": frozen,
        "epochs": len(logs.get("loss", []))})
    plots.plot_actual_vs_predicted(actual[:100], predicted[:100],
                                   weights_dir / "actual_vs_predicted.png", ylabel=unit)
    echo(f"test metrics: {weights_dir / 'test_metrics.json'}, plot: {weights_dir / 'actual_vs_predicted.png'}")


# ----------------------------------------------------------------------------- generation

def to_midi(values, scale: str = "minmax", low: int = 60, high: int = 71) -> np.ndarray:
    """Predictions -> MIDI numbers. ``minmax`` is the report's ``normalize_predictions`` (the
    piece's lowest value -> ``low``, highest -> ``high``) then rounding; ``clip`` rounds and
    clips to [low, high]; ``none`` rounds and clips to 0-127."""
    values = np.asarray(values, dtype=np.float64)
    if scale == "minmax":
        span = values.max() - values.min() if values.size else 0.0
        values = low + (high - low) * (values - values.min()) / span if span > 0 else np.full_like(values, low)
    elif scale == "clip":
        values = np.clip(values, low, high)
    elif scale != "none":
        raise MidigenError(f"unknown scale {scale!r}", hint="-O scale= minmax, clip or none")
    return np.clip(np.round(values), 0, 127).astype(np.int64)


def _sound_settings(config: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    extra = dict(extra)
    if "mode" in extra:
        extra["generate_mode"] = extra.pop("mode")
    settings = config_lib.merge({k: config[k] for k in SOUND_KEYS}, extra, preset=config["preset"])
    if settings["generate_mode"] not in ("test", "autoregressive"):
        raise MidigenError(f"unknown mode {settings['generate_mode']!r}", hint="-O mode=test or -O mode=autoregressive")
    return settings


def _load_primer(bundle, options: GenerateOptions) -> tuple[np.ndarray, np.ndarray]:
    if options.primer is not None:
        with reading(f"cannot read the primer {options.primer}"):
            notes = nt.to_table(read_notes(options.primer))
        return notes, np.full(len(notes), TEST, dtype=np.uint8)
    path = bundle.resolve("primer.npy")
    if not path.exists():
        raise MidigenError(f"no primer notes {path} beside the bundle", hint="give one with --primer FILE.mid")
    return np.load(path), np.load(bundle.resolve("primer_split.npy"))


def _pick(candidates: np.ndarray, n: int, rng) -> np.ndarray:
    start = int(rng.integers(0, len(candidates) - n + 1)) if len(candidates) > n else 0
    return candidates[start:start + n]


class NextNote(Pick):
    """The MAESTRO ``pick``: the next pitch (softmax: argmax or sampling) or regression value;
    the step fed back is the last note's features with the predicted one replaced."""

    def __init__(self, last: np.ndarray, config: dict[str, Any], options: GenerateOptions, rng):
        self.name = "pitch" if nt.classifies(config) else config["target"]
        self.last, self.col = last, config["features"].index(self.name)
        self.scale = nt.feature_scale(self.name, config)
        self.classifies, self.options, self.rng = nt.classifies(config), options, rng
        self.values: list[np.ndarray] = []

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if self.classifies:
            o = self.options
            value = choose(p, self.rng, o.temperature, o.top_k, o.top_p)
            feature = value / 127.0
        else:
            value, feature = p[:, 0] * self.scale, np.clip(p[:, 0], 0.0, 1.0)
        self.values.append(value)
        self.last = self.last.copy()
        self.last[:, self.col] = feature
        return self.last


def _autoregress(model, notes, config, options, rng, count: int) -> np.ndarray:
    """``(count, n)`` predicted values, each fed back as the next note, through the engine."""
    from midigen_tf.generate import Engine, float_encoding, generate_steps

    length = int(config["sequence_length"])
    name = "pitch" if nt.classifies(config) else config["target"]
    if name not in config["features"]:
        raise MidigenError(f"autoregressive generation feeds the predicted {name} back, but "
                           f"{name} is not among the features {config['features']}", hint="use -O mode=test")
    ends = np.flatnonzero(nt.positions_in_file(notes["file"]) >= length - 1)
    if not len(ends):
        raise MidigenError(f"the primer has no {length} consecutive notes of one file")
    picks = ends[rng.integers(0, len(ends), size=count)]
    x = nt.note_features(notes, picks[:, None] + np.arange(-length + 1, 1), config)
    runner = Engine(model, float_encoding, options.engine, dtype="float32", name=config["preset"],
                    kernel=options.kernel)
    pick = NextNote(x[:, -1], config, options, rng)
    generate_steps(runner, x, options.n, pick, progress=True)
    return np.stack(pick.values, axis=1).astype(np.float64)


def _refusal(model, config: dict[str, Any], mode: str, options: GenerateOptions) -> MidigenError | None:
    """What this model cannot do in ``mode`` (one line), or None; the engine comes first."""
    from midigen_tf.stepwise import recurrent_step, refuse

    name = config["preset"]
    if mode == "test" and options.engine == "stateful":
        return refuse(name, "generate with --engine stateful in -O mode=test", "each test window "
                      "is predicted from the real notes, so no state runs from note to note",
                      "-O mode=autoregressive or --engine windowed")
    if options.engine == "stateful":
        try:
            recurrent_step(model, name)
        except MidigenError as err:
            return err
    sampling = [f for f, v in (("--temperature", options.temperature), ("--top-k", options.top_k),
                               ("--top-p", options.top_p)) if v is not None]
    if sampling and not nt.classifies(config):
        return refuse(name, f"use {sampling[0]}", "it predicts one value (regression), not a "
                      "distribution to sample", "argmax generation (leave the sampling options out)")
    if sampling and mode == "test":
        return refuse(name, f"use {sampling[0]} in -O mode=test", "test mode compares the most "
                      "likely pitch with the real notes", "-O mode=autoregressive")
    return None


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    """Predict ``n`` notes per output, then the report's path to sound: scale to a MIDI range,
    note names, the actual-vs-predicted table (and PNG, in test mode), a MIDI file, a sine-wave
    WAV (and MP3 with ffmpeg). Returns every file written."""
    config = bundle.config
    settings = _sound_settings(config, options.extra)
    refusal = _refusal(model, config, settings["generate_mode"], options)
    if refusal:
        raise refusal
    notes, labels = _load_primer(bundle, options)
    rng = np.random.default_rng(options.seed)
    paths = options.output_paths()
    if settings["generate_mode"] == "autoregressive":
        pieces = [(None, p) for p in _autoregress(model, notes, config, options, rng, len(paths))]
    else:
        length = int(config["sequence_length"])
        candidates = nt.window_targets(notes, labels, TEST, length)
        if not len(candidates):
            candidates = nt.window_targets(notes, np.full(len(notes), TEST), TEST, length)
        if not len(candidates):
            raise MidigenError(f"the primer has no window of {length} notes and a next note")
        pieces = [predict_targets(model, notes, _pick(candidates, options.n, rng), config)
                  for _ in paths]
    written: list[Path] = []
    for path, (actual, predicted) in zip(paths, pieces):
        written += _to_sound(actual, predicted, Path(path), settings, options.echo, options.style)
    return written


def _to_sound(actual, predicted, path: Path, s: dict[str, Any], echo,
              style: MidiStyle | None = None) -> list[Path]:
    pitches = to_midi(predicted, s["scale"], int(s["midi_low"]), int(s["midi_high"]))
    names = [audio.note_name(p) for p in pitches]
    rows = ["Sample,Actual Value,Predicted Value,MIDI,Musical Note"]
    for i, (pred, pitch, name) in enumerate(zip(predicted, pitches, names), start=1):
        act = "" if actual is None else f"{actual[i - 1]:.4f}"
        rows.append(f"Note {i},{act},{pred:.4f},{pitch},{name}")
    midi_path = path if path.suffix.lower() in (".mid", ".midi") else path.with_suffix(".mid")
    more = [f"... ({len(rows) - 21} more in {midi_path.with_suffix('.csv').name})"] if len(rows) > 21 else []
    echo(f"{midi_path.name}:\n" + "\n".join(r.replace(",", "\t") for r in rows[:21] + more))
    starts = np.arange(len(pitches)) * float(s["note_seconds"])
    written = [write_notes(note_table(pitches, np.full(len(pitches), int(s["velocity"])), starts,
                                      starts + float(s["note_seconds"])), midi_path, style=style)]
    written.append(atomic.write_text(midi_path.with_suffix(".csv"), "\n".join(rows) + "\n"))
    wave = audio.sequence_audio(pitches, float(s["note_seconds"]), int(s["sample_rate"]),
                                fade_ms=float(s["fade_ms"]))
    written.append(audio.write_wav(midi_path.with_suffix(".wav"), wave, int(s["sample_rate"])))
    mp3 = audio.write_mp3(written[-1])
    written += [mp3] if mp3 else []
    if actual is not None:
        written.append(plots.plot_actual_vs_predicted(actual, predicted, midi_path.with_suffix(".png")))
    return written


def callbacks(config: dict[str, Any]) -> list:
    """Early stopping and ReduceLROnPlateau on the validation loss, as the report's loop."""
    import keras

    monitor = config.get("monitor", "val_loss")
    out: list = []
    if int(config.get("patience") or 0) > 0:
        out.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=int(config["patience"]), verbose=1,
            restore_best_weights=bool(config.get("restore_best_weights"))))
    if int(config.get("lr_patience") or 0) > 0:
        out.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=float(config["lr_factor"]),
            patience=int(config["lr_patience"]), verbose=1))
    return out


PIPELINE = Pipeline(name="notetable", prepare=prepare, generate=generate,
                    after_training=after_training, callbacks=callbacks)
