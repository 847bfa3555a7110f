"""Piano-roll pipeline (seed 004): MIDI folder -> rolls -> lazy windows; frame-by-frame generation.

Generation options (``midigen generate ... -O key=value``):

* ``mode``: ``threshold`` (default: a cell is on when its probability >= ``threshold``) or
  ``sample`` (each cell drawn on with its probability, re-tempered by ``--temperature``;
  giving ``--temperature`` alone switches to ``sample``);
* ``threshold`` (0.5); ``--top-k K`` keeps at most K sounding pitches per frame;
* ``max_silence`` (10 frames): after that many silent frames the most probable pitch is played;
* ``max_hold`` (40 frames): a pitch held that long without a new onset is released;
* ``include_primer`` (false): put the 50 primer frames at the start of the output;
* ``image`` (true): also draw each output as ``<output>.png``.

``-n`` counts frames (0.1 s each). ``--primer FILE`` starts from the last window of a MIDI
file, otherwise from a random window of the training corpus. ``--engine stateful`` carries the
LSTM state from frame to frame (about 50x less work per frame) instead of re-reading the window.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import require_files
from midigen_tf.data.parallel import parse_files
from midigen_tf.data.pianoroll import (N_FEATURES, N_PITCHES, Corpus, empty_reason,
                                       midi_to_roll, parse_roll, roll_batches, roll_to_notes)
from midigen_tf.errors import MidigenError, reading, require_path
from midigen_tf.sampling import Pick
from midigen_tf.io import atomic
from midigen_tf.io.midi import write_notes
from midigen_tf.pipelines.base import Capabilities, DataSource, GenerateOptions, Pipeline, Prepared

PRIMERS = "pianoroll_primers"  # arrays name: a few corpus windows to start generation from
N_PRIMERS = 64
# --kernel auto per engine: the benchmark measured layers faster than fused for the windowed
# engine here (docs/performance.md, "Sampled generation"), where each step is one wide product
AUTO_KERNEL = {"windowed": "layers"}
CAPABILITIES = Capabilities(refused_sampling=(
    ("top_p", "every pitch is its own yes/no choice", "--top-k K to cap the notes per frame"),))
GENERATE_DEFAULTS = {"mode": "threshold", "threshold": 0.5, "max_silence": 10, "max_hold": 40,
                     "include_primer": False, "image": True}


def prepare(config: dict[str, Any], source: DataSource) -> Prepared:
    window, fs = int(config["sequence_length"]), float(config["frame_seconds"])
    files = require_files(source.data_dir)
    cache = FileCache(source.cache_dir, "pianoroll", {"frame_seconds": fs, "layout": "sound+onset"})
    report = parse_files(files, functools.partial(parse_roll, frame_seconds=fs), cache,
                         jobs=source.jobs, desc="piano rolls", validate=empty_reason)
    rolls = list(report.parsed.values())
    corpus = Corpus(rolls, window, source.validation_split)
    if len(corpus.train_starts) == 0:
        raise MidigenError(
            f"the MIDI files in {source.data_dir} give no {window}-frame training window "
            f"({sum(corpus.lengths)} frames of {fs} s in {len(rolls)} usable files)",
            hint="add longer pieces, or shorten the window with --set sequence_length=20")
    batch = int(config["batch_size"])
    train = roll_batches(corpus, corpus.train_starts, batch, config["samples_per_epoch"],
                         shuffle=True, seed=source.seed)
    val = None
    if source.validation_split and len(corpus.val_starts):
        val = roll_batches(corpus, corpus.val_starts, batch, config["val_samples"], shuffle=False)
    rng = np.random.default_rng(source.seed)
    picks = rng.choice(corpus.train_starts, size=min(N_PRIMERS, len(corpus.train_starts)),
                       replace=False)
    density = corpus.density()
    lines = report.lines("frames", len)
    lines.append(f"windows: {len(corpus.train_starts)} train, {len(corpus.val_starts)} validation; "
                 f"{train.samples} samples per epoch; {density:.2%} of cells on "
                 f"(pos_weight that balances them: {(1 - density) / max(density, 1e-9):.0f})")
    return Prepared(
        train=train, val=val, config=dict(config, n_features=N_FEATURES),
        extra={"files": [str(p) for p in report.parsed], "frames": corpus.lengths,
               "skipped": [[str(p), why] for p, why in report.skipped],
               "cell_density": density},
        arrays={PRIMERS: corpus.windows(np.sort(picks))},
        samples=train.samples, report="\n".join(lines))


def after_training(model, prepared: Prepared, weights_dir, history, echo) -> None:
    """Write ``pianoroll_epochs.md``: our per-epoch figures beside the report's table."""
    from midigen_tf.references import seed004_table as comparison_table

    hist = list(history)  # the trainer's rows, one dict per epoch
    parts = ["# Piano-roll LSTM: per-epoch figures beside seed 004", "",
             f"pos_weight {prepared.config['pos_weight']}, {prepared.samples} samples per epoch, "
             f"batch {prepared.config['batch_size']}.", "", "## Training", "",
             comparison_table(hist)]
    if any("val_loss" in row for row in hist):
        parts += ["", "## Validation", "", comparison_table(hist, prefix="val_")]
    target = Path(weights_dir) / "pianoroll_epochs.md"
    atomic.write_text(target, "\n".join(parts) + "\n")
    echo(f"per-epoch table beside seed 004: {target}")


