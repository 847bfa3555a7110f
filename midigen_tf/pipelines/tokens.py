"""MidiTok pipeline: MIDI (symusic) -> REMI / TSD / MIDI-Like token ids -> windows -> MIDI.

Each file becomes ``BOS, tokens..., EOS`` (every non-drum track merged into one piano
stream); the files are concatenated in sorted order and cut into stride-1 windows of
``sequence_length`` ids with the next id as target, through the shared tf.data batcher
(``data.sequences.window_batches``). The model reads the ids themselves (an ``Embedding``).

The bundle keeps the tokenizer's full MidiTok configuration (``extra["tokenizer"]``) and its
vocabulary, so generation rebuilds the tokenizer without the corpus. Generation runs the
shared engine (``generate.generate_tokens``: windowed or stateful, argmax or temperature /
top-k / top-p, several pieces at once), starting from a random training window or a
``--primer``; each generated sequence is repaired (``data.tokens.repair``) and decoded to MIDI
with its real onsets, durations and velocities. After training, the tokenizer is also written
beside the checkpoints as MidiTok's own ``tokenizer.json`` (``after_training``).
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from midigen_tf.data import tokens as tokens_lib
from midigen_tf.data.sequences import require_tokens, token_windows
from midigen_tf.errors import MidigenError, reading
from midigen_tf.generate import generate_tokens
from midigen_tf.pipelines.base import DataSource, GenerateOptions, Pipeline, Prepared, with_held_out

TOKENS_ARRAY = "miditok_tokens"
TOKENIZER_FILE = "tokenizer.json"  # MidiTok's own file, beside the bundle


def id_encoding(ids):
    """The model's input is the token ids themselves (for its ``Embedding``); traceable."""
    return keras.ops.cast(ids, "int32")


def prepare(config: dict, source: DataSource) -> Prepared:
    tok = tokens_lib.make_tokenizer(config)
    every = int(config.get("hold_out_every") or 0)
    report = tokens_lib.tokenize_corpus(source.data_dir, tok, source.cache_dir, jobs=source.jobs,
                                        progress=source.options.get("progress", True),
                                        hold_out_every=every)
    lines = report.lines("tokens")
    require_tokens(report.parsed, report, source.data_dir)
    bos, eos = tok.vocab["BOS_None"], tok.vocab["EOS_None"]
    ids = np.concatenate([np.concatenate([[bos], seq, [eos]]) for seq in report.parsed.values()]
                         ).astype(np.int32)
    seq_len = int(config["sequence_length"])
    train, val, samples, n_windows = token_windows(ids, seq_len, int(config["batch_size"]),
                                                   id_encoding, source.validation_split, source.seed)
    vocab = tokens_lib.vocabulary(tok)
    lines.append(f"{type(tok).__name__} tokens: {len(ids)} in {len(report.parsed)} files, "
                 f"vocabulary: {len(vocab)}, windows: {n_windows} of {seq_len}")
    prepared = Prepared(train=train, val=val, config={**config, "n_vocab": len(vocab)}, vocab=vocab,
                        extra={"tokenizer": tokens_lib.tokenizer_to_json(tok)},
                        arrays={TOKENS_ARRAY: ids}, samples=samples, report="\n".join(lines))
    return with_held_out(prepared, source.data_dir, every)


def bundle_tokenizer(bundle):
    """The bundle's tokenizer, checked against the vocabulary the weights were trained on."""
    if "tokenizer" not in bundle.extra or not bundle.vocab:
        raise MidigenError(f"bundle {bundle.path} has no MidiTok tokenizer or vocabulary",
                           hint="use the bundle (.json) written by training an lstm-remi/tsd/midilike model")
    tok = tokens_lib.tokenizer_from_json(bundle.extra["tokenizer"])
    vocab = tokens_lib.vocabulary(tok)
    if vocab != list(bundle.vocab) or len(vocab) != int(bundle.config["n_vocab"]):
        diff = next((i for i, (a, b) in enumerate(zip(vocab, bundle.vocab)) if a != b),
                    min(len(vocab), len(bundle.vocab)))
        raise MidigenError(
            f"the tokenizer rebuilt from {bundle.path} has {len(vocab)} tokens, the bundle's "
            f"vocabulary {len(bundle.vocab)} (n_vocab {bundle.config['n_vocab']}); they first "
            f"differ at id {diff}", hint="generate with the MidiTok version the model was trained with")
    return tok


def _start_windows(bundle, tok, seq_len: int, k: int, rng: np.random.Generator,
                   primer: Path | None) -> np.ndarray:
    """K start windows: random windows of the training ids, ending with the primer's ids."""
    ids = bundle.array(TOKENS_ARRAY)
    if ids is None or len(ids) == 0:  # bundle moved without its ids: start from a bare BOS
        ids = np.array([tok.vocab["BOS_None"]], dtype=np.int64)
    ids = np.resize(ids, max(len(ids), seq_len + 1))
    starts = rng.integers(0, len(ids) - seq_len, size=k)
    windows = np.stack([ids[s:s + seq_len] for s in starts]).astype(np.int64)
    if primer is not None:
        with reading(f"cannot read the primer {primer}", hint="give a MIDI file with --primer"):
            known = tokens_lib.tokenize_file(primer, json.dumps(bundle.extra["tokenizer"]))
        if not len(known):
            raise MidigenError(f"the primer {primer} has no pitched notes")
        known = np.concatenate([[tok.vocab["BOS_None"]], known])[-seq_len:]
        windows[:, seq_len - len(known):] = known
    return windows


def generate(model, bundle, options: GenerateOptions) -> list[Path]:
    options.refuse_extra((), "unknown generation option(s) {} for MidiTok models",
                         hint="these models take no -O options")
    tok = bundle_tokenizer(bundle)
    rng = np.random.default_rng(options.seed)
    seq_len = int(bundle.config["sequence_length"])
    windows = _start_windows(bundle, tok, seq_len, options.num_outputs, rng, options.primer)
    ids = generate_tokens(model, windows, options.n, id_encoding, rng, options.temperature,
                          options.top_k, options.top_p, engine=options.engine, progress=True,
                          kernel=options.kernel)
    options.report_stuck(ids)
    paths, empty = [], []
    for row, path in zip(ids, options.output_paths()):
        try:  # one piece that decodes to nothing does not lose the others
            score, _ = tokens_lib.decode(tok, row)
        except MidigenError as err:
            empty.append(f"{path}: {err.message}")
            continue
        paths.append(tokens_lib.write_score(score, path, options.style))
    if empty:
        done = f"wrote {', '.join(map(str, paths))}; " if paths else ""
        raise MidigenError(f"{done}{len(empty)} piece(s) not written: " + "; ".join(empty),
                           hint="generate more tokens (-n), sample with --temperature, or train longer")
    return paths


def after_training(model, prepared: Prepared, weights_dir, history, echo) -> None:
    """The bundle's tokenizer as MidiTok's own JSON (``tokenizer.save``), ``tokenizer.json``
    beside the checkpoints: MidiTok loads it without midigen_tf, e.g.
    ``miditok.REMI(params="weights/lstm-remi/tokenizer.json")``."""
    from midigen_tf.io import atomic

    tok = tokens_lib.tokenizer_from_json(prepared.extra["tokenizer"])
    path = atomic.write_with(Path(weights_dir) / TOKENIZER_FILE, tok.save)
    echo(f"MidiTok tokenizer (loadable with MidiTok alone): {path}")


PIPELINE = Pipeline(name="tokens", prepare=prepare, generate=generate,
                    after_training=after_training)
