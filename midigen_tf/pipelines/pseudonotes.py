"""Pseudo-note pipeline (seed 002): MIDI -> pseudo-note tokens -> encoder-decoder windows -> MIDI.

Training samples are windows inside one song (they never cross a song boundary)::

    song  ... s[t] ... s[t+T_in-1] | s[t+T_in] ... s[t+T_in+T_out-1] ...
    encoder input  = s[t : t+T_in]                     (one-hot)
    decoder input  = s[t+T_in-1 : t+T_in+T_out-1]       (the target offset by one step, one-hot)
    decoder target = s[t+T_in : t+T_in+T_out]           (token ids)

Only token ids are kept in memory; one-hot arrays are built per batch (``data.batches``).

Generation (through the shared loop ``generate.generate_steps``: argmax, or temperature / top-k /
top-p sampling) encodes a primer window (a random training window, or ``--primer FILE``),
starts the decoder from the last primer token and feeds back each chosen token with its
``[h, c]`` states.
With the "windowed" engine (default) the last ``T_in`` tokens are re-encoded every ``T_out``
steps, as in training; with "stateful" the decoder runs on from the first encoding.
``-O reencode=N`` sets that period (0 = never), ``-O program=P`` the General MIDI instrument.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from midigen_tf.data import pseudonotes as pn
from midigen_tf.data.batches import window_dataset
from midigen_tf.data.cache import FileCache
from midigen_tf.data.files import require_files
from midigen_tf.data.parallel import parse_files
from midigen_tf.errors import MidigenError, reading
from midigen_tf.generate import generate_steps, one_hot_encoding
from midigen_tf.io.midi import read_notes, write_notes
from midigen_tf.pipelines.base import DataSource, GenerateOptions, Pipeline, Prepared
from midigen_tf.sampling import sampler
from midigen_tf.steppers import EncoderDecoderStepper

TOKENS, BOUNDS = "pseudonotes", "pseudonote_bounds"  # arrays saved beside the checkpoints
GENERATE_EXTRAS = ("reencode", "program")


def window_batches(ids: np.ndarray, starts: np.ndarray, t_in: int, t_out: int, n_vocab: int,
                   batch_size: int, shuffle: bool = True, seed: int = 0):
    """``({"encoder_input", "decoder_input"}, target ids)`` batches (one-hot built per batch in
    the tf.data graph, through the one batcher)."""
    encode = one_hot_encoding(n_vocab)

    def make_batch(window):
        x = {"encoder_input": encode(window[:, :t_in]),
             "decoder_input": encode(window[:, t_in - 1:-1])}
        return x, window[:, t_in:]

    return window_dataset(ids, starts, np.arange(t_in + t_out), batch_size, make_batch,
                          shuffle=shuffle, seed=seed)


def window_starts(bounds: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Start indices of every ``length``-token window inside one song, every ``stride`` tokens."""
    starts = [np.arange(lo, hi - length + 1, stride) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)


def _has_notes(notes: np.ndarray) -> str | None:
    return None if len(notes) else "no (non-drum) notes"