# --- generation -------------------------------------------------------------------------------

def generation_options(options: GenerateOptions) -> dict[str, Any]:
    options.refuse_extra(GENERATE_DEFAULTS, "unknown -O option(s) {} for a piano-roll model",
                         hint=f"options: {', '.join(f'{k}={v}' for k, v in GENERATE_DEFAULTS.items())}")
    opts = dict(GENERATE_DEFAULTS, **options.extra)
    if "mode" not in options.extra and options.temperature is not None:
        opts["mode"] = "sample"
    if opts["mode"] not in ("threshold", "sample"):
        raise MidigenError(f"-O mode={opts['mode']} is not threshold or sample")
    if not 0 < float(opts["threshold"]) < 1:
        raise MidigenError(f"-O threshold={opts['threshold']} must be between 0 and 1")
    CAPABILITIES.check(options, "a piano-roll model")  # also for callers of generate_rolls
    return opts


def primer_windows(bundle, options: GenerateOptions, count: int, rng) -> np.ndarray:
    """``count`` starting windows: the end of ``--primer`` or random corpus windows."""
    window, fs = int(bundle.config["sequence_length"]), float(bundle.config["frame_seconds"])
    if options.primer is not None:
        path = require_path(options.primer, "primer", "give a MIDI file with --primer")
        with reading(f"cannot read primer {path} as MIDI"):
            roll = midi_to_roll(path, fs)
        roll = np.vstack([np.zeros((max(window - len(roll), 0), N_FEATURES), np.uint8), roll])
        return np.repeat(roll[None, -window:], count, axis=0)
    path = bundle.resolve(PRIMERS + ".npy")
    if not path.exists():
        raise MidigenError(f"no primer windows {path} beside the bundle",
                           hint="give a MIDI file with --primer, or copy the .npy from training")
    primers = np.load(path)
    return primers[rng.integers(0, len(primers), size=count)]


