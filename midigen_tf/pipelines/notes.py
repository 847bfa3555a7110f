"""The classic pipeline (seed 003): MIDI -> note/chord tokens -> scalar windows -> MIDI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from midigen_tf.data import notes as notes_lib
from midigen_tf.data.notes import TOKENS_ARRAY, vocabulary
from midigen_tf.data.sequences import require_tokens, token_windows
from midigen_tf.errors import MidigenError
from midigen_tf.generate import generate_tokens, scalar_encoding
from midigen_tf.pipelines.base import DataSource, GenerateOptions, Pipeline, Prepared, with_held_out


def prepare_from_tokens(config: dict, notes: list[str], source: DataSource, report: str = "") -> Prepared:
    seq_len = int(config["sequence_length"])
    vocab = vocabulary(notes)
    ids = notes_lib.encode_tokens(notes, vocab)
    config = {**config, "n_vocab": len(vocab)}
    encode = scalar_encoding(len(vocab))  # the report's input: index / n_vocab, (batch, L, 1)
    train, val, samples, n_windows = token_windows(ids, seq_len, int(config["batch_size"]), encode,
                                                   source.validation_split, source.seed)
    report += f"\ntokens: {len(notes)}, vocabulary: {len(vocab)}, windows: {n_windows} of {seq_len}"
    return Prepared(train=train, val=val, config=config, vocab=vocab, samples=samples,
                    arrays={TOKENS_ARRAY: ids}, report=report.strip())


def prepare(config: dict, source: DataSource) -> Prepared:
    every = int(config.get("hold_out_every") or 0)
    notes, report = notes_lib.get_notes(source.data_dir, config["part_mode"], source.cache_dir,
                                        jobs=source.jobs, progress=source.options.get("progress", True),
                                        hold_out_every=every)
    require_tokens(notes, report, source.data_dir)
    prepared = prepare_from_tokens(config, notes, source, "\n".join(report.lines("tokens")))
    return with_held_out(prepared, source.data_dir, every, original=config["part_mode"] == "faithful")


def _start_windows(bundle, seq_len: int, k: int, rng: np.random.Generator,
                   primer: Path | None) -> np.ndarray:
    """K start windows: random windows of the training tokens (the report), or a primer."""
    ids = bundle.array(TOKENS_ARRAY)
    if ids is None:  # bundle moved without its tokens: start from the vocabulary in order
        ids = np.resize(np.arange(len(bundle.vocab)), seq_len + 1)
    if len(ids) <= seq_len:
        ids = np.resize(ids, seq_len + 1)
    starts = [int(rng.integers(0, len(ids) - seq_len - 1)) if len(ids) > seq_len + 1 else 0
              for _ in range(k)]
    windows = np.stack([ids[s:s + seq_len] for s in starts])
    if primer is not None:
        index = {t: i for i, t in enumerate(bundle.vocab)}
        toks = notes_lib.parse_midi_tokens(primer, bundle.config.get("part_mode", "all"))
        known = [index[t] for t in toks if t in index]
        if not known:
            raise MidigenError(f"primer {primer} has no notes from the model's vocabulary",
                               hint="use a primer in the style of the training corpus")
        known = known[-seq_len:]
        windows[:, seq_len - len(known):] = known
    return windows


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    config = bundle.config
    rng = np.random.default_rng(options.seed)
    seq_len = int(config["sequence_length"])
    windows = _start_windows(bundle, seq_len, options.num_outputs, rng, options.primer)
    ids = generate_tokens(model, windows, options.n, scalar_encoding(int(config["n_vocab"])), rng,
                          options.temperature, options.top_k, options.top_p,
                          engine=options.engine, progress=True, kernel=options.kernel)
    options.report_stuck(ids)
    vocab = bundle.vocab
    paths = []
    for row, path in zip(ids, options.output_paths()):
        notes_lib.create_midi([vocab[i] for i in row], path, float(config.get("offset_step", 0.5)),
                              style=options.style)
        paths.append(Path(path))
    return paths


PIPELINE = Pipeline(name="notes", prepare=prepare, generate=generate)