def prepare(config: dict[str, Any], source: DataSource) -> Prepared:
    files = require_files(source.data_dir)
    cache = FileCache(source.cache_dir, "note-table", {"reader": "pretty_midi"})
    report = parse_files(files, read_notes, cache, jobs=source.jobs, desc="reading notes",
                         validate=_has_notes, progress=source.options.get("progress", True))
    tables = list(report.parsed.values())
    if not tables:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in report.skipped[:5])
        raise MidigenError(f"no MIDI file in {source.data_dir} has notes ({reasons})",
                           hint="give a folder of MIDI files with notes with --data")
    encoding = pn.fit_encoding(tables, config["velocity_bins"], config["duration_bins"],
                               config["shift_bins"])
    keys = np.concatenate([encoding.keys(encoding.encode(t)) for t in tables])
    vocab_keys, ids = np.unique(keys, return_inverse=True)
    ids = ids.astype(np.int32).ravel()
    bounds = np.cumsum([0] + [len(t) for t in tables]).astype(np.int64)

    t_in, t_out = int(config["input_length"]), int(config["output_length"])
    starts = window_starts(bounds, t_in + t_out, int(config["window_stride"]))
    if not len(starts):
        raise MidigenError(
            f"no song has {t_in + t_out} notes (input_length {t_in} + output_length {t_out}); "
            f"the longest has {int(np.diff(bounds).max())}",
            hint="use longer songs, or shorter windows: --set input_length=16 --set output_length=8")
    n_val = int(len(starts) * source.validation_split)
    if source.validation_split and (n_val < 1 or n_val == len(starts)):
        raise MidigenError(f"--validation-split {source.validation_split} leaves "
                           f"{n_val} of {len(starts)} windows for validation",
                           hint="use more data, or a validation split between them")
    train_starts, val_starts = starts[:len(starts) - n_val], starts[len(starts) - n_val:]

    n_vocab, batch = len(vocab_keys), int(config["batch_size"])
    completed = dict(config, n_vocab=n_vocab)
    make = lambda s, shuffle: window_batches(ids, s, t_in, t_out, n_vocab, batch, shuffle, source.seed)
    lines = report.lines("notes") + [
        f"pseudo-notes: {len(ids)} in {len(tables)} songs, vocabulary {n_vocab}",
        f"bins: velocity {len(encoding.velocity)}, duration {len(encoding.duration)}, "
        + (f"shift {len(encoding.shift)}" if encoding.shift else "no shift (notes end to end)"),
        f"windows: {len(train_starts)} train, {len(val_starts)} validation "
        f"({t_in} in + {t_out} out, stride {config['window_stride']})",
    ]
    return Prepared(
        train=make(train_starts, True), val=make(val_starts, False) if n_val else None,
        config=completed, vocab=pn.token_names(encoding.parts_of(vocab_keys), encoding),
        extra={"encoding": encoding.to_json(), "songs": len(tables)},
        arrays={TOKENS: ids, BOUNDS: bounds}, samples=len(train_starts), report="\n".join(lines))


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    from midigen_tf.models.seq2seq import inference_models

    options.refuse_extra(GENERATE_EXTRAS, "unknown generation option(s) {} for seq2seq",
                         hint=f"-O takes: {', '.join(GENERATE_EXTRAS)}")
    if "encoding" not in bundle.extra or not bundle.vocab:
        raise MidigenError(f"bundle {bundle.path} has no pseudo-note bins or vocabulary",
                           hint="use the bundle (.json) written by training a seq2seq model")
    config, encoding = bundle.config, pn.Encoding.from_json(bundle.extra["encoding"])
    vocab_parts = pn.parse_names(bundle.vocab, encoding)
    default_period = int(config["output_length"]) if options.engine == "windowed" else 0
    period = _int_option(options.extra, "reencode", default_period, 0, 10**9)
    program = _int_option(options.extra, "program", 0, 0, 127)
    rng = np.random.default_rng(options.seed)

    primers = _primers(bundle, options, encoding, vocab_parts, rng, int(config["input_length"]))
    stepper = EncoderDecoderStepper(*inference_models(model), period=period)
    pick = sampler(rng, options.temperature, options.top_k, options.top_p)
    tokens = generate_steps(stepper, primers, options.n, pick, progress=True)
    return [write_notes(pn.playable(encoding.decode(vocab_parts[row])), path, program=program,
                        style=options.style)
            for row, path in zip(tokens, options.output_paths())]


def _int_option(extra: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MidigenError(f"-O {key}={value!r} must be an integer in [{lo}, {hi}]")
    return value


def _primers(bundle, options: GenerateOptions, encoding: pn.Encoding, vocab_parts: np.ndarray,
             rng: np.random.Generator, window: int) -> np.ndarray:
    """``(num_outputs, length)`` token ids to start from."""
    if options.primer is not None:
        path = Path(options.primer)
        with reading(f"cannot read the primer {path}", hint="give a MIDI file with --primer"):
            notes = read_notes(path)
        if not len(notes):
            raise MidigenError(f"the primer {path} has no (non-drum) notes")
        ids = pn.nearest_ids(encoding.encode(notes), vocab_parts)[-window:]
        return np.tile(ids, (options.num_outputs, 1))
    ids, bounds = bundle.array(TOKENS), bundle.array(BOUNDS)
    if ids is None or bounds is None:
        raise MidigenError(f"no training tokens ({TOKENS}.npy) beside {bundle.path} to take a "
                           "start window from", hint="give a MIDI file to start from with --primer FILE")
    starts = window_starts(bounds, window)
    if not len(starts):  # songs shorter than a window: start from whole songs' beginnings
        starts, window = bounds[:-1], int(np.diff(bounds).min())
    chosen = starts[rng.integers(0, len(starts), options.num_outputs)]
    return ids[chosen[:, None] + np.arange(window)]


PIPELINE = Pipeline(name="pseudonotes", prepare=prepare, generate=generate)