class FrameChooser(Pick):
    """Turns predicted probabilities into binary frames, with the silence and stuck-note guards."""

    def __init__(self, opts: dict[str, Any], options: GenerateOptions, count: int, rng):
        self.mode, self.threshold = opts["mode"], float(opts["threshold"])
        self.max_silence, self.max_hold = int(opts["max_silence"]), int(opts["max_hold"])
        self.temperature, self.top_k, self.rng = options.temperature or 1.0, options.top_k, rng
        self.silent = np.zeros(count, np.int64)
        self.held = np.zeros((count, N_PITCHES), np.int64)
        self.previous = np.zeros((count, N_PITCHES), bool)

    def _pick(self, probs: np.ndarray) -> np.ndarray:
        if self.mode == "threshold":
            return probs >= self.threshold
        logits = np.log(np.clip(probs, 1e-7, 1)) - np.log(np.clip(1 - probs, 1e-7, 1))
        return self.rng.random(probs.shape) < 1 / (1 + np.exp(-logits / self.temperature))

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        probs = np.nan_to_num(np.asarray(probs, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        p_sound, p_onset = probs[:, :N_PITCHES], probs[:, N_PITCHES:]
        onset = self._pick(p_onset)
        sounding = self._pick(p_sound) | onset
        if self.top_k is not None:  # polyphony cap: the K most probable sounding pitches
            rank = np.argsort(np.argsort(-np.where(sounding, p_sound, -1), axis=1), axis=1)
            sounding &= rank < self.top_k
        onset = (onset | ~self.previous) & sounding
        held = np.where(sounding & ~onset, self.held + 1, sounding.astype(np.int64))
        stuck = held > self.max_hold
        sounding &= ~stuck
        onset &= sounding
        empty = ~sounding.any(axis=1)
        self.silent = np.where(empty, self.silent + 1, 0)
        wake = np.flatnonzero(self.silent > self.max_silence)
        if len(wake):
            best = np.argmax(np.where(stuck[wake], -1, p_sound[wake] + p_onset[wake]), axis=1)
            sounding[wake, best] = onset[wake, best] = True
            self.silent[wake] = 0
        self.held = np.where(sounding & ~onset, held, sounding.astype(np.int64))
        self.previous = sounding
        return np.concatenate([sounding, onset], axis=1).astype(np.uint8)


def generate_rolls(model, bundle, options: GenerateOptions) -> np.ndarray:
    """``(num_outputs, primer + n, 256)`` uint8 rolls: the primer windows and the new frames,
    through the shared engine (``--engine windowed|stateful``) and a ``FrameChooser``."""
    from midigen_tf.fused import resolve
    from midigen_tf.generate import Engine, float_encoding, generate_steps

    opts = generation_options(options)
    count = int(options.num_outputs)
    rng = np.random.default_rng(options.seed)
    primers = primer_windows(bundle, options, count, rng)
    choose = FrameChooser(opts, options, count, rng)
    choose.previous = primers[:, -1, :N_PITCHES] > 0
    runner = Engine(model, float_encoding, options.engine, dtype="float32",
                    name=bundle.config.get("preset"),
                    kernel=resolve(options.kernel, options.engine, AUTO_KERNEL))
    frames = generate_steps(runner, primers, int(options.n), choose, progress=True, unit="frame")
    return np.concatenate([primers.astype(np.uint8), frames], axis=1)


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    """Generate ``-n`` frames per output; write each as MIDI (and a PNG unless -O image=false)."""
    from midigen_tf.io.images import piano_roll_image

    opts = generation_options(options)
    fs, window = float(bundle.config["frame_seconds"]), int(bundle.config["sequence_length"])
    rolls = generate_rolls(model, bundle, options)
    written = []
    for roll, out in zip(rolls, options.output_paths()):
        piece = roll if opts["include_primer"] else roll[window:]
        written.append(write_notes(roll_to_notes(piece, fs), out, style=options.style))
        if opts["image"]:
            written.append(piano_roll_image(piece, Path(out).with_suffix(".png"), frame_seconds=fs,
                                            title=f"{Path(out).name}: {len(piece) * fs:.0f} s"))
    return written


PIPELINE = Pipeline(name="pianoroll", prepare=prepare, generate=generate,
                    after_training=after_training, auto_kernel=AUTO_KERNEL,
                    capabilities=CAPABILITIES)
